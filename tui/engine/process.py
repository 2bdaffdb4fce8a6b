"""The engine's worker process as the client sees it: starting it, its pipes, the reader
thread that routes each answer to the request waiting for it, and noticing that it died.

A dead worker is never waited for: the reader thread sees its stdout close, records the
exit status and hands every pending request a ``{"crash": true}`` message, so each caller
gets a :class:`WorkerCrashed` naming the signal and the log file.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tui.engine import prefs
from tui.engine.heartbeat import Watchdog
from tui.engine.protocol import LoadParams, decode, encode

_LOG_ROTATE_BYTES = 4 * 1024 * 1024
Message = dict[str, Any]


class EngineError(Exception):
    """Something the engine could not do; the message is meant for the user."""


class WorkerCrashed(EngineError):
    """The worker process died (signal or exit). ``signal_name`` is e.g. ``"SIGSEGV"``."""

    def __init__(self, message: str, returncode: int | None, signal_name: str | None) -> None:
        super().__init__(message)
        self.returncode = returncode
        self.signal_name = signal_name


class WorkerHung(EngineError):
    """The worker is still there but made no progress for too long (stopped, deadlocked)."""


class RequestError(EngineError):
    """The worker refused a request; ``kind`` says why (``load``, ``context``, ...)."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def describe_exit(returncode: int | None) -> tuple[str | None, str]:
    """``(signal name or None, human text)`` for a worker's exit status."""
    if returncode is None:
        return None, "the engine process stopped answering"
    if returncode < 0:
        try:
            sig = signal.Signals(-returncode)
        except ValueError:
            return None, f"the engine process was killed by signal {-returncode}"
        what = signal.strsignal(sig) or sig.name
        return sig.name, f"the engine process was killed by {sig.name} ({what.lower()})"
    return None, f"the engine process exited unexpectedly with code {returncode}"


def default_log_path() -> Path:
    from tui import paths

    return paths.log_dir() / "engine.log"


class WorkerProcess:
    """One worker process: its pipes, a reader thread, and the requests waiting for it."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        rotate_log(log_path)
        try:
            log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError:  # a log that cannot be written must not stop the engine
            log_fd = os.open(os.devnull, os.O_WRONLY)
        try:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log_fd,
                env=env,
                close_fds=True,
                start_new_session=True,  # Ctrl+C in the terminal is not for the worker
            )
        finally:
            os.close(log_fd)
        self.log_path = log_path
        self.pid = self.proc.pid
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._pending: dict[int, Callable[[Message], None]] = {}
        self.alive = True
        self.hung = False
        """Seen making no progress: the next request starts a new worker instead."""
        self.returncode: int | None = None
        self._reader = threading.Thread(target=self._read, name="burrow-engine-reader")
        self._reader.daemon = True
        self._reader.start()

    def _read(self) -> None:
        stdout = self.proc.stdout
        assert stdout is not None
        for line in stdout:
            try:
                message = decode(line)
            except ValueError:
                continue
            with self._lock:
                sink = self._pending.get(message.get("id", -1))
            if sink is not None:
                sink(message)
        returncode = self.proc.wait()
        with self._lock:
            self.alive = False
            self.returncode = returncode
            sinks = list(self._pending.values())
            self._pending.clear()
        for sink in sinks:
            sink({"crash": True})

    def crash_error(self) -> WorkerCrashed:
        signal_name, text = describe_exit(self.returncode)
        return WorkerCrashed(f"{text}; details in {self.log_path}", self.returncode, signal_name)

    def request(self, message: Message, sink: Callable[[Message], None]) -> int:
        with self._lock:
            if not self.alive:
                raise self.crash_error()
            request_id = next(self._ids)
            self._pending[request_id] = sink
            self._write({**message, "id": request_id})
        return request_id

    def _write(self, message: Message) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        try:
            stdin.write(encode(message))
            stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass  # the process is gone; the reader thread reports it to every request

    def forget(self, request_id: int) -> None:
        with self._lock:
            self._pending.pop(request_id, None)

    def cancel(self, request_id: int) -> None:
        with self._lock:
            if self.alive:
                self._write({"op": "cancel", "target": request_id})

    def hang_error(self, watch: Watchdog, doing: str) -> WorkerHung:
        """Mark this worker hung and say so: ``doing`` is e.g. "while loading"."""
        self.hung = True
        return WorkerHung(
            f"the engine stopped responding {doing} ({watch.describe()}); "
            f"restart it to go on; details in {self.log_path}"
        )

    def call(
        self,
        op: str,
        timeout: float | None = None,
        watch: Watchdog | None = None,
        doing: str = "",
        **fields: Any,
    ) -> Any:
        """One request and its answer. With ``watch`` the worker's progress beats are
        awaited instead of a fixed ``timeout``: silence beyond the bound is a hang."""
        answers: queue.SimpleQueue[Message] = queue.SimpleQueue()
        request_id = self.request({"op": op, **fields}, answers.put)
        try:
            while True:
                answer = answers.get(timeout=watch.bound if watch else timeout)
                if watch is None or answer.get("event") != "beat":
                    break
                watch.heard(answer)
        except queue.Empty:
            if watch is not None:
                raise self.hang_error(watch, doing or f"in {op!r}") from None
            raise EngineError(f"the engine did not answer {op!r} in time") from None
        finally:
            self.forget(request_id)
        if answer.get("crash"):
            raise self.crash_error()
        if not answer.get("ok"):
            raise RequestError(str(answer.get("error")), str(answer.get("kind", "error")))
        return answer.get("result")

    def stop(self, timeout: float = 5.0) -> None:
        if self.hung:  # it would not answer "shutdown" either
            self.kill()
            return
        if self.alive:
            with contextlib.suppress(EngineError):
                self.call("shutdown", timeout=timeout)
        stdin = self.proc.stdin
        if stdin is not None:
            with contextlib.suppress(OSError):
                stdin.close()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._reader.join(timeout=5)


class CancelHandle:
    """Links a running generation to its worker request, so a cancel from any thread
    reaches it (also one that comes before the request is sent)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.cancelled = False
        self._worker: WorkerProcess | None = None
        self._request_id = 0

    def attach(self, worker: WorkerProcess, request_id: int) -> None:
        with self._lock:
            self._worker, self._request_id = worker, request_id
            cancelled = self.cancelled
        if cancelled:
            worker.cancel(request_id)

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            worker, request_id = self._worker, self._request_id
        if worker is not None:
            worker.cancel(request_id)


def rotate_log(log_path: Path) -> None:
    try:
        log_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if log_path.stat().st_size > _LOG_ROTATE_BYTES:
            os.replace(log_path, log_path.with_name(log_path.name + ".1"))
    except OSError:
        pass


def spawn_worker(python: str, extra_env: Mapping[str, str], log_path: Path) -> WorkerProcess:
    """Start ``python -m tui.engine.worker`` logging to ``log_path``."""
    env = dict(os.environ)
    env.update(extra_env)
    env["BURROW_ENGINE_LOG"] = str(log_path)
    env["PYTHONUNBUFFERED"] = "1"
    package_root = Path(__file__).resolve().parents[2]
    if (package_root / "pyproject.toml").is_file():  # a source checkout
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(package_root), env.get("PYTHONPATH", "")) if p
        )
    return WorkerProcess([python, "-m", "tui.engine.worker"], env, log_path)


class ExtraBuftsChoice:
    """Which model files load with the CPU extra buffer types off: those whose worker died
    at the first decode with them on (remembered in the engine preferences)."""

    def __init__(self) -> None:
        self._off: set[str] = set()
        self.fallbacks: list[str] = []
        """One line per fallback that happened."""

    def enabled(self, params: LoadParams) -> bool:
        if params.extra_bufts is not None:
            return params.extra_bufts
        key = _file_key(params.path)
        return key not in self._off and not prefs.extra_bufts_disabled(key)

    def turn_off(self, path: str, crash: WorkerCrashed) -> None:
        key = _file_key(path)
        reason = (
            f"engine died ({crash.signal_name or crash.returncode}) at the first decode "
            "with CPU extra buffer types on"
        )
        self._off.add(key)
        with contextlib.suppress(OSError):  # else remembered for this session only
            prefs.remember_extra_bufts_off(key, reason)
        self.fallbacks.append(f"{key}: {reason}; retried with them off")

    def turn_back_on(self, path: str) -> None:
        """The retry without them crashed too: they were not the cause."""
        key = _file_key(path)
        self._off.discard(key)
        with contextlib.suppress(OSError):
            prefs.forget(key)
        self.fallbacks.append(f"{key}: crashed without extra buffer types too; not kept")


def _file_key(path: str) -> str:
    return str(Path(path).expanduser().resolve())
