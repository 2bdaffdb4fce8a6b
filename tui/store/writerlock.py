"""Who is still writing an answer: an advisory file lock per writing process.

A process that streams answers into a history holds ``<history>-writers/<pid>.lock`` locked
(``flock``) for as long as it lives. The kernel drops the lock when the process dies, becomes
a zombie or execs another program (the descriptor is close-on-exec), so unlike "is the PID
alive?" the dead cannot hold it, and a reused PID does not count. Recovery tries the lock: if
it can take it (or the file is missing) the writer is gone.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from pathlib import Path

try:
    import fcntl
except ImportError:  # no flock on this platform: recovery falls back to PID liveness
    fcntl = None  # type: ignore[assignment]

_held: dict[str, int] = {}
_lock = threading.Lock()


def folder(database: Path) -> Path:
    """Beside the history file: the lock files of the processes writing into it."""
    return Path(f"{database.resolve()}-writers")


def hold(database: Path) -> None:
    """Take this process's writer lock for ``database`` (once; kept until the process ends).

    Best effort: a folder that cannot be written leaves answers to PID liveness.
    """
    if fcntl is None:
        return
    key = str(database.resolve())
    with _lock:
        if key in _held:
            return
        file = folder(database) / f"{os.getpid()}.lock"
        with contextlib.suppress(OSError):
            _held[key] = _take(file)
            # A clean exit takes its file away (still locked: no one can mistake it).
            atexit.register(_remove, file)


def _remove(file: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(file)


def _take(file: Path) -> int:
    file.parent.mkdir(mode=0o700, exist_ok=True)
    while True:
        fd = os.open(file, os.O_RDWR | os.O_CREAT, 0o600)  # close-on-exec by default
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            # A recovery may have removed the file between open and lock: lock the new one.
            if os.fstat(fd).st_ino == os.stat(file).st_ino:
                return fd
        except FileNotFoundError:
            pass
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def alive(database: Path, pid: int) -> bool | None:
    """Is process ``pid`` still writing into ``database``? None: cannot tell (no flock)."""
    if fcntl is None:
        return None
    file = folder(database) / f"{pid}.lock"
    try:
        fd = os.open(file, os.O_RDWR)
    except FileNotFoundError:
        return False
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        # Ours now: the writer is gone; tidy its file away while holding the lock.
        with contextlib.suppress(OSError):
            os.unlink(file)
        return False
    finally:
        os.close(fd)
