"""Streaming overhead: tokens/s on screen through the whole app ÷ the raw llama-cpp-python loop.

    python bench/streaming.py                 # 512-token answers, 2 runs each, bundled model
    python bench/streaming.py --tokens 64 --runs 1 --json     # quick look

The app runs headlessly (``App.run_test``) with the real engine worker; each frame is still
rendered to terminal bytes (the headless driver skips that, which would flatter the UI).
"On screen" tokens/s is (tokens - 1) ÷ (time of the frame showing the last text - time of
the frame showing the first text). The raw loop (``llama_cpp.Llama.generate`` +
``detokenize``, in a child process) generates from the same prompt, model and threads, its
runs interleaved with the app's (app, raw, raw, app, ...) so both share the CPU the same way.
The ratio is the median over pairs of neighbouring runs (the i-th app run and the i-th raw
run), which a machine whose speed drifts from minute to minute disturbs least.
Target: ratio >= 0.95.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import time
from typing import Any

from _common import (
    AppendRecorder,
    PaintRecorder,
    app_ask,
    emit,
    make_app,
    median,
    model_path,
    private_home,
    progress,
    wait_until,
)


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system) of this process (all threads) or of ``pid``."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:  # the worker restarted
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


QUESTION = (
    "Write a long story about a dragon who learns to bake bread. Make it at least 1000 words."
)


async def measure(model: str, tokens: int, runs: int, threads: int) -> dict[str, Any]:
    from tui.bench.baseline import RawBaseline

    app = make_app(model, max_tokens=tokens, n_threads=threads)
    paints = PaintRecorder(app)
    appends = AppendRecorder()
    raw: RawBaseline | None = None
    ours: list[dict[str, Any]] = []
    theirs: list[dict[str, Any]] = []
    try:
        async with app.run_test(size=(80, 30)) as pilot:
            await wait_until(pilot, lambda: app.chat and app.chat.model_ready, 300, "the model")
            progress("warm-up answer (pages the weights in; learns the AMX fallback)")
            await app_ask(pilot, app, "Say hello.")
            prompt_text = ""
            order = []
            for i in range(runs):
                order += ["app", "raw"] if i % 2 == 0 else ["raw", "app"]
            for step, who in enumerate(order, 1):
                if who == "raw":
                    if raw is None:
                        progress("loading the raw llama-cpp-python loop")
                        info = app.services.engine.model
                        raw = RawBaseline(
                            model,
                            n_ctx=info.n_ctx,
                            n_threads=info.n_threads,
                            extra_bufts=bool(info.extra_bufts),
                        )
                    progress(f"[{step}/{len(order)}] raw loop, {tokens} tokens")
                    theirs.append(await asyncio.to_thread(raw.generate, prompt_text, tokens))
                    continue
                progress(f"[{step}/{len(order)}] app, {tokens} tokens")
                ours.append(await app_run(pilot, app, paints, appends))
                if not prompt_text:
                    session = app.chat.session
                    prompt_text = session.fit(session.path()[:-1]).prompt.text
    finally:
        appends.close()
        if raw is not None:
            raw.close()
    return summary(model, threads, runs, ours, theirs)


async def app_run(
    pilot: Any, app: Any, paints: PaintRecorder, appends: AppendRecorder
) -> dict[str, Any]:
    """One answer in a new chat, timed from the frames that show it."""
    app.chat.action_new_chat()
    await pilot.pause(0.1)
    appends.reset()
    paints.times.clear()
    worker_pid = app.services.engine.worker_pid
    cpu_app, cpu_worker = cpu_seconds(), cpu_seconds(worker_pid)
    started = time.perf_counter()
    await app_ask(pilot, app, QUESTION)
    elapsed = time.perf_counter() - started
    cpu_app = cpu_seconds() - cpu_app
    cpu_worker = cpu_seconds(worker_pid) - cpu_worker
    stats = app.chat.session.path()[-1].stats or {}
    first_paint = paints.first_after(appends.times[0]) if appends.times else None
    last_paint = paints.first_after(appends.times[-1]) if appends.times else None
    n = int(stats.get("completion_tokens", 0))
    span = (last_paint - first_paint) if first_paint and last_paint else 0.0
    return {
        "tokens": n,
        "on_screen_tps": (n - 1) / span if span > 0 else 0.0,
        "worker_tps": float(stats.get("generation_tps", 0.0)),
        "frames": len(paints.times),
        "app_cpu_ms_per_token": 1000 * cpu_app / max(1, n),
        "app_cpu_share": cpu_app / elapsed,
        "worker_cpu_ms_per_token": 1000 * cpu_worker / max(1, n),
        "markdown_appends": len(appends.times),
        "ttft_on_screen_seconds": (first_paint - started) if first_paint else None,
        "redraw_interval_seconds": app.chat.answer_stream.pacer.interval,
        "ui_cpu_ms_per_redraw": 1000 * app.chat.answer_stream.pacer.cost,
    }


def summary(
    model: str, threads: int, runs: int, ours: list[dict[str, Any]], theirs: list[dict[str, Any]]
) -> dict[str, Any]:
    on_screen = median([r["on_screen_tps"] for r in ours])
    worker = median([r["worker_tps"] for r in ours])
    raw_tps = median([r["tps"] for r in theirs])
    # The i-th app run and the i-th raw run are next to each other in time (app, raw, raw,
    # app, ...): their ratio is the least disturbed by a machine whose speed drifts.
    pairs = [a["on_screen_tps"] / b["tps"] for a, b in zip(ours, theirs, strict=False) if b["tps"]]
    return {
        "benchmark": "streaming",
        "model": model,
        "threads": threads,
        "runs": runs,
        "answer_tokens": int(median([r["tokens"] for r in ours])),
        "raw_tokens": int(median([r["tokens"] for r in theirs])),
        "on_screen_tps": on_screen,
        "worker_tps": worker,
        "raw_tps": raw_tps,
        "on_screen_tps_ratio": median(pairs) if pairs else None,
        "on_screen_tps_ratio_pairs": pairs,
        "worker_tps_ratio": worker / raw_tps if raw_tps else None,
        "frames_per_answer": median([r["frames"] for r in ours]),
        "redraw_interval_seconds": median([r["redraw_interval_seconds"] for r in ours]),
        "ui_cpu_ms_per_redraw": median([r["ui_cpu_ms_per_redraw"] for r in ours]),
        "app_cpu_ms_per_token": median([r["app_cpu_ms_per_token"] for r in ours]),
        "app_cpu_share": median([r["app_cpu_share"] for r in ours]),
        "worker_cpu_ms_per_token": median([r["worker_cpu_ms_per_token"] for r in ours]),
        "app_runs": ours,
        "raw_runs": theirs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="GGUF file (default: the bundled SmolLM2-135M)")
    parser.add_argument("--tokens", type=int, default=512, help="answer length")
    parser.add_argument("--runs", type=int, default=2, help="runs of each (interleaved)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--profile", metavar="FILE", help="pyinstrument report of the app")
    args = parser.parse_args(argv)
    profiler: Any = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(async_mode="disabled")
        profiler.start()
    with private_home():
        result = asyncio.run(measure(model_path(args.model), args.tokens, args.runs, args.threads))
    if profiler is not None:
        profiler.stop()
        with open(args.profile, "w") as handle:
            from pyinstrument.renderers import ConsoleRenderer

            handle.write(profiler.output_text(unicode=True, show_all=False))
            flat = ConsoleRenderer(unicode=True, flat=True, show_all=True)
            handle.write("\n\nFLAT (self time)\n" + profiler.output(flat))
    ratio = result["on_screen_tps_ratio"]
    pairs = result["on_screen_tps_ratio_pairs"]
    rows = [
        ("answer tokens (app / raw)", f"{result['answer_tokens']} / {result['raw_tokens']}"),
        ("raw llama-cpp-python loop, tok/s", f"{result['raw_tps']:.1f}"),
        ("engine worker, tok/s", f"{result['worker_tps']:.1f}"),
        ("on screen through the app, tok/s", f"{result['on_screen_tps']:.1f}"),
        ("on screen ÷ raw (target >= 0.95)", "-" if ratio is None else f"{ratio:.3f}"),
        ("  each pair of neighbouring runs", " ".join(f"{r:.2f}" for r in pairs)),
        ("frames drawn per answer", f"{result['frames_per_answer']:.0f}"),
        ("redraw interval the app chose, s", f"{result['redraw_interval_seconds']:.2f}"),
        ("UI thread CPU per redraw, ms", f"{result['ui_cpu_ms_per_redraw']:.1f}"),
        ("app process CPU per token, ms", f"{result['app_cpu_ms_per_token']:.1f}"),
        ("app process CPU ÷ answer time", f"{result['app_cpu_share']:.3f}"),
        ("worker CPU per token, ms", f"{result['worker_cpu_ms_per_token']:.1f}"),
    ]
    emit(result, rows, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
