"""EngineClient: runs the worker process and talks to it. Blocking and asyncio APIs.

The worker is started lazily, restarted after a crash (the model the caller asked for is
reloaded on the next request), and never shares a file descriptor with the terminal.

Crash fallback: llama.cpp built with native flags dies (SIGSEGV/SIGILL) on some x86 CPUs
with AMX when the CPU "extra buffer types" are used, at the first decode of a prompt batch
(a one-token decode can succeed, so "first decode" means "while processing a prompt").
When the worker dies while processing a prompt with them on (and the caller left
:attr:`LoadParams.extra_bufts` at None), the client remembers "off" for that file in the
engine preferences, restarts the worker, reloads and retries the generation once; the
caller only sees the answer. If the retry dies too, the choice is not kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from tui.engine import prefs
from tui.engine.protocol import (
    Failed,
    Finished,
    GenerationEvent,
    GenerationStats,
    LoadParams,
    ModelInfo,
    Prompt,
    SamplingParams,
    TextChunk,
    decode,
    encode,
    prompt_to_wire,
)

_LOG_ROTATE_BYTES = 4 * 1024 * 1024
_Message = dict[str, Any]


class EngineError(Exception):
    """Something the engine could not do; the message is meant for the user."""


class ModelLoadError(EngineError):
    """A model could not be loaded. The message names the file and the reason."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class WorkerCrashed(EngineError):
    """The worker process died (signal or exit). ``signal_name`` is e.g. ``"SIGSEGV"``."""

    def __init__(self, message: str, returncode: int | None, signal_name: str | None) -> None:
        super().__init__(message)
        self.returncode = returncode
        self.signal_name = signal_name


class _RequestError(EngineError):
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


class _Worker:
    """One worker process: its pipes, a reader thread, and the requests waiting for it."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        _rotate(log_path)
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
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
        self._pending: dict[int, Callable[[_Message], None]] = {}
        self.alive = True
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

    def request(self, message: _Message, sink: Callable[[_Message], None]) -> int:
        with self._lock:
            if not self.alive:
                raise self.crash_error()
            request_id = next(self._ids)
            self._pending[request_id] = sink
            self._write({**message, "id": request_id})
        return request_id

    def _write(self, message: _Message) -> None:
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

    def call(self, op: str, timeout: float | None = None, **fields: Any) -> Any:
        answers: queue.SimpleQueue[_Message] = queue.SimpleQueue()
        request_id = self.request({"op": op, **fields}, answers.put)
        try:
            answer = answers.get(timeout=timeout)
        except queue.Empty:
            raise EngineError(f"the engine did not answer {op!r} in time") from None
        finally:
            self.forget(request_id)
        if answer.get("crash"):
            raise self.crash_error()
        if not answer.get("ok"):
            raise _RequestError(str(answer.get("error")), str(answer.get("kind", "error")))
        return answer.get("result")

    def stop(self, timeout: float = 5.0) -> None:
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


def _rotate(log_path: Path) -> None:
    log_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        if log_path.stat().st_size > _LOG_ROTATE_BYTES:
            os.replace(log_path, log_path.with_name(log_path.name + ".1"))
    except OSError:
        pass


class _Generation:
    """Links a running generate() to its worker request, so cancel() can reach it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.cancelled = False
        self._worker: _Worker | None = None
        self._request_id = 0

    def attach(self, worker: _Worker, request_id: int) -> None:
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


class _Pacer:
    """Hands a generation's events from the stream thread to an asyncio queue, text at most
    once per ``interval`` seconds (see :meth:`EngineClient.agenerate`)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        events: asyncio.Queue[GenerationEvent | None],
        interval: float | Callable[[], float],
    ) -> None:
        self.loop = loop
        self.events = events
        self.interval = interval if callable(interval) else (lambda: interval)
        self.closed = False  # the loop is gone: nobody is listening any more
        self._lock = threading.Lock()
        self._pending: list[TextChunk] = []
        self._armed = False  # a delivery of _pending is scheduled on the loop
        self._last = -math.inf  # loop time of the last delivery

    def post(self, event: GenerationEvent | None) -> None:
        """From the stream thread."""
        if isinstance(event, TextChunk) and self.interval() > 0:
            with self._lock:
                self._pending.append(event)
                if self._armed:
                    return
                self._armed = True
            self._call(self._arm)
        else:
            self._call(self._deliver, event)

    def _call(self, callback: Callable[..., object], *args: object) -> None:
        try:
            self.loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:
            self.closed = True

    # on the loop ---------------------------------------------------------------------
    def _arm(self) -> None:
        delay = self._last + self.interval() - self.loop.time()
        if delay > 0:
            self.loop.call_later(delay, self._flush)
        else:
            self._flush()

    def _flush(self) -> None:
        with self._lock:
            pieces, self._pending = self._pending, []
            self._armed = False
        if pieces:
            self._last = self.loop.time()
            self.events.put_nowait(TextChunk.merge(pieces))

    def _deliver(self, event: GenerationEvent | None) -> None:
        self._flush()  # text still waiting goes first, whatever its timer says
        self.events.put_nowait(event)


class EngineClient:
    """The engine, as the CLI, the chat session and the UI see it.

    Thread-safe: ``cancel()`` may be called from any thread or task while ``generate``
    iterates elsewhere. Requests are served one at a time by the worker, in order.
    """

    def __init__(
        self,
        *,
        env: Mapping[str, str] | None = None,
        log_path: Path | None = None,
        python: str | None = None,
    ) -> None:
        self._extra_env = dict(env or {})
        self._log_path = log_path
        self._python = python or sys.executable
        self._lock = threading.RLock()
        self._worker: _Worker | None = None
        self._params: LoadParams | None = None
        self._info: ModelInfo | None = None
        self._info_worker: _Worker | None = None
        self._generations: set[_Generation] = set()
        self._generations_lock = threading.Lock()
        self._extra_off: set[str] = set()
        self.last_crash: WorkerCrashed | None = None
        self.fallbacks: list[str] = []
        """One line per extra-buffer fallback that happened in this client."""

    # ---------------------------------------------------------------- state
    @property
    def worker_pid(self) -> int | None:
        worker = self._worker
        return worker.pid if worker is not None and worker.alive else None

    @property
    def model(self) -> ModelInfo | None:
        """The model loaded (or to be reloaded after a crash), None when none."""
        return self._info if self._params is not None else None

    @property
    def load_params(self) -> LoadParams | None:
        return self._params

    @property
    def log_path(self) -> Path:
        return self._log_path or default_log_path()

    def __enter__(self) -> EngineClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # ---------------------------------------------------------------- process
    def start(self) -> int:
        """Start the worker now (it also starts by itself on the first request)."""
        return self._ensure_worker().pid

    def _ensure_worker(self) -> _Worker:
        with self._lock:
            worker = self._worker
            if worker is not None and worker.alive:
                return worker
            if worker is not None:
                worker.kill()
            log_path = self.log_path
            env = dict(os.environ)
            env.update(self._extra_env)
            env["BURROW_ENGINE_LOG"] = str(log_path)
            env["PYTHONUNBUFFERED"] = "1"
            package_root = Path(__file__).resolve().parents[2]
            if (package_root / "pyproject.toml").is_file():  # a source checkout
                env["PYTHONPATH"] = os.pathsep.join(
                    p for p in (str(package_root), env.get("PYTHONPATH", "")) if p
                )
            argv = [self._python, "-m", "tui.engine.worker"]
            self._worker = _Worker(argv, env, log_path)
            return self._worker

    def _ready(self) -> _Worker:
        """A live worker with the requested model loaded (reloading after a crash)."""
        with self._lock:
            worker = self._ensure_worker()
            if self._params is not None and self._info_worker is not worker:
                self._load(self._params)
                worker = self._ensure_worker()
            return worker

    def _extra_bufts_for(self, params: LoadParams) -> bool:
        if params.extra_bufts is not None:
            return params.extra_bufts
        key = str(Path(params.path).expanduser().resolve())
        return key not in self._extra_off and not prefs.extra_bufts_disabled(key)

    # ---------------------------------------------------------------- requests
    def load(self, params: LoadParams) -> ModelInfo:
        """Load a model (replacing the current one). Raises ModelLoadError."""
        with self._lock:
            return self._load(params)

    def _load(self, params: LoadParams) -> ModelInfo:
        worker = self._ensure_worker()
        self._info = None
        self._info_worker = None
        try:
            result = worker.call(
                "load", params=params.to_dict(), extra_bufts=self._extra_bufts_for(params)
            )
        except WorkerCrashed as exc:
            self._params = None
            self.last_crash = exc
            raise ModelLoadError(
                f"{params.path}: the engine crashed while loading it "
                f"({exc.signal_name or exc.returncode}); details in {worker.log_path}",
                params.path,
            ) from exc
        except EngineError as exc:
            self._params = None
            message = str(exc)
            if params.path not in message:
                message = f"{params.path}: {message}"
            raise ModelLoadError(message, params.path) from exc
        info = ModelInfo.from_dict(result)
        self._params, self._info, self._info_worker = params, info, worker
        return info

    def unload(self) -> None:
        """Free the model's memory; the worker stays up."""
        with self._lock:
            self._params = None
            self._info = None
            self._info_worker = None
            worker = self._worker
            if worker is not None and worker.alive:
                worker.call("unload")

    def restart(self) -> ModelInfo | None:
        """Kill and start the worker again; reload the current model, if any."""
        with self._lock:
            if self._worker is not None:
                self._worker.kill()
            self._info_worker = None
            self._ensure_worker()
            if self._params is not None:
                return self._load(self._params)
            return None

    def shutdown(self) -> None:
        """Stop the worker and forget the model. The client may be used again later."""
        with self._lock:
            worker, self._worker = self._worker, None
            self._params = None
            self._info = None
            self._info_worker = None
        if worker is not None:
            worker.stop()

    def tokenize(self, text: str, *, special: bool = False, add_bos: bool = False) -> list[int]:
        """Token ids of ``text`` with the loaded model's tokenizer."""
        worker = self._ready()
        result = worker.call("tokenize", text=text, special=special, add_bos=add_bos)
        return [int(t) for t in result]

    def count_tokens(self, prompt: Prompt, *, add_bos: bool = False) -> int:
        """Tokens of a prompt exactly as ``generate`` would feed it."""
        worker = self._ready()
        text: Any = prompt if isinstance(prompt, str) else prompt_to_wire(prompt)
        if isinstance(prompt, str):
            text = [[prompt, True]]
        return len(worker.call("tokenize", text=text, add_bos=add_bos))

    def detokenize(self, tokens: list[int]) -> str:
        return str(self._ready().call("detokenize", tokens=list(tokens)))

    def save_state(self, path: str | Path) -> int:
        """Write the KV cache of the current sequence to ``path`` (0600); returns its tokens."""
        result = self._ready().call("save_state", path=str(path))
        return int(result["n_tokens"])

    def load_state(self, path: str | Path) -> int:
        """Restore a state written by :meth:`save_state` for the same model and n_ctx.

        Only load files Burrow wrote (llama.cpp parses them in C). Returns the tokens
        restored; the next ``generate`` whose prompt extends them only evaluates the rest.
        """
        result = self._ready().call("load_state", path=str(path))
        return int(result["n_tokens"])

    def system_info(self) -> dict[str, Any]:
        """Versions and CPU features as the worker's llama.cpp sees them."""
        result = self._ensure_worker().call("info")
        return dict(result)

    def cancel(self) -> None:
        """Stop every running generation after its next token. Thread-safe."""
        with self._generations_lock:
            running = list(self._generations)
        for generation in running:
            generation.cancel()

    def generate(
        self,
        prompt: Prompt,
        params: SamplingParams | None = None,
        *,
        add_bos: bool = True,
        chunk_every: float = 0.0,
    ) -> Iterator[GenerationEvent]:
        """Stream an answer: TextChunk* then exactly one Finished or Failed. Never raises
        for engine trouble (that is a Failed event) and never hangs on a dead worker.

        ``chunk_every`` (seconds): the worker sends text at most this often (never more
        often than ``worker.CHUNK_EVERY``); the first piece comes at once, the end is never
        held back."""
        params = params or SamplingParams()
        return self._generate(prompt, params, add_bos, _Generation(), chunk_every)

    def _generate(
        self,
        prompt: Prompt,
        params: SamplingParams,
        add_bos: bool,
        handle: _Generation,
        chunk_every: float = 0.0,
    ) -> Iterator[GenerationEvent]:
        message = {
            "op": "generate",
            "prompt": prompt_to_wire(prompt),
            "params": params.to_dict(),
            "add_bos": add_bos,
            "chunk_every": chunk_every,
        }
        with self._generations_lock:
            self._generations.add(handle)
        retried = False
        try:
            while True:
                try:
                    worker = self._ready()
                    events: queue.SimpleQueue[_Message] = queue.SimpleQueue()
                    request_id = worker.request(message, events.put)
                except EngineError as exc:
                    kind = "crash" if isinstance(exc, WorkerCrashed) else "load"
                    yield Failed(str(exc), kind)
                    return
                handle.attach(worker, request_id)
                decoded = False
                done = False
                try:
                    while True:
                        event = events.get()
                        if event.get("crash"):
                            crash = worker.crash_error()
                            self.last_crash = crash
                            may_retry = not (decoded or retried or handle.cancelled)
                            if may_retry and self._fall_back(worker, crash):
                                retried = True
                                break
                            if retried and not decoded:
                                self._undo_fall_back()  # it crashes without them too
                            done = True
                            yield Failed(self._crash_text(crash), "crash")
                            return
                        event_kind = event.get("event")
                        if event_kind == "chunk":
                            yield TextChunk(str(event.get("text", "")), int(event.get("tokens", 1)))
                        elif event_kind == "prompt_done":
                            decoded = True
                        elif event_kind == "finished":
                            done = True
                            stats = GenerationStats.from_dict(event["stats"])
                            yield Finished(str(event.get("text", "")), stats)
                            return
                        elif event_kind == "failed":
                            done = True
                            yield Failed(str(event.get("error")), str(event.get("kind", "error")))
                            return
                finally:
                    worker.forget(request_id)
                    if not done:
                        worker.cancel(request_id)  # the caller stopped listening
        finally:
            with self._generations_lock:
                self._generations.discard(handle)

    def _crash_text(self, crash: WorkerCrashed) -> str:
        model = Path(self._params.path).name if self._params else "no model"
        return f"{crash} (model: {model}); the engine restarts on the next request"

    def _fall_back(self, worker: _Worker, crash: WorkerCrashed) -> bool:
        """After a crash before the first decode: retry without extra buffer types?"""
        with self._lock:
            params, info = self._params, self._info
            if params is None or info is None or self._info_worker is not worker:
                return False
            if not info.extra_bufts or params.extra_bufts is not None:
                return False
            key = str(Path(params.path).expanduser().resolve())
            reason = (
                f"engine died ({crash.signal_name or crash.returncode}) at the first decode "
                "with CPU extra buffer types on"
            )
            self._extra_off.add(key)
            with contextlib.suppress(OSError):  # else remembered for this session only
                prefs.remember_extra_bufts_off(key, reason)
            self.fallbacks.append(f"{key}: {reason}; retried with them off")
            self._info_worker = None  # the next _ready() restarts and reloads
            return True

    def _undo_fall_back(self) -> None:
        """The retry without extra buffer types crashed too: they were not the cause."""
        with self._lock:
            if self._params is None:
                return
            key = str(Path(self._params.path).expanduser().resolve())
            self._extra_off.discard(key)
            with contextlib.suppress(OSError):
                prefs.forget(key)
            self.fallbacks.append(f"{key}: crashed without extra buffer types too; not kept")

    # ---------------------------------------------------------------- asyncio
    async def astart(self) -> int:
        return await asyncio.to_thread(self.start)

    async def aload(self, params: LoadParams) -> ModelInfo:
        return await asyncio.to_thread(self.load, params)

    async def aunload(self) -> None:
        await asyncio.to_thread(self.unload)

    async def arestart(self) -> ModelInfo | None:
        return await asyncio.to_thread(self.restart)

    async def ashutdown(self) -> None:
        await asyncio.to_thread(self.shutdown)

    async def atokenize(
        self, text: str, *, special: bool = False, add_bos: bool = False
    ) -> list[int]:
        return await asyncio.to_thread(self.tokenize, text, special=special, add_bos=add_bos)

    async def acount_tokens(self, prompt: Prompt, *, add_bos: bool = False) -> int:
        return await asyncio.to_thread(self.count_tokens, prompt, add_bos=add_bos)

    async def asave_state(self, path: str | Path) -> int:
        return await asyncio.to_thread(self.save_state, path)

    async def aload_state(self, path: str | Path) -> int:
        return await asyncio.to_thread(self.load_state, path)

    async def asystem_info(self) -> dict[str, Any]:
        return await asyncio.to_thread(self.system_info)

    async def agenerate(
        self,
        prompt: Prompt,
        params: SamplingParams | None = None,
        *,
        add_bos: bool = True,
        interval: float | Callable[[], float] = 0.0,
    ) -> AsyncIterator[GenerationEvent]:
        """The asyncio twin of :meth:`generate`. Leaving the loop early (break, task
        cancelled) cancels the generation in the worker.

        ``interval`` (seconds) paces the text for a screen: the first piece comes at once,
        then the pieces that arrive within ``interval`` of the last delivery come together
        as one :class:`TextChunk` (``tokens`` counts them), so the event loop wakes once per
        frame instead of once per token. ``interval`` may be a function, asked before each
        delivery (a screen that adapts its redraw rate). The end of the stream is never
        delayed. A consumer slower than the model gets everything queued as one chunk
        either way."""
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[GenerationEvent | None] = asyncio.Queue()
        handle = _Generation()
        pacer = _Pacer(loop, events, interval)
        # The worker sends text twice per interval (as it stands at the start): each piece
        # wakes two threads here, on the CPUs llama.cpp's threads need, and preempts one of
        # them (issue 7); half the interval keeps the pieces in step with the deliveries.
        chunk_every = pacer.interval() / 2
        stream = self._generate(prompt, params or SamplingParams(), add_bos, handle, chunk_every)

        def pump() -> None:
            try:
                for event in stream:
                    pacer.post(event)
                    if pacer.closed:
                        handle.cancel()
            except Exception as exc:  # pragma: no cover - generate() reports, not raises
                pacer.post(Failed(f"{type(exc).__name__}: {exc}"))
            finally:
                pacer.post(None)

        threading.Thread(target=pump, name="burrow-engine-stream", daemon=True).start()
        finished = False
        held: list[GenerationEvent | None] = []
        try:
            while True:
                item = held.pop() if held else await events.get()
                if isinstance(item, TextChunk) and not events.empty():
                    # The consumer fell behind: hand it everything queued as one chunk, so
                    # a busy UI pays per screen update, not per token.
                    pieces = [item]
                    while not events.empty():
                        queued = events.get_nowait()
                        if not isinstance(queued, TextChunk):
                            held.append(queued)
                            break
                        pieces.append(queued)
                    item = TextChunk.merge(pieces)
                if item is None:
                    return
                if isinstance(item, Finished | Failed):
                    finished = True
                yield item
                if finished:
                    return
        finally:
            if not finished:
                handle.cancel()
