"""The benchmarks run (on tiny settings) and report the right keys. Nothing here asserts a
speed: speed is measured by the benchmarks themselves, never in tests."""

from __future__ import annotations

import importlib
import json
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from tui import paths
from tui.cli import main as burrow
from tui.cli.bench import Progress, fit_prompt, format_table, peak_rss_bytes

BENCH = Path(__file__).resolve().parent.parent / "bench"


def bench_module(name: str) -> Any:
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    return importlib.import_module(name)


def run_json(capsys: pytest.CaptureFixture[str], main: Any, argv: list[str]) -> dict[str, Any]:
    assert main([*argv, "--json"]) == 0
    out = capsys.readouterr().out
    return dict(json.loads(out))


def test_peak_rss_reads_proc() -> None:
    peak = peak_rss_bytes()
    assert peak is not None and peak > 1024 * 1024


def test_fit_prompt_cuts_to_the_token_count() -> None:
    text = "one two three four five six seven eight nine ten " * 10

    def count(t: str) -> int:
        return len(t.split())

    fitted = fit_prompt(text, 25, count)
    assert count(fitted) <= 25 and count(fitted + " x") >= 25


def test_progress_goes_to_its_stream(tmp_path: Path) -> None:
    with open(tmp_path / "err", "w+") as stream:
        progress = Progress(stream, total=2)
        progress.step("one")
        progress.step("two")
        progress.close()
        stream.seek(0)
        lines = stream.read().splitlines()
    assert lines[0].endswith("1/2 one") and lines[1].endswith("2/2 two")


def test_table_shows_ratios_only_with_a_baseline() -> None:
    result = {
        "model": "/m/x.gguf",
        "load_seconds": 0.2,
        "prompt_tps": 100.0,
        "ttft_seconds": 0.5,
        "generation_tps": 20.0,
        "worker_peak_rss_bytes": 100 * 2**20,
        "prompt_tokens": 512,
        "generated_tokens": 128,
        "device": {"cpu": "cpu", "cores": 2, "llama_cpp_python": "0.3"},
    }
    assert "raw llama-cpp-python" not in format_table(result)
    result["baseline"] = {
        "load_seconds": 0.4,
        "prompt_tps": 110.0,
        "ttft_seconds": 0.4,
        "generation_tps": 21.0,
        "peak_rss_bytes": 100 * 2**20,
    }
    result["generation_tps_ratio"] = 20 / 21
    table = format_table(result)
    assert "raw llama-cpp-python" in table and "0.952" in table


@pytest.mark.slow
def test_burrow_bench_with_baseline_json(
    smollm2_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["bench", "--model", str(smollm2_path), "--threads", "2", "--baseline"]
    argv += ["--ctx", "256", "--prompt-tokens", "48", "--gen-tokens", "8", "--repeat", "1"]
    result = run_json(capsys, burrow, argv)
    for key in (
        "load_seconds",
        "prompt_tps",
        "ttft_seconds",
        "generation_tps",
        "worker_peak_rss_bytes",
        "prompt_tps_ratio",
        "generation_tps_ratio",
        "ttft_ratio",
        "load_ratio",
        "baseline",
        "device",
    ):
        assert key in result, key
    assert result["threads"] == 2
    assert 40 <= result["prompt_tokens"] <= 48
    assert result["worker_peak_rss_bytes"] > result["model_file_bytes"] / 2
    assert result["baseline"]["generation_tps"] > 0
    device = result["device"]
    assert device["cores"] and device["cpu"] and device["llama_cpp_python"]
    assert "CPU" in (device["llama_cpp_system_info"] or "")
    saved = Path(result["saved_to"])
    assert saved.parent == paths.bench_dir()
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert json.loads(saved.read_text())["generation_tps"] == result["generation_tps"]


@pytest.mark.slow
def test_streaming_bench(smollm2_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    streaming = bench_module("streaming")
    result = run_json(capsys, streaming.main, ["--tokens", "12", "--runs", "1"])
    for key in ("on_screen_tps", "raw_tps", "on_screen_tps_ratio", "worker_tps_ratio"):
        assert key in result, key
    assert len(result["on_screen_tps_ratio_pairs"]) == 1
    assert result["redraw_interval_seconds"] > 0
    assert result["answer_tokens"] > 1 and result["raw_tokens"] > 1


@pytest.mark.slow
def test_contention_bench(smollm2_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    contention = bench_module("contention")
    argv = ["--tokens", "8", "--pairs", "1", "--burst-ms", "5", "--every", "0.05"]
    result = run_json(capsys, contention.main, argv)
    assert len(result["plain_tps"]) == len(result["burst_tps"]) == 1
    assert result["burst_tps_ratio"] > 0
    assert 0 < result["burner_cpu_share"] < 1


@pytest.mark.slow
def test_keystroke_bench(smollm2_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keystroke = bench_module("keystroke")
    result = run_json(capsys, keystroke.main, ["--keys", "3", "--interval", "0.05"])
    assert result["keys_idle"] == 3
    assert result["p95_idle_ms"] > 0 and "p95_streaming_ms" in result


@pytest.mark.slow
def test_turns_bench(smollm2_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    turns = bench_module("turns")
    argv = ["--turns", "2", "--answer-tokens", "8", "--trim-ctx", "256", "--after-trim", "1"]
    result = run_json(capsys, turns.main, argv)
    reuse = result["prefix_reuse"]
    assert len(reuse["turns"]) == 2 and "last_first_ttft_ratio" in reuse
    assert reuse["turns"][1]["prompt_tokens_evaluated"] < reuse["turns"][1]["prompt_tokens"]
    assert "ttft_ratio_vs_raw_cold" in reuse["turns"][0]
    trim = result["trimming"]
    assert trim["first_trimmed_turn"] is not None
    # After a trim the next turn extends the trimmed prompt: the cache is reused.
    after = trim["turns"][trim["first_trimmed_turn"]]
    assert after["prompt_tokens_evaluated"] < after["prompt_tokens"] // 2


@pytest.mark.slow
def test_resume_bench(smollm2_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    resume = bench_module("resume")
    result = run_json(capsys, resume.main, ["--tokens", "200", "--runs", "1"])
    assert result["ttft_with_without_ratio"] is not None
    assert result["evaluated_with_state"] < result["evaluated_without_state"]
    assert result["same_answer"] is True


@pytest.mark.slow
def test_memory_bench(smollm2_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    memory = bench_module("memory")
    result = run_json(capsys, memory.main, ["--ctx", "256", "--tokens", "8"])
    for key in (
        "app_peak_rss_bytes",
        "worker_peak_rss_bytes",
        "raw_peak_rss_bytes",
        "worker_peak_ratio_vs_raw",
        "worker_peak_ratio_vs_file_plus_kv",
        "catalog_estimate_error",
    ):
        assert result[key] is not None, key


@pytest.mark.slow
def test_startup_bench(capsys: pytest.CaptureFixture[str]) -> None:
    startup = bench_module("startup")
    result = run_json(capsys, startup.main, ["--runs", "1"])
    assert result["first_frame_seconds"] > 0
    assert result["core_import_seconds"] is not None
    assert "first_frame_ratio_vs_minimal_textual" in result
