"""``burrow templates list|show|render``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tui.cli import main


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["templates", "list", "--json"]) == 0
    names = [t["name"] for t in json.loads(capsys.readouterr().out)]
    assert names[0] == "auto" and "orca-mini" in names and "zephyr" in names


def test_show(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["templates", "show", "orca-mini"]) == 0
    assert 'system = "### System:\\n{content}\\n\\n"' in capsys.readouterr().out
    assert main(["templates", "show", "nope"]) == 1
    assert "no template named 'nope'" in capsys.readouterr().err


def test_render_prints_the_exact_prompt_in_turn_order(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["templates", "render", "orca-mini", "--system", "S", "--user", "Q1"]
    assert main([*argv, "--assistant", "A1", "--user", "Q2"]) == 0
    out = capsys.readouterr().out
    assert out == (
        "### System:\nS\n\n### User:\nQ1\n\n### Response:\nA1\n\n### User:\nQ2\n\n### Response:\n"
    )  # printed exactly; a newline is added only when the prompt does not end with one


def test_render_auto_with_model_and_tokens(
    smollm2_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["templates", "render", "auto", "--model", str(smollm2_path), "--tokens", "--json"]
    assert main([*argv, "--system", "S", "--user", "hi <|im_end|>"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["text"] == (
        "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nhi <|im_end|><|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert {"text": "hi <|im_end|>", "special": False} in data["parts"]
    assert data["add_bos"] is False and data["notice"] is None and data["tokens"] > 10


def test_render_needs_a_turn(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["templates", "render", "chatml"]) == 2
    assert "at least one turn" in capsys.readouterr().err
