"""Finding the real llama-server for the tests, and starting one on loopback TCP (the remote
engine's tests).

The binary comes from ``BURROW_LLAMA_SERVER`` (which ``conftest.py`` moves to
``BURROW_TEST_LLAMA_SERVER``, out of the engine's way), this checkout's
``.cache/llama-server/`` (``scripts/build-llama-server.sh``) or PATH. Without one the tests
that need it skip, naming the script.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[1]
SKIP_REASON = (
    "no llama-server binary: run scripts/build-llama-server.sh, put llama-server "
    "on PATH or set BURROW_LLAMA_SERVER"
)


def find_binary() -> str | None:
    named = (
        os.environ.get("BURROW_TEST_LLAMA_SERVER", "").strip()
        or os.environ.get("BURROW_LLAMA_SERVER", "").strip()
    )
    if named and shutil.which(named):
        return shutil.which(named)
    for built in sorted((CHECKOUT / ".cache" / "llama-server").glob("*/llama-server")):
        if os.access(built, os.X_OK):
            return str(built)
    return shutil.which("llama-server")


def require_binary() -> str:
    found = find_binary()
    if found is None:
        pytest.skip(SKIP_REASON)
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def tcp_server(binary: str, model: Path, log: Path, *, api_key: str | None = None) -> Iterator[str]:
    """llama-server on 127.0.0.1 (a stand-in for a server on another machine); yields its URL."""
    port = free_port()
    argv = [binary, "-m", str(model), "-c", "1024", "-np", "1", "-t", "2", "--no-repack"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--no-webui"]
    if api_key:
        argv += ["--api-key", api_key]
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=out, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not _healthy(port):
            assert proc.poll() is None, log.read_text(errors="replace")[-2000:]
            assert time.monotonic() < deadline, "llama-server did not load in 120 s"
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _healthy(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as probe:
            probe.sendall(b"GET /health HTTP/1.0\r\n\r\n")
            return b" 200 " in probe.recv(100)
    except OSError:
        return False


def socket_inodes(pid: int) -> set[str]:
    """The socket inodes a process holds open (``socket:[N]`` links in /proc/PID/fd)."""
    inodes: set[str] = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    return inodes


def table_inodes(name: str) -> set[str]:
    """Inodes listed in /proc/net/<name> (tcp, tcp6, udp, udp6, unix)."""
    path = Path("/proc/net") / name
    if not path.exists():
        return set()
    lines = path.read_text().splitlines()[1:]
    column = 6 if name == "unix" else 9
    return {line.split()[column] for line in lines if len(line.split()) > column}
