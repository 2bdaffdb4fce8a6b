"""Memory fit: the catalog's estimate against a real worker's peak RSS with the context full.

    python bench/memory_fit.py                       # 1B and 3B shapes, q4_0/q5_0, ctx 2048/8192
    python bench/memory_fit.py --presets llama-7b --ctx 2048 --kv f16 q8_0
    python bench/memory_fit.py --mmap on off --presets llama-3.2-1b --quants q4_0 --ctx 2048

Synthetic phone-class models (``tui.bench.synthetic``: real shapes, random weights) are
written once into ``--cache`` (default ``/tmp/burrow-synthetic``). Each case runs in a fresh
engine worker (``tui.bench.memfit``): load, fill the context, read ``VmHWM``. The target is
every estimate within 10% of the measured peak and never under it by more than 3%.
Run it under ``flock`` on a shared machine: a 3B model at 8192 tokens takes minutes.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from typing import Any

from _common import private_home, progress


def main(argv: list[str] | None = None) -> int:
    from tui.bench.memfit import FitCase, FitRow, reestimate, row_from_dict, sweep
    from tui.bench.synthetic import PRESETS, QUANTS, cached_synthetic

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--presets", nargs="+", default=["llama-3.2-1b", "qwen2.5-3b"], choices=list(PRESETS)
    )
    parser.add_argument("--quants", nargs="+", default=["q4_0", "q5_0"], choices=list(QUANTS))
    parser.add_argument("--ctx", nargs="+", type=int, default=[2048, 8192])
    parser.add_argument("--kv", nargs="+", default=["f16", "q8_0"], choices=["f16", "q8_0", "q4_0"])
    parser.add_argument(
        "--mmap", nargs="+", default=["auto"], choices=["auto", "on", "off"], help="map choices"
    )
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--cache", default="/tmp/burrow-synthetic", help="synthetic model folder")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--from-json",
        metavar="FILE",
        help="no measuring: estimate again the rows a --json run saved (after a formula change)",
    )
    args = parser.parse_args(argv)
    if args.from_json:
        with open(args.from_json, encoding="utf-8") as handle:
            saved = json.load(handle)["rows"]
        return report([reestimate(row_from_dict(row)) for row in saved], args.json)

    mmap_choice = {"auto": None, "on": True, "off": False}
    cases = []
    for preset, quant in itertools.product(args.presets, args.quants):
        progress(f"synthetic {preset} {quant}")
        model = str(cached_synthetic(args.cache, preset, quant))
        for n_ctx, kv, mmap in itertools.product(args.ctx, args.kv, args.mmap):
            label = f"{preset} {quant}"
            cases.append(FitCase(model, n_ctx, kv, mmap_choice[mmap], label=label))

    def shown(row: FitRow) -> None:
        progress(
            f"{row.label} ctx {row.n_ctx} kv {row.kv_type} mmap {row.use_mmap}: "
            f"estimate {row.estimate_bytes / 2**20:.0f} MiB, measured "
            f"{row.measured_bytes / 2**20:.0f} MiB ({row.error * 100:+.1f}%), {row.seconds:.0f} s"
        )

    with private_home():
        rows = sweep(cases, threads=args.threads, on_row=shown)
    return report(rows, args.json)


def report(rows: list[Any], as_json: bool) -> int:
    from tui.bench.memfit import format_rows

    within = sum(1 for r in rows if -0.03 <= r.error <= 0.10)
    if as_json:
        json.dump(
            {"benchmark": "memory_fit", "rows": [r.to_dict() for r in rows], "within": within},
            sys.stdout,
            indent=2,
        )
        print()
    else:
        print(format_rows(rows))
        print(f"\n{within} of {len(rows)} within -3%..+10% of the measured peak")
    return 0


if __name__ == "__main__":
    sys.exit(main())
