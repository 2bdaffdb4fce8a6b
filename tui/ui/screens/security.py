"""The Security sheet: lock the history with a passphrase, change it, unlock it, lock the
screen now, or wipe everything (see docs/security.md).

Passphrases are typed into hidden fields (a new one twice); the conversion itself runs in
the app (``AppLock.convert``), which closes every screen first because the file is replaced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Static

from tui.ui.services import Services
from tui.ui.widgets.sheets import SheetScreen, TextPromptSheet


class PassphraseSheet(TextPromptSheet):
    """One passphrase, typed into a field that shows dots."""

    def on_mount(self) -> None:
        self._input.password = True
        super().on_mount()


class SecuritySheet(SheetScreen):
    TITLE_TEXT = "Security"

    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services

    def compose_body(self) -> ComposeResult:
        from tui.store import driver, locking

        status = locking.status(self.services.database_path)
        self.locked = status.locked
        if status.locked:
            text = f"History: locked. Key from the passphrase by {status.kdf or '-'}."
        else:
            text = "History: plain (not encrypted). Lock it to keep it unreadable without a "
            text += "passphrase."
        if not status.extra_installed:
            text += f"\n\nLocked mode is not installed: {driver.EXTRA_HINT}."
        yield Static(text, id="security-status", markup=False)
        yield Static(
            "There is no way back from a forgotten passphrase. See docs/security.md for what "
            "locked mode protects against and what it does not.",
            classes="muted",
            markup=False,
        )
        with Horizontal(classes="actions"):
            if status.locked:
                yield Button("Change passphrase", id="security-change")
                yield Button("Unlock history", id="security-disable")
                yield Button("Lock now", id="security-lock-now")
            else:
                yield Button(
                    "Lock history",
                    id="security-enable",
                    variant="primary",
                    disabled=not status.extra_installed,
                )
            yield Button("Panic wipe", id="security-wipe", variant="error")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        handlers: dict[str | None, Callable[[], None]] = {
            "security-enable": self._enable,
            "security-disable": self._disable,
            "security-change": self._change,
            "security-lock-now": self._lock_now,
            "security-wipe": self._wipe,
        }
        handler = handlers.get(event.button.id)
        if handler is not None:
            event.stop()
            handler()

    # -- the flows ------------------------------------------------------------------------

    def _ask(self, question: str, then: Callable[[str], None]) -> None:
        def answered(answer: str | None) -> None:
            if answer:
                then(answer)

        self.app.push_screen(PassphraseSheet(question, ok="OK"), answered)

    def _new_passphrase(self, then: Callable[[str], None]) -> None:
        def first(passphrase: str) -> None:
            def second(again: str) -> None:
                if again != passphrase:
                    self.notify("The two passphrases differ; nothing was changed.", timeout=8)
                    return
                then(passphrase)

            self._ask("The new passphrase again:", second)

        self._ask("New passphrase:", first)

    def _run(self, kind: str, passphrase: str, new: str = "") -> None:
        app: Any = self.app
        self.dismiss(None)
        app.run_worker(app.app_lock.convert(kind, passphrase, new), group="lock", exclusive=True)

    def _enable(self) -> None:
        self._new_passphrase(lambda passphrase: self._run("enable", passphrase))

    def _disable(self) -> None:
        self._ask(
            "Passphrase (the history becomes a plain file again):",
            lambda passphrase: self._run("disable", passphrase),
        )

    def _change(self) -> None:
        def current(old: str) -> None:
            self._new_passphrase(lambda new: self._run("passphrase", old, new))

        self._ask("Current passphrase:", current)

    def _lock_now(self) -> None:
        app: Any = self.app
        self.dismiss(None)
        app.action_lock_now()

    def _wipe(self) -> None:
        app: Any = self.app
        self.dismiss(None)
        app.action_panic_wipe()
