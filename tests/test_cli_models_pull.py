"""``burrow models pull|import|list-curated`` and the download folders in ``burrow doctor``,
against the loopback hub server (``HF_ENDPOINT``): nothing is sent before the user agrees."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hub_server import Hub, serve
from test_catalog import TINY, write_gguf
from test_download import KEY, clean_env, fake_hub, model_bytes  # noqa: F401  (fixtures)

from tui import paths
from tui.cli import main
from tui.engine import curated, model_store
from tui.engine.memory import format_bytes

CURATED = curated.find_curated("qwen2.5-0.5b")
assert CURATED is not None


def _no_traceback(err: str) -> None:
    assert "Traceback" not in err


def _answer(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))


# ---------------------------------------------------------------- pull
def test_pull_with_yes_names_the_host_then_downloads(
    fake_hub: Hub,  # noqa: F811
    model_bytes: bytes,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["models", "pull", KEY, "--yes"]) == 0
    out, err = capsys.readouterr()
    assert "Host:     127.0.0.1  (HF_ENDPOINT)" in out
    assert "not known yet" in out  # not curated: the size comes from the HEAD
    size = f"{format_bytes(len(model_bytes))} ({len(model_bytes)} bytes)"
    assert f"Size:     {size}, sent by localhost" in out
    assert "published by 127.0.0.1" in out and fake_hub.sha(KEY) in out
    assert "Chat with it:  burrow --model tiny-Q4_K_M" in out
    assert "downloading" in err and "100%" in err  # the progress lines
    _no_traceback(err)
    dest = paths.models_dir() / "tiny-Q4_K_M.gguf"
    assert dest.read_bytes() == model_bytes
    assert [r[0] for r in fake_hub.requests] == ["HEAD", "GET", "GET"]  # resolve, then storage

    assert main(["models", "pull", KEY]) == 1  # already there: refused before the question
    out, err = capsys.readouterr()
    assert "[y/N]" not in out and "already in Burrow's models folder" in err
    assert len(fake_hub.requests) == 3


def test_pull_without_yes_sends_nothing_until_agreed(
    fake_hub: Hub,  # noqa: F811
    model_bytes: bytes,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["models", "pull", KEY]) == 1  # no terminal to answer: no
    out = capsys.readouterr().out
    assert "Connect to 127.0.0.1 and download it? [y/N]" in out
    assert "Nothing was sent." in out
    _answer(monkeypatch, "n\n")
    assert main(["models", "pull", KEY]) == 1
    assert fake_hub.requests == []

    _answer(monkeypatch, "y\nn\n")  # yes to the host, no to the size it announced
    assert main(["models", "pull", KEY]) == 1
    out = capsys.readouterr().out
    assert f"Download {format_bytes(len(model_bytes))} from localhost? [y/N]" in out
    assert "Nothing was downloaded." in out
    assert [r[0] for r in fake_hub.requests] == ["HEAD"]
    assert list(paths.models_dir().iterdir()) == []


def test_pull_a_curated_name_asks_once_with_its_size(
    model_bytes: bytes,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with serve(Hub({CURATED.spec: model_bytes})) as running:
        monkeypatch.setenv("HF_ENDPOINT", running.base)
        _answer(monkeypatch, "y\n")
        assert main(["models", "pull", "qwen2.5-0.5b"]) == 0
    out, err = capsys.readouterr()
    assert "Size:     about 379.6 MiB (curated list)" in out
    assert out.count("[y/N]") == 1
    _no_traceback(err)
    assert (paths.models_dir() / CURATED.file).read_bytes() == model_bytes


def test_pull_errors_are_one_clear_line(
    fake_hub: Hub,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["models", "pull", "acme/tiny-GGUF/missing.gguf", "--yes"]) == 1
    err = capsys.readouterr().err
    assert "burrow: missing.gguf: not found on 127.0.0.1 (HTTP 404)" in err
    _no_traceback(err)
    assert main(["models", "pull", "no-such-model", "--yes"]) == 2
    err = capsys.readouterr().err
    assert "OWNER/REPO/FILE.gguf" in err
    assert fake_hub.requests[-1][1].endswith("missing.gguf")  # the bad name sent nothing


def test_ctrl_c_keeps_the_part_file_for_resume(
    fake_hub: Hub,  # noqa: F811
    model_bytes: bytes,  # noqa: F811
) -> None:
    fake_hub.chunk, fake_hub.delay = 4096, 0.02
    env = {**os.environ, "HF_ENDPOINT": fake_hub.base}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui", "models", "pull", KEY, "--yes"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    part = paths.models_dir() / "tiny-Q4_K_M.gguf.part"
    deadline = time.monotonic() + 60
    while not (part.exists() and part.stat().st_size > 0):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "download cancelled; kept" in err and "run the same command again to resume" in err
    _no_traceback(err)
    kept = part.stat().st_size
    assert 0 < kept < len(model_bytes)

    fake_hub.delay = 0
    done = subprocess.run(
        [sys.executable, "-m", "tui", "models", "pull", KEY, "--yes"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Resuming:" in done.stdout
    # Only the rest was asked for (the first connection's server thread may still be
    # writing into its closed socket, so its byte count is not compared).
    assert fake_hub.requests[-1][2].get("Range") == f"bytes={kept}-"
    assert (paths.models_dir() / "tiny-Q4_K_M.gguf").read_bytes() == model_bytes


# ---------------------------------------------------------------- import
def test_import_good_bad_and_duplicate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_gguf(tmp_path / "dl" / "tiny-Q8_0.gguf", TINY, elements=4096)
    assert main(["models", "import", str(source)]) == 0
    out, err = capsys.readouterr()
    assert f"Copied {source} -> {paths.models_dir() / source.name}" in out
    assert "SHA-256 " in out and "copying" in err and "100%" in err
    assert source.exists() and (paths.models_dir() / source.name).is_file()

    again = tmp_path / "dl" / "renamed.gguf"
    again.write_bytes(source.read_bytes())
    assert main(["models", "import", str(again), "--move"]) == 1
    err = capsys.readouterr().err
    assert f"burrow: {again}: already in Burrow's models folder as tiny-Q8_0.gguf" in err
    assert again.exists()

    bad = tmp_path / "dl" / "broken.gguf"
    bad.write_text("not a model")
    assert main(["models", "import", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"burrow: {bad}: not a usable GGUF model" in err
    _no_traceback(err)
    assert main(["models", "import", str(tmp_path / "nope.gguf")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_import_move_and_link(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    moved = write_gguf(tmp_path / "a" / "moved.gguf", TINY, elements=256)
    linked = write_gguf(tmp_path / "b" / "linked.gguf", TINY, elements=512)
    assert main(["models", "import", str(moved), "--move"]) == 0
    assert main(["models", "import", str(linked), "--link"]) == 0
    out = capsys.readouterr().out
    assert "Moved" in out and "Linked" in out
    assert not moved.exists() and (paths.models_dir() / "linked.gguf").is_symlink()
    assert {r.mode for r in model_store.load_index().values()} == {"move", "link"}
    with pytest.raises(SystemExit) as caught:
        main(["models", "import", str(linked), "--copy", "--link"])
    assert caught.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


# ---------------------------------------------------------------- the curated list
def test_list_curated_with_fit_labels(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "list-curated", "--ctx", "2048"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == [
        "NAME", "PARAMS", "QUANT", "SIZE", "LICENSE", "RAM@2048", "FIT"
    ]  # fmt: skip
    assert "qwen2.5-0.5b" in out and "burrow models pull NAME" in out
    assert main(["models", "--curated", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    verdicts = [m["fit"] for m in data["models"]]
    order = {"fits": 0, "tight": 1, "unknown": 2, "will not fit": 3}
    assert verdicts == sorted(verdicts, key=order.__getitem__)
    assert {m["name"] for m in data["models"]} >= {"llama-3.2-1b", "qwen3-4b"}


# ---------------------------------------------------------------- doctor
def test_doctor_reports_the_download_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tui.engine import shared_storage

    home = tmp_path / "home"
    (home / "Downloads").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("TERMUX_VERSION", "0.118.0")  # Termux, storage not granted yet
    monkeypatch.setattr(shared_storage, "SDCARD_DOWNLOAD", tmp_path / "sdcard" / "Download")
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    section = out.split("download folders searched (read only):\n", 1)[1]
    assert f"  {home / 'Downloads'}  (readable)" in section
    assert f"  {home / 'storage' / 'downloads'}  (missing)" in section
    assert "termux-setup-storage" in section
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["download_folders"]
    assert {f["state"] for f in report["folders"]} == {"readable", "missing"}
    assert "termux-setup-storage" in report["hint"]


def test_the_progress_line_fits_the_terminal() -> None:
    from tui.cli.models import _bar_line
    from tui.engine.model_store import Progress

    mib = 1024 * 1024
    progress = Progress("download", 50 * mib, 200 * mib, 3.2 * mib, 70)
    phone = _bar_line(progress, 40)
    assert phone == "25% · 3.2 MiB/s · 1 min 10 s left"  # the word "downloading" has no room
    assert _bar_line(progress, 50) == "downloading 25% · 3.2 MiB/s · 1 min 10 s left"
    wide = _bar_line(progress, 100)
    assert wide.startswith("downloading [##........] 25% · 50.0 MiB of 200.0 MiB · 3.2 MiB/s")
    assert wide.endswith("1 min 10 s left")
