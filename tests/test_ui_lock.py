"""The app with a locked history, by tap at 40x24: the unlock screen, auto-lock while an
answer streams, the panic wipe. The engine is the scripted test double (``GatedEngine``
holds an answer mid-way); the history is a real SQLCipher file."""

from __future__ import annotations

from pathlib import Path

import pytest
from touch_helpers import GatedEngine, model_file, screen_lines, scripted_app, seed
from ui_helpers import make_app, wait_for

from tui import paths
from tui.store import keys, locking
from tui.ui.screens.unlock import UnlockScreen
from tui.ui.widgets.composer import Composer

FAST = keys.KdfParams(memory_kib=1024, iterations=1, lanes=1)
PHONE = (40, 24)


@pytest.fixture(autouse=True)
def fast_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keys, "DEFAULT_PARAMS", FAST)


def locked_history() -> None:
    seed([("Smuggler routes", "where is the ferrypier"), ("Ledger", "count the dinghies")])
    locking.enable(paths.database_path(), "open sesame")


def text_on_screen(app: object) -> str:
    return "\n".join(screen_lines(app))  # type: ignore[arg-type]


async def type_and_tap_unlock(pilot: object, passphrase: str) -> None:
    await pilot.click("#unlock-input")  # type: ignore[attr-defined]
    await pilot.press(*passphrase)  # type: ignore[attr-defined]
    await pilot.click("#unlock-ok")  # type: ignore[attr-defined]


async def test_unlock_screen_at_start_by_tap(tmp_path: Path) -> None:
    locked_history()
    app = scripted_app(tmp_path)
    async with app.run_test(size=PHONE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, UnlockScreen)
        assert app.chat is None and app.services.open_store is None
        shown = text_on_screen(app)
        assert "Burrow is locked" in shown and "Unlock" in shown and "Panic wipe" in shown
        assert "Smuggler" not in shown and "Ledger" not in shown

        await type_and_tap_unlock(pilot, "wrong one")
        await wait_for(pilot, lambda: "Try again in 1 s" in text_on_screen(app), 30)
        assert app.screen.query_one("#unlock-ok").disabled  # waits before the next try
        await wait_for(pilot, lambda: not app.screen.query_one("#unlock-ok").disabled, 30)
        await type_and_tap_unlock(pilot, "wrong two")
        await wait_for(pilot, lambda: "Try again in 2 s" in text_on_screen(app), 30)
        await wait_for(pilot, lambda: not app.screen.query_one("#unlock-ok").disabled, 30)
        assert app.chat is None

        await type_and_tap_unlock(pilot, "open sesame")
        await wait_for(pilot, lambda: app.chat is not None and app.screen is app.chat, 30)
        store = app.services.open_store
        assert store is not None and store.locked
        assert store.search("ferrypier")


async def test_auto_lock_lets_the_streaming_answer_finish_first(tmp_path: Path) -> None:
    locked_history()
    engine = GatedEngine(hold_after=3)
    app = make_app(
        model_file(tmp_path), engine=engine, default_template="chatml", auto_lock_minutes=1.0
    )
    async with app.run_test(size=PHONE) as pilot:
        await type_and_tap_unlock(pilot, "open sesame")
        await wait_for(pilot, lambda: app.chat is not None and app.chat.model_ready, 30)
        chat = app.chat
        assert chat is not None
        await pilot.click(Composer)
        await pilot.press(*"tell me about the lighthouse")
        await pilot.click("#send")
        await wait_for(pilot, lambda: engine.pieces >= 3, 30, "the answer to start")
        assert chat.streaming

        app.app_lock.last_activity -= 61  # a minute without a touch
        app.app_lock.check_idle()
        await pilot.pause(0.3)
        assert not app.app_lock.locked  # still streaming: the answer goes on
        assert chat.streaming
        engine.open()
        await wait_for(pilot, lambda: isinstance(app.screen, UnlockScreen), 30, "the lock")
        assert app.chat is None and app.services.open_store is None
        await wait_for(  # the lock screen is drawn a frame after it is pushed
            pilot, lambda: "Locked after being idle" in text_on_screen(app), 10, "the lock text"
        )
        shown = text_on_screen(app)
        assert "lighthouse" not in shown and "Smuggler" not in shown

    with locking.open_locked(paths.database_path(), "open sesame") as store:
        hits = store.search("lighthouse")
        assert hits
        conversation_id = hits[0].conversation_id
        answer = store.active_path(conversation_id)[-1]
        assert answer.role == "assistant" and answer.status == "done" and answer.content


async def test_panic_wipe_from_the_lock_screen_in_two_taps(tmp_path: Path) -> None:
    locked_history()
    database = paths.database_path()
    app = scripted_app(tmp_path)
    async with app.run_test(size=PHONE) as pilot:
        await pilot.click("#unlock-wipe")  # tap 1
        await pilot.pause()
        await pilot.click("#prompt-input")
        await pilot.press(*"wip")
        await pilot.click("#prompt-ok")  # not the word: refused
        await pilot.pause()
        assert database.exists()
        assert "Type 'wipe' exactly" in text_on_screen(app)
        await pilot.click("#prompt-input")
        await pilot.press("end", "e")
        await pilot.click("#prompt-ok")  # tap 2, with the word typed
        await wait_for(pilot, lambda: app.chat is not None, 30, "the chat screen")
        assert not keys.header_path(database).exists()
        store = app.services.store
        assert not store.locked and store.count_conversations() == 0


async def test_panic_wipe_from_the_chat_screen_in_two_taps(tmp_path: Path) -> None:
    locked_history()
    database = paths.database_path()
    app = scripted_app(tmp_path)
    async with app.run_test(size=PHONE) as pilot:
        await type_and_tap_unlock(pilot, "open sesame")
        await wait_for(pilot, lambda: app.chat is not None and app.screen is app.chat, 30)
        await pilot.pause()
        assert "Smuggler" in text_on_screen(app) or app.services.store.count_conversations()
        await pilot.click("#panic-wipe")  # tap 1
        await pilot.pause()
        await pilot.click("#prompt-input")
        await pilot.press(*"wipe")
        await pilot.click("#prompt-ok")  # tap 2
        await wait_for(pilot, lambda: not database.exists() or not app.services.store.locked, 30)
        await wait_for(pilot, lambda: app.chat is not None and app.screen is app.chat, 30)
        assert not keys.header_path(database).exists()
        store = app.services.store
        assert not store.locked and store.count_conversations() == 0
        assert "Smuggler" not in text_on_screen(app)


async def test_lock_and_wipe_buttons_only_with_a_locked_history(tmp_path: Path) -> None:
    seed([("Smuggler routes", "where is the ferrypier")])
    app = scripted_app(tmp_path)
    async with app.run_test(size=PHONE) as pilot:
        await wait_for(pilot, lambda: app.chat is not None and app.screen is app.chat, 30)
        await pilot.pause()
        assert not app.screen.query_one("#panic-wipe").display
        assert not app.screen.query_one("#lock-now").display


async def test_security_sheet_locks_the_history_by_tap(tmp_path: Path) -> None:
    seed([("Smuggler routes", "where is the ferrypier")])
    app = scripted_app(tmp_path)
    async with app.run_test(size=PHONE) as pilot:
        await wait_for(pilot, lambda: app.chat is not None and app.screen is app.chat, 30)
        app.action_open_security()
        await pilot.pause()
        assert "History: plain" in text_on_screen(app)
        await pilot.click("#security-enable")
        for _ in range(2):  # the new passphrase, twice
            await pilot.pause()
            await pilot.click("#prompt-input")
            await pilot.press(*"new secret")
            assert "new secret" not in text_on_screen(app)  # shown as dots
            await pilot.click("#prompt-ok")
        await wait_for(pilot, lambda: app.chat is not None and app.screen is app.chat, 30)
        store = app.services.store
        assert store.locked and store.search("ferrypier")
        await pilot.pause()
        assert app.screen.query_one("#lock-now").display
        await pilot.click("#lock-now")  # and Lock now locks at once
        await wait_for(pilot, lambda: isinstance(app.screen, UnlockScreen), 30)
        assert app.services.open_store is None
    with locking.open_locked(paths.database_path(), "new secret") as store:
        assert store.search("ferrypier")
