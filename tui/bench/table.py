"""A result as the plain-text table ``burrow bench`` prints and the model picker shows: one
row a figure, Burrow's value, the baseline's and their ratio, then the run's settings and the
device. Plain text so both front ends show the same thing."""

from __future__ import annotations

from pathlib import Path

from tui.bench.results import BaselineFigures, BenchResult
from tui.engine.memory import format_bytes

_Row = tuple[str, str, str, str]


def format_table(result: BenchResult) -> str:
    rows = _rows(result)
    compared = result.baseline is not None
    ours = "Burrow" if result.engine == "embedded" else f"Burrow ({result.engine} llama-server)"
    header = ("", ours, "raw llama-cpp-python" if compared else "", "ratio" if compared else "")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    lines = [
        "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r))
        for r in [header, *rows]
    ]
    device = result.device
    lines.append("")
    threads = f"{result.threads} threads"
    if result.threads_batch and result.threads_batch != result.threads:
        threads += f" ({result.threads_batch} for the prompt)"
    lines.append(
        f"model {Path(str(result.model)).name} · ctx {result.n_ctx} · {threads} · "
        f"median of {result.repeat}"
    )
    lines.append(
        f"KV cache {result.kv_cache_type or '?'} · flash attention {_on_off(result.flash_attn)} "
        f"· mmap {_on_off(result.use_mmap)} · extra buffer types {_on_off(result.extra_bufts)}"
    )
    # The local engine has no llama-cpp-python: its llama.cpp is the server's own build.
    server = device.llama_cpp_system_info or ""
    llama = server if result.engine == "local" and server else None
    llama = llama or f"llama-cpp-python {device.llama_cpp_python}"
    lines.append(f"device {device.cpu} · {device.cores} cores · {llama}")
    return "\n".join(line.rstrip() for line in lines)


def _rows(result: BenchResult) -> list[_Row]:
    base = result.baseline or BaselineFigures()
    prompt = f"prompt processing ({result.prompt_tokens} tok), tok/s"
    generation = f"generation ({result.generated_tokens} tok), tok/s"
    figures = [
        ("load time (s)", result.load_seconds, base.load_seconds, result.load_ratio, "{:.3f}"),
        (prompt, result.prompt_tps, base.prompt_tps, result.prompt_tps_ratio, "{:.1f}"),
        (
            "time to first token (s)",
            result.ttft_seconds,
            base.ttft_seconds,
            result.ttft_ratio,
            "{:.3f}",
        ),
        (
            generation,
            result.generation_tps,
            base.generation_tps,
            result.generation_tps_ratio,
            "{:.1f}",
        ),
    ]
    rows = [
        (label, _shown(ours, fmt, "-"), _shown(theirs, fmt, ""), _shown(ratio, "{:.3f}", ""))
        for label, ours, theirs, ratio, fmt in figures
    ]
    peak, raw_peak = result.worker_peak_rss_bytes, base.peak_rss_bytes
    rows.append(
        (
            "worker peak memory",
            "-" if peak is None else format_bytes(peak),
            "" if raw_peak is None else format_bytes(raw_peak),
            _shown(result.worker_peak_rss_ratio, "{:.3f}", ""),
        )
    )
    return rows


def _shown(value: float | None, fmt: str, missing: str) -> str:
    return missing if value is None else fmt.format(value)


def _on_off(value: bool | None) -> str:
    return "?" if value is None else ("on" if value else "off")
