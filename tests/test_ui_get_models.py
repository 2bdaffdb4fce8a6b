"""The "Get models" sheet at 40x24, by tap: the curated list with fit labels, a confirmation
naming the host before anything is sent, progress, cancel, import; and the picker, the list
and a model load open no socket."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hub_server import Hub, serve
from test_catalog import TINY, write_gguf
from test_download import clean_env, model_bytes  # noqa: F401  (fixtures)
from test_ui_offline import no_network  # noqa: F401  (the fixture)
from textual.pilot import Pilot
from textual.widgets import OptionList
from ui_helpers import wait_for

from tui import paths
from tui.engine import curated
from tui.ui.app import BurrowApp
from tui.ui.screens.dialogs import ConfirmSheet
from tui.ui.screens.get_models import GetModelsScreen
from tui.ui.screens.models import ModelsScreen
from tui.ui.services import Services

PICK = curated.find_curated("qwen2.5-0.5b")
assert PICK is not None
SIZE = (40, 24)


@pytest.fixture
def hub(model_bytes: bytes, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:  # noqa: F811
    monkeypatch.setattr("tui.ui.screens.get_models.free_memory", lambda: 3 * 1024**3)
    with serve(Hub({PICK.spec: model_bytes})) as running:
        monkeypatch.setenv("HF_ENDPOINT", running.base)
        yield running


def _app(smollm2_path: Path) -> BurrowApp:
    return BurrowApp(Services(model=str(smollm2_path)), load_model=False)


def _text(screen: Any, selector: str) -> str:
    return str(screen.query_one(selector).render())


async def _open_from_picker(pilot: Pilot[Any], app: BurrowApp) -> GetModelsScreen:
    await app.run_action("open_models")
    picker = app.screen
    assert isinstance(picker, ModelsScreen)
    await wait_for(pilot, lambda: picker.scans >= 1, 60, "the scan")
    app.clear_notifications()
    await pilot.click("#models-get")
    await wait_for(pilot, lambda: isinstance(app.screen, GetModelsScreen), 10, "the sheet")
    sheet = app.screen
    assert isinstance(sheet, GetModelsScreen)
    await wait_for(pilot, lambda: sheet.listed >= 1, 30, "the list")
    return sheet


async def _tap_download(pilot: Pilot[Any], app: BurrowApp, sheet: GetModelsScreen) -> str:
    """Highlight the small model, tap Download; returns the confirmation's question."""
    sheet.query_one(OptionList).highlighted = next(
        i for i, r in enumerate(sheet.rows) if r.model.name == PICK.name
    )
    await pilot.click("#get-download")
    await wait_for(pilot, lambda: isinstance(app.screen, ConfirmSheet), 10, "the confirmation")
    return str(app.screen.query_one(".sheet--title").render())


async def test_list_confirm_download_and_the_picker_shows_it(
    smollm2_path: Path,
    hub: Hub,
    model_bytes: bytes,  # noqa: F811
) -> None:
    app = _app(smollm2_path)
    async with app.run_test(size=SIZE) as pilot:
        sheet = await _open_from_picker(pilot, app)
        verdicts = [r.verdict for r in sheet.rows]
        assert verdicts == sorted(verdicts, key=["fits", "tight", "will not fit"].index)
        assert {"fits", "tight", "will not fit"} <= set(verdicts)
        prompts = [str(o.prompt) for o in sheet.query_one(OptionList).options]
        assert prompts[0].startswith(sheet.rows[0].model.title)
        assert "fits: needs" in prompts[0] and "will not fit: needs" in prompts[-1]
        info = _text(sheet, "#get-info")
        assert "3.0 GiB free" in info and "only to download, after you confirm" in info

        question = await _tap_download(pilot, app, sheet)
        assert "from 127.0.0.1?" in question and "about 379.6 MiB" in question
        await pilot.click("#confirm-no")
        await pilot.pause(0.2)
        assert app.screen is sheet and hub.requests == [], "saying no sends nothing"

        await _tap_download(pilot, app, sheet)
        assert hub.requests == []  # the confirmation itself sent nothing either
        await pilot.click("#confirm-yes")
        await wait_for(pilot, lambda: "Downloaded" in _text(sheet, "#get-state"), 60, "done")
        assert "SHA-256 checked" in _text(sheet, "#get-state")
        assert sheet.bar.total == sheet.bar.progress == len(model_bytes)
        assert "100%" in _text(sheet, "#get-progress-text")
        dest = paths.models_dir() / PICK.file
        assert dest.read_bytes() == model_bytes
        await wait_for(pilot, lambda: sheet.listed >= 2, 30, "the list again")
        option = sheet.query_one(OptionList).get_option(PICK.name)
        assert "✓ downloaded" in str(option.prompt)
        sent = len(hub.requests)
        await pilot.click("#get-download")  # again: refused before any question
        await pilot.pause(0.2)
        assert app.screen is sheet and len(hub.requests) == sent
        assert "already in Burrow's models folder" in _text(sheet, "#get-state")

        await pilot.click("#sheet-close")
        picker = app.screen
        assert isinstance(picker, ModelsScreen)
        await wait_for(pilot, lambda: picker.scans >= 2, 60, "the rescan")
        assert any(Path(e.path) == dest for e in picker.entries)


async def test_progress_and_cancel_keep_the_part(
    smollm2_path: Path,
    hub: Hub,
    model_bytes: bytes,  # noqa: F811
) -> None:
    hub.chunk, hub.delay = 4096, 0.05
    app = _app(smollm2_path)
    async with app.run_test(size=SIZE) as pilot:
        palette = {c.title: c for c in app.get_system_commands(app.screen)}
        palette["Get models"].callback()  # the command palette's way in
        await wait_for(pilot, lambda: isinstance(app.screen, GetModelsScreen), 10, "the sheet")
        sheet = app.screen
        assert isinstance(sheet, GetModelsScreen)
        titles = {c.title for c in app.get_system_commands(sheet)}
        assert {"Download model", "Import model file"} <= titles
        await wait_for(pilot, lambda: sheet.listed >= 1, 30, "the list")
        await _tap_download(pilot, app, sheet)
        await pilot.click("#confirm-yes")
        await wait_for(pilot, lambda: (sheet.bar.progress or 0) > 0, 30, "progress")
        assert sheet.progress_box.has_class("-busy")
        assert "/s" in _text(sheet, "#get-progress-text")
        await pilot.click("#get-cancel")
        await wait_for(pilot, lambda: not sheet.busy, 30, "the cancel")
        assert "cancelled" in _text(sheet, "#get-state")
        part = paths.models_dir() / (PICK.file + ".part")
        assert 0 < part.stat().st_size < len(model_bytes)
        assert not (paths.models_dir() / PICK.file).exists()
        assert not sheet.progress_box.has_class("-busy")


async def test_import_a_file_by_path(smollm2_path: Path, tmp_path: Path) -> None:
    source = write_gguf(tmp_path / "Download" / "tiny-Q8_0.gguf", TINY, elements=4096)
    app = _app(smollm2_path)
    async with app.run_test(size=SIZE) as pilot:
        await app.run_action("open_get_models")
        sheet = app.screen
        assert isinstance(sheet, GetModelsScreen)
        await wait_for(pilot, lambda: sheet.listed >= 1, 30, "the list")
        for path, expected in ((tmp_path / "broken.gguf", "not a usable GGUF"), (source, "")):
            if not path.exists():
                path.write_text("not a model")
            await pilot.click("#get-import")
            await pilot.pause(0.1)
            app.screen.query_one("#prompt-input").value = str(path)  # type: ignore[attr-defined]
            await pilot.click("#prompt-ok")
            await wait_for(pilot, lambda: not sheet.busy, 30, "the import")
            state = _text(sheet, "#get-state")
            assert (expected or "Imported tiny-Q8_0.gguf") in state
            assert str(path) in state or not expected
        assert (paths.models_dir() / source.name).is_file() and source.exists()
        assert sheet.result() == str(paths.models_dir() / source.name)


@pytest.mark.slow
async def test_listing_picking_and_loading_open_no_socket(
    smollm2_path: Path,
    no_network: list[str],  # noqa: F811
    tmp_path: Path,
) -> None:
    app = _app(smollm2_path)
    async with app.run_test(size=SIZE) as pilot:
        sheet = await _open_from_picker(pilot, app)  # the picker's scan, the curated list
        assert sheet.rows
        await pilot.click("#sheet-close")
        picker = app.screen
        assert isinstance(picker, ModelsScreen)
        await wait_for(pilot, lambda: picker.scans >= 2, 60, "the rescan")
        picker.query_one(OptionList).highlighted = next(
            i for i, e in enumerate(picker.entries) if Path(e.path).name == smollm2_path.name
        )
        await pilot.click("#models-load")
        await wait_for(pilot, lambda: app.model_state.state == "ready", 120, "the load")
    assert no_network == [], f"tried the network: {no_network}"
    assert list(tmp_path.glob("worker-guarded.*")), "the child processes were not guarded"
