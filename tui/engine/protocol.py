"""Types shared by the engine worker and its client, and the wire format between them.

The client writes one JSON object per line to the worker's stdin; the worker answers with
one JSON object per line on its (private) stdout:

- request:   ``{"id": 7, "op": "load", ...fields}``
- answer:    ``{"id": 7, "ok": true, "result": {...}}`` or
             ``{"id": 7, "ok": false, "error": "...", "kind": "load"}``
- streaming: ``{"id": 8, "event": "prompt_done"}``, then
             ``{"id": 8, "event": "chunk", "text": "...", "tokens": 3}`` (the tokens it holds;
             at most one chunk per ``generation.SEND_EVERY`` seconds, or per the request's
             ``send_every`` if longer), then exactly one
             ``{"id": 8, "event": "finished", "text": ..., "stats": {...}}`` or
             ``{"id": 8, "event": "failed", "error": "...", "kind": "..."}``
- ``{"id": 8, "event": "beat", "within": 0.2}`` while a load or a generation makes
  progress, at most once a second (see :mod:`tui.engine.heartbeat`); the client ignores
  it except to know the worker has not stopped.
- ``{"op": "cancel", "target": 8}`` is read by the worker's input thread at once, so it
  reaches a generation that is busy decoding.

This module imports nothing heavy: the CLI, the UI and the worker all load it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, TypeAlias

StopReason: TypeAlias = Literal["eos", "stop", "length", "cancelled", "context"]
STOP_REASONS: tuple[str, ...] = ("eos", "stop", "length", "cancelled", "context")

#: A prompt: plain text (special tokens on) or ``(text, special)`` pairs.
Prompt: TypeAlias = str | Sequence[tuple[str, bool]]


@dataclass(frozen=True)
class LoadParams:
    """How to load a model file."""

    path: str
    n_ctx: int = 2048
    """Context size in tokens (prompt + answer); 0 = the model's trained context, at most
    4096, smaller when free memory is short (``ModelInfo.n_ctx`` says what it became)."""
    n_threads: int | None = None
    """Threads for generation; None lets the worker pick (all cores)."""
    n_threads_batch: int | None = None
    """Threads for prompt processing; None = same as ``n_threads``."""
    n_batch: int = 512
    use_mmap: bool | None = None
    """Map the file; None = map it unless the weights will be repacked for this CPU (the
    mapped original would stay resident beside the repacked copy)."""
    use_mlock: bool = False
    kv_cache_type: str = "f16"
    """``f16``, ``q8_0`` or ``q4_0``: how the KV cache stores keys and values."""
    flash_attn: bool | None = None
    """None = on for a quantized KV cache (llama.cpp needs it there), off otherwise."""
    extra_bufts: bool | None = None
    """CPU "extra buffer types" (weight repacking). None = on, unless Burrow learned that
    this file crashes with them (remembered per file in the engine preferences)."""
    check_memory: bool = True
    """Refuse to load when the estimate (file + KV cache) exceeds the free RAM."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoadParams:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class SamplingParams:
    """Every sampler llama-cpp-python offers. Temperature 0 means greedy."""

    temperature: float = 0.8
    top_k: int = 40
    top_p: float = 0.95
    min_p: float = 0.05
    typical_p: float = 1.0
    repeat_penalty: float = 1.0
    repeat_last_n: int = 64
    """How many recent tokens the repeat/presence/frequency penalties look at."""
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    mirostat_mode: int = 0
    """0 off, 1 Mirostat, 2 Mirostat 2.0 (replaces top-k/top-p/min-p/typical)."""
    mirostat_tau: float = 5.0
    mirostat_eta: float = 0.1
    seed: int | None = None
    """None = a new random seed for every answer."""
    max_tokens: int | None = 512
    """None = until the end of sequence or the context is full."""
    stop: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["stop"] = list(self.stop)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SamplingParams:
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        if "stop" in values:
            values["stop"] = tuple(values["stop"] or ())
        return cls(**values)


@dataclass(frozen=True)
class ModelInfo:
    """What the worker reports after a load."""

    path: str
    file_size: int
    load_seconds: float
    n_ctx: int
    n_ctx_train: int | None
    architecture: str | None
    name: str | None
    parameter_count: int | None
    size_label: str | None
    quantization: str | None
    has_chat_template: bool
    chat_template: str | None = field(default=None, repr=False)
    n_vocab: int = 0
    bos_token: str | None = None
    eos_token: str | None = None
    add_bos: bool = True
    extra_bufts: bool = True
    """Whether the CPU extra buffer types were on for this load."""
    n_threads: int = 0
    n_threads_batch: int = 0
    context_shift: bool = False
    """Old turns left out of a long conversation are cut from the KV cache in place, so
    only the new question is decoded (see ``tui/engine/shift.py``)."""
    no_shift: str | None = None
    """Why not, when ``context_shift`` is off: the prompt after a trim is decoded again."""
    use_mmap: bool = True
    """Whether the file was memory-mapped for this load (after ``auto`` was decided)."""
    kv_cache_type: str = "f16"
    flash_attn: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelInfo:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class GenerationStats:
    prompt_tokens: int
    """Tokens in the prompt."""
    prompt_tokens_evaluated: int
    """Prompt tokens actually decoded: fewer than ``prompt_tokens`` when a cached prefix
    (previous turn or restored state) was reused."""
    completion_tokens: int
    prompt_seconds: float
    prompt_tps: float
    ttft_seconds: float
    """From the request reaching the worker to the first token sampled."""
    generation_seconds: float
    generation_tps: float
    stop_reason: StopReason
    shifted_tokens: int = 0
    """Tokens of left-out turns cut from the cache before this answer (no decode)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationStats:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class TextChunk:
    """A piece of the answer, in order; never splits a UTF-8 character."""

    text: str
    tokens: int = 1
    """How many generated tokens the piece holds (more than one when pieces were merged)."""

    @staticmethod
    def merge(pieces: Sequence[TextChunk]) -> TextChunk:
        if len(pieces) == 1:
            return pieces[0]
        return TextChunk("".join(p.text for p in pieces), sum(p.tokens for p in pieces))


@dataclass(frozen=True)
class Finished:
    """The last event of a successful generation (also after a cancel)."""

    text: str
    stats: GenerationStats


@dataclass(frozen=True)
class Failed:
    """The last event of a generation that did not complete.

    ``kind`` is ``"crash"`` when the worker process died (``error`` names the signal),
    ``"hung"`` when it stopped making progress (the client gave up waiting),
    ``"context"`` when the prompt does not fit, ``"no_model"``, or ``"error"``.
    """

    error: str
    kind: str = "error"


GenerationEvent: TypeAlias = TextChunk | Finished | Failed


class RequestFailed(Exception):
    """An expected failure of one request; ``kind`` travels to the client."""

    def __init__(self, message: str, kind: str = "error") -> None:
        super().__init__(message)
        self.kind = kind


def prompt_to_wire(prompt: Prompt) -> str | list[list[Any]]:
    """A prompt as JSON-friendly data."""
    if isinstance(prompt, str):
        return prompt
    parts: list[list[Any]] = []
    for item in prompt:
        text, special = item
        parts.append([str(text), bool(special)])
    return parts


def prompt_from_wire(data: Any) -> str | list[tuple[str, bool]]:
    if isinstance(data, str):
        return data
    if not isinstance(data, list):
        raise ValueError("prompt must be a string or a list of [text, special] pairs")
    parts: list[tuple[str, bool]] = []
    for item in data:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
            raise ValueError("prompt parts must be [text, special] pairs")
        parts.append((item[0], bool(item[1])))
    return parts


def encode(message: dict[str, Any]) -> bytes:
    """One protocol line. ``ensure_ascii`` keeps every line pure ASCII, so a broken pipe
    can never leave half a UTF-8 character behind."""
    return (json.dumps(message, ensure_ascii=True, separators=(",", ":")) + "\n").encode("ascii")


def decode(line: bytes | str) -> dict[str, Any]:
    value = json.loads(line)
    if not isinstance(value, dict):
        raise ValueError("protocol message is not a JSON object")
    return value
