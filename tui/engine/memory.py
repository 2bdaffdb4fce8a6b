"""Free memory and how much a model will need, without psutil (Termux has no wheel for it).

The estimate is for the context full: the weights (summed by tensor type from the GGUF
header; a weight llama.cpp repacks for this CPU counts twice when the file is mapped, see
:mod:`tui.engine.cpu`), the KV cache (its type's bytes for every layer and position), the
compute buffer llama.cpp reserves for one batch, and the runtime (Python, libraries).
``bench/memory_fit.py`` measures it against real workers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui.engine.gguf import GgufHeader

MEMINFO = Path("/proc/meminfo")
RUNTIME_OVERHEAD = 48 * 1024 * 1024  # Python, llama.cpp scratch, thread stacks


def meminfo(path: Path = MEMINFO) -> dict[str, int]:
    """``/proc/meminfo`` as bytes per key; empty when unreadable (not Linux)."""
    values: dict[str, int] = {}
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError:
        return values
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if not parts:
            continue
        try:
            number = int(parts[0])
        except ValueError:
            continue
        unit = parts[1].lower() if len(parts) > 1 else ""
        values[key.strip()] = number * 1024 if unit == "kb" else number
    return values


def available_bytes() -> int | None:
    """Memory the kernel can give a new process without swapping, or None if unknown."""
    info = meminfo()
    if "MemAvailable" in info:
        return info["MemAvailable"]
    if "MemFree" in info:
        return info["MemFree"] + info.get("Cached", 0)
    return None


def total_bytes() -> int | None:
    return meminfo().get("MemTotal")


KV_BYTES_PER_VALUE: dict[str, float] = {"f16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32}
"""Bytes per stored key or value for each KV cache type (q8_0/q4_0: 32 values per block)."""
KV_TYPES = tuple(KV_BYTES_PER_VALUE)
KV_BLOCK = 32
"""Values per block of a quantized cache type: llama.cpp refuses one for a model whose head
size is not a multiple of it (OpenLLaMA-3B's 100, say), so only f16 can hold that cache."""


@dataclass(frozen=True)
class RamEstimate:
    model_bytes: int
    """Weights resident in memory (file pages when mapped, a private copy when read)."""
    kv_cache_bytes: int
    compute_bytes: int
    mapped_twice_bytes: int = 0
    """Repacked weights whose mapped original stays resident beside the repacked copy."""
    use_mmap: bool = True
    """Whether the estimate assumes the file is mapped (``auto`` decided)."""

    @property
    def total_bytes(self) -> int:
        return (
            self.model_bytes
            + self.mapped_twice_bytes
            + self.kv_cache_bytes
            + self.compute_bytes
            + RUNTIME_OVERHEAD
        )


@dataclass(frozen=True)
class ModelShape:
    """The few numbers of a model that decide its memory use (from the GGUF header)."""

    file_size: int
    n_layer: int = 0
    n_embd: int = 0
    n_head: int = 0
    n_head_kv: int = 0
    key_length: int = 0
    value_length: int = 0
    n_vocab: int = 0
    n_ff: int = 0
    weight_bytes: int = 0
    """Bytes of tensor data (0 = unknown: the file size is used)."""
    matmul_bytes: dict[str, int] = field(default_factory=dict)
    """Bytes of the matrices llama.cpp may repack, by ggml type name."""

    @classmethod
    def from_header(cls, header: GgufHeader) -> ModelShape:
        n_embd = header.arch_int("embedding_length") or 0
        n_head = header.arch_int("attention.head_count") or 0
        head_dim = n_embd // n_head if n_head else 0
        return cls(
            file_size=header.file_size,
            n_layer=header.arch_int("block_count") or 0,
            n_embd=n_embd,
            n_head=n_head,
            n_head_kv=header.arch_int("attention.head_count_kv") or n_head,
            key_length=header.arch_int("attention.key_length") or head_dim,
            value_length=header.arch_int("attention.value_length") or head_dim,
            n_vocab=header.n_vocab or 0,
            n_ff=header.arch_int("feed_forward_length") or 0,
            weight_bytes=sum(header.weight_bytes.values()),
            matmul_bytes=dict(header.matmul_bytes),
        )

    def kv_cache_bytes(self, n_ctx: int, kv_type: str = "f16") -> int:
        """K and V for every layer and position; 0 when the sizes are unknown."""
        per_value = KV_BYTES_PER_VALUE.get(kv_type, 2.0)
        values = self.n_layer * n_ctx * self.n_head_kv * (self.key_length + self.value_length)
        return int(values * per_value)

    @property
    def quantized_kv_ok(self) -> bool:
        """Whether a q8_0/q4_0 cache can hold this model's heads (unknown sizes: assume so)."""
        return self.key_length % KV_BLOCK == 0 and self.value_length % KV_BLOCK == 0

    def repacked_bytes(self, repacked: frozenset[str] | None = None) -> int:
        """Bytes of weights llama.cpp copies into a repacked layout on this CPU."""
        from tui.engine import cpu

        types = cpu.repacked_types() if repacked is None else repacked
        return sum(size for name, size in self.matmul_bytes.items() if name in types)

    def estimate(
        self,
        n_ctx: int,
        n_batch: int = 512,
        *,
        kv_type: str = "f16",
        use_mmap: bool | None = None,
        flash_attn: bool | None = None,
        repacked: frozenset[str] | None = None,
    ) -> RamEstimate:
        """Memory at ``n_ctx`` with the context full. ``use_mmap``/``flash_attn`` None
        means what the engine's ``auto`` picks (see :func:`resolve_mmap`)."""
        twice = self.repacked_bytes(repacked)
        mapped = resolve_mmap(use_mmap, twice)
        fa = resolve_flash_attn(flash_attn, kv_type)
        n_kv = _pad(n_ctx, 256)  # llama.cpp rounds the cache up to a multiple of 256
        return RamEstimate(
            model_bytes=self.weight_bytes or self.file_size,
            kv_cache_bytes=self.kv_cache_bytes(n_kv, kv_type),
            compute_bytes=self.compute_bytes(n_kv, n_batch, fa),
            mapped_twice_bytes=twice if mapped else 0,
            use_mmap=mapped,
        )

    def compute_bytes(self, n_kv: int, n_batch: int, flash_attn: bool) -> int:
        """The compute buffer of one batch (llama.cpp reserves it for the worst case, a full
        batch with the whole cache in view): attention scores, activations, one row of
        logits."""
        n_ubatch = max(1, min(n_batch, n_kv, 512))
        n_ff = self.n_ff or 4 * self.n_embd
        activations = 4 * n_ubatch * (3 * n_ff + 6 * self.n_embd)
        # Without flash attention, each score is an f32 in the compute buffer and an f16 in
        # ggml's CPU work buffer (the softmaxed scores converted for the product with the
        # f16 V cache), which llama.cpp's logged buffer size leaves out. Measured on the
        # llama-3.2-1b shape at n_ctx 8192: compute buffer 275 MiB for 256 MiB of scores,
        # and ~128 MiB more resident than at 2048 beside it.
        scores = 0 if flash_attn else (4 + 2) * n_ubatch * self.n_head * n_kv
        logits = 4 * n_ubatch * self.n_vocab
        return activations + scores + logits


def _pad(value: int, multiple: int) -> int:
    return (value + multiple - 1) // multiple * multiple


def resolve_mmap(use_mmap: bool | None, repacked_bytes: int) -> bool:
    """``auto`` (None): map the file unless weights will be repacked, because the mapped
    original of a repacked weight stays resident beside its copy (it costs twice)."""
    if use_mmap is not None:
        return use_mmap
    return repacked_bytes == 0


def resolve_flash_attn(flash_attn: bool | None, kv_type: str) -> bool:
    """``auto`` (None): on for a quantized KV cache, which llama.cpp only supports with
    flash attention; off otherwise, as llama-cpp-python has always loaded models."""
    if flash_attn is not None:
        return flash_attn
    return kv_type != "f16"


def estimate(header: GgufHeader, n_ctx: int, n_batch: int = 512, **choices: Any) -> RamEstimate:
    """RAM a model needs at ``n_ctx`` with the context full: weights (twice for repacked
    ones when mapped) + KV cache + compute buffers. ``choices``: ``kv_type``, ``use_mmap``,
    ``flash_attn``, ``repacked`` as in :meth:`ModelShape.estimate`."""
    return ModelShape.from_header(header).estimate(n_ctx, n_batch, **choices)


def format_bytes(n: int | float) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"  # pragma: no cover
