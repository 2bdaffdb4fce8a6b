"""Importing a GGUF file into Burrow's models folder: checked in the child-process reader,
copied (or moved, or linked) with progress, hashed, recorded, duplicates refused."""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from pathlib import Path

import pytest
from test_catalog import TINY, write_gguf

from tui import paths
from tui.engine import catalog, importer, model_store
from tui.engine.importer import ImportFailed, import_model
from tui.engine.model_store import Cancelled, Progress


@pytest.fixture
def downloads(tmp_path: Path) -> Path:
    folder = tmp_path / "Download"
    folder.mkdir()
    return folder


def _model(folder: Path, name: str = "tiny-Q4_K_M.gguf", **meta: object) -> Path:
    return write_gguf(folder / name, dict(TINY, **meta), elements=4096)


def test_a_good_file_is_copied_hashed_and_recorded(downloads: Path) -> None:
    source = _model(downloads)
    seen: list[Progress] = []
    result = import_model(source, progress=seen.append)
    dest = paths.models_dir() / source.name
    assert result.path == dest and dest.read_bytes() == source.read_bytes()
    assert source.exists()  # a copy leaves the original alone
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert result.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    assert result.summary["quantization"] == "Q4_K_M"
    assert seen and seen[-1].phase == "copy" and seen[-1].done == source.stat().st_size
    record = model_store.load_index()[source.name]
    assert (record.sha256, record.mode, record.origin) == (result.sha256, "copy", str(source))
    assert stat.S_IMODE(model_store.index_file().stat().st_mode) == 0o600
    entries = {e.name: e for e in catalog.scan(include_bundled=False, use_cache=False)}
    assert entries["tiny-Q4_K_M"].source == "burrow"
    assert not list(paths.models_dir().glob("*.part"))


def test_a_bad_file_is_refused_by_name(downloads: Path) -> None:
    broken = downloads / "broken.gguf"
    broken.write_text("this is not a model")
    with pytest.raises(ImportFailed, match="not a usable GGUF model") as caught:
        import_model(broken)
    assert str(broken) in str(caught.value)
    assert "not a GGUF model file" in str(caught.value)
    assert list(paths.models_dir().iterdir()) == []
    with pytest.raises(ImportFailed, match=f"{downloads / 'nope.gguf'}: no such file"):
        import_model(downloads / "nope.gguf")
    text = downloads / "notes.txt"
    text.write_text("x")
    with pytest.raises(ImportFailed, match=r"not a .gguf file"):
        import_model(text)


@pytest.mark.parametrize("mode", ["copy", "link", "move"])
def test_a_duplicate_is_refused_whatever_its_name(downloads: Path, mode: str) -> None:
    first = _model(downloads)
    import_model(first)
    again = downloads / "renamed.gguf"
    again.write_bytes(first.read_bytes())
    with pytest.raises(ImportFailed, match="already in Burrow's models folder as tiny-Q4_K_M"):
        import_model(again, mode=mode)  # type: ignore[arg-type]
    assert sorted(p.name for p in paths.models_dir().iterdir()) == ["tiny-Q4_K_M.gguf"]
    assert again.exists()


def test_the_same_name_with_other_content_is_refused(downloads: Path, tmp_path: Path) -> None:
    import_model(_model(downloads))
    other = _model(tmp_path / "other", **{"general.name": "Another"})
    with pytest.raises(ImportFailed, match=r"a different file named tiny-Q4_K_M.gguf"):
        import_model(other)
    assert not list(paths.models_dir().glob("*.part"))


def test_move_on_the_same_file_system(downloads: Path) -> None:
    source = _model(downloads)
    data = source.read_bytes()
    result = import_model(source, mode="move")
    assert not source.exists() and result.path.read_bytes() == data
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o600


def test_move_across_file_systems(downloads: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importer, "_same_device", lambda a, b: False)
    source = _model(downloads)
    data = source.read_bytes()
    seen: list[Progress] = []
    result = import_model(source, mode="move", progress=seen.append)
    assert not source.exists() and result.path.read_bytes() == data
    assert seen[-1].phase == "copy"  # copied, then the original deleted
    assert model_store.load_index()[source.name].mode == "move"


def test_link_leaves_the_file_where_it_is(downloads: Path) -> None:
    source = _model(downloads)
    result = import_model(source, mode="link")
    assert result.path.is_symlink() and result.path.resolve() == source.resolve()
    assert source.exists()


def test_cancel_and_no_space_leave_nothing(
    downloads: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _model(downloads)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled, match="cancelled"):
        import_model(source, cancel=cancel)
    monkeypatch.setattr(model_store, "free_bytes", lambda folder: 10)
    with pytest.raises(ImportFailed, match="free some space first"):
        import_model(source)
    assert list(paths.models_dir().iterdir()) == []
    assert model_store.load_index() == {}


def test_a_deleted_import_can_come_back(downloads: Path) -> None:
    source = _model(downloads)
    first = import_model(source)
    os.unlink(first.path)
    assert model_store.find_by_hash(first.sha256) is None  # the stale record is forgotten
    assert import_model(source).path.is_file()


def test_a_file_already_in_the_models_folder(downloads: Path) -> None:
    inside = _model(paths.models_dir())
    with pytest.raises(ImportFailed, match="already in Burrow's models folder"):
        import_model(inside)
