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

import queue
import sys
import threading
from collections.abc import Generator, Iterator, Mapping
from pathlib import Path
from typing import Any

from tui.engine.client_base import EngineClientBase
from tui.engine.heartbeat import Watchdog
from tui.engine.process import (
    CancelHandle,
    EngineError,
    ExtraBuftsChoice,
    Message,
    WorkerCrashed,
    WorkerHung,
    WorkerProcess,
    default_log_path,
    spawn_worker,
)
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
    prompt_to_wire,
)

#: How long a new worker may take to start before a load is sent to it.
STARTUP_SECONDS = 180.0

__all__ = ["EngineClient", "EngineError", "ModelLoadError", "WorkerCrashed", "WorkerHung"]


class ModelLoadError(EngineError):
    """A model could not be loaded. The message names the file and the reason."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class EngineClient(EngineClientBase):
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
        self._worker: WorkerProcess | None = None
        self._params: LoadParams | None = None
        self._info: ModelInfo | None = None
        self._info_worker: WorkerProcess | None = None
        self._init_running()
        self._extra = ExtraBuftsChoice()
        self.last_crash: WorkerCrashed | None = None

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
    def fallbacks(self) -> list[str]:
        """One line per extra-buffer fallback that happened in this client."""
        return self._extra.fallbacks

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

    def _ensure_worker(self) -> WorkerProcess:
        with self._lock:
            worker = self._worker
            if worker is not None and worker.alive and not worker.hung:
                return worker
            if worker is not None:
                worker.kill()
            self._worker = spawn_worker(self._python, self._extra_env, self.log_path)
            return self._worker

    def _ready(self) -> WorkerProcess:
        """A live worker with the requested model loaded (reloading after a crash)."""
        with self._lock:
            worker = self._ensure_worker()
            if self._params is not None and self._info_worker is not worker:
                self._load(self._params)
                worker = self._ensure_worker()
            return worker

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
            # A worker still starting (Python importing llama.cpp on a busy phone) is not
            # stopped: it gets its own generous wait before the load's beats are watched.
            worker.call("ping", timeout=STARTUP_SECONDS)
            result = worker.call(
                "load",
                watch=Watchdog(),
                doing="while loading it",
                params=params.to_dict(),
                extra_bufts=self._extra.enabled(params),
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
            if worker is not None and worker.alive and not worker.hung:
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

    def _generate(
        self,
        prompt: Prompt,
        params: SamplingParams,
        add_bos: bool,
        handle: CancelHandle,
        send_every: float = 0.0,
    ) -> Iterator[GenerationEvent]:
        message = {
            "op": "generate",
            "prompt": prompt_to_wire(prompt),
            "params": params.to_dict(),
            "add_bos": add_bos,
            "send_every": send_every,
        }
        retried = False
        with self._running_generation(handle):
            while True:
                try:
                    worker = self._ready()
                    events: queue.SimpleQueue[Message] = queue.SimpleQueue()
                    request_id = worker.request(message, events.put)
                except EngineError as exc:
                    kind = "crash" if isinstance(exc, WorkerCrashed) else "load"
                    yield Failed(str(exc), kind)
                    return
                handle.attach(worker, request_id)
                retry = yield from self._relay(worker, request_id, events, handle, retried)
                if not retry:
                    return
                retried = True

    def _relay(
        self,
        worker: WorkerProcess,
        request_id: int,
        events: queue.SimpleQueue[Message],
        handle: CancelHandle,
        retried: bool,
    ) -> Generator[GenerationEvent, None, bool]:
        """Yield one request's events; True when it crashed and is to be retried."""
        decoded = False
        done = False
        watch = Watchdog()
        try:
            while True:
                try:
                    event = events.get(timeout=watch.bound)
                except queue.Empty:
                    hang = worker.hang_error(watch, "while answering")
                    done = True  # a cancel would only queue behind the stuck request
                    yield Failed(self._stopped_text(hang), "hung")
                    return False
                watch.heard(event)
                if event.get("crash"):
                    crash = worker.crash_error()
                    self.last_crash = crash
                    may_retry = not (decoded or retried or handle.cancelled)
                    if may_retry and self._fall_back(worker, crash):
                        return True
                    if retried and not decoded:
                        self._undo_fall_back()  # it crashes without them too
                    done = True
                    yield Failed(self._crash_text(crash), "crash")
                    return False
                if event.get("event") == "prompt_done":
                    decoded = True
                    continue
                result = _event_from_wire(event)
                if result is None:
                    continue
                done = not isinstance(result, TextChunk)
                yield result
                if done:
                    return False
        finally:
            worker.forget(request_id)
            if not done:
                worker.cancel(request_id)  # the caller stopped listening

    def _stopped_text(self, hang: WorkerHung) -> str:
        model = Path(self._params.path).name if self._params else "no model"
        return f"{hang} (model: {model}); the text so far is kept"

    def _crash_text(self, crash: WorkerCrashed) -> str:
        model = Path(self._params.path).name if self._params else "no model"
        return f"{crash} (model: {model}); the engine restarts on the next request"

    def _fall_back(self, worker: WorkerProcess, crash: WorkerCrashed) -> bool:
        """After a crash before the first decode: retry without extra buffer types?"""
        with self._lock:
            params, info = self._params, self._info
            if params is None or info is None or self._info_worker is not worker:
                return False
            if not info.extra_bufts or params.extra_bufts is not None:
                return False
            self._extra.turn_off(params.path, crash)
            self._info_worker = None  # the next _ready() restarts and reloads
            return True

    def _undo_fall_back(self) -> None:
        """The retry without extra buffer types crashed too: they were not the cause."""
        with self._lock:
            if self._params is None:
                return
            self._extra.turn_back_on(self._params.path)

    def _new_cancel(self) -> CancelHandle:
        return CancelHandle()


def _event_from_wire(event: Message) -> GenerationEvent | None:
    """The event a worker message carries (None for one the caller does not see)."""
    kind = event.get("event")
    if kind == "chunk":
        return TextChunk(str(event.get("text", "")), int(event.get("tokens", 1)))
    if kind == "finished":
        return Finished(str(event.get("text", "")), GenerationStats.from_dict(event["stats"]))
    if kind == "failed":
        return Failed(str(event.get("error")), str(event.get("kind", "error")))
    return None
