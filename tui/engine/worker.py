"""The engine worker: ``python -m tui.engine.worker``. Owns one ``llama_cpp.Llama``.

It speaks the line-delimited JSON protocol of :mod:`tui.engine.protocol` on a private copy
of its stdout. Before anything else it points file descriptors 1 and 2 at a log file, so
whatever llama.cpp prints from C (and any stray ``print``) lands in the log and can never
corrupt the protocol stream or the terminal the app draws on.

An input thread reads requests; ``cancel`` messages are acted on immediately (a flag the
generation loop checks after every token), everything else is queued and handled in order
by the main thread.
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import gc
import io
import logging
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import IO, Any, NoReturn

from tui.engine import shift
from tui.engine.generation import SEND_EVERY, Generation, token_bytes
from tui.engine.heartbeat import Heartbeat, Pace
from tui.engine.loading import (
    LOG_ENV,
    check_memory,
    check_model_file,
    decide,
    model_info,
    open_llama,
    with_context,
)
from tui.engine.protocol import (
    LoadParams,
    ModelInfo,
    RequestFailed,
    SamplingParams,
    decode,
    encode,
    prompt_from_wire,
)

#: Test hook: when set, the worker SIGSEGVs itself when it decodes a prompt batch with extra
#: buffer types on, reproducing the AMX crash on machines that do not have it.
SIMULATE_EXTRA_BUFTS_CRASH_ENV = "BURROW_ENGINE_SIMULATE_EXTRA_BUFTS_CRASH"


def default_threads() -> int:
    """One thread per performance core (all cores where they are all alike)."""
    from tui.engine.cpu import performance_cores

    return performance_cores()


def choose_threads(params: LoadParams, path: Path) -> tuple[int, int]:
    """(generation, prompt) threads: the setting, else what ``burrow bench --tune``
    measured fastest for this model here, else one per performance core."""
    from tui.engine import prefs

    tuned = None if params.n_threads else prefs.tuned_threads(path)
    threads = params.n_threads or (tuned[0] if tuned else default_threads())
    return threads, params.n_threads_batch or (tuned[1] if tuned else threads)


class Worker:
    def __init__(self, out: IO[bytes], log_fd: int | None = None) -> None:
        self._out = out
        self._out_lock = threading.Lock()
        self._requests: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._cancelled: set[int] = set()
        self._cancel_lock = threading.Lock()
        self._log_fd = log_fd
        self._llm: Any = None
        self._info: ModelInfo | None = None
        self._extra_bufts = False
        self._n_ctx = 0
        self._pace = Pace()
        self._shift_off: str | None = "no model"
        self._simulate_crash = bool(os.environ.get(SIMULATE_EXTRA_BUFTS_CRASH_ENV))

    # ---------------------------------------------------------------- plumbing
    def send(self, message: dict[str, Any]) -> None:
        data = encode(message)
        with self._out_lock:
            try:
                self._out.write(data)
                self._out.flush()
            except (BrokenPipeError, OSError):
                os._exit(0)  # the client is gone: nobody is left to answer

    def _read_loop(self, stdin: IO[bytes]) -> None:
        try:
            for line in stdin:
                try:
                    message = decode(line)
                except ValueError:
                    continue
                if message.get("op") == "cancel":
                    with self._cancel_lock:
                        self._cancelled.add(int(message.get("target", -1)))
                    continue
                self._requests.put(message)
        finally:
            self._requests.put(None)  # stdin closed: the client is gone

    def _is_cancelled(self, request_id: int) -> bool:
        with self._cancel_lock:
            return request_id in self._cancelled

    def run(self, stdin: IO[bytes]) -> None:
        threading.Thread(target=self._read_loop, args=(stdin,), daemon=True).start()
        self.send({"event": "ready", "pid": os.getpid()})
        while True:
            message = self._requests.get()
            if message is None:
                break
            op = message.get("op")
            request_id = int(message.get("id", -1))
            if op == "generate":
                self._generate(request_id, message)
                with self._cancel_lock:
                    self._cancelled.discard(request_id)
                continue
            handler: Callable[[dict[str, Any]], Any] | None = getattr(self, f"op_{op}", None)
            try:
                if handler is None:
                    raise RequestFailed(f"unknown request {op!r}")
                result = handler(message)
            except RequestFailed as exc:
                self.send({"id": request_id, "ok": False, "error": str(exc), "kind": exc.kind})
            except Exception as exc:
                self.send({"id": request_id, "ok": False, "error": f"{type(exc).__name__}: {exc}"})
            else:
                self.send({"id": request_id, "ok": True, "result": result})
            if op == "shutdown":
                break
        self._unload()

    # ---------------------------------------------------------------- requests
    def op_ping(self, message: dict[str, Any]) -> dict[str, Any]:
        return {"pid": os.getpid()}

    def op_shutdown(self, message: dict[str, Any]) -> None:
        return None

    def op_info(self, message: dict[str, Any]) -> dict[str, Any]:
        import llama_cpp

        return {
            "pid": os.getpid(),
            "python": sys.version.split()[0],
            "llama_cpp_python": getattr(llama_cpp, "__version__", "unknown"),
            "system_info": llama_cpp.llama_print_system_info().decode("utf-8", "replace"),
            "supports_mmap": bool(llama_cpp.llama_supports_mmap()),
            "supports_mlock": bool(llama_cpp.llama_supports_mlock()),
            "loaded": self._info.to_dict() if self._info else None,
        }

    def op_unload(self, message: dict[str, Any]) -> None:
        self._unload()

    def _unload(self) -> None:
        if self._llm is not None:
            self._llm.close()
            self._llm = None
            self._info = None
            gc.collect()

    def op_load(self, message: dict[str, Any]) -> dict[str, Any]:
        import llama_cpp as llama_lib

        params = LoadParams.from_dict(message["params"])
        extra_bufts = bool(message.get("extra_bufts", True))
        self._unload()
        path = Path(params.path).expanduser()
        header = check_model_file(path)
        params = with_context(header, params, extra_bufts)  # n_ctx 0: chosen here
        if params.n_ctx < 16:
            raise RequestFailed(f"{path}: context size {params.n_ctx} is too small", "load")
        choices = decide(path, header, params, extra_bufts)
        if params.check_memory:
            check_memory(path, header, params, choices)
        threads, threads_batch = choose_threads(params, path)
        beat = Heartbeat(self.send, int(message.get("id", -1)))
        llm, load_seconds = open_llama(
            path, params, extra_bufts, (threads, threads_batch), self._log_fd, beat, choices
        )
        # Verbose loading explains failures in the log; while generating, llama.cpp's debug
        # chatter would cost a Python callback per line, so keep warnings and errors only.
        logging.getLogger("llama-cpp-python").setLevel(logging.WARNING)
        llm.verbose = False
        # llama.cpp may round the context up (to a multiple of 256), but Llama's token
        # buffer has the size we asked for: that is the real limit.
        n_ctx = min(params.n_ctx, int(llm.n_ctx()))
        self._shift_off = shift.support(llm)
        info = model_info(
            llm, path, header, n_ctx, load_seconds, extra_bufts, (threads, threads_batch), choices
        )
        info = replace(info, context_shift=self._shift_off is None, no_shift=self._shift_off)
        self._llm = llm
        self._info = info
        self._extra_bufts = extra_bufts
        self._n_ctx = n_ctx
        self._pace = Pace(int(llama_lib.llama_model_n_layer(llm.model)))
        return info.to_dict()

    def _require_model(self) -> Any:
        if self._llm is None:
            raise RequestFailed("no model is loaded", "no_model")
        return self._llm

    def _tokenize(self, prompt: str | Sequence[tuple[str, bool]], add_bos: bool) -> list[int]:
        llm = self._require_model()
        tokens: list[int] = []
        if add_bos and self._info is not None and self._info.add_bos and llm.token_bos() >= 0:
            tokens.append(llm.token_bos())
        parts = [(prompt, True)] if isinstance(prompt, str) else list(prompt)
        for text, special in parts:
            if text:
                tokens.extend(llm.tokenize(text.encode("utf-8"), add_bos=False, special=special))
        return tokens

    def op_tokenize(self, message: dict[str, Any]) -> list[int]:
        text = message.get("text", "")
        special = bool(message.get("special", False))
        prompt: str | list[tuple[str, bool]] = (
            [(text, special)] if isinstance(text, str) else prompt_from_wire(text)
        )
        return self._tokenize(prompt, bool(message.get("add_bos", False)))

    def op_detokenize(self, message: dict[str, Any]) -> str:
        llm = self._require_model()
        data = b"".join(token_bytes(llm, int(t)) for t in message.get("tokens", []))
        return data.decode("utf-8", "replace")

    def op_save_state(self, message: dict[str, Any]) -> dict[str, Any]:
        import llama_cpp

        llm = self._require_model()
        path = Path(message["path"]).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        n_tokens = int(llm.n_tokens)
        tokens = (llama_cpp.llama_token * max(1, n_tokens))(*llm.input_ids[:n_tokens].tolist())
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        ok = llama_cpp.llama_state_save_file(llm._ctx.ctx, str(tmp).encode(), tokens, n_tokens)
        if not ok:
            tmp.unlink(missing_ok=True)
            raise RequestFailed(f"{path}: could not save the model state")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
        return {"n_tokens": n_tokens, "bytes": path.stat().st_size}

    def op_load_state(self, message: dict[str, Any]) -> dict[str, Any]:
        import llama_cpp

        llm = self._require_model()
        path = Path(message["path"]).expanduser()
        if not path.is_file():
            raise RequestFailed(f"{path}: no such state file")
        capacity = self._n_ctx
        tokens = (llama_cpp.llama_token * capacity)()
        count = ctypes.c_size_t(0)
        ok = llama_cpp.llama_state_load_file(
            llm._ctx.ctx, str(path).encode(), tokens, capacity, ctypes.byref(count)
        )
        if not ok:
            llm.reset()
            llm._ctx.kv_cache_seq_rm(-1, 0, -1)
            raise RequestFailed(f"{path}: the state does not fit this model and context size")
        n_tokens = int(count.value)
        llm.input_ids[:n_tokens] = tokens[:n_tokens]
        llm.n_tokens = n_tokens
        llm._requires_eval = True  # logits are not part of a restored state
        return {"n_tokens": n_tokens}

    # ---------------------------------------------------------------- generation
    def _generate(self, request_id: int, message: dict[str, Any]) -> None:
        received = time.perf_counter()
        try:
            llm = self._require_model()
            params = SamplingParams.from_dict(message.get("params") or {})
            prompt = prompt_from_wire(message.get("prompt", ""))
            tokens = self._tokenize(prompt, bool(message.get("add_bos", True)))
            if not tokens:
                raise RequestFailed("the prompt is empty")
            n_ctx = self._n_ctx
            if len(tokens) >= n_ctx:
                raise RequestFailed(
                    f"the prompt has {len(tokens)} tokens; the context holds {n_ctx}", "context"
                )
            generation = Generation(
                llm,
                request_id,
                send=self.send,
                cancelled=lambda: self._is_cancelled(request_id),
                n_ctx=n_ctx,
                received=received,
                send_every=max(SEND_EVERY, float(message.get("send_every") or 0.0)),
                crash_on_batch=self._simulate_crash and self._extra_bufts,
                pace=self._pace,
            )
            shifted = self._shift(llm, tokens)
            try:
                generation.run(tokens, params, shifted)
            finally:
                if shifted and generation.evaluated == 0:
                    shift.forget_cache(llm)
        except RequestFailed as exc:
            self.send({"id": request_id, "event": "failed", "error": str(exc), "kind": exc.kind})
        except Exception as exc:
            self.send(
                {"id": request_id, "event": "failed", "error": f"{type(exc).__name__}: {exc}"}
            )

    def _shift(self, llm: Any, tokens: list[int]) -> int:
        """Cut old turns the prompt left out from the cache; the tokens removed."""
        if self._shift_off is not None or llm.n_tokens == 0:
            return 0
        cut = shift.find_shift(llm.input_ids[: llm.n_tokens].tolist(), tokens)
        if cut is None or not shift.apply_shift(llm, cut):
            return 0
        return cut.removed


class _LogStream(io.TextIOBase):
    """The worker's stdout/stderr: straight to the log file, and a log that cannot be written
    (a full disk) loses the line instead of stopping the engine, which would then look like a
    model that crashes while loading."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def write(self, text: str) -> int:
        with contextlib.suppress(OSError):
            os.write(self._fd, text.encode("utf-8", errors="replace"))
        return len(text)

    def fileno(self) -> int:
        return self._fd

    def writable(self) -> bool:
        return True


def _open_log() -> tuple[int, str]:
    path = os.environ.get(LOG_ENV)
    if not path:
        from tui import paths

        path = str(paths.log_dir() / "engine.log")
        os.environ[LOG_ENV] = path
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    except OSError:  # no log (full or read-only disk) rather than no engine
        fd = os.open(os.devnull, os.O_WRONLY)
    return fd, path


def main() -> NoReturn:
    # The protocol gets a private copy of the real stdout; fds 1 and 2 go to the log.
    protocol_fd = os.dup(1)
    log_fd, _ = _open_log()
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    sys.stdout = _LogStream(1)
    sys.stderr = _LogStream(2)
    faulthandler.enable(file=sys.stderr)  # a C crash leaves a Python traceback in the log
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C in the terminal is the app's
    print(f"--- burrow engine worker {os.getpid()} started {time.ctime()}", flush=True)
    out = os.fdopen(protocol_fd, "wb", buffering=0)
    Worker(out, log_fd=2).run(sys.stdin.buffer)
    # Leave at once: the daemon thread still blocked reading stdin would make interpreter
    # shutdown abort ("Fatal Python error: _enter_buffered_busy"). The protocol pipe is
    # unbuffered and the model is unloaded; only the log needs its last lines.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
