"""The app side of a locked history: unlock at start, auto-lock when idle, panic wipe.

With a locked history the app shows :class:`~tui.ui.screens.unlock.UnlockScreen` before it
builds the chat screen, so no conversation is ever drawn (or even loaded) behind it. Auto-lock
waits for a streaming answer to finish into the database, then throws away every screen
(and the text their widgets held), closes the store (which drops the key) and shows the
unlock screen again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tui.ui.app import BurrowApp

IDLE_CHECK_SECONDS = 5.0
WIPE_QUESTION = "Destroy the whole history now? There is no undo. Type wipe to confirm."


class AppLock:
    """Owned by the app: tracks activity and runs the lock / unlock cycle."""

    def __init__(self, app: BurrowApp, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.clock = clock
        self.last_activity = clock()
        self.locked = False
        """The unlock screen is up (at start or after auto-lock)."""
        self._locking = False

    # -- state ------------------------------------------------------------------------------

    @property
    def history_locked(self) -> bool:
        """The history file is encrypted (whether or not it is open now)."""
        from tui.store import db

        store = self.app.services.open_store
        if store is not None:
            return store.locked
        return db.is_encrypted(self.app.services.database_path)

    def touch(self) -> None:
        self.last_activity = self.clock()

    def idle_limit(self) -> float | None:
        minutes = float(self.app.services.settings.auto_lock_minutes)
        return minutes * 60 if minutes > 0 else None

    # -- unlock -----------------------------------------------------------------------------

    def show_unlock(self, then: Callable[[], None], *, note: str = "") -> None:
        from tui.ui.screens.unlock import UnlockScreen

        self.locked = True

        def unlocked(result: Any) -> None:
            from tui.store import Store

            self.locked = False
            self.touch()
            if isinstance(result, Store):
                self.app.services.set_store(result)
            elif result == "wiped":
                self.app.services.forget_store()
                self.app.notify("The history was wiped.", title="History", timeout=10)
            then()

        self.app.push_screen(UnlockScreen(self.app.services.database_path, note=note), unlocked)

    # -- auto-lock --------------------------------------------------------------------------

    def check_idle(self) -> None:
        limit = self.idle_limit()
        if self.locked or self._locking or limit is None or not self.history_locked:
            return
        if self.clock() - self.last_activity >= limit:
            self.app.run_worker(self.lock_now(), group="lock", exclusive=True)

    async def lock_now(
        self, *, cancel: bool = False, note: str = "Locked after being idle."
    ) -> None:
        """Lock: the streaming answer (if any) ends in the database (finished, or with
        ``cancel`` stopped and kept as it is), then every screen and the store go, and the
        unlock screen comes up."""
        if self.locked or self._locking or not self.history_locked:
            return
        self._locking = True
        try:
            await self._end_answer(cancel=cancel)
            await self._close_everything()
            self.show_unlock(self.app.start_chat, note=note)
        finally:
            self._locking = False

    async def _end_answer(self, *, cancel: bool) -> None:
        chat = self.app.chat
        if chat is not None and chat.streaming:
            if cancel:
                chat.session.cancel()
            await chat.wait_for_answer(timeout=5.0 if cancel else 600.0)

    async def _close_everything(self) -> None:
        """Every screen (and the conversation text its widgets hold), then the store."""
        while len(self.app.screen_stack) > 1:
            await self.app.pop_screen()
        self.app.chat = None
        self.app.services.lock()

    # -- panic wipe -------------------------------------------------------------------------

    def ask_panic_wipe(self) -> None:
        from tui.ui.widgets.sheets import TextPromptSheet

        def answered(answer: str | None) -> None:
            if answer is not None:
                self.app.run_worker(self.wipe_now(), group="lock", exclusive=True)

        self.app.push_screen(
            TextPromptSheet(
                WIPE_QUESTION, placeholder="wipe", ok="Wipe now", must_equal="wipe", danger=True
            ),
            answered,
        )

    async def wipe_now(self) -> None:
        """The key material first (no waiting for anything), then the answer stops, the
        screens and the store close, and the files go; a fresh plain history follows."""
        from tui.store import keys, locking

        keys.shred_header(self.app.services.database_path)
        await self._end_answer(cancel=True)
        await self._close_everything()
        self._wipe_files(locking)
        self.app.notify("The history was wiped.", title="History", timeout=10)
        self.app.start_chat()

    def _wipe_files(self, locking: Any) -> None:
        from tui import paths

        locking.wipe_now(self.app.services.database_path, [paths.states_dir(), paths.exports_dir()])

    # -- conversions (the Security sheet) ---------------------------------------------------

    async def convert(self, kind: str, passphrase: str, new: str = "") -> None:
        """Lock (``enable``), unlock (``disable``) or re-key (``passphrase``) the history.

        Every screen and the store close first (a conversion replaces the file), and the
        chat screen comes back on the result."""
        import asyncio

        from tui.store import StoreError, locking

        chat = self.app.chat
        if chat is not None and chat.streaming:
            self.app.notify("Wait for the answer to finish first.", title="Security")
            return
        database = self.app.services.database_path
        await self._close_everything()
        try:
            if kind == "enable":
                await asyncio.to_thread(locking.enable, database, passphrase)
                done, opener = "History locked.", passphrase
            elif kind == "disable":
                await asyncio.to_thread(locking.disable, database, passphrase)
                done, opener = "History unlocked: it is a plain file again.", ""
            else:
                await asyncio.to_thread(locking.change_passphrase, database, passphrase, new)
                done, opener = "Passphrase changed.", new
            if opener:
                store = await asyncio.to_thread(locking.open_locked, database, opener)
                self.app.services.set_store(store)
            self.app.notify(done, title="Security", timeout=8)
        except StoreError as exc:
            self.app.notify(str(exc), title="Security", severity="error", timeout=15)
            if self.history_locked:  # nothing changed: it is still locked, ask again
                self.show_unlock(self.app.start_chat)
                return
        self.app.start_chat()
