"""Embedded engine vs local llama-server on the same model, threads and context, in the
same run: ``burrow bench`` of each, interleaved (E, L, L, E, ...) so both see the same load.

    python bench/engines.py                        # bundled model, 2 threads, 2 rounds
    python bench/engines.py --model M.gguf --threads 4 --rounds 3 --json

Each round runs ``burrow bench`` (``tui.bench.runs.run_bench``) once per engine. Reported:
the medians of each engine's figures and local ÷ embedded (for speeds above 1 means
llama-server is faster; for times below 1 is faster). Peak memory is the worker's for the
embedded engine and llama-server's for the local one.
"""

from __future__ import annotations

import argparse
from typing import Any

from _common import emit, median, model_path, private_home, progress

FIGURES = ("load_seconds", "prompt_tps", "ttft_seconds", "generation_tps",
           "worker_generation_tps", "worker_peak_rss_bytes")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ctx", type=int, default=1024)
    parser.add_argument("--prompt-tokens", type=int, default=256)
    parser.add_argument("--gen-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from tui.bench.runs import run_bench

    model = model_path(args.model)
    runs: dict[str, list[dict[str, Any]]] = {"embedded": [], "local": []}
    with private_home():
        for round_ in range(args.rounds):
            order = ("embedded", "local") if round_ % 2 == 0 else ("local", "embedded")
            for engine in order:
                progress(f"round {round_ + 1}/{args.rounds}: {engine}")
                result = run_bench(
                    model,
                    threads=args.threads,
                    n_ctx=args.ctx,
                    prompt_tokens=args.prompt_tokens,
                    gen_tokens=args.gen_tokens,
                    repeat=1,
                    engine=engine,
                )
                runs[engine].append(result.to_dict())
    out: dict[str, Any] = {
        "model": model,
        "threads": args.threads,
        "ctx": args.ctx,
        "rounds": args.rounds,
    }
    rows = [("model", f"{model} · {args.threads} threads · ctx {args.ctx}")]
    for figure in FIGURES:
        values = {
            e: median([r[figure] for r in runs[e] if r.get(figure) is not None]) for e in runs
        }
        ratio = values["local"] / values["embedded"] if values["embedded"] else None
        out[figure] = values
        out[f"{figure}_ratio"] = ratio
        shown = f"{ratio:.2f}" if ratio is not None else "-"
        rows.append(
            (
                figure,
                f"embedded {values['embedded']:.3f} · local {values['local']:.3f}"
                f" · local/embedded {shown}",
            )
        )
    out["runs"] = runs
    emit(out, rows, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
