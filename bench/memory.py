"""Memory: peak resident memory of the app process and of the engine worker.

    python bench/memory.py                    # bundled model, n_ctx 2048, one 256-token answer
    python bench/memory.py --ctx 1024 --tokens 64 --json

Runs the app headlessly with the real worker, asks one question, then reads ``VmHWM`` (peak
resident set) of both processes from ``/proc``. The baseline is the raw llama-cpp-python
loop (child process) loading the same model with the same context and generating the same
number of tokens. Also compares the worker's peak with the model file size + the KV cache
size, and the catalog's memory-fit estimate (``tui.engine.memory.estimate``) with the
measured peak (error = estimate ÷ measured - 1).
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from _common import app_ask, emit, make_app, model_path, private_home, progress, wait_until

MIB = 1024 * 1024


async def measure(model: str, n_ctx: int, tokens: int, threads: int) -> dict[str, Any]:
    from tui.bench.baseline import RawBaseline
    from tui.bench.system import peak_rss_bytes, rss_bytes
    from tui.engine import gguf, memory

    app = make_app(model, n_ctx=n_ctx, max_tokens=tokens, n_threads=threads)
    async with app.run_test(size=(80, 30)) as pilot:
        await wait_until(pilot, lambda: app.chat and app.chat.model_ready, 300, "the model")
        progress("one answer through the app")
        await app_ask(pilot, app, "Write a short story about a lighthouse keeper.")
        engine = app.services.engine
        worker_pid = engine.worker_pid
        info = engine.model
        worker_peak = peak_rss_bytes(worker_pid)
        worker_now = rss_bytes(worker_pid)
        app_peak = peak_rss_bytes()
    progress("the raw llama-cpp-python loop")
    raw = RawBaseline(model, n_ctx=n_ctx, n_threads=threads, extra_bufts=bool(info.extra_bufts))
    try:
        raw_result = raw.generate("Write a short story about a lighthouse keeper.", tokens)
        raw_peak = raw_result.get("peak_rss_bytes")
    finally:
        raw.close()
    header = gguf.read_header(model)
    shape = memory.ModelShape.from_header(header)
    kv = shape.kv_cache_bytes(n_ctx)
    estimate = memory.estimate(header, n_ctx)
    file_size = header.file_size
    return {
        "benchmark": "memory",
        "model": model,
        "n_ctx": n_ctx,
        "app_peak_rss_bytes": app_peak,
        "worker_peak_rss_bytes": worker_peak,
        "worker_rss_after_bytes": worker_now,
        "raw_peak_rss_bytes": raw_peak,
        "worker_peak_ratio_vs_raw": worker_peak / raw_peak if worker_peak and raw_peak else None,
        "model_file_bytes": file_size,
        "kv_cache_bytes": kv,
        "file_plus_kv_bytes": file_size + kv,
        "worker_peak_ratio_vs_file_plus_kv": worker_peak / (file_size + kv)
        if worker_peak
        else None,
        "catalog_estimate_bytes": estimate.total_bytes,
        "catalog_estimate_error": estimate.total_bytes / worker_peak - 1 if worker_peak else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--ctx", type=int, default=2048)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with private_home():
        result = asyncio.run(measure(model_path(args.model), args.ctx, args.tokens, args.threads))

    def mib(key: str) -> str:
        value = result.get(key)
        return "-" if value is None else f"{value / MIB:.1f} MiB"

    def ratio(key: str, signed: bool = False) -> str:
        value = result.get(key)
        if value is None:
            return "-"
        return f"{value:+.1%}" if signed else f"{value:.3f}"

    rows = [
        ("app process peak", mib("app_peak_rss_bytes")),
        ("worker peak", mib("worker_peak_rss_bytes")),
        ("raw llama-cpp-python peak", mib("raw_peak_rss_bytes")),
        ("worker ÷ raw", ratio("worker_peak_ratio_vs_raw")),
        ("model file", mib("model_file_bytes")),
        (f"KV cache at n_ctx {result['n_ctx']}", mib("kv_cache_bytes")),
        ("worker ÷ (file + KV)", ratio("worker_peak_ratio_vs_file_plus_kv")),
        ("catalog estimate", mib("catalog_estimate_bytes")),
        ("catalog estimate error", ratio("catalog_estimate_error", signed=True)),
    ]
    emit(result, rows, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
