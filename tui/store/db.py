"""SQLite connection, pragmas and schema migrations of the history database.

Durability choices (history must never be lost or corrupted):

- WAL journal with ``synchronous=FULL``: a commit is on disk when it returns, and readers
  never block the one writer (a TUI and a ``burrow ask`` can share the file).
- ``busy_timeout`` and ``BEGIN IMMEDIATE`` for every write: a writer waits for the write lock
  up front instead of failing half-way with "database is locked" on a lock upgrade.
- ``secure_delete=ON`` at every connect (never trust the compile-time default): deleted text
  is overwritten in the file.

The schema version lives in ``PRAGMA user_version``; each migration runs in its own
transaction and re-checks the version inside it, so two processes opening an old database at
the same time migrate it once.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import stat
from collections.abc import Callable, Sequence
from pathlib import Path

from tui.store import driver
from tui.store.errors import StoreError as StoreError

BUSY_TIMEOUT_MS = 15_000


class HistoryUnavailable(StoreError):
    """The history file is damaged, unreachable or full: the text names the file and why."""


_CANNOT_WRITE = "it cannot be written (read-only file or folder)"
_CANNOT_OPEN = "it cannot be opened (missing, unreadable or read-only folder)"


def unavailable(path: Path | str | None, exc: BaseException) -> HistoryUnavailable:
    """One clear sentence for an SQLite or OS error on the history file at ``path``."""
    if isinstance(exc, HistoryUnavailable):
        return exc
    message = str(exc).lower()
    code = getattr(exc, "sqlite_errorcode", None)
    if (
        (isinstance(exc, OSError) and exc.errno == errno.ENOSPC)
        or code == sqlite3.SQLITE_FULL
        or "full" in message
        or "no space" in message
    ):
        reason = "no space left on the device"
    elif "not a database" in message or "malformed" in message or "corrupt" in message:
        reason = "the file is damaged (not a readable SQLite database)"
    elif "readonly" in message or "read-only" in message or isinstance(exc, PermissionError):
        reason = _CANNOT_WRITE
    elif "unable to open" in message or "disk i/o" in message:
        reason = _CANNOT_OPEN
    elif isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
    else:
        reason = str(exc)
    where = "in memory" if path is None else str(path)
    return HistoryUnavailable(f"history file {where}: {reason}")


class NotFoundError(StoreError, LookupError):
    """No conversation or message with that id."""


# -- schema ---------------------------------------------------------------------------------
# Migration N brings a database from user_version N-1 to N. Never edit a released migration:
# add a new one (tests open databases written by earlier versions).

_V1: Sequence[str] = (
    """
    CREATE TABLE conversations (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        title TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        pinned INTEGER NOT NULL DEFAULT 0,
        model_path TEXT,
        template TEXT,
        system_prompt TEXT,
        settings TEXT NOT NULL DEFAULT '{}',
        tag TEXT,
        active_leaf_id INTEGER
    )
    """,
    """
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        parent_id INTEGER REFERENCES messages(id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
        content TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        status TEXT NOT NULL DEFAULT 'done',
        model TEXT,
        stats TEXT NOT NULL DEFAULT '{}'
    )
    """,
    "CREATE INDEX messages_by_conversation ON messages(conversation_id, id)",
    "CREATE INDEX messages_by_parent ON messages(parent_id)",
)

_V2: Sequence[str] = (
    # Which process writes a streaming answer: lets an opening process tell a live stream from
    # one whose writer died (only the latter becomes 'interrupted').
    "ALTER TABLE messages ADD COLUMN writer_pid INTEGER",
    "CREATE INDEX messages_streaming ON messages(status) WHERE status = 'streaming'",
    "CREATE INDEX conversations_listing ON conversations(pinned DESC, updated_at DESC, id DESC)",
    # Full-text search: external-content FTS5 tables kept in sync by triggers.
    """
    CREATE VIRTUAL TABLE messages_fts USING fts5(
        content, content='messages', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2', prefix='2 3'
    )
    """,
    """
    CREATE VIRTUAL TABLE conversations_fts USING fts5(
        title, content='conversations', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2', prefix='2 3'
    )
    """,
    """
    CREATE TRIGGER messages_fts_ai AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
    END
    """,
    """
    CREATE TRIGGER messages_fts_ad AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content)
        VALUES ('delete', old.id, old.content);
    END
    """,
    """
    CREATE TRIGGER messages_fts_au AFTER UPDATE OF content ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content)
        VALUES ('delete', old.id, old.content);
        INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
    END
    """,
    """
    CREATE TRIGGER conversations_fts_ai AFTER INSERT ON conversations BEGIN
        INSERT INTO conversations_fts(rowid, title) VALUES (new.id, new.title);
    END
    """,
    """
    CREATE TRIGGER conversations_fts_ad AFTER DELETE ON conversations BEGIN
        INSERT INTO conversations_fts(conversations_fts, rowid, title)
        VALUES ('delete', old.id, old.title);
    END
    """,
    """
    CREATE TRIGGER conversations_fts_au AFTER UPDATE OF title ON conversations BEGIN
        INSERT INTO conversations_fts(conversations_fts, rowid, title)
        VALUES ('delete', old.id, old.title);
        INSERT INTO conversations_fts(rowid, title) VALUES (new.id, new.title);
    END
    """,
    # Index what a v1 database already holds.
    "INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')",
    "INSERT INTO conversations_fts(conversations_fts) VALUES ('rebuild')",
    # Saved KV-cache states, to resume a conversation without evaluating its prompt again.
    # ``path`` is a file name inside paths.states_dir().
    """
    CREATE TABLE kv_states (
        path TEXT PRIMARY KEY,
        conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        sha256 TEXT NOT NULL,
        model_path TEXT NOT NULL,
        template TEXT NOT NULL,
        n_ctx INTEGER NOT NULL,
        n_tokens INTEGER NOT NULL,
        size_bytes INTEGER NOT NULL,
        last_used REAL NOT NULL
    )
    """,
    "CREATE INDEX kv_states_by_conversation ON kv_states(conversation_id)",
    "CREATE INDEX kv_states_lru ON kv_states(last_used)",
)

_V3: Sequence[str] = (
    # A reasoning model's thinking, kept apart from its answer: not sent back to the model,
    # not indexed for search (the FTS triggers watch ``content`` only), left out of exports
    # unless asked for.
    "ALTER TABLE messages ADD COLUMN reasoning TEXT NOT NULL DEFAULT ''",
)

MIGRATIONS: Sequence[Sequence[str]] = (_V1, _V2, _V3)
SCHEMA_VERSION = len(MIGRATIONS)


# -- connection -----------------------------------------------------------------------------


def create_private(path: Path) -> None:
    """Create the database file 0600 before SQLite does (its -wal/-shm copy that mode)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def chmod_private(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        candidate = Path(f"{path}{suffix}")
        with contextlib.suppress(OSError):  # missing, or a file system refusing chmod
            os.chmod(candidate, 0o600)


def connect(path: Path | None, key: bytes | None = None) -> sqlite3.Connection:
    """Open ``path`` (None: an in-memory database that never touches the disk) and migrate it.

    ``key``: the raw 256-bit key of a locked (SQLCipher) history; None for a plain file.

    The connection is in autocommit mode (``isolation_level=None``): the store opens its own
    short ``BEGIN IMMEDIATE`` transactions. ``check_same_thread=False``: the store serialises
    use of the connection with a lock, and the UI calls it from worker threads.

    A file that is not a sound history (a folder, a FIFO, junk, cut short, a newer schema,
    unreachable) raises :class:`HistoryUnavailable` naming it, and is left exactly as it was.
    """
    if path is None:
        return _open(":memory:", None, None)
    try:
        _check_file(path, locked=key is not None)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        create_private(path)
        conn = _open(str(path), path, key)
    except driver.errors_and(OSError) as exc:
        problem = unavailable(path, exc)
        if not (problem.args[0].endswith(_CANNOT_OPEN) or problem.args[0].endswith(_CANNOT_WRITE)):
            raise problem from exc
        try:
            return _open_read_only(path, key)  # a read-only folder or file: browsing still works
        except driver.errors_and(OSError):
            raise problem from exc
    chmod_private(path)
    return conn


def _open_read_only(path: Path, key: bytes | None) -> sqlite3.Connection:
    """``path`` for reading only (``PRAGMA query_only``): a write says the file is read-only."""
    try:
        conn = connect_reader(path, key)
    except driver.OPERATIONAL:
        wal = Path(f"{path}-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise  # immutable would skip the answers still in the WAL
        conn = connect_reader(path, key, immutable=True)
    try:
        version = user_version(conn)
        if version != SCHEMA_VERSION:  # cannot migrate what cannot be written
            raise StoreError(f"schema version {version}")
        _check_length(conn, path)
        conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        conn.close()
        raise
    return conn


def is_read_only(conn: sqlite3.Connection) -> bool:
    return bool(conn.execute("PRAGMA query_only").fetchone()[0])


def connect_reader(
    path: Path, key: bytes | None = None, *, immutable: bool = False
) -> sqlite3.Connection:
    """A second connection that only reads (search): in WAL mode it reads while the writer
    commits, so a long search never makes an answer's saves wait.

    ``immutable``: for a file nobody can change (in a read-only folder, where SQLite cannot
    make the WAL's shared-memory file it otherwise needs even to read).
    """
    conn = driver.connect(
        f"{path.resolve().as_uri()}?mode=ro" + ("&immutable=1" if immutable else ""),
        key,
        uri=True,
        timeout=BUSY_TIMEOUT_MS / 1000,
        isolation_level=None,
        check_same_thread=False,
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA query_only = ON")
        conn.execute("PRAGMA temp_store = MEMORY")  # sorts never spill history into files
        user_version(conn)  # opens the file now: a failure is the caller's to handle
    except BaseException:
        conn.close()
        raise
    return conn


def _open(target: str, path: Path | None, key: bytes | None) -> sqlite3.Connection:
    conn = driver.connect(
        target, key, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    try:
        # Refuse a newer schema before anything (the journal mode) is written to the file.
        version = user_version(conn)
        if version > SCHEMA_VERSION:
            raise HistoryUnavailable(
                f"history file {path}: schema version {version} is newer than this Burrow "
                f"understands ({SCHEMA_VERSION}); update Burrow (the file is left untouched)"
            )
        if path is not None:
            _check_length(conn, path)
        _configure(conn, in_memory=path is None)
        migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


_MAGIC = b"SQLite format 3\0"


def _check_file(path: Path, *, locked: bool = False) -> None:
    """Before SQLite opens ``path``: a regular file starting like an SQLite database (or empty).
    A ``locked`` (SQLCipher) file starts with random bytes instead: it must not look plain.

    SQLite would block for ever on a FIFO and give vague errors on a folder or junk.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file (FIFO, device?)"
        raise HistoryUnavailable(f"history file {path}: it is {kind}, not a history file")
    if info.st_size == 0:
        return
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        head = os.read(fd, len(_MAGIC))
    finally:
        os.close(fd)
    if locked:
        if head == _MAGIC:
            raise HistoryUnavailable(f"history file {path}: it is not locked (a plain history)")
        return
    if head != _MAGIC:
        raise HistoryUnavailable(
            f"history file {path}: the file is damaged (not a readable SQLite database), "
            "or it is a locked history whose lock header is missing"
        )


def is_encrypted(path: Path) -> bool:
    """A locked history: a lock header beside it and a file that does not start like a plain
    SQLite database (SQLCipher files start with random bytes). A plain file with a header
    beside it is a plain history whose locking was interrupted."""
    from tui.store.keys import header_path

    if not header_path(path).exists():
        return False
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(_MAGIC))
    except OSError:
        return False
    return bool(head) and head != _MAGIC


def conversion_file(path: Path, *, locking: bool) -> Path:
    """Where a conversion writes the new file before it replaces ``path`` in one rename."""
    return Path(f"{path}.locking" if locking else f"{path}.unlocking")


def remove_plain_leftovers(path: Path) -> None:
    """An unlocking that died mid-way leaves a plain-text copy: overwrite and delete it."""
    leftover = conversion_file(path, locking=False)
    if leftover.exists():
        overwrite_and_unlink(leftover)


def overwrite_and_unlink(file: Path) -> None:
    """Zero a file's bytes in place, sync, delete it. Best effort on flash storage (the
    controller may keep old blocks), but nothing readable stays behind in the file system."""
    with contextlib.suppress(FileNotFoundError):
        fd = os.open(file, os.O_WRONLY)
        try:
            zero_fd(fd)
        finally:
            os.close(fd)
        file.unlink()


def zero_fd(fd: int) -> None:
    size = os.fstat(fd).st_size
    block = b"\0" * (1 << 20)
    os.lseek(fd, 0, os.SEEK_SET)
    written = 0
    while written < size:
        written += os.write(fd, block[: min(len(block), size - written)])
    os.fsync(fd)


def _check_length(conn: sqlite3.Connection, path: Path) -> None:
    """A file cut short: fewer bytes than its pages, with no WAL holding the rest."""
    wal = Path(f"{path}-wal")
    if wal.exists() and wal.stat().st_size > 0:
        return
    pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
    size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    if path.stat().st_size < pages * size:
        raise HistoryUnavailable(
            f"history file {path}: the file is damaged (cut short: "
            f"{path.stat().st_size} of {pages * size} bytes)"
        )


def _configure(conn: sqlite3.Connection, *, in_memory: bool) -> None:
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA secure_delete = ON")
    # Sorts and temporary indexes stay in RAM: incognito must write nothing, and spilling
    # history text into temp files would defeat secure_delete.
    conn.execute("PRAGMA temp_store = MEMORY")
    if not in_memory:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"cannot switch the history database to WAL (got {mode!r})")
    conn.execute("PRAGMA synchronous = FULL")
    try:
        conn.execute("CREATE VIRTUAL TABLE temp._fts5_probe USING fts5(x)")
        conn.execute("DROP TABLE temp._fts5_probe")
    except driver.OPERATIONAL as exc:
        raise StoreError("this Python's SQLite lacks FTS5, which history search needs") from exc


def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(
    conn: sqlite3.Connection,
    migrations: Sequence[Sequence[str]] = MIGRATIONS,
    *,
    on_step: Callable[[int], None] | None = None,
) -> int:
    """Apply every missing migration; return the resulting schema version."""
    target = len(migrations)
    version = user_version(conn)
    if version > target:
        raise StoreError(
            f"the history database has schema version {version}, newer than this Burrow "
            f"understands ({target}); update Burrow"
        )
    while version < target:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = user_version(conn)  # another process may have migrated meanwhile
            if version < target:
                for statement in migrations[version]:
                    conn.execute(statement)
                version += 1
                conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if on_step is not None:
            on_step(version)
    return version
