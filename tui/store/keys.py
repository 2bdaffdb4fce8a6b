"""From a passphrase to the key of a locked history, through the header file beside it.

The header (``<history>-header.json``, 0600) holds no secret: the KDF's name and
parameters, a random salt, and a check value. The passphrase goes through the KDF once to a
256-bit master secret; two independent keys come out of that by HMAC-SHA256 (one for
SQLCipher, one whose only use is to be compared with the check value). A wrong passphrase
is told by the check value, before SQLCipher is asked to decrypt anything, and the check
value reveals nothing of the database key.

KDF: Argon2id (memory-hard) from ``cryptography`` with 64 MiB, 3 passes, 1 lane (RFC 9106's
second recommended setting, ~0.6 s on a laptop core, 1-3 s on a phone). Where the
``cryptography`` build lacks Argon2id (OpenSSL older than 3.2) Burrow falls back to
PBKDF2-HMAC-SHA512 with 256,000 iterations, SQLCipher's own default KDF, from the standard
library. The header records which was used, so a history stays readable either way.

During a passphrase change the header holds two slots (the new and the old passphrase) until
the database is re-keyed: whichever passphrase the user types then, it finds its slot, and
an interrupted change never leaves a database no passphrase opens.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tui.store.errors import StoreError

HEADER_FORMAT = "burrow-lock"
HEADER_VERSION = 1
SALT_BYTES = 16
MAX_HEADER_BYTES = 16_384


class LockError(StoreError):
    """Locked mode cannot go on: the text says why and what to do."""


class WrongPassphrase(LockError):
    """The passphrase does not match the history's header."""


class HistoryLocked(LockError):
    """The history is locked and no key was given to open it."""


class HeaderProblem(LockError):
    """The header file is missing, unreadable or damaged."""


@dataclass(frozen=True)
class KdfParams:
    """How a passphrase becomes the master secret (stored in the header, never secret)."""

    kdf: str = "argon2id"
    memory_kib: int = 65_536
    iterations: int = 3
    lanes: int = 1


DEFAULT_PARAMS = KdfParams()
PBKDF2_PARAMS = KdfParams(kdf="pbkdf2-sha512", memory_kib=0, iterations=256_000, lanes=0)


@dataclass(frozen=True)
class Slot:
    params: KdfParams
    salt: bytes
    check: bytes


def header_path(database: Path) -> Path:
    """The header of the history at ``database``: beside it, same folder, same privacy."""
    return Path(f"{database}-header.json")


def argon2_available() -> bool:
    try:
        from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

        Argon2id(salt=b"\0" * SALT_BYTES, length=32, iterations=1, lanes=1, memory_cost=8)
    except Exception:  # missing package, or an OpenSSL without Argon2
        return False
    return True


def default_params() -> KdfParams:
    return DEFAULT_PARAMS if argon2_available() else PBKDF2_PARAMS


def _master(passphrase: str, params: KdfParams, salt: bytes) -> bytes:
    secret = passphrase.encode("utf-8")
    if params.kdf == "argon2id":
        try:
            from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
        except ImportError as exc:
            raise LockError(
                "this history's key needs Argon2id from the cryptography package: "
                'pip install "burrow-chat[locked]"'
            ) from exc
        kdf = Argon2id(
            salt=salt,
            length=32,
            iterations=params.iterations,
            lanes=params.lanes,
            memory_cost=params.memory_kib,
        )
        return kdf.derive(secret)
    if params.kdf == "pbkdf2-sha512":
        return hashlib.pbkdf2_hmac("sha512", secret, salt, params.iterations, dklen=32)
    raise HeaderProblem(f"unknown key derivation {params.kdf!r}")


def _subkey(master: bytes, purpose: bytes) -> bytes:
    return hmac.new(master, b"burrow-lock-v1:" + purpose, hashlib.sha256).digest()


def new_slot(passphrase: str, params: KdfParams | None = None) -> tuple[Slot, bytes]:
    """A fresh slot (new random salt) for ``passphrase`` and the database key it opens."""
    params = params or default_params()
    salt = secrets.token_bytes(SALT_BYTES)
    master = _master(passphrase, params, salt)
    return Slot(params, salt, _subkey(master, b"check")), _subkey(master, b"database")


def unlock_slot(passphrase: str, slot: Slot) -> bytes | None:
    """The database key if ``passphrase`` is this slot's, else None."""
    master = _master(passphrase, slot.params, slot.salt)
    if not hmac.compare_digest(_subkey(master, b"check"), slot.check):
        return None
    return _subkey(master, b"database")


def check_passphrase_text(passphrase: str) -> None:
    if not passphrase:
        raise LockError("the passphrase is empty")
    try:
        passphrase.encode("utf-8")
    except UnicodeEncodeError:
        raise LockError("the passphrase is not valid UTF-8") from None


# -- the header file ------------------------------------------------------------------------


def write_header(database: Path, slots: list[Slot]) -> Path:
    """Write the header atomically, 0600, fsynced (the key is lost without it)."""
    document = {
        "format": HEADER_FORMAT,
        "version": HEADER_VERSION,
        "slots": [
            {"kdf": asdict(s.params), "salt": s.salt.hex(), "check": s.check.hex()} for s in slots
        ],
    }
    target = header_path(database)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(document, indent=1) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)
    return target


def fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a folder be fsynced
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def read_header(database: Path) -> list[Slot]:
    """The slots of the header; :class:`HeaderProblem` naming the file and what is wrong."""
    target = header_path(database)
    try:
        with open(target, "rb") as handle:
            raw = handle.read(MAX_HEADER_BYTES + 1)
    except FileNotFoundError:
        raise HeaderProblem(
            f"lock header {target} is missing: the locked history cannot be unlocked "
            "without it (restore it from a backup, or wipe the history)"
        ) from None
    except OSError as exc:
        raise HeaderProblem(f"lock header {target}: cannot read it: {exc.strerror}") from exc
    try:
        if len(raw) > MAX_HEADER_BYTES:
            raise ValueError("too large")
        document = json.loads(raw.decode("utf-8"))
        return _slots(document)
    except (ValueError, TypeError, KeyError) as exc:
        raise HeaderProblem(
            f"lock header {target} is damaged ({exc}); the history was not changed"
        ) from None


def _slots(document: Any) -> list[Slot]:
    if not isinstance(document, dict) or document.get("format") != HEADER_FORMAT:
        raise ValueError("not a Burrow lock header")
    if document.get("version") != HEADER_VERSION:
        raise ValueError(f"unknown version {document.get('version')!r}")
    found = document["slots"]
    if not isinstance(found, list) or not found or len(found) > 2:
        raise ValueError("no key slot")
    slots = []
    for entry in found:
        kdf = entry["kdf"]
        params = KdfParams(
            kdf=str(kdf["kdf"]),
            memory_kib=_bounded(kdf["memory_kib"], 0, 4 * 1024 * 1024),
            iterations=_bounded(kdf["iterations"], 1, 100_000_000),
            lanes=_bounded(kdf["lanes"], 0, 64),
        )
        salt = bytes.fromhex(entry["salt"])
        check = bytes.fromhex(entry["check"])
        if len(salt) < SALT_BYTES or len(check) != 32:
            raise ValueError("bad salt or check value")
        slots.append(Slot(params, salt, check))
    return slots


def _bounded(value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"bad KDF parameter {value!r}")
    return value


def unlock(database: Path, passphrase: str) -> list[bytes]:
    """The database keys ``passphrase`` opens (one; two only mid-change), or
    :class:`WrongPassphrase`."""
    keys = [key for slot in read_header(database) if (key := unlock_slot(passphrase, slot))]
    if not keys:
        raise WrongPassphrase("wrong passphrase: the history stays locked")
    return keys


def shred_header(database: Path) -> None:
    """Overwrite the header with random bytes, sync, then delete it: without its salt the
    passphrase no longer leads to the key (crypto-shredding)."""
    target = header_path(database)
    with contextlib.suppress(FileNotFoundError):
        size = max(target.stat().st_size, 512)
        fd = os.open(target, os.O_WRONLY)
        try:
            os.write(fd, secrets.token_bytes(size))
            os.fsync(fd)
        finally:
            os.close(fd)
        target.unlink()
