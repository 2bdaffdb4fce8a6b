"""Free memory and how much a model will need, without psutil (Termux has no wheel for it).

The estimate is deliberately simple: the model file (mmapped weights end up resident),
the KV cache (f16 keys and values for every layer and context position), and the compute
buffers llama.cpp allocates for one batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tui.engine.gguf import GgufHeader

MEMINFO = Path("/proc/meminfo")
_RUNTIME_OVERHEAD = 48 * 1024 * 1024  # Python, llama.cpp scratch, thread stacks


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


@dataclass(frozen=True)
class RamEstimate:
    model_bytes: int
    kv_cache_bytes: int
    compute_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.model_bytes + self.kv_cache_bytes + self.compute_bytes + _RUNTIME_OVERHEAD


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
        )

    def kv_cache_bytes(self, n_ctx: int, bytes_per_value: int = 2) -> int:
        """f16 K and V for every layer and position; 0 when the sizes are unknown."""
        return (
            self.n_layer
            * n_ctx
            * self.n_head_kv
            * (self.key_length + self.value_length)
            * bytes_per_value
        )

    def estimate(self, n_ctx: int, n_batch: int = 512) -> RamEstimate:
        n_ubatch = max(1, min(n_batch, n_ctx))
        # Logits of one batch, the attention scores of one batch, a few activations.
        compute = 4 * n_ubatch * (self.n_vocab + self.n_head * n_ctx + 8 * self.n_embd)
        return RamEstimate(
            model_bytes=self.file_size,
            kv_cache_bytes=self.kv_cache_bytes(n_ctx),
            compute_bytes=compute,
        )


def estimate(header: GgufHeader, n_ctx: int, n_batch: int = 512) -> RamEstimate:
    """RAM a model needs at ``n_ctx``: weights + KV cache + compute buffers."""
    return ModelShape.from_header(header).estimate(n_ctx, n_batch)


def format_bytes(n: int | float) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"  # pragma: no cover
