"""The local llama-server: found on PATH (Termux: ``pkg install llama-cpp``) or configured,
started by Burrow as a child process that listens on a Unix socket in a private run folder
(never a TCP port), its output appended to the engine log, stopped with Burrow.

Only flags the binary lists in its ``--help`` are passed, so a llama-server a little older or
newer than the one Burrow was tested with still starts.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from tui.engine.http import Endpoint, ServerError, request_json
from tui.engine.process import describe_exit, rotate_log
from tui.engine.protocol import LoadParams

if TYPE_CHECKING:
    from tui.engine.loading import LoadChoices

SERVER_ENV = "BURROW_LLAMA_SERVER"
"""Names the llama-server binary (beats the setting and PATH)."""

#: A Unix socket path must fit in sockaddr_un (108 bytes on Linux, 104 elsewhere).
_MAX_SOCKET_PATH = 100
_counter = itertools.count(1)


def find_llama_server(configured: str | None = None) -> str | None:
    """The llama-server binary to start: ``BURROW_LLAMA_SERVER``, the setting, PATH, then (in
    a source checkout) the one ``scripts/build-llama-server.sh`` cached; None when none."""
    for candidate in (os.environ.get(SERVER_ENV, "").strip(), (configured or "").strip()):
        if candidate:
            found = shutil.which(os.path.expanduser(candidate))
            if found:
                return found
    found = shutil.which("llama-server")
    if found:
        return found
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file():
        for built in sorted((checkout / ".cache" / "llama-server").glob("*/llama-server")):
            if os.access(built, os.X_OK):
                return str(built)
    return None


@lru_cache(maxsize=8)
def _help_text(binary: str, mtime: float) -> str:
    try:
        done = subprocess.run(
            [binary, "--help"],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout + done.stderr


def supported_flags(binary: str) -> str:
    """The binary's ``--help`` text (cached per file version)."""
    try:
        mtime = os.stat(binary).st_mtime
    except OSError:
        return ""
    return _help_text(binary, mtime)


def server_version(binary: str) -> str | None:
    """What ``llama-server --version`` says (its first line naming the version), or None."""
    try:
        done = subprocess.run(
            [binary, "--version"],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    for line in (done.stdout + done.stderr).splitlines():
        if line.startswith("version:"):
            return line.partition(":")[2].strip()
    return None


def run_dir() -> Path:
    """A private (0700) folder for the socket and the slot files. Under the cache folder
    when its path is short enough for a socket, else a fresh private temporary folder."""
    from tui import paths

    preferred = paths.ensure_private_dir(paths.cache_dir() / "run")
    if len(str(preferred)) + 40 <= _MAX_SOCKET_PATH:
        return preferred
    return Path(tempfile.mkdtemp(prefix="burrow-run-"))


def _flag_pattern(flag: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w-]){re.escape(flag)}(?![\w-])")


def server_argv(
    binary: str,
    params: LoadParams,
    socket_path: Path,
    slots: Path,
    choices: LoadChoices | None = None,
) -> list[str]:
    """The command line for ``params`` with the ``auto`` settings decided as ``choices``
    (:func:`tui.engine.loading.decide`, the embedded engine's decision; None: without a look
    at the file); options the binary does not list are left out. Raises
    :class:`ServerError` when a quantized KV cache is asked of a server that cannot store
    one (it would silently take f16, twice the memory the fit check allowed for)."""
    from tui.engine.loading import plain_choices

    flags = supported_flags(binary)
    choices = choices or plain_choices(params)

    def has(flag: str) -> bool:
        return _flag_pattern(flag).search(flags) is not None

    argv = [binary, "-m", params.path, "-c", str(params.n_ctx), "--host", str(socket_path)]
    argv += ["-np", "1", "-b", str(params.n_batch)]
    if params.n_threads:
        argv += ["-t", str(params.n_threads)]
    if params.n_threads_batch or params.n_threads:
        argv += ["-tb", str(params.n_threads_batch or params.n_threads)]
    if has("--slot-save-path"):
        argv += ["--slot-save-path", f"{slots}{os.sep}"]
    if has("--no-webui"):
        argv.append("--no-webui")
    if has("--cache-ram"):  # the server's extra prompt cache in RAM: a phone has none to spare
        argv += ["--cache-ram", "0"]
    if params.extra_bufts is False and has("--no-repack"):
        argv.append("--no-repack")
    argv += _load_mode(has, choices.use_mmap, params.use_mlock)
    argv += _kv_cache(has, choices.kv_cache_type, binary)
    argv += _flash_attn(has, flags, choices.flash_attn)
    if has("--offline"):
        argv.append("--offline")
    return argv


def _load_mode(has: Callable[[str], bool], mapped: bool, mlock: bool) -> list[str]:
    # llama.cpp replaced --no-mmap and --mlock by one --load-mode (the one llama-cpp-python
    # sets from use_mmap/use_mlock); older servers still take the two flags.
    if has("--load-mode"):
        mode = {(True, True): "mmap+mlock", (False, True): "mlock", (True, False): "mmap"}
        return ["--load-mode", mode.get((mapped, mlock), "none")]
    argv = []
    if not mapped and has("--no-mmap"):
        argv.append("--no-mmap")
    if mlock and has("--mlock"):
        argv.append("--mlock")
    return argv


def _kv_cache(has: Callable[[str], bool], kv_type: str, binary: str) -> list[str]:
    if has("--cache-type-k") and has("--cache-type-v"):
        return ["--cache-type-k", kv_type, "--cache-type-v", kv_type]
    if kv_type != "f16":
        raise ServerError(
            f"{binary} cannot store a {kv_type} context cache (its --help lists no "
            "--cache-type-k): set kv_cache_type to f16, or use a newer llama-server",
            "unsupported",
        )
    return []


def _flash_attn(has: Callable[[str], bool], flags: str, on: bool) -> list[str]:
    if not has("--flash-attn"):
        return []
    # Since mid-2025 the flag takes on|off|auto and the server's own default is auto (on for
    # the CPU), so "off" must be said; before, it was a bare switch, off unless given.
    if re.search(r"--flash-attn\s+\[?on\|off", flags):
        return ["--flash-attn", "on" if on else "off"]
    return ["--flash-attn"] if on else []


class LocalServer:
    """One llama-server child serving one model on a Unix socket."""

    def __init__(
        self,
        binary: str,
        params: LoadParams,
        log_path: Path,
        choices: LoadChoices | None = None,
    ) -> None:
        self.binary = binary
        self.params = params
        self.log_path = log_path
        self.dir = run_dir()
        tag = f"{os.getpid()}-{next(_counter)}"
        self.socket_path = self.dir / f"llama-{tag}.sock"
        self.slots = self.dir / f"slots-{tag}"
        try:
            self.argv = server_argv(binary, params, self.socket_path, self.slots, choices)
        except ServerError:
            self._remove_files()
            raise
        self.slots.mkdir(mode=0o700)
        self.endpoint = Endpoint.unix(str(self.socket_path))
        rotate_log(log_path)
        try:
            log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError:
            log_fd = os.open(os.devnull, os.O_WRONLY)
        try:
            os.write(log_fd, f"\n--- llama-server {binary} ({params.path})\n".encode())
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log_fd,
                stderr=log_fd,
                close_fds=True,
                start_new_session=True,  # Ctrl+C in the terminal is not for the server
            )
        except OSError as exc:
            self._remove_files()
            raise ServerError(
                f"{binary}: cannot start llama-server ({exc})", "unreachable"
            ) from exc
        finally:
            os.close(log_fd)
        self.pid = self.proc.pid
        self._stopped = threading.Event()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def exit_text(self) -> str:
        _, text = describe_exit(self.proc.poll())
        return text.replace("the engine process", "llama-server")

    def wait_ready(self, timeout: float, cancelled: Callable[[], bool] = lambda: False) -> None:
        """Until ``/health`` says the model is loaded. Raises :class:`ServerError` naming the
        exit status when the server dies first, or ``timeout`` when it takes too long."""
        deadline = time.monotonic() + timeout
        delay = 0.02
        while True:
            if not self.alive:
                raise ServerError(
                    f"{self.exit_text()} while loading the model; details in {self.log_path}",
                    "crash",
                )
            if cancelled():
                raise ServerError("loading was cancelled", "cancelled")
            if self.socket_path.exists():
                try:
                    request_json(self.endpoint, "GET", "/health", timeout=5)
                    return
                except ServerError as exc:
                    if exc.status not in (None, 503):
                        raise
            if time.monotonic() > deadline:
                self.stop()
                raise ServerError(
                    f"llama-server did not finish loading in {timeout:.0f} s; "
                    f"details in {self.log_path}",
                    "timeout",
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.25)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and remove its socket and slot files."""
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        else:
            self.proc.wait()
        self._remove_files()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._remove_files()

    def _remove_files(self) -> None:
        with contextlib.suppress(OSError):
            self.socket_path.unlink()
        shutil.rmtree(self.slots, ignore_errors=True)
        if self.dir.name.startswith("burrow-run-"):  # a temporary run folder of its own
            with contextlib.suppress(OSError):
                self.dir.rmdir()


def load_timeout(params: LoadParams) -> float:
    """How long a load may take: a minute, plus ~30 s per GB (a phone's storage reads a few
    hundred MB/s at worst; the server also warms up with one decode)."""
    try:
        size = os.path.getsize(params.path)
    except OSError:
        size = 0
    return 60.0 + 30.0 * size / 1e9
