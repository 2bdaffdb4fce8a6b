"""The phone's download folders are searched read only, reported with how to grant access;
the curated list of models loads with fit labels; and listing, scanning, importing and
naming a download target open no socket."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_catalog import TINY, write_gguf
from test_ui_offline import no_network  # noqa: F401  (the fixture)

from tui import paths
from tui.engine import catalog, curated, fit, shared_storage
from tui.engine.download import target_for
from tui.engine.importer import import_model


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    monkeypatch.delenv("TERMUX_VERSION", raising=False)
    monkeypatch.setenv("PREFIX", "/usr")
    monkeypatch.setattr(shared_storage, "SDCARD_DOWNLOAD", tmp_path / "sdcard" / "Download")
    return folder


def test_phone_download_folders_are_searched(home: Path, tmp_path: Path) -> None:
    shared = tmp_path / "emulated" / "0" / "Download"
    shared.mkdir(parents=True)
    (home / "storage").mkdir()
    (home / "storage" / "downloads").symlink_to(shared)  # what termux-setup-storage makes
    (home / "storage" / "shared").symlink_to(shared.parent)
    write_gguf(shared / "from-browser-Q4_K_M.gguf", TINY)
    write_gguf(shared / "models" / "one-down.gguf", TINY)
    write_gguf(shared / "a" / "b" / "too-deep.gguf", TINY)  # browsers save at the top
    (shared / "partial.gguf.crdownload").write_text("half")

    report = shared_storage.report()
    states = {f.path: f.state for f in report.folders}
    assert states[home / "storage" / "downloads"] == "readable"
    assert states[home / "storage" / "shared" / "Download"].startswith("same as")
    assert states[shared_storage.SDCARD_DOWNLOAD] == "missing"
    assert states[home / "Downloads"] == "missing"
    assert report.hint is None
    assert shared_storage.download_dirs() == [home / "storage" / "downloads"]
    assert (home / "storage" / "downloads", "downloads") in catalog.search_dirs()

    entries = catalog.scan(include_bundled=False, use_cache=False)
    by_name = {e.name: e for e in entries}
    assert by_name["from-browser-Q4_K_M"].source == "downloads"
    assert by_name["from-browser-Q4_K_M"].quantization == "Q4_K_M"
    assert "too-deep" not in by_name and by_name["one-down"].source == "downloads"
    assert len([e for e in entries if e.name == "from-browser-Q4_K_M"]) == 1


def test_desktop_downloads_folder(home: Path) -> None:
    write_gguf(home / "Downloads" / "desk.gguf", TINY)
    entries = catalog.scan(include_bundled=False, use_cache=False)
    assert [(e.name, e.source) for e in entries] == [("desk", "downloads")]


def test_unreadable_folders_say_how_to_grant_access(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sdcard = shared_storage.SDCARD_DOWNLOAD
    sdcard.mkdir(parents=True)
    write_gguf(sdcard / "hidden.gguf", TINY)
    real_probe = shared_storage._probe

    def probe(path: Path) -> str | None:  # as Android answers before storage is granted
        return "Permission denied" if path == sdcard else real_probe(path)

    monkeypatch.setattr(shared_storage, "_probe", probe)
    report = shared_storage.report()
    blocked = next(f for f in report.folders if f.path == sdcard)
    assert (blocked.state, blocked.reason) == ("not readable", "Permission denied")
    assert report.hint is not None and "termux-setup-storage" in report.hint
    assert any("termux-setup-storage" in line for line in report.lines())
    assert shared_storage.download_dirs() == []
    assert catalog.scan(include_bundled=False, use_cache=False) == []


def test_termux_without_storage_link_gets_the_hint(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TERMUX_VERSION", "0.118.0")
    assert "termux-setup-storage" in (shared_storage.report().hint or "")
    (home / "storage").mkdir()
    assert shared_storage.report().hint is None


# ---------------------------------------------------------------- the curated list
def test_the_curated_list_ships_and_parses() -> None:
    models = curated.load_curated()
    assert len(models) >= 12
    names = {m.name for m in models}
    for wanted in ("llama-3.2-1b", "qwen2.5-0.5b", "qwen3-4b", "gemma-3-1b", "phi-3.5-mini"):
        assert wanted in names
    templates = {p.stem for p in (paths.builtin_prompts_dir() / "templates").glob("*.toml")}
    for model in models:
        assert model.template in templates, model.name
        assert model.sha256 is None  # none is published outside the hub: never invented
        assert model.size_bytes > 100_000_000 and model.n_ctx_train >= 2048
        assert model.ram_estimate(2048) > model.size_bytes
    assert curated.find_curated("Llama 3.2 1B Instruct") is not None
    assert curated.find_curated(models[0].spec) == models[0]


def test_fit_labels_sorted_by_what_fits() -> None:
    rows = curated.with_fit(n_ctx=2048, n_batch=256, free=3 * 1024**3)
    verdicts = [r.verdict for r in rows]
    assert verdicts == sorted(verdicts, key=fit.ORDER.__getitem__)
    assert {"fits", "tight", "will not fit"} <= set(verdicts)
    small = next(r for r in rows if r.model.name == "qwen2.5-0.5b")
    assert small.verdict == "fits" and small.sentence.startswith("fits: needs")
    unknown = curated.with_fit(free=None)
    assert {r.verdict for r in unknown} == {"unknown"}
    assert unknown[0].n_ctx == 4096  # the automatic context: trained, at most 4096


def test_fit_rule_matches_the_picker() -> None:
    assert fit.fit_verdict(700, 1000, 2048)[0] == "fits"
    assert fit.fit_verdict(701, 1000, 2048)[0] == "tight"
    assert fit.fit_verdict(1000, 1000, 2048)[0] == "tight"
    assert fit.fit_verdict(1001, 1000, 2048)[0] == "will not fit"
    assert fit.fit_verdict(None, 1000, 2048) == ("unknown", "memory need unknown")


def test_a_bad_curated_file_names_the_entry(tmp_path: Path) -> None:
    bad = tmp_path / "models.toml"
    bad.write_text('[[models]]\nname = "x"\ntitle = "X"\n')
    with pytest.raises(curated.CuratedListError, match=r"models entry 1 \(x\): repo"):
        curated.load_curated(bad)


# ---------------------------------------------------------------- no network
def test_listing_scanning_and_importing_open_no_socket(
    home: Path,
    tmp_path: Path,
    no_network: list[str],  # noqa: F811
) -> None:
    write_gguf(home / "Downloads" / "offline.gguf", TINY)
    write_gguf(tmp_path / "elsewhere" / "imported.gguf", TINY, elements=128)
    shared_storage.report()
    entries = catalog.scan(include_bundled=True, use_cache=False)
    assert {"offline"} <= {e.name for e in entries}
    catalog.resolve_model("offline")
    curated.with_fit()
    target = target_for("llama-3.2-1b")  # naming what would be downloaded: no connection
    assert target.host == "huggingface.co"
    import_model(tmp_path / "elsewhere" / "imported.gguf")
    assert no_network == [], f"tried the network: {no_network}"
    guarded = list(tmp_path.glob("worker-guarded.*"))
    assert guarded, "the metadata reader did not run with the network guard"
