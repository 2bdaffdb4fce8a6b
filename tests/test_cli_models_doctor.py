"""``burrow models`` and ``burrow doctor``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tui import paths
from tui.cli import main
from tui.engine import prefs


def test_models_json(capsys: pytest.CaptureFixture[str], smollm2_path: Path) -> None:
    assert main(["models", "--json", "--ctx", "1024"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["n_ctx"] == 1024
    bundled = [m for m in data["models"] if m["source"] == "bundled"]
    assert len(bundled) == 1
    model = bundled[0]
    assert model["path"] == str(smollm2_path)
    assert model["quantization"] == "Q4_1"
    assert model["size_label"] == "135M"
    assert model["n_ctx_train"] == 8192
    assert model["has_chat_template"] is True
    assert model["ram_estimate_bytes"] > model["size_bytes"]


def test_models_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "NAME" in out and "SmolLM2-135M-Instruct.Q4_1" in out and "bundled" in out


def test_models_rejects_a_bad_ctx(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--ctx", "0"]) == 2
    assert "--ctx" in capsys.readouterr().err


def test_doctor_json(capsys: pytest.CaptureFixture[str], smollm2_path: Path) -> None:
    prefs.remember_extra_bufts_off(smollm2_path, "test reason")
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["python"] == sys.version.split()[0]
    assert report["llama_cpp_python"]
    assert report["engine"]["ok"] is True
    assert "CPU" in report["engine"]["system_info"] or report["engine"]["system_info"]
    off = report["extra_buffer_types"]["off_for"]
    assert [item["path"] for item in off] == [str(smollm2_path.resolve())]
    names = {item["name"]: item for item in report["paths"]}
    assert names["data dir"]["mode"] == "0700" and names["data dir"]["private"]
    assert names["engine prefs"]["mode"] == "0600"
    assert any(m["source"] == "bundled" for m in report["models"])


def test_doctor_text_in_a_real_process(burrow_home: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tui", "doctor"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    out = proc.stdout
    assert "llama-cpp-python" in out
    assert "engine worker ok" in out
    assert "CPU extra buffer types" in out
    assert str(paths.data_dir()) in out
    assert "SmolLM2-135M-Instruct.Q4_1" in out
