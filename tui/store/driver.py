"""The two SQLite drivers a history can be opened with: Python's ``sqlite3`` for a plain file,
``sqlcipher3`` (the optional ``locked`` extra) for an encrypted one.

``sqlcipher3`` is a copy of ``sqlite3`` built against SQLCipher: same API, but its own
exception classes. The store catches errors through the tuples here (``ERRORS``,
``OPERATIONAL``...), which grow to include ``sqlcipher3``'s classes the moment it is loaded,
so ``except driver.ERRORS`` works whichever driver raised. ``sqlcipher3`` is imported only
when a locked history is opened: plain mode never pays for it nor needs it.
"""

from __future__ import annotations

import sqlite3
from types import ModuleType
from typing import Any, cast

from tui.store.errors import StoreError

EXTRA_HINT = (
    'install it with: pip install "burrow-chat[locked]" '
    "(on Termux first: pkg install sqlcipher python-cryptography)"
)

ERRORS: tuple[type[Exception], ...] = (sqlite3.Error,)
OPERATIONAL: tuple[type[Exception], ...] = (sqlite3.OperationalError,)
INTEGRITY: tuple[type[Exception], ...] = (sqlite3.IntegrityError,)
PROGRAMMING: tuple[type[Exception], ...] = (sqlite3.ProgrammingError,)

_cipher: ModuleType | None = None


class LockedExtraMissing(StoreError):
    """Locked mode needs ``sqlcipher3`` (and ``cryptography``), which are not installed."""


def cipher_module() -> ModuleType:
    """``sqlcipher3``, loaded once; :class:`LockedExtraMissing` saying what to install."""
    global _cipher, ERRORS, OPERATIONAL, INTEGRITY, PROGRAMMING
    if _cipher is not None:
        return _cipher
    try:
        import sqlcipher3
    except ImportError as exc:
        raise LockedExtraMissing(
            f"locked history needs SQLCipher (sqlcipher3): {EXTRA_HINT}"
        ) from exc
    module = cast(ModuleType, sqlcipher3.dbapi2)
    ERRORS = (sqlite3.Error, module.Error)
    OPERATIONAL = (sqlite3.OperationalError, module.OperationalError)
    INTEGRITY = (sqlite3.IntegrityError, module.IntegrityError)
    PROGRAMMING = (sqlite3.ProgrammingError, module.ProgrammingError)
    _cipher = module
    return module


def errors_and(*others: type[Exception]) -> tuple[type[Exception], ...]:
    """Both drivers' errors and ``others``, for one ``except`` clause."""
    return (*ERRORS, *others)


def cipher_available() -> bool:
    try:
        cipher_module()
    except LockedExtraMissing:
        return False
    return True


def key_pragma(key: bytes) -> str:
    """``PRAGMA key`` with a raw 256-bit key: SQLCipher uses it as is (no KDF of its own,
    Burrow already ran Argon2id), so opening a locked history costs no extra time."""
    if len(key) != 32:
        raise ValueError("a database key is 32 bytes")
    return f"PRAGMA key = \"x'{key.hex()}'\""


def connect(target: str, key: bytes | None, **kwargs: Any) -> sqlite3.Connection:
    """Open ``target`` with ``sqlite3`` (no key) or ``sqlcipher3`` keyed with ``key``.

    The key is the first statement on the connection, as SQLCipher requires; nothing is read
    from the file before it.
    """
    if key is None:
        return cast(sqlite3.Connection, sqlite3.connect(target, **kwargs))
    module = cipher_module()
    conn = module.connect(target, **kwargs)
    try:
        # A wrong key is caught earlier by the header's check value; this keeps SQLCipher
        # from writing its own errors to the terminal in any other case.
        conn.execute("PRAGMA cipher_log_level = NONE")
        conn.execute(key_pragma(key))
    except BaseException:
        conn.close()
        raise
    # Same API as sqlite3.Connection (sqlcipher3 is a fork of the standard module).
    return cast(sqlite3.Connection, conn)
