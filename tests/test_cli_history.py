"""``burrow history`` end to end on a real database (in the per-test BURROW_HOME)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tui import paths
from tui.cli import main
from tui.store import Store

REPO = Path(__file__).resolve().parent.parent


def seed() -> tuple[int, int]:
    with Store.open() as store:
        a = store.create_conversation(model_path="/m/smol.gguf", template="chatml", tag="sci")
        store.add_message(a.id, "user", "Why is the sky blue?")
        store.add_message(a.id, "assistant", "Rayleigh scattering.")
        b = store.create_conversation()
        store.add_message(b.id, "user", "Bake sourdough bread")
        return a.id, b.id


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["history", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_plain_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list")
    assert code == 0 and "No saved conversations." in out
    a, b = seed()
    code, out, _ = run(capsys, "list")
    lines = out.splitlines()
    assert code == 0 and "Bake sourdough bread" in lines[0] and "[sci]" in lines[1]
    code, out, _ = run(capsys, "list", "--json")
    data = json.loads(out)
    assert [c["id"] for c in data] == [b, a]
    assert data[1]["model_path"] == "/m/smol.gguf" and data[1]["message_count"] == 2
    code, out, _ = run(capsys, "list", "--limit", "1")
    assert "next page: --offset 1" in out


def test_search_show_and_hostile_queries(capsys: pytest.CaptureFixture[str]) -> None:
    a, _ = seed()
    code, out, _ = run(capsys, "search", "rayl*")
    assert code == 0 and "**Rayleigh** scattering." in out
    for query in ('"', "(", "NEAR", "-", "*"):
        code, out, _ = run(capsys, "search", query)
        assert code == 0
    code, out, _ = run(capsys, "search", "--json", '"sky blue"')
    hits = json.loads(out)
    assert hits[0]["conversation_id"] == a
    code, out, _ = run(capsys, "show", str(a))
    assert code == 0 and "## Assistant" in out and "Rayleigh scattering." in out
    code, out, _ = run(capsys, "show", str(a), "--json")
    assert [m["role"] for m in json.loads(out)["messages"]] == ["user", "assistant"]
    code, _, err = run(capsys, "show", "999")
    assert code == 1 and "no conversation 999" in err


def test_export_import_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, _ = seed()
    out_dir = tmp_path / "shared" / "Documents"
    code, out, _ = run(capsys, "export", "--all", "--format", "json", "--out", str(out_dir))
    assert code == 0
    file = Path(out.strip())
    assert file.parent == out_dir and stat.S_IMODE(file.stat().st_mode) == 0o600
    code, out, _ = run(capsys, "export", str(a), "--format", "md")
    md = Path(out.strip())
    assert md.parent == paths.exports_dir() and "Model: `/m/smol.gguf`" in md.read_text()
    code, _, err = run(capsys, "export", "--format", "md")
    assert code == 2 and "--all" in err
    code, _, err = run(capsys, "export", str(a), "--all")
    assert code == 2
    code, out, _ = run(capsys, "import", str(file))
    assert code == 0 and "Imported 0 new conversations" in out and "3 already present" in out
    code, out, _ = run(capsys, "wipe", "--yes")
    code, out, _ = run(capsys, "import", str(file))
    assert "Imported 2 new conversations" in out and "3 messages" in out
    code, _, err = run(capsys, "import", str(tmp_path / "missing.json"))
    assert code == 1 and "cannot read" in err


def test_delete_rename_pin_and_wipe(capsys: pytest.CaptureFixture[str]) -> None:
    a, b = seed()
    assert run(capsys, "rename", str(a), "Sky talk")[0] == 0
    assert run(capsys, "pin", str(a))[0] == 0
    code, out, _ = run(capsys, "list", "--json")
    assert json.loads(out)[0]["title"] == "Sky talk" and json.loads(out)[0]["pinned"]
    code, out, _ = run(capsys, "delete", str(b))
    assert code == 0 and f"Deleted conversation {b}" in out
    code, _, err = run(capsys, "delete", str(b))
    assert code == 1
    code, _, err = run(capsys, "wipe")
    assert code == 2 and "--yes" in err
    with Store.open() as store:
        assert store.count_conversations() == 1
    code, out, _ = run(capsys, "wipe", "--yes")
    assert code == 0 and "Wiped 1 conversations." in out
    with Store.open() as store:
        assert store.count_conversations() == 0


def test_burrow_history_runs_as_a_command() -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    result = subprocess.run(
        [sys.executable, "-m", "tui", "history", "list", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_scale_benchmark_smoke_run(tmp_path: Path) -> None:
    """The scale benchmark runs (tiny sizes; figures are never asserted)."""
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "store_scale.py"),
            "--conversations",
            "20",
            "--messages",
            "200",
            "--repeat",
            "1",
            "--db",
            str(tmp_path / "scale.sqlite3"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "list first page (50)" in result.stdout
    assert "search common word" in result.stdout
