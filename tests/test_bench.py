"""The benchmarks run (on tiny settings) and report the right keys. Nothing here asserts a
speed: speed is measured by the benchmarks themselves, never in tests."""

from __future__ import annotations

import ast
import importlib
import json
import stat
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import tui.bench
from tui import paths
from tui.bench.results import BaselineFigures, BenchResult, compared, save_result
from tui.bench.runs import Step, fit_prompt, run_bench
from tui.bench.system import DeviceInfo, peak_rss_bytes
from tui.bench.table import format_table
from tui.bench.tune import ThreadRun, best
from tui.cli import main as burrow
from tui.cli.bench import Progress
from tui.engine import cpu, prefs

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
    assert "raw llama-cpp-python" not in format_table(BenchResult.from_dict(result))
    result["baseline"] = {
        "load_seconds": 0.4,
        "prompt_tps": 110.0,
        "ttft_seconds": 0.4,
        "generation_tps": 21.0,
        "peak_rss_bytes": 100 * 2**20,
    }
    result["generation_tps_ratio"] = 20 / 21
    table = format_table(BenchResult.from_dict(result))
    assert "raw llama-cpp-python" in table and "0.952" in table


def a_result() -> BenchResult:
    return BenchResult(
        model="/m/x.gguf",
        model_name="x",
        model_file_bytes=10 * 2**20,
        quantization="Q4_K_M",
        n_ctx=2048,
        threads=4,
        threads_batch=4,
        extra_bufts=False,
        kv_cache_type="q8_0",
        flash_attn=True,
        use_mmap=False,
        repeat=3,
        prompt_tokens=511,
        generated_tokens=128,
        load_seconds=0.25,
        load_wall_seconds=0.3,
        prompt_tps=100.0,
        ttft_seconds=0.5,
        generation_tps=20.0,
        worker_generation_tps=21.0,
        worker_peak_rss_bytes=200 * 2**20,
        device=DeviceInfo(cpu="cpu", cores=2, llama_cpp_python="0.3", llama_cpp_system_info="CPU"),
        measured_at="2026-01-01T00:00:00+0000",
    )


def test_result_json_keeps_its_keys_and_their_order() -> None:
    """``burrow bench --json`` and the saved files: the baseline's keys only with a baseline."""
    plain = a_result().to_dict()
    assert list(plain) == [
        "model", "model_name", "model_file_bytes", "quantization", "n_ctx", "threads",
        "threads_batch", "extra_bufts", "kv_cache_type", "flash_attn", "use_mmap", "repeat",
        "prompt_tokens", "generated_tokens", "load_seconds",
        "load_wall_seconds", "prompt_tps", "ttft_seconds", "generation_tps",
        "worker_generation_tps", "worker_peak_rss_bytes", "device", "measured_at",
    ]  # fmt: skip
    assert list(plain["device"]) == [
        "cpu", "machine", "cores", "system", "python", "memory_total_bytes", "android",
        "llama_cpp_python", "llama_cpp_system_info",
    ]  # fmt: skip
    base = BaselineFigures(0.5, 125.0, 0.4, 25.0, 100 * 2**20)
    full = compared(a_result(), base).to_dict()
    assert list(full)[len(plain) :] == [
        "baseline", "load_ratio", "prompt_tps_ratio", "ttft_ratio", "generation_tps_ratio",
        "worker_peak_rss_ratio",
    ]  # fmt: skip
    assert full["baseline"]["peak_rss_bytes"] == 100 * 2**20
    assert full["load_ratio"] == 0.5 and full["generation_tps_ratio"] == 0.8
    assert full["worker_peak_rss_ratio"] == 2.0
    assert BenchResult.from_dict(json.loads(json.dumps(full))).to_dict() == full


def test_ratio_against_a_zero_figure_is_none() -> None:
    full = compared(a_result(), BaselineFigures(0.0, 0.0, 0.0, 0.0, None)).to_dict()
    assert full["load_ratio"] is None and full["generation_tps_ratio"] is None
    assert "worker_peak_rss_ratio" not in full


def test_saved_result_is_private_and_has_no_saved_to() -> None:
    path = save_result(a_result())
    assert path.parent == paths.bench_dir() and path.name.endswith("-x.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == a_result().to_dict()
    assert tui.bench.results.saved_results() == [a_result()]


def test_table_of_a_full_result() -> None:
    table = format_table(compared(a_result(), BaselineFigures(0.5, 125.0, 0.4, 25.0, 2**27)))
    assert table.splitlines() == [
        "                                       Burrow  raw llama-cpp-python  ratio",
        "load time (s)                           0.250                 0.500  0.500",
        "prompt processing (511 tok), tok/s      100.0                 125.0  0.800",
        "time to first token (s)                 0.500                 0.400  1.250",
        "generation (128 tok), tok/s              20.0                  25.0  0.800",
        "worker peak memory                  200.0 MiB             128.0 MiB  1.562",
        "",
        "model x.gguf · ctx 2048 · 4 threads · median of 3",
        "KV cache q8_0 · flash attention on · mmap off · extra buffer types off",
        "device cpu · 2 cores · llama-cpp-python 0.3",
    ]
    device = DeviceInfo(cpu="cpu", cores=2, llama_cpp_system_info="llama-server b1-0c1e570")
    local = replace(a_result(), engine="local", device=device)
    assert format_table(local).splitlines()[-1] == "device cpu · 2 cores · llama-server b1-0c1e570"


def test_step_line_draws_a_bar() -> None:
    assert Step(1, 4, "warming up").line() == "bench [#####---------------] 1/4 warming up"
    assert Step(4, 4, "done").line().startswith("bench [" + "#" * 20 + "]")


def test_bench_library_is_headless() -> None:
    """The benchmark library draws nothing: it imports no Textual, Rich, app or CLI (what it
    does import, the engine and paths, is checked the same way by test_headless)."""
    banned = ("textual", "rich", "tui.ui", "tui.cli")
    files = sorted(Path(tui.bench.__file__).parent.glob("*.py"))
    assert len(files) >= 7, files
    for file in files:
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert not name.startswith(banned), f"{file.name} imports {name}"


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
def test_a_baseline_run_reads_the_model_once_before_either_load(smollm2_path: Path) -> None:
    """Both loads from a warm page cache: the baseline loads second, so a cold first load of
    Burrow's would be the storage's time, not Burrow's."""
    steps: list[Step] = []
    run_bench(str(smollm2_path), threads=2, n_ctx=256, prompt_tokens=32, gen_tokens=4,
              repeat=1, baseline=True, on_step=steps.append)  # fmt: skip
    assert steps[0].text == "reading the model file once"
    assert steps[1].text == "starting the engine"
    assert [s.done for s in steps] == list(range(1, steps[0].total + 1))


@pytest.mark.slow
def test_burrow_bench_shows_the_memory_knobs(
    tiny_synthetic_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["bench", "--model", str(tiny_synthetic_path), "--kv-type", "q8_0", "--mmap", "off"]
    argv += ["--ctx", "256", "--prompt-tokens", "48", "--gen-tokens", "8", "--repeat", "1"]
    argv += ["--no-save"]
    result = run_json(capsys, burrow, argv)
    assert (result["kv_cache_type"], result["flash_attn"], result["use_mmap"]) == (
        "q8_0",
        True,
        False,
    )
    assert result["threads"] == cpu.performance_cores()  # untuned: the performance cores


@pytest.mark.slow
def test_burrow_bench_tune_saves_the_fastest_threads(
    tiny_synthetic_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["bench", "--model", str(tiny_synthetic_path), "--tune", "--max-threads", "2"]
    argv += ["--ctx", "256", "--prompt-tokens", "48", "--gen-tokens", "8"]
    result = run_json(capsys, burrow, argv)
    assert [run["threads"] for run in result["runs"]] == [1, 2]
    assert all(run["prompt_tps"] > 0 and run["generation_tps"] > 0 for run in result["runs"])
    chosen = (result["n_threads"], result["n_threads_batch"])
    assert prefs.tuned_threads(tiny_synthetic_path) == chosen
    # From then on the engine uses them when the threads setting is 0 (automatic).
    plain = ["bench", "--model", str(tiny_synthetic_path), "--ctx", "256", "--no-save"]
    plain += ["--prompt-tokens", "48", "--gen-tokens", "8", "--repeat", "1"]
    again = run_json(capsys, burrow, plain)
    assert (again["threads"], again["threads_batch"]) == chosen


def test_tune_picks_the_fastest_and_fewer_threads_on_a_tie() -> None:
    runs = [ThreadRun(1, 50.0, 9.0), ThreadRun(2, 90.0, 12.0), ThreadRun(3, 90.04, 12.02)]
    assert best(runs) == (2, 2)
    assert best([ThreadRun(1, 10.0, 5.0), ThreadRun(2, 20.0, 4.0)]) == (1, 2)


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
def test_turns_bench_notes_reach_the_trim_with_prompt_tokens(
    smollm2_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    turns = bench_module("turns")
    argv = ["--no-reuse", "--trim-ctx", "512", "--notes", "3", "--answer-tokens", "8"]
    result = run_json(capsys, turns.main, [*argv, "--after-trim", "1"])
    trim = result["trimming"]
    assert trim["notes"] == 3
    # ~120 new tokens a turn: the 512-token context trims within five turns (without notes,
    # with these answers, it takes about thirteen).
    assert trim["first_trimmed_turn"] is not None and trim["first_trimmed_turn"] <= 5
    assert all(row["prompt_tokens_evaluated"] >= 100 for row in trim["turns"][1:])


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


@pytest.mark.slow
def test_engines_bench(
    smollm2_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """bench/engines.py runs both engines and reports local ÷ embedded (here against the
    stand-in llama-server of tests/fake_llama_server.py when no real one is built)."""
    from server_helpers import find_binary

    binary = find_binary()
    if binary is None:
        fake = Path(__file__).resolve().parent / "fake_llama_server.py"
        wrapper = tmp_path / "llama-server"
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{fake}" "$@"\n')
        wrapper.chmod(0o755)
        binary = str(wrapper)
    monkeypatch.setenv("BURROW_LLAMA_SERVER", binary)
    engines = bench_module("engines")
    argv = ["--ctx", "256", "--prompt-tokens", "48", "--gen-tokens", "8", "--rounds", "1"]
    result = run_json(capsys, engines.main, argv)
    assert set(result["generation_tps"]) == {"embedded", "local"}
    assert result["generation_tps_ratio"] is not None
    assert len(result["runs"]["local"]) == len(result["runs"]["embedded"]) == 1
