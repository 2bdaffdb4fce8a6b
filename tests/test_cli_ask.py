"""``burrow ask`` end to end: a real process, the real bundled model, a real history file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tui.store import Store


def burrow(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BURROW_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "tui", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )


def database(home: Path) -> Path:
    return home / "data" / "history.sqlite3"


def test_ask_streams_text_and_saves_it(burrow_home: Path) -> None:
    result = burrow(
        "ask",
        "What is the capital of France?",
        "--max-tokens",
        "16",
        "--temperature",
        "0",
        "--threads",
        "2",
        home=burrow_home,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert "llama" not in result.stdout.lower()  # no llama.cpp log lines on stdout
    with Store.open(database(burrow_home)) as store:
        [conversation] = store.list_conversations()
        path = store.active_path(conversation.id)
    assert path[0].content == "What is the capital of France?"
    assert path[1].content.strip() == result.stdout.strip()


def test_ask_json_and_continue(burrow_home: Path) -> None:
    result = burrow(
        "ask",
        "Name a fruit.",
        "--json",
        "--max-tokens",
        "8",
        "--seed",
        "3",
        "--threads",
        "2",
        home=burrow_home,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["answer"] and data["status"] == "done"
    assert data["stats"]["completion_tokens"] <= 8
    assert data["stats"]["stop_reason"] in ("eos", "stop", "length")
    assert data["template"] == "auto"
    conversation_id = data["conversation_id"]
    follow = burrow(
        "ask",
        "Another one?",
        "--json",
        "--max-tokens",
        "8",
        "--continue",
        str(conversation_id),
        "--threads",
        "2",
        home=burrow_home,
    )
    assert follow.returncode == 0, follow.stderr
    assert json.loads(follow.stdout)["conversation_id"] == conversation_id
    with Store.open(database(burrow_home)) as store:
        assert len(store.active_path(conversation_id)) == 4


def test_no_save_writes_no_history(burrow_home: Path) -> None:
    result = burrow(
        "ask",
        "A private question",
        "--no-save",
        "--max-tokens",
        "4",
        "--threads",
        "2",
        home=burrow_home,
    )
    assert result.returncode == 0, result.stderr
    if database(burrow_home).exists():
        with Store.open(database(burrow_home)) as store:
            assert store.count_conversations() == 0


def test_bad_flag_value_is_a_usage_error(burrow_home: Path) -> None:
    result = burrow("ask", "x", "--top-p", "7", home=burrow_home)
    assert result.returncode == 2
    assert "--top-p" in result.stderr and "0.0 to 1.0" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_model_is_a_clear_error(burrow_home: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope.gguf"
    result = burrow("ask", "x", "--model", str(missing), home=burrow_home)
    assert result.returncode == 1
    assert "nope.gguf" in result.stderr
    assert "Traceback" not in result.stderr


def test_not_a_gguf_file_is_a_clear_error(burrow_home: Path, tmp_path: Path) -> None:
    bogus = tmp_path / "notes.gguf"
    bogus.write_text("these are my notes, not a model")
    result = burrow("ask", "x", "--model", str(bogus), home=burrow_home)
    assert result.returncode == 1
    assert "notes.gguf" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_template_is_a_usage_error(burrow_home: Path) -> None:
    result = burrow("ask", "x", "--template", "no-such-format", home=burrow_home)
    assert result.returncode == 2
    assert "no-such-format" in result.stderr


def test_bad_continue_arguments_are_usage_errors(burrow_home: Path) -> None:
    missing = burrow("ask", "x", "--continue", "999", home=burrow_home)
    assert missing.returncode == 2 and "no conversation 999" in missing.stderr
    template = burrow("ask", "x", "--continue", "1", "--template", "nope", home=burrow_home)
    assert template.returncode == 2 and "nope" in template.stderr
    assert "Traceback" not in missing.stderr + template.stderr


def test_ask_refuses_a_context_above_the_trained_one(burrow_home: Path) -> None:
    result = burrow("ask", "Hello?", "--ctx", "16384", home=burrow_home)  # trained on 8192
    assert result.returncode != 0
    assert "more than the 8192 tokens it was trained on" in result.stderr
    assert "Run again with --ctx 8192." in result.stderr
    assert "Traceback" not in result.stderr
    with Store.open(database(burrow_home)) as store:
        assert store.list_conversations() == [], "nothing is asked before the model can load"


def test_ask_offers_what_fits_instead_of_loading(
    burrow_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Free memory is faked in-process (the one thing a test cannot arrange): SmolLM2 at
    8192 tokens needs more than it; ``ask`` names the numbers and the flags that fit."""
    from tui.cli import main
    from tui.engine import catalog, fit, memory
    from tui.engine.bundled import bundled_model_path

    model = bundled_model_path()
    assert model is not None
    [entry] = [e for e in catalog.scan() if e.path == str(model)]

    def need(n_ctx: int, kv_type: str) -> int | None:
        return entry.ram_estimate(n_ctx, 256, kv_type=kv_type)

    wanted = need(8192, "f16")
    assert wanted is not None
    free = int(wanted * 0.6)
    monkeypatch.setattr(memory, "available_bytes", lambda: free)
    options = fit.fit_options(need, free, 8192, "f16")
    assert options[0].kv_type == "q8_0"

    assert main(["ask", "Hello?", "--ctx", "8192", "--no-save"]) != 0
    err = capsys.readouterr().err
    assert f"needs about {memory.format_bytes(wanted)} at context 8192" in err
    assert f"{memory.format_bytes(free)} is free" in err
    flags = [f"--ctx {options[0].n_ctx} --kv-type q8_0", f"--ctx {options[1].n_ctx}"]
    assert f"Run again with {flags[0]} or {flags[1]}." in err
