"""One benchmark run: load a model in a fresh engine worker, time prompt processing and
generation ``repeat`` times (interleaved step by step with the raw baseline's when asked),
and return a :class:`~tui.bench.results.BenchResult`.

Figures are medians over the runs:

- ``load_seconds``: model load, as the engine worker measures it;
- ``prompt_tps``: prompt processing of a ``prompt_tokens`` token prompt, tokens/s;
- ``ttft_seconds``: from the request to the first token of that prompt's answer, as the
  caller sees it (so it includes the trip through the worker's pipe);
- ``generation_tps``: ``gen_tokens`` tokens, counted as the text arrives at the caller
  (first chunk to last), tokens/s;
- ``worker_peak_rss_bytes``: the worker's peak resident memory (``VmHWM``).

The raw baseline runs on the same model, threads, context and prompts, with the same CPU
"extra buffer types" choice Burrow made.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.bench.baseline import RawBaseline
from tui.bench.results import BaselineFigures, BenchResult, compared, median
from tui.bench.system import DeviceInfo, peak_rss_bytes

if TYPE_CHECKING:
    from tui.engine.client import EngineClient
    from tui.engine.protocol import GenerationStats, ModelInfo

#: A prompt that makes small instruct models keep writing (a count) for the generation run.
GEN_PROMPT = (
    "<|im_start|>user\nCount from 1 to 500, separated by commas.<|im_end|>\n"
    "<|im_start|>assistant\n1, 2, 3, 4, 5,"
)
#: The warm-up prompt: several tokens, since the AMX crash comes with the first multi-token
#: batch and the warm-up is where Burrow learns the extra-buffer-types choice.
WARM_UP_PROMPT = "Hello, how are you today? Tell me a story."
_FILLER = (
    "The quick brown fox jumps over the lazy dog while the farmer watches from the porch. "
    "Rivers run to the sea, mountains stand still, and the seasons turn one after another. "
)


def bench_prompt(n_tokens: int, variant: int = 0) -> str:
    """A plain prompt of about ``n_tokens`` tokens (~4 characters a token for English);
    ``variant`` changes its first words so no run reuses another's cached prefix."""
    text = f"Note {variant}: "
    while len(text) < n_tokens * 6:
        text += _FILLER
    return text


def fit_prompt(text: str, n_tokens: int, count: Callable[[str], int]) -> str:
    """Cut ``text`` so it tokenizes to ``n_tokens`` (BOS included) or just under."""
    lo, hi = 0, len(text)
    while lo < hi:  # the longest prefix (in words) that fits
        mid = (lo + hi + 1) // 2
        if count(text[:mid]) <= n_tokens:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]


# -- progress ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """Progress: step ``done`` of ``total`` is starting, described by ``text``."""

    done: int
    total: int
    text: str

    def line(self) -> str:
        """The step as one line with a bar: ``bench [####----] 2/5 warming up``."""
        width = 20
        filled = width * self.done // max(1, self.total)
        bar = "#" * filled + "-" * (width - filled)
        return f"bench [{bar}] {self.done}/{self.total} {self.text}"


class _Steps:
    """Counts the steps of a run and reports each one."""

    def __init__(self, total: int, report: Callable[[Step], None] | None) -> None:
        self.total = max(1, total)
        self.done = 0
        self.report = report

    def __call__(self, text: str) -> None:
        self.done = min(self.total, self.done + 1)
        if self.report is not None:
            self.report(Step(self.done, self.total, text))


# -- Burrow's side -------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """One generation through the engine client, timed as the caller sees it."""

    ttft: float | None
    """Request to first chunk; None when no text came."""
    span: float | None
    """First chunk to last."""
    chunks: int
    stats: GenerationStats | None


def burrow_run(client: EngineClient, text: str, max_tokens: int) -> Timing:
    """Generate greedily through the engine client and time it."""
    from tui.engine.protocol import Failed, Finished, SamplingParams, TextChunk

    params = SamplingParams(temperature=0.0, repeat_penalty=1.0, seed=1, max_tokens=max_tokens)
    started = time.perf_counter()
    first: float | None = None
    last = started
    chunks = 0
    stats = None
    for event in client.generate(text, params):
        now = time.perf_counter()
        if isinstance(event, TextChunk):
            chunks += 1
            if first is None:
                first = now
            last = now
        elif isinstance(event, Finished):
            stats = event.stats
        elif isinstance(event, Failed):
            raise RuntimeError(f"generation failed: {event.error}")
    ttft = (first - started) if first is not None else None
    span = (last - first) if first is not None else None
    return Timing(ttft, span, chunks, stats)


@dataclass
class _Samples:
    """Each run's figures, before the medians."""

    prompt_tps: list[float] = field(default_factory=list)
    ttft: list[float] = field(default_factory=list)
    gen_tps: list[float] = field(default_factory=list)
    worker_gen_tps: list[float] = field(default_factory=list)
    prompt_tokens: list[int] = field(default_factory=list)
    gen_tokens: list[int] = field(default_factory=list)


def _finished(timing: Timing) -> GenerationStats:
    if timing.stats is None:
        raise RuntimeError("generation ended without its figures")
    return timing.stats


def _burrow_prompt(client: EngineClient, prompt: str, ours: _Samples) -> None:
    timing = burrow_run(client, prompt, 1)
    stats = _finished(timing)
    ours.prompt_tps.append(stats.prompt_tps)
    ours.ttft.append(timing.ttft if timing.ttft is not None else stats.ttft_seconds)
    ours.prompt_tokens.append(stats.prompt_tokens_evaluated)


def _burrow_generation(client: EngineClient, gen_tokens: int, ours: _Samples) -> None:
    timing = burrow_run(client, GEN_PROMPT, gen_tokens)
    tokens = _finished(timing).completion_tokens
    ours.gen_tokens.append(tokens)
    ours.gen_tps.append((tokens - 1) / timing.span if timing.span else 0.0)
    ours.worker_gen_tps.append(_finished(timing).generation_tps)


# -- the whole run -------------------------------------------------------------------------


def run_bench(
    model: str,
    *,
    threads: int | None = None,
    n_ctx: int = 2048,
    prompt_tokens: int = 512,
    gen_tokens: int = 128,
    repeat: int = 3,
    baseline: bool = False,
    load_options: dict[str, Any] | None = None,
    on_step: Callable[[Step], None] | None = None,
    engine: str = "embedded",
) -> BenchResult:
    """Measure ``model`` in its own engine worker, or a llama-server Burrow starts when
    ``engine`` is ``local`` (and, with ``baseline``, the raw loop beside it); ``on_step``
    hears of each step as it starts. ``threads`` None lets the embedded engine choose as it
    does for chat (tuned, else performance cores); ``load_options`` are more
    :class:`LoadParams` fields (``kv_cache_type``, ``flash_attn``, ``use_mmap``)."""
    from tui.engine.worker import default_threads

    if engine != "embedded":
        threads = threads or default_threads()

    step = _Steps(3 + 2 * repeat * (2 if baseline else 1) + (2 if baseline else 0), on_step)
    client = _client(engine)
    raw: RawBaseline | None = None
    try:
        if baseline:
            # The baseline loads second, from the page cache the first load filled: read the
            # file once first so both loads start alike (a cold first load measures storage).
            step("reading the model file once")
            warm_page_cache(model)
        step("starting the engine")
        system_info = client.system_info() if engine == "embedded" else {}
        info, load_wall = _load(client, model, n_ctx, threads, step, load_options or {})
        if engine != "embedded":
            served = client.system_info()
            system_info = {"system_info": f"llama-server {served.get('llama_cpp', '')}"}
        if baseline:
            step("loading the raw llama-cpp-python baseline")
            raw = RawBaseline(
                model, n_ctx=n_ctx, n_threads=info.n_threads, extra_bufts=bool(info.extra_bufts)
            )
            raw.generate(WARM_UP_PROMPT, 4)

        def count(text: str) -> int:
            return client.count_tokens([(text, True)], add_bos=True)

        prompts = [
            fit_prompt(bench_prompt(prompt_tokens, i), prompt_tokens, count) for i in range(repeat)
        ]
        ours, theirs = _measure(client, raw, prompts, gen_tokens, step)
        worker_pid = client.worker_pid
        peak = peak_rss_bytes(worker_pid) if worker_pid else None
        result = _result(info, load_wall, ours, repeat, peak, DeviceInfo.measure(system_info))
        result = replace(result, engine=engine)
        if raw is not None:
            result = compared(result, _baseline_figures(raw, theirs))
        return result
    finally:
        if raw is not None:
            raw.close()
        client.shutdown()


def warm_page_cache(path: str, chunk: int = 16 * 1024 * 1024) -> None:
    """Read ``path`` through once, so the system's page cache holds it (as far as memory
    allows) for the loads that follow."""
    with open(path, "rb", buffering=0) as file:
        while file.read(chunk):
            pass


def _client(engine: str) -> EngineClient:
    if engine == "embedded":
        from tui.engine.client import EngineClient

        return EngineClient()
    if engine == "local":
        from tui.engine.server_client import LocalServerClient

        # The same API; typed as the embedded client's for the functions below.
        return LocalServerClient()  # type: ignore[return-value]
    raise ValueError(f"unknown engine {engine!r}: bench runs embedded or local")


def _load(
    client: EngineClient,
    model: str,
    n_ctx: int,
    n_threads: int | None,
    step: _Steps,
    options: dict[str, Any],
) -> tuple[ModelInfo, float]:
    """Load and warm up (page in the weights; learn the extra-buffer-types choice on AMX
    CPUs): the model as loaded after the warm-up, and the load's wall time."""
    from tui.engine.protocol import LoadParams

    step(f"loading {Path(model).name} (Burrow)")
    started = time.perf_counter()
    info = client.load(LoadParams(path=model, n_ctx=n_ctx, n_threads=n_threads, **options))
    load_wall = time.perf_counter() - started
    step("warming up")
    burrow_run(client, WARM_UP_PROMPT, 4)
    return client.model or info, load_wall


def _measure(
    client: EngineClient,
    raw: RawBaseline | None,
    prompts: list[str],
    gen_tokens: int,
    step: _Steps,
) -> tuple[_Samples, _Samples]:
    """Each run, Burrow's step then the raw loop's, so both see the same contention."""
    ours, theirs = _Samples(), _Samples()
    repeat = len(prompts)
    for i, prompt in enumerate(prompts):
        step(f"prompt processing, run {i + 1}/{repeat} (Burrow)")
        _burrow_prompt(client, prompt, ours)
        if raw is not None:
            step(f"prompt processing, run {i + 1}/{repeat} (raw)")
            measured = raw.prompt(prompt)
            theirs.prompt_tps.append(measured["prompt_tps"])
            theirs.ttft.append(measured["ttft_seconds"])
        step(f"generation, run {i + 1}/{repeat} (Burrow)")
        _burrow_generation(client, gen_tokens, ours)
        if raw is not None:
            step(f"generation, run {i + 1}/{repeat} (raw)")
            theirs.gen_tps.append(raw.generate(GEN_PROMPT, gen_tokens)["tps"])
    return ours, theirs


def _result(
    info: ModelInfo,
    load_wall: float,
    ours: _Samples,
    repeat: int,
    worker_peak: int | None,
    device: DeviceInfo,
) -> BenchResult:
    return BenchResult(
        model=info.path,
        model_name=info.name,
        model_file_bytes=info.file_size,
        quantization=info.quantization,
        n_ctx=info.n_ctx,
        threads=info.n_threads,
        threads_batch=info.n_threads_batch,
        extra_bufts=info.extra_bufts,
        kv_cache_type=info.kv_cache_type,
        flash_attn=info.flash_attn,
        use_mmap=info.use_mmap,
        repeat=repeat,
        prompt_tokens=int(median(ours.prompt_tokens)),
        generated_tokens=int(median(ours.gen_tokens)),
        load_seconds=info.load_seconds,
        load_wall_seconds=load_wall,
        prompt_tps=median(ours.prompt_tps),
        ttft_seconds=median(ours.ttft),
        generation_tps=median(ours.gen_tps),
        worker_generation_tps=median(ours.worker_gen_tps),
        worker_peak_rss_bytes=worker_peak,
        device=device,
        measured_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )


def _baseline_figures(raw: RawBaseline, theirs: _Samples) -> BaselineFigures:
    return BaselineFigures(
        load_seconds=float(raw.load["load_seconds"]),
        prompt_tps=median(theirs.prompt_tps),
        ttft_seconds=median(theirs.ttft),
        generation_tps=median(theirs.gen_tps),
        peak_rss_bytes=peak_rss_bytes(raw.pid),
    )
