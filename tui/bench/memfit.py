"""How well the memory estimate predicts a real worker: each case loads a model in a fresh
engine worker, fills its context (a prompt of ``n_ctx`` less a few tokens, then a few
generated ones), and reads the worker's peak resident memory (``VmHWM``: anonymous memory
plus the file pages it touched). The estimate is the catalog's, with the same KV type,
memory map and CPU extra-buffer choice the worker made.

Used by ``bench/memory_fit.py`` on phone-class synthetic models, and by the tests on the
tiny one. A fresh worker per case, so one case's peak never hides in another's.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

#: Room left at the end of the context: the answer's few tokens and llama.cpp's own rounding.
_TAIL = 24


@dataclass(frozen=True)
class FitCase:
    model: str
    n_ctx: int
    kv_type: str = "f16"
    use_mmap: bool | None = None
    """None = the engine's auto choice."""
    n_batch: int = 256
    label: str = ""


@dataclass(frozen=True)
class FitRow:
    label: str
    model: str
    n_ctx: int
    kv_type: str
    use_mmap: bool
    """As the worker decided."""
    extra_bufts: bool
    flash_attn: bool
    tokens_in_context: int
    measured_bytes: int
    n_batch: int = 256
    seconds: float = 0.0
    logged_compute_bytes: int = 0
    """The compute buffer llama.cpp reported allocating (its log), for comparison."""
    estimate_bytes: int = 0
    weights_bytes: int = 0
    mapped_twice_bytes: int = 0
    kv_bytes: int = 0
    compute_bytes: int = 0

    @property
    def error(self) -> float:
        """Estimate ÷ measured - 1: above 0 over-estimates, below 0 under-estimates."""
        return self.estimate_bytes / self.measured_bytes - 1 if self.measured_bytes else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["error"] = round(self.error, 4)
        return data


def fill_prompt(count: Callable[[str], int], n_tokens: int) -> str:
    """Text that tokenizes to ``n_tokens`` or just under (BOS included)."""
    from tui.bench.runs import bench_prompt, fit_prompt

    return fit_prompt(bench_prompt(n_tokens, 0), n_tokens, count)


def measure(case: FitCase, threads: int | None = None) -> FitRow:
    """Load ``case.model`` in a fresh worker, fill the context, and compare."""
    from tui.bench.system import peak_rss_bytes
    from tui.engine.client import EngineClient
    from tui.engine.protocol import Failed, Finished, LoadParams, SamplingParams

    started = time.perf_counter()
    client = EngineClient()
    log_mark = _log_size()
    try:
        info = client.load(
            LoadParams(
                path=case.model,
                n_ctx=case.n_ctx,
                n_batch=case.n_batch,
                n_threads=threads,
                kv_cache_type=case.kv_type,
                use_mmap=case.use_mmap,
                check_memory=False,
            )
        )
        prompt = fill_prompt(
            lambda text: client.count_tokens([(text, True)], add_bos=True),
            info.n_ctx - _TAIL,
        )
        params = SamplingParams(temperature=0, seed=1, max_tokens=8)
        tokens = 0
        for event in client.generate([(prompt, True)], params):
            if isinstance(event, Failed):
                raise RuntimeError(f"filling the context failed: {event.error}")
            if isinstance(event, Finished):
                tokens = event.stats.prompt_tokens + event.stats.completion_tokens
        info = client.model or info
        pid = client.worker_pid
        measured = (peak_rss_bytes(pid) if pid else None) or 0
    finally:
        client.shutdown()
    return reestimate(
        FitRow(
            label=case.label or Path(case.model).stem,
            model=case.model,
            n_ctx=case.n_ctx,
            kv_type=case.kv_type,
            use_mmap=info.use_mmap,
            extra_bufts=info.extra_bufts,
            flash_attn=info.flash_attn,
            tokens_in_context=tokens,
            measured_bytes=measured,
            n_batch=case.n_batch,
            seconds=time.perf_counter() - started,
            logged_compute_bytes=_logged_compute_bytes(log_mark),
        )
    )


def _log_path() -> Path:
    from tui import paths

    return paths.log_dir() / "engine.log"


def _log_size() -> int:
    try:
        return _log_path().stat().st_size
    except OSError:
        return 0


def _logged_compute_bytes(mark: int) -> int:
    """The sum of the "compute buffer size = N MiB" lines llama.cpp logged since ``mark``."""
    try:
        with open(_log_path(), "rb") as handle:
            handle.seek(mark)
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return 0
    found = re.findall(r"compute buffer size =\s*([0-9.]+) MiB", text)
    return int(sum(float(value) for value in found) * 1024 * 1024)


def reestimate(row: FitRow) -> FitRow:
    """``row`` with the estimate computed (again) for the choices its worker made, so saved
    measurements can be compared with a changed estimate without measuring again."""
    from tui.engine import cpu, gguf, memory

    estimate = memory.estimate(
        gguf.read_header(row.model),
        row.n_ctx,
        row.n_batch,
        kv_type=row.kv_type,
        use_mmap=row.use_mmap,
        flash_attn=row.flash_attn,
        repacked=cpu.repacked_types() if row.extra_bufts else frozenset(),
    )
    return replace(
        row,
        estimate_bytes=estimate.total_bytes,
        weights_bytes=estimate.model_bytes,
        mapped_twice_bytes=estimate.mapped_twice_bytes,
        kv_bytes=estimate.kv_cache_bytes,
        compute_bytes=estimate.compute_bytes,
    )


def row_from_dict(data: dict[str, Any]) -> FitRow:
    names = {f.name for f in fields(FitRow)}
    return FitRow(**{k: v for k, v in data.items() if k in names})


def sweep(
    cases: Iterable[FitCase],
    *,
    threads: int | None = None,
    on_row: Callable[[FitRow], None] | None = None,
) -> list[FitRow]:
    rows: list[FitRow] = []
    for case in cases:
        row = measure(case, threads)
        rows.append(row)
        if on_row is not None:
            on_row(row)
    return rows


def format_rows(rows: Iterable[FitRow]) -> str:
    """The table: one row a case, estimate and measured in MiB, and the error."""
    mib = 1024 * 1024
    header = (
        f"{'model':<28} {'ctx':>5} {'kv':>4} {'mmap':>4} {'filled':>6} "
        f"{'estimate':>9} {'measured':>9} {'error':>7}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(
            f"{row.label:<28} {row.n_ctx:>5} {row.kv_type:>4} "
            f"{'on' if row.use_mmap else 'off':>4} {row.tokens_in_context:>6} "
            f"{row.estimate_bytes / mib:>7.0f}Mi {row.measured_bytes / mib:>7.0f}Mi "
            f"{row.error * 100:>+6.1f}%"
        )
    return "\n".join(lines)
