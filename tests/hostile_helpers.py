"""Helpers for the hostile-conditions tests (``tests/test_hostile_*.py``).

Every hostile test drives the real ``burrow`` command in a child process (so a hang, a
traceback or an exit status is seen exactly as a user sees it) against the per-test
``BURROW_HOME`` of ``conftest.py``. Output is kept as bytes: an escape sequence must be seen
as the terminal would receive it, not after decoding.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HANG_GUARD = 120.0
"""Seconds a command may take before the test calls it hung (a guard, never a measure)."""

RAW_CONTROLS = tuple(
    chr(c).encode("utf-8")
    for c in [*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0)]
)
"""Control characters that must never reach a terminal raw (newline and tab may)."""


def child_env(home: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["BURROW_HOME"] = str(home)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def burrow(
    home: Path,
    *args: str | bytes,
    timeout: float = HANG_GUARD,
    prefix: tuple[str, ...] = (),
    preexec: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``burrow ARGS`` (``python -m tui``) to the end; a hang fails the test."""
    argv: list[str | bytes] = [*prefix, sys.executable, "-m", "tui", *args]
    try:
        return subprocess.run(
            argv,
            capture_output=True,
            env=child_env(home),
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            preexec_fn=preexec,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"burrow {' '.join(map(repr, args))} hung for {timeout:.0f} s: {exc}")


def text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def assert_no_traceback(result: subprocess.CompletedProcess[bytes]) -> None:
    err = text(result.stderr)
    assert "Traceback" not in err, err


def assert_clear_failure(result: subprocess.CompletedProcess[bytes], *names: str) -> str:
    """Non-zero exit, no traceback, and stderr names each of ``names`` (file, value...)."""
    err = text(result.stderr)
    assert result.returncode != 0, (result.returncode, text(result.stdout), err)
    assert "Traceback" not in err, err
    for name in names:
        assert name in err, f"{name!r} not named in: {err}"
    return err


def raw_controls(data: bytes) -> list[bytes]:
    """The raw control characters (other than newline and tab) in ``data``."""
    return [c for c in RAW_CONTROLS if c in data]


def database(home: Path) -> Path:
    return home / "data" / "history.sqlite3"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def have_user_namespaces() -> bool:
    """Whether ``unshare -rm`` works here (mount a tmpfs or a read-only bind as a user)."""
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k none /mnt"],
        capture_output=True,
        timeout=30,
    )
    return probe.returncode == 0
