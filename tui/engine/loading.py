"""Opening a model file in the worker: the checks made before llama.cpp sees it, the load
itself (with the CPU extra buffer types on or off), and what is reported about the model.

A failure is a :class:`RequestFailed` of kind ``load`` whose message names the file and,
when llama.cpp refused it, the line of its log that says why.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tui.engine import gguf, memory
from tui.engine.protocol import LoadParams, ModelInfo, RequestFailed

LOG_ENV = "BURROW_ENGINE_LOG"

#: Test hook: when set, the worker SIGSTOPs itself halfway through loading the tensors, a
#: real stop in the middle of llama.cpp's loader, for the hung-worker watchdog's tests.
STOP_WHILE_LOADING_ENV = "BURROW_ENGINE_TEST_STOP_WHILE_LOADING"


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


_KV_GGML_TYPES = {"f16": 1, "q8_0": 8, "q4_0": 2}  # ggml_type numbers llama.cpp takes


@dataclass(frozen=True)
class LoadChoices:
    """What ``auto`` settings became for one load."""

    use_mmap: bool
    flash_attn: bool
    kv_cache_type: str


AUTO_CONTEXT_CAP = 4096
"""The largest context chosen automatically: enough for a long chat, and on a phone the KV
cache and prompt processing of a larger one cost more than most conversations need."""


def with_context(header: gguf.GgufHeader, params: LoadParams, extra_bufts: bool) -> LoadParams:
    """``params`` with ``n_ctx`` 0 (automatic) replaced by the model's trained context, at
    most :data:`AUTO_CONTEXT_CAP`, smaller when free memory cannot hold that."""
    if params.n_ctx != 0:
        return params
    from tui.engine.fit import default_context

    shape = memory.ModelShape.from_header(header)
    repacked = None if extra_bufts else frozenset[str]()

    def need(n_ctx: int, kv_type: str) -> int:
        estimate = shape.estimate(
            n_ctx,
            params.n_batch,
            kv_type=kv_type,
            use_mmap=params.use_mmap,
            flash_attn=params.flash_attn,
            repacked=repacked,
        )
        return estimate.total_bytes

    n_ctx = default_context(
        need,
        memory.available_bytes(),
        params.kv_cache_type,
        header.arch_int("context_length"),
        cap=AUTO_CONTEXT_CAP,
    )
    return replace(params, n_ctx=n_ctx)


def decide(
    path: Path, header: gguf.GgufHeader, params: LoadParams, extra_bufts: bool
) -> LoadChoices:
    """Settle ``use_mmap`` and ``flash_attn`` for this file and CPU, or refuse a choice
    llama.cpp cannot honour."""
    trained = header.arch_int("context_length")
    if trained and params.n_ctx > trained:
        raise RequestFailed(
            f"{path}: context size {params.n_ctx} is more than the {trained} tokens this model "
            f"was trained on (answers fall apart past it): use {trained} or less",
            "load",
        )
    kv_type = params.kv_cache_type
    if kv_type not in _KV_GGML_TYPES:
        choices = ", ".join(_KV_GGML_TYPES)
        raise RequestFailed(f"{path}: unknown KV cache type {kv_type!r} (one of {choices})", "load")
    flash = memory.resolve_flash_attn(params.flash_attn, kv_type)
    if kv_type != "f16" and not flash:
        raise RequestFailed(
            f"{path}: a {kv_type} context cache needs flash attention: set flash_attn to "
            "auto or on, or kv_cache_type to f16",
            "load",
        )
    shape = memory.ModelShape.from_header(header)
    if kv_type != "f16" and not shape.quantized_kv_ok:
        # llama.cpp only says "Failed to create llama_context" (the reason is in its log).
        raise RequestFailed(
            f"{path}: a {kv_type} context cache cannot hold this model's attention heads "
            f"(head size {shape.key_length}, not a multiple of {memory.KV_BLOCK}): "
            "set kv_cache_type to f16",
            "load",
        )
    repacked = shape.repacked_bytes() if extra_bufts else 0
    return LoadChoices(memory.resolve_mmap(params.use_mmap, repacked), flash, kv_type)


def plain_choices(params: LoadParams) -> LoadChoices:
    """What ``auto`` settings become without a look at the file: mapped, flash attention on
    only for a quantized cache (:func:`decide` is the real decision)."""
    flash = memory.resolve_flash_attn(params.flash_attn, params.kv_cache_type)
    return LoadChoices(params.use_mmap is not False, flash, params.kv_cache_type)


def check_memory(
    path: Path, header: gguf.GgufHeader, params: LoadParams, choices: LoadChoices | None = None
) -> None:
    available = memory.available_bytes()
    if available is None:
        return
    if choices is None:
        choices = decide(path, header, params, params.extra_bufts is not False)
    need = memory.estimate(
        header,
        params.n_ctx,
        params.n_batch,
        kv_type=choices.kv_cache_type,
        use_mmap=choices.use_mmap,
        flash_attn=choices.flash_attn,
    )
    if need.total_bytes > available:
        fmt = memory.format_bytes
        raise RequestFailed(
            f"{path}: too large for the free memory: needs about {fmt(need.total_bytes)} "
            f"(model {fmt(need.model_bytes + need.mapped_twice_bytes)} + context cache "
            f"{fmt(need.kv_cache_bytes)} for {params.n_ctx} tokens), only {fmt(available)} "
            "is available; try a smaller context size or a smaller model",
            "load",
        )


def model_info(
    llm: Any,
    path: Path,
    header: gguf.GgufHeader,
    n_ctx: int,
    load_seconds: float,
    extra_bufts: bool,
    threads: tuple[int, int],
    choices: LoadChoices,
) -> ModelInfo:
    """What the client shows and needs of a model just loaded."""
    import llama_cpp.llama_cpp as llama_lib

    bos = llm.token_bos()
    eos = llm.token_eos()
    return ModelInfo(
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
        add_bos=bool(llama_lib.llama_vocab_get_add_bos(llm._model.vocab)),
        extra_bufts=extra_bufts,
        n_threads=threads[0],
        n_threads_batch=threads[1],
        use_mmap=choices.use_mmap,
        kv_cache_type=choices.kv_cache_type,
        flash_attn=choices.flash_attn,
    )


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def open_llama(
    path: Path,
    params: LoadParams,
    extra_bufts: bool,
    threads: tuple[int, int],
    log_fd: int | None,
    beat: Callable[[], None] | None = None,
    choices: LoadChoices | None = None,
) -> tuple[Any, float]:
    """A verbose ``llama_cpp.Llama`` for ``path`` and the seconds it took to load;
    ``beat`` is called as the tensors load (the client's sign that loading moves);
    ``choices``: what ``auto`` settings became (None: mapped, flash attention as auto)."""
    if choices is None:
        choices = plain_choices(params)
    import llama_cpp
    import llama_cpp.llama_cpp as llama_lib

    original_defaults = llama_lib.llama_model_default_params

    stop_halfway = bool(os.environ.get(STOP_WHILE_LOADING_ENV))

    def on_progress(fraction: float, _data: Any) -> bool:
        if beat is not None:
            beat()
        if stop_halfway and fraction >= 0.5:
            os.kill(os.getpid(), signal.SIGSTOP)
        return True  # go on loading

    progress = llama_lib.llama_progress_callback(on_progress)  # alive until the load ends

    def model_defaults() -> Any:
        # Llama() has no keyword for these fields: set them where Llama() gets its params.
        model_params = original_defaults()
        model_params.use_extra_bufts = extra_bufts
        model_params.progress_callback = progress
        return model_params

    log_mark = _log_position(log_fd)
    started = time.perf_counter()
    llama_lib.llama_model_default_params = model_defaults
    try:
        llm = llama_cpp.Llama(
            model_path=str(path),
            n_ctx=params.n_ctx,
            n_batch=params.n_batch,
            n_threads=threads[0],
            n_threads_batch=threads[1],
            use_mmap=choices.use_mmap,
            use_mlock=params.use_mlock,
            flash_attn=choices.flash_attn,
            type_k=_KV_GGML_TYPES[choices.kv_cache_type],
            type_v=_KV_GGML_TYPES[choices.kv_cache_type],
            verbose=True,  # all of it goes to the log file
        )
    except (ValueError, RuntimeError, OSError) as exc:
        detail = _log_error_since(log_mark) or str(exc)
        raise RequestFailed(f"{path}: llama.cpp could not load it: {detail}", "load") from exc
    finally:
        llama_lib.llama_model_default_params = original_defaults
    return llm, time.perf_counter() - started


def _log_position(log_fd: int | None) -> int:
    if log_fd is None:
        return 0
    try:
        return os.lseek(log_fd, 0, os.SEEK_END)
    except OSError:
        return 0


def _log_error_since(mark: int) -> str | None:
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
