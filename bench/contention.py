"""Contention: what a short burst of CPU in another process costs llama.cpp's generation.

    python bench/contention.py                       # 512 tokens, 8 pairs, 36 ms burst a second
    python bench/contention.py --burst-ms 36 --every 0.5 --pairs 4 --json

No Burrow code in the measured path: the raw llama-cpp-python loop (the baseline of every
other benchmark) generates with and without a "burner" process beside it that spins the CPU
for ``--burst-ms`` every ``--every`` seconds (a stand-in for a UI drawing a frame), runs
interleaved (plain, burst, burst, plain, ...). Reported: generation tokens/s with ÷ without,
median over neighbouring pairs, and the "amplification": the share of throughput lost
÷ the share of one core the burner used. 1.0 would mean the model loses exactly the CPU time
the burner takes; more means each burst costs the model more than its own length (llama.cpp's
threads wait for each other at every operation, so a thread displaced for a moment holds
all of them up). This is the ceiling for any UI that draws while the model writes on a machine
where llama.cpp has a thread on every core (its default on CPUs of up to four cores).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from typing import Any

from _common import emit, model_path, private_home, progress

PROMPT = (
    "<|im_start|>user\nWrite a long story about a dragon who learns to bake bread."
    "<|im_end|>\n<|im_start|>assistant\n"
)


def burner(burst_ms: float, every: float) -> subprocess.Popen[bytes]:
    code = (
        "import time\n"
        "while True:\n"
        "    t = time.thread_time()\n"
        f"    while time.thread_time() - t < {burst_ms / 1000!r}:\n"
        "        pass\n"
        f"    time.sleep({every!r})\n"
    )
    return subprocess.Popen([sys.executable, "-c", code])


def measure(
    model: str, tokens: int, pairs: int, threads: int, burst_ms: float, every: float
) -> dict[str, Any]:
    from tui.bench.baseline import RawBaseline

    raw = RawBaseline(model, n_ctx=2048, n_threads=threads)
    try:
        progress("warm-up")
        raw.generate(PROMPT, 16)
        plain: list[float] = []
        burst: list[float] = []
        for i in range(pairs):
            for kind in ("plain", "burst") if i % 2 == 0 else ("burst", "plain"):
                progress(f"pair {i + 1}/{pairs}: {kind}, {tokens} tokens")
                proc = burner(burst_ms, every) if kind == "burst" else None
                try:
                    tps = float(raw.generate(PROMPT, tokens)["tps"])
                finally:
                    if proc is not None:
                        proc.kill()
                        proc.wait()
                (burst if kind == "burst" else plain).append(tps)
    finally:
        raw.close()
    ratios = [b / a for a, b in zip(plain, burst, strict=True) if a]
    ratio = statistics.median(ratios) if ratios else 0.0
    share = (burst_ms / 1000) / (burst_ms / 1000 + every)
    return {
        "benchmark": "contention",
        "model": model,
        "threads": threads,
        "tokens": tokens,
        "burst_ms": burst_ms,
        "every_seconds": every,
        "burner_cpu_share": share,
        "plain_tps": plain,
        "burst_tps": burst,
        "burst_tps_ratio_pairs": ratios,
        "burst_tps_ratio": ratio,
        "amplification": (1 - ratio) / share if share else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="GGUF file (default: the bundled SmolLM2-135M)")
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--burst-ms", type=float, default=36.0)
    parser.add_argument("--every", type=float, default=1.0, help="seconds between bursts")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with private_home():
        result = measure(
            model_path(args.model), args.tokens, args.pairs, args.threads, args.burst_ms, args.every
        )
    pairs = " ".join(f"{r:.2f}" for r in result["burst_tps_ratio_pairs"])
    rows = [
        ("threads", str(result["threads"])),
        ("burner: CPU burst, every", f"{args.burst_ms:.0f} ms, {args.every:.2f} s"),
        ("burner's share of one core", f"{100 * result['burner_cpu_share']:.1f}%"),
        ("raw loop alone, tok/s (median)", f"{statistics.median(result['plain_tps']):.1f}"),
        ("raw loop beside it, tok/s (median)", f"{statistics.median(result['burst_tps']):.1f}"),
        ("beside ÷ alone (median of pairs)", f"{result['burst_tps_ratio']:.3f}"),
        ("  each pair", pairs),
        ("amplification (lost share ÷ burner share)", f"{result['amplification']:.1f}"),
    ]
    emit(result, rows, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
