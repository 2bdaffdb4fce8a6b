"""``burrow bench --tune``: prompt and generation speed at 1..N threads, and the fastest
counts saved for the model on this device (``tui.engine.prefs``), which the engine then uses
whenever the ``n_threads`` setting is 0 (automatic).

Prompt processing and generation are tuned apart: prompt processing is compute-bound and
usually wants every core, generation is memory-bound and on a phone often runs fastest on
the big cores alone. Each count gets a fresh load in one engine worker (the file stays in
the page cache, so reloading is quick) and one warm-up before it is timed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tui.bench.runs import (
    GEN_PROMPT,
    WARM_UP_PROMPT,
    Step,
    _Steps,
    bench_prompt,
    burrow_run,
    fit_prompt,
)


@dataclass(frozen=True)
class ThreadRun:
    threads: int
    prompt_tps: float
    generation_tps: float


@dataclass(frozen=True)
class TuneResult:
    model: str
    device: str
    runs: list[ThreadRun] = field(default_factory=list)
    n_threads: int = 0
    """Fastest for generation."""
    n_threads_batch: int = 0
    """Fastest for prompt processing."""
    saved: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def best(runs: Sequence[ThreadRun]) -> tuple[int, int]:
    """(generation, prompt) thread counts; a tie goes to fewer threads (less heat, and a
    core left for the app)."""
    gen = max(runs, key=lambda r: (round(r.generation_tps, 1), -r.threads))
    batch = max(runs, key=lambda r: (round(r.prompt_tps, 1), -r.threads))
    return gen.threads, batch.threads


def tune_threads(
    model: str,
    *,
    max_threads: int | None = None,
    n_ctx: int = 1024,
    prompt_tokens: int = 256,
    gen_tokens: int = 32,
    load_options: dict[str, Any] | None = None,
    save: bool = True,
    on_step: Callable[[Step], None] | None = None,
) -> TuneResult:
    """Time ``model`` at every thread count from 1 to ``max_threads`` (all cores)."""
    from tui.engine import cpu, prefs
    from tui.engine.client import EngineClient
    from tui.engine.protocol import LoadParams

    top = max(1, max_threads or os.cpu_count() or 1)
    step = _Steps(1 + 3 * top, on_step)
    client = EngineClient()
    runs: list[ThreadRun] = []
    try:
        step("starting the engine")
        client.system_info()
        prompt = ""
        for threads in range(1, top + 1):
            step(f"loading {Path(model).name} with {threads} thread(s)")
            client.load(
                LoadParams(
                    path=model,
                    n_ctx=n_ctx,
                    n_threads=threads,
                    n_threads_batch=threads,
                    **(load_options or {}),
                )
            )
            burrow_run(client, WARM_UP_PROMPT, 4)
            if not prompt:
                prompt = fit_prompt(
                    bench_prompt(prompt_tokens, 0),
                    prompt_tokens,
                    lambda text: client.count_tokens([(text, True)], add_bos=True),
                )
            step(f"prompt processing, {threads} thread(s)")
            timing = burrow_run(client, f"{threads} {prompt}", 1)
            prompt_tps = timing.stats.prompt_tps if timing.stats else 0.0
            step(f"generation, {threads} thread(s)")
            timing = burrow_run(client, GEN_PROMPT, gen_tokens)
            gen_tps = timing.stats.generation_tps if timing.stats else 0.0
            runs.append(ThreadRun(threads, prompt_tps, gen_tps))
    finally:
        client.shutdown()
    n_threads, n_threads_batch = best(runs)
    device = cpu.device_id()
    if save:
        prefs.remember_tuned_threads(model, n_threads, n_threads_batch, device)
    return TuneResult(model, device, runs, n_threads, n_threads_batch, save)


def format_tune(result: TuneResult) -> str:
    lines = ["threads  prompt tok/s  generation tok/s"]
    for run in result.runs:
        mark = []
        if run.threads == result.n_threads_batch:
            mark.append("best prompt")
        if run.threads == result.n_threads:
            mark.append("best generation")
        note = f"  <- {', '.join(mark)}" if mark else ""
        lines.append(
            f"{run.threads:>7}  {run.prompt_tps:>12.1f}  {run.generation_tps:>16.1f}{note}"
        )
    lines.append("")
    what = "saved for" if result.saved else "not saved (--no-save) for"
    lines.append(
        f"{result.n_threads} generation / {result.n_threads_batch} prompt threads {what} "
        f"{Path(result.model).name} on this device ({result.device}); "
        "used whenever the threads setting is 0"
    )
    lines.append(time.strftime("measured %Y-%m-%d %H:%M"))
    return "\n".join(lines)
