"""Locked mode: turning a history into an encrypted (SQLCipher) one and back, changing its
passphrase, opening it, and wiping it for good.

Conversions never change the old file until the new one is whole: ``sqlcipher_export``
copies everything (tables, FTS5 indexes, triggers) into a new file beside the history, the
copy is checked, synced, and replaces the history in one rename. A process killed at any
point leaves the old history working (a plain copy left by an interrupted unlocking is
zeroed and deleted the next time the history opens). A passphrase change re-keys the file in
place (``PRAGMA rekey``, one SQLite transaction): no plain copy exists at any point.

Whether a history is locked is told by the file itself (a plain SQLite file starts with a
fixed string, an SQLCipher one with random bytes); the header beside it holds the salt and
KDF parameters (:mod:`tui.store.keys`).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from tui.store import db, driver, keys, writerlock
from tui.store.keys import LockError
from tui.store.store import Store


@dataclass(frozen=True)
class LockStatus:
    locked: bool
    extra_installed: bool
    kdf: str | None
    """The key derivation in the header (None: plain, or the header is unreadable)."""
    header: Path
    problem: str | None = None


def status(database: Path) -> LockStatus:
    header = keys.header_path(database)
    locked = db.is_encrypted(database)
    kdf = problem = None
    if locked:
        try:
            slots = keys.read_header(database)
            kdf = ", ".join(_describe(s.params) for s in slots[:1])
        except LockError as exc:
            problem = str(exc)
    return LockStatus(locked, driver.cipher_available(), kdf, header, problem)


def _describe(params: keys.KdfParams) -> str:
    if params.kdf == "argon2id":
        return (
            f"Argon2id, {params.memory_kib // 1024} MiB, {params.iterations} passes, "
            f"{params.lanes} lane(s)"
        )
    return f"PBKDF2-HMAC-SHA512, {params.iterations} iterations"


def open_locked(database: Path, passphrase: str) -> Store:
    """Open a locked history with its passphrase.

    :class:`~tui.store.keys.WrongPassphrase`, :class:`~tui.store.keys.HeaderProblem` or
    :class:`~tui.store.driver.LockedExtraMissing` otherwise; nothing on disk is changed then.
    """
    driver.cipher_module()
    slots = keys.read_header(database)
    problem: Exception | None = None
    for slot in slots:
        key = keys.unlock_slot(passphrase, slot)
        if key is None:
            continue
        try:
            store = Store.open(database, key=key)
        except db.HistoryUnavailable as exc:  # the other slot of an interrupted change
            problem = exc
            continue
        if len(slots) > 1:  # finish an interrupted passphrase change: keep the slot that works
            keys.write_header(database, [slot])
        return store
    if problem is not None:
        raise problem
    raise keys.WrongPassphrase("wrong passphrase: the history stays locked")


def _database_key(database: Path, passphrase: str) -> tuple[keys.Slot, bytes]:
    """The slot and key that really open ``database`` (checked with a query)."""
    cipher = driver.cipher_module()
    slots = keys.read_header(database)
    for slot in slots:
        key = keys.unlock_slot(passphrase, slot)
        if key is None:
            continue
        conn = driver.connect(str(database), key)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return slot, key
        except cipher.DatabaseError:
            continue
        finally:
            conn.close()
    raise keys.WrongPassphrase("wrong passphrase: the history stays locked")


def _refuse_if_in_use(database: Path) -> None:
    """A conversion replaces the file: another Burrow writing into it would lose its writes."""
    found = writerlock.folder(database)
    if not found.is_dir():
        return
    for file in found.glob("*.lock"):
        with contextlib.suppress(ValueError):
            pid = int(file.stem)
            if pid != os.getpid() and writerlock.alive(database, pid):
                raise LockError(f"Burrow (process {pid}) is using the history: close it first")


def _prepare_plain(database: Path) -> None:
    """The plain history migrated, with no saved model state (they hold plain text) and its
    WAL folded into the file."""
    with Store.open(database) as store:
        if store.read_only:
            raise LockError(f"history file {database} is read-only: it cannot be converted")
        store.forget_all_states()
        store.scrub()


def enable(database: Path, passphrase: str, params: keys.KdfParams | None = None) -> None:
    """Encrypt the plain history at ``database`` (created if missing) with ``passphrase``."""
    keys.check_passphrase_text(passphrase)
    cipher = driver.cipher_module()
    if db.is_encrypted(database):
        raise LockError("the history is already locked")
    _refuse_if_in_use(database)
    _prepare_plain(database)
    slot, key = keys.new_slot(passphrase, params)
    # The header first: until the rename below the history is plain (its first bytes say
    # so), and a header beside a plain file is ignored.
    keys.write_header(database, [slot])
    target = db.conversion_file(database, locking=True)
    target.unlink(missing_ok=True)
    db.create_private(target)
    source = cipher.connect(str(database), isolation_level=None)
    try:
        _export(source, target, key)
    finally:
        source.close()
    _check_copy(target, key, database)
    _replace(database, target, zero_old=True)


def disable(database: Path, passphrase: str) -> None:
    """Decrypt the locked history back to a plain SQLite file (needs its passphrase)."""
    if not db.is_encrypted(database):
        raise LockError("the history is not locked")
    _, key = _database_key(database, passphrase)
    _refuse_if_in_use(database)
    with Store.open(database, key=key) as store:
        store.scrub()  # recovers interrupted answers, folds the WAL in
    target = db.conversion_file(database, locking=False)
    db.remove_plain_leftovers(database)
    db.create_private(target)
    source = driver.connect(str(database), key, isolation_level=None)
    try:
        _export(source, target, None)
    finally:
        source.close()
    try:
        _check_copy(target, None, database)
        _replace(database, target, zero_old=False)
    except BaseException:
        db.overwrite_and_unlink(target)
        raise
    keys.shred_header(database)


def change_passphrase(database: Path, old: str, new: str) -> None:
    """Re-key the locked history in place: no plain copy is ever written."""
    keys.check_passphrase_text(new)
    if not db.is_encrypted(database):
        raise LockError("the history is not locked")
    old_slot, old_key = _database_key(database, old)
    new_slot, new_key = keys.new_slot(new)
    # Both slots while the file is re-keyed: an interruption leaves one that opens it.
    keys.write_header(database, [new_slot, old_slot])
    with Store.open(database, key=old_key) as store:
        store.rekey(new_key)
    keys.write_header(database, [new_slot])


def _export(source: sqlite3.Connection, target: Path, key: bytes | None) -> None:
    """Copy every table, index, trigger and FTS5 index of ``source`` into ``target``."""
    source.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    version = db.user_version(source)
    literal = f"x'{key.hex()}'" if key is not None else ""
    source.execute(f'ATTACH DATABASE ? AS converted KEY "{literal}"', (str(target),))
    try:
        source.execute("SELECT sqlcipher_export('converted')")
        source.execute(f"PRAGMA converted.user_version = {int(version)}")
    finally:
        source.execute("DETACH DATABASE converted")


def _check_copy(target: Path, key: bytes | None, database: Path) -> None:
    conn = driver.connect(str(target), key, isolation_level=None)
    try:
        result = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if result != "ok":
            raise LockError(f"the converted copy of {database} failed its check: {result}")
        conn.execute("PRAGMA journal_mode = WAL")
    finally:
        conn.close()
    fd = os.open(target, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace(database: Path, new: Path, *, zero_old: bool) -> None:
    """Put ``new`` in place of ``database`` in one rename; with ``zero_old`` the old
    (plain) file's bytes are overwritten through a descriptor kept across the rename."""
    # The old file's WAL is empty (checkpointed) and its shared-memory index would only
    # confuse the new file: both go first, which leaves the old file whole.
    for suffix in ("-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    old = os.open(database, os.O_WRONLY) if zero_old else None
    try:
        os.replace(new, database)
        keys.fsync_dir(database.parent)
        if old is not None:
            db.zero_fd(old)
    finally:
        if old is not None:
            os.close(old)
    db.chmod_private(database)


# -- panic wipe -----------------------------------------------------------------------------


def wipe_now(database: Path, folders: list[Path]) -> list[Path]:
    """Make the history unrecoverable at once, whatever its size.

    Locked: the header (salt and KDF parameters) is overwritten and deleted first, so no
    passphrase leads to the key any more (crypto-shredding); then the files go. Plain: the
    file is zeroed before it is deleted (best effort: time grows with its size). Saved model
    states and every file in ``folders`` (exports) are deleted too. Returns what was deleted.
    """
    gone: list[Path] = []
    if keys.header_path(database).exists():
        keys.shred_header(database)
        gone.append(keys.header_path(database))
    plain = not db.is_encrypted(database) and database.exists()
    for name in (
        f"{database}",
        f"{database}-wal",
        f"{database}-shm",
        f"{database}-journal",
        str(db.conversion_file(database, locking=True)),
        str(db.conversion_file(database, locking=False)),
    ):
        file = Path(name)
        if not file.exists():
            continue
        if plain or name.endswith(("-wal", ".unlocking")):
            db.overwrite_and_unlink(file)
        else:
            file.unlink(missing_ok=True)
        gone.append(file)
    for folder in [writerlock.folder(database), *folders]:
        if folder.is_dir():
            for file in folder.iterdir():
                if file.is_file() or file.is_symlink():
                    file.unlink(missing_ok=True)
                    gone.append(file)
    return gone
