"""A benchmark's result: Burrow's figures, the raw baseline's, the ratios between them, and
the device; its JSON form (what ``burrow bench --json`` prints and what is saved), saving it
(0600) in ``paths.bench_dir()`` and reading saved ones back.

Every field may be None: a result read back from a file may lack any of them, and the table
shows what is there. Field order is the JSON key order.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from tui.bench.system import DeviceInfo

#: The keys a result has only when the raw baseline ran beside Burrow.
_BASELINE_KEYS = (
    "baseline",
    "load_ratio",
    "prompt_tps_ratio",
    "ttft_ratio",
    "generation_tps_ratio",
)


def median(values: Sequence[float]) -> float:
    """The median of each run's figure (0.0 for no runs)."""
    return float(statistics.median(values)) if values else 0.0


@dataclass(frozen=True)
class BaselineFigures:
    """The raw llama-cpp-python loop's figures (medians, like Burrow's)."""

    load_seconds: float | None = None
    prompt_tps: float | None = None
    ttft_seconds: float | None = None
    generation_tps: float | None = None
    peak_rss_bytes: int | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BaselineFigures:
        return cls(**{f.name: data.get(f.name) for f in fields(cls)})


@dataclass(frozen=True)
class BenchResult:
    """One ``burrow bench`` run. Speeds are tokens/s, times seconds, memory bytes."""

    model: str | None = None
    model_name: str | None = None
    model_file_bytes: int | None = None
    quantization: str | None = None
    n_ctx: int | None = None
    threads: int | None = None
    threads_batch: int | None = None
    extra_bufts: bool | None = None
    kv_cache_type: str | None = None
    flash_attn: bool | None = None
    use_mmap: bool | None = None
    repeat: int | None = None
    prompt_tokens: int | None = None
    generated_tokens: int | None = None
    load_seconds: float | None = None
    load_wall_seconds: float | None = None
    prompt_tps: float | None = None
    ttft_seconds: float | None = None
    generation_tps: float | None = None
    """Counted as the text arrives at the caller, first chunk to last."""
    worker_generation_tps: float | None = None
    """As the engine worker counts it."""
    worker_peak_rss_bytes: int | None = None
    device: DeviceInfo = field(default_factory=DeviceInfo)
    measured_at: str | None = None
    baseline: BaselineFigures | None = None
    """Present when the raw loop ran beside Burrow; then so are the four ratios."""
    load_ratio: float | None = None
    prompt_tps_ratio: float | None = None
    ttft_ratio: float | None = None
    generation_tps_ratio: float | None = None
    worker_peak_rss_ratio: float | None = None
    """Only when both peaks are known."""
    saved_to: str | None = None
    """Where the result was saved, once it was."""
    engine: str = "embedded"
    """``embedded`` (Burrow's worker) or ``local`` (llama-server started by Burrow)."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON object: the baseline's keys only with a baseline, the peak ratio and
        ``saved_to`` only when known, ``engine`` only when it is not the embedded one."""
        data = asdict(self)
        if self.engine == "embedded":
            del data["engine"]
        if self.baseline is None:
            for key in _BASELINE_KEYS:
                del data[key]
        for key in ("worker_peak_rss_ratio", "saved_to"):
            if data[key] is None:
                del data[key]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BenchResult:
        values: dict[str, Any] = {f.name: data.get(f.name) for f in fields(cls)}
        values["device"] = DeviceInfo.from_dict(data.get("device") or {})
        values["engine"] = str(data.get("engine") or "embedded")
        base = data.get("baseline")
        values["baseline"] = BaselineFigures.from_dict(base) if base else None
        return cls(**values)


def compared(result: BenchResult, base: BaselineFigures) -> BenchResult:
    """``result`` with ``base`` and the ratios of Burrow's figures to it (for speeds above
    1 is better, for times below 1 is better)."""
    peak, raw_peak = result.worker_peak_rss_bytes, base.peak_rss_bytes
    return replace(
        result,
        baseline=base,
        load_ratio=_ratio(result.load_seconds, base.load_seconds),
        prompt_tps_ratio=_ratio(result.prompt_tps, base.prompt_tps),
        ttft_ratio=_ratio(result.ttft_seconds, base.ttft_seconds),
        generation_tps_ratio=_ratio(result.generation_tps, base.generation_tps),
        worker_peak_rss_ratio=peak / raw_peak if peak and raw_peak else None,
    )


def _ratio(ours: float | None, theirs: float | None) -> float | None:
    return ours / theirs if theirs and ours is not None else None


def save_result(result: BenchResult) -> Path:
    """Write ``result`` (0600) as a new file in ``paths.bench_dir()``; returns its path."""
    from tui import paths

    stem = Path(str(result.model if result.model is not None else "model")).stem
    name = f"bench-{time.strftime('%Y%m%d-%H%M%S')}-{stem}.json"
    text = json.dumps(result.to_dict(), indent=2) + "\n"
    return paths.write_private_text(paths.bench_dir() / name, text)


def saved_results() -> list[BenchResult]:
    """Every saved result, newest first (for the app and for comparisons)."""
    from tui import paths

    results: list[BenchResult] = []
    for path in sorted(paths.bench_dir().glob("bench-*.json"), reverse=True):
        try:
            results.append(BenchResult.from_dict(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, TypeError, AttributeError):
            continue
    return results
