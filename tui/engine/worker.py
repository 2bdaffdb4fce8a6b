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

import codecs
import ctypes
import faulthandler
import gc
import logging
import os
import queue
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from tui.engine import gguf, memory
from tui.engine.protocol import (
    GenerationStats,
    LoadParams,
    ModelInfo,
    SamplingParams,
    decode,
    encode,
    prompt_from_wire,
)

#: Test hook: when set, the worker SIGSEGVs itself when it decodes a prompt batch with extra
#: buffer types on, reproducing the AMX crash on machines that do not have it.
SIMULATE_EXTRA_BUFTS_CRASH_ENV = "BURROW_ENGINE_SIMULATE_EXTRA_BUFTS_CRASH"
LOG_ENV = "BURROW_ENGINE_LOG"

#: Text is sent at most this often while the model writes (the first piece at once, the
#: rest of the answer at its end). Each message wakes two threads of the client, on CPUs
#: that llama.cpp's threads need: at 70 tokens/s one message per token cost about 140
#: wake-ups a second. A screen redraws a few times a second and a terminal does not show
#: the difference from 20 updates a second. Cancelling still stops within one token.
#: A request may ask for fewer (``"chunk_every"``: a screen that redraws twice a second
#: wants text about four times a second), never for more.
CHUNK_EVERY = 0.05


class RequestFailed(Exception):
    """An expected failure of one request; ``kind`` travels to the client."""

    def __init__(self, message: str, kind: str = "error") -> None:
        super().__init__(message)
        self.kind = kind


def default_threads() -> int:
    """All cores on small CPUs; half on big.LITTLE phones with many (slow) little cores."""
    count = os.cpu_count() or 1
    return count if count <= 4 else max(4, count // 2)


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
        self._decoded = False
        self._n_ctx = 0
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
        params = LoadParams.from_dict(message["params"])
        extra_bufts = bool(message.get("extra_bufts", True))
        self._unload()
        path = Path(params.path).expanduser()
        header = check_model_file(path)
        if params.n_ctx < 16:
            raise RequestFailed(f"{path}: context size {params.n_ctx} is too small", "load")
        if params.check_memory:
            check_memory(path, header, params)
        import llama_cpp
        import llama_cpp.llama_cpp as llama_lib

        original_defaults = llama_lib.llama_model_default_params

        def model_defaults() -> Any:
            # Llama() has no keyword for this field: set it where Llama() gets its params.
            model_params = original_defaults()
            model_params.use_extra_bufts = extra_bufts
            return model_params

        threads = params.n_threads or default_threads()
        threads_batch = params.n_threads_batch or threads
        log_mark = self._log_position()
        started = time.perf_counter()
        llama_lib.llama_model_default_params = model_defaults
        try:
            llm = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=params.n_ctx,
                n_batch=params.n_batch,
                n_threads=threads,
                n_threads_batch=threads_batch,
                use_mmap=params.use_mmap,
                use_mlock=params.use_mlock,
                verbose=True,  # all of it goes to the log file
            )
        except (ValueError, RuntimeError, OSError) as exc:
            detail = self._log_error_since(log_mark) or str(exc)
            raise RequestFailed(f"{path}: llama.cpp could not load it: {detail}", "load") from exc
        finally:
            llama_lib.llama_model_default_params = original_defaults
        load_seconds = time.perf_counter() - started
        # Verbose loading explains failures in the log; while generating, llama.cpp's debug
        # chatter would cost a Python callback per line, so keep warnings and errors only.
        logging.getLogger("llama-cpp-python").setLevel(logging.WARNING)
        llm.verbose = False
        vocab = llm._model.vocab
        # llama.cpp may round the context up (to a multiple of 256), but Llama's token
        # buffer has the size we asked for: that is the real limit.
        n_ctx = min(params.n_ctx, int(llm.n_ctx()))
        bos = llm.token_bos()
        eos = llm.token_eos()
        info = ModelInfo(
            path=str(path),
            file_size=header.file_size,
            load_seconds=load_seconds,
            n_ctx=n_ctx,
            n_ctx_train=header.arch_int("context_length"),
            architecture=header.architecture,
            name=_str_or_none(header.get("general.name")),
            parameter_count=int(llama_lib.llama_model_n_params(llm.model)) or header.n_params,
            size_label=header.size_label,
            quantization=header.quantization,
            has_chat_template=header.chat_template is not None,
            chat_template=header.chat_template,
            n_vocab=llm.n_vocab(),
            bos_token=llm._model.token_get_text(bos) if bos >= 0 else None,
            eos_token=llm._model.token_get_text(eos) if eos >= 0 else None,
            add_bos=bool(llama_lib.llama_vocab_get_add_bos(vocab)),
            extra_bufts=extra_bufts,
            n_threads=threads,
            n_threads_batch=threads_batch,
        )
        self._llm = llm
        self._info = info
        self._extra_bufts = extra_bufts
        self._decoded = False
        self._n_ctx = n_ctx
        return info.to_dict()

    def _log_position(self) -> int:
        if self._log_fd is None:
            return 0
        try:
            return os.lseek(self._log_fd, 0, os.SEEK_END)
        except OSError:
            return 0

    def _log_error_since(self, mark: int) -> str | None:
        """The most telling line llama.cpp logged since ``mark`` (it explains load failures)."""
        log_path = os.environ.get(LOG_ENV)
        if not log_path:
            return None
        try:
            with open(log_path, "rb") as handle:
                handle.seek(mark)
                lines = handle.read(256 * 1024).decode("utf-8", "replace").splitlines()
        except OSError:
            return None
        for line in reversed(lines):
            low = line.lower()
            if ("error" in low or "failed" in low or "invalid" in low) and "traceback" not in low:
                return line.strip()[:300]
        return None

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
        self._require_model()
        data = b"".join(self._piece(int(t)) for t in message.get("tokens", []))
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
    def _piece(self, token: int) -> bytes:
        import llama_cpp

        vocab = self._llm._model.vocab
        buf = ctypes.create_string_buffer(64)
        n = llama_cpp.llama_token_to_piece(vocab, token, buf, 64, 0, False)
        if n < 0:  # the piece is longer than the buffer: -n is the size needed
            buf = ctypes.create_string_buffer(-n)
            n = llama_cpp.llama_token_to_piece(vocab, token, buf, -n, 0, False)
        return buf.raw[: max(0, n)]

    def _generate(self, request_id: int, message: dict[str, Any]) -> None:
        received = time.perf_counter()
        try:
            self._require_model()
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
            chunk_every = max(CHUNK_EVERY, float(message.get("chunk_every") or 0.0))
            self._stream(request_id, tokens, params, received, chunk_every)
        except RequestFailed as exc:
            self.send({"id": request_id, "event": "failed", "error": str(exc), "kind": exc.kind})
        except Exception as exc:
            self.send(
                {"id": request_id, "event": "failed", "error": f"{type(exc).__name__}: {exc}"}
            )

    def _stream(
        self,
        request_id: int,
        tokens: list[int],
        params: SamplingParams,
        received: float,
        chunk_every: float = CHUNK_EVERY,
    ) -> None:
        import llama_cpp

        llm = self._llm
        n_ctx = self._n_ctx
        seed = params.seed if params.seed is not None else random.SystemRandom().randrange(2**31)
        llm.set_seed(int(seed) & 0xFFFFFFFF)
        llm.last_n_tokens_size = params.repeat_last_n if params.repeat_last_n >= 0 else n_ctx
        evaluated = 0
        real_eval = llm.eval

        def counting_eval(batch: Sequence[int]) -> None:
            nonlocal evaluated
            evaluated += len(batch)
            if self._simulate_crash and self._extra_bufts and len(batch) > 1:
                os.kill(os.getpid(), signal.SIGSEGV)  # like the AMX crash: batches only
            real_eval(batch)

        llm.eval = counting_eval
        vocab = llm._model.vocab
        stops = tuple(s for s in params.stop if s)
        longest_stop = max((len(s) for s in stops), default=0)
        max_tokens = params.max_tokens if params.max_tokens and params.max_tokens > 0 else None
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        text = ""
        emitted = 0
        samples = 0
        completion = 0
        prompt_evaluated = 0
        stop_reason = "length"
        started = time.perf_counter()
        first_at: float | None = None
        last_at = started
        sent_at = 0.0
        sent_tokens = 0

        def send_chunk(piece: str) -> None:
            """``piece`` and the tokens generated since the last one was sent."""
            tokens = completion - sent_tokens
            self.send({"id": request_id, "event": "chunk", "text": piece, "tokens": tokens})

        generator = llm.generate(
            tokens,
            top_k=params.top_k,
            top_p=params.top_p,
            min_p=params.min_p,
            typical_p=params.typical_p,
            temp=params.temperature,
            repeat_penalty=params.repeat_penalty,
            frequency_penalty=params.frequency_penalty,
            presence_penalty=params.presence_penalty,
            mirostat_mode=params.mirostat_mode,
            mirostat_tau=params.mirostat_tau,
            mirostat_eta=params.mirostat_eta,
            reset=True,
        )
        try:
            if self._is_cancelled(request_id):
                stop_reason = "cancelled"
            else:
                for token in generator:
                    last_at = time.perf_counter()
                    samples += 1
                    if first_at is None:
                        first_at = last_at
                        prompt_evaluated = evaluated
                        self._decoded = True
                        self.send({"id": request_id, "event": "prompt_done"})
                    if self._is_cancelled(request_id):
                        stop_reason = "cancelled"
                        break
                    if llama_cpp.llama_vocab_is_eog(vocab, token):
                        stop_reason = "eos"
                        break
                    completion += 1
                    text += decoder.decode(self._piece(token))
                    if stops:
                        cut = _find_stop(text, stops, max(0, emitted - longest_stop))
                        if cut is not None:
                            text = text[: max(cut, emitted)]
                            stop_reason = "stop"
                            break
                    if last_at - sent_at >= chunk_every:
                        safe = len(text) - _held_back(text, stops)
                        if safe > emitted:
                            send_chunk(text[emitted:safe])
                            emitted, sent_at, sent_tokens = safe, last_at, completion
                    if max_tokens is not None and completion >= max_tokens:
                        stop_reason = "length"
                        break
                    if llm.n_tokens >= n_ctx:
                        stop_reason = "context"
                        break
        finally:
            generator.close()
            del llm.eval  # back to the class method
        if stop_reason != "stop":
            text += decoder.decode(b"", final=True)
        if len(text) > emitted:
            send_chunk(text[emitted:])
        prompt_seconds = (first_at - started) if first_at is not None else 0.0
        generation_seconds = last_at - first_at if first_at is not None else 0.0
        stats = GenerationStats(
            prompt_tokens=len(tokens),
            prompt_tokens_evaluated=prompt_evaluated,
            completion_tokens=completion,
            prompt_seconds=prompt_seconds,
            prompt_tps=prompt_evaluated / prompt_seconds if prompt_seconds > 0 else 0.0,
            ttft_seconds=(first_at - received) if first_at is not None else 0.0,
            generation_seconds=generation_seconds,
            generation_tps=(samples - 1) / generation_seconds if generation_seconds > 0 else 0.0,
            stop_reason=stop_reason,  # type: ignore[arg-type]
        )
        self.send({"id": request_id, "event": "finished", "text": text, "stats": stats.to_dict()})


def _find_stop(text: str, stops: Sequence[str], start: int) -> int | None:
    found: int | None = None
    for stop in stops:
        at = text.find(stop, start)
        if at >= 0 and (found is None or at < found):
            found = at
    return found


def _held_back(text: str, stops: Sequence[str]) -> int:
    """How many trailing characters could be the start of a stop string."""
    hold = 0
    for stop in stops:
        for k in range(min(len(stop) - 1, len(text)), hold, -1):
            if text.endswith(stop[:k]):
                hold = k
                break
    return hold


def check_model_file(path: Path) -> gguf.GgufHeader:
    """Everything we can tell about a model file before llama.cpp sees it."""
    if not path.exists():
        raise RequestFailed(f"{path}: file not found", "load")
    if path.is_dir():
        raise RequestFailed(f"{path}: is a directory, not a model file", "load")
    if not path.is_file():
        raise RequestFailed(f"{path}: not a regular file", "load")
    try:
        return gguf.read_header(path)
    except gguf.GgufError as exc:
        raise RequestFailed(f"{path}: {exc}", "load") from exc
    except OSError as exc:
        raise RequestFailed(f"{path}: cannot read it ({exc.strerror or exc})", "load") from exc


def check_memory(path: Path, header: gguf.GgufHeader, params: LoadParams) -> None:
    available = memory.available_bytes()
    if available is None:
        return
    need = memory.estimate(header, params.n_ctx, params.n_batch)
    if need.total_bytes > available:
        fmt = memory.format_bytes
        raise RequestFailed(
            f"{path}: too large for the free memory: needs about {fmt(need.total_bytes)} "
            f"(model {fmt(need.model_bytes)} + context cache {fmt(need.kv_cache_bytes)} "
            f"for {params.n_ctx} tokens), only {fmt(available)} is available; "
            "try a smaller context size or a smaller model",
            "load",
        )


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _open_log() -> tuple[int, str]:
    path = os.environ.get(LOG_ENV)
    if not path:
        from tui import paths

        path = str(paths.log_dir() / "engine.log")
        os.environ[LOG_ENV] = path
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    return fd, path


def main() -> int:
    # The protocol gets a private copy of the real stdout; fds 1 and 2 go to the log.
    protocol_fd = os.dup(1)
    log_fd, _ = _open_log()
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    sys.stdout = open(1, "w", encoding="utf-8", errors="replace", closefd=False, buffering=1)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", errors="replace", closefd=False, buffering=1)  # noqa: SIM115
    faulthandler.enable(file=sys.stderr)  # a C crash leaves a Python traceback in the log
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C in the terminal is the app's
    print(f"--- burrow engine worker {os.getpid()} started {time.ctime()}", flush=True)
    out = os.fdopen(protocol_fd, "wb", buffering=0)
    Worker(out, log_fd=2).run(sys.stdin.buffer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
