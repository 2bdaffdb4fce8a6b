"""The unlock screen of a locked history: full screen and opaque, with nothing of any
conversation behind it (the app builds the chat screen only once the history is open).

The passphrase goes through the KDF in a thread (seconds on a phone). Each wrong try doubles
the wait before the next (1, 2, 4 ... 60 s). **Panic wipe** is the second button: one tap,
then the word ``wipe`` typed, and the history is destroyed (``tui.store.locking.wipe_now``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Grid, Vertical
from textual.screen import Screen
from textual.widgets import Button, Input, Static

from tui.ui.layout import HORIZONTAL_BREAKPOINTS, VERTICAL_BREAKPOINTS

MAX_DELAY = 60.0

UNLOCK_CSS = """
UnlockScreen {
    align: center middle;
    background: $background;
}
UnlockScreen > Vertical {
    width: 64;
    max-width: 100%;
    height: auto;
    padding: 1 2;
}
UnlockScreen.-compact > Vertical { padding: 0 1; }
UnlockScreen #unlock-title { text-style: bold; margin-bottom: 1; }
UnlockScreen #unlock-message { height: auto; min-height: 1; }
UnlockScreen #unlock-message.-error { color: $text-error; }
UnlockScreen Grid { grid-size: 2; grid-gutter: 0 1; height: auto; grid-rows: 3; }
UnlockScreen Button { width: 1fr; min-width: 0; }
"""


def wrong_delay(failures: int) -> float:
    """Seconds to wait after the ``failures``-th wrong passphrase in a row."""
    return min(MAX_DELAY, float(2 ** max(0, failures - 1)))


class UnlockScreen(Screen[Any]):
    """Asks for the passphrase; dismisses with the open Store, or ``"wiped"``."""

    DEFAULT_CSS = UNLOCK_CSS
    BINDINGS: ClassVar[list[BindingType]] = []
    HORIZONTAL_BREAKPOINTS = HORIZONTAL_BREAKPOINTS
    VERTICAL_BREAKPOINTS = VERTICAL_BREAKPOINTS
    AUTO_FOCUS = "#unlock-input"

    def __init__(self, database: Path, *, note: str = "") -> None:
        super().__init__()
        self.database = database
        self.failures = 0
        self._note = note

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Burrow is locked", id="unlock-title")
            yield Input(password=True, placeholder="passphrase", id="unlock-input")
            yield Static(self._note, id="unlock-message", markup=False)
            with Grid():
                yield Button("Unlock", id="unlock-ok", variant="primary", action="screen.unlock")
                yield Button("Panic wipe", id="unlock-wipe", variant="error", action="screen.wipe")

    def _say(self, text: str, *, error: bool = False) -> None:
        message = self.query_one("#unlock-message", Static)
        message.update(text)
        message.set_class(error, "-error")

    def _enable(self, enabled: bool) -> None:
        self.query_one("#unlock-input", Input).disabled = not enabled
        self.query_one("#unlock-ok", Button).disabled = not enabled
        if enabled:
            self.query_one("#unlock-input", Input).focus()

    @on(Input.Submitted, "#unlock-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_unlock()

    def action_unlock(self) -> None:
        field = self.query_one("#unlock-input", Input)
        if field.disabled:
            return
        passphrase = field.value
        field.value = ""  # the passphrase stays on screen (as dots) no longer than needed
        self._enable(False)
        self._say("Unlocking...")
        self._open(passphrase)

    @work(thread=True, exclusive=True, group="unlock", exit_on_error=False)
    def _open(self, passphrase: str) -> None:
        from tui.store import StoreError, locking
        from tui.store.keys import WrongPassphrase

        try:
            store = locking.open_locked(self.database, passphrase)
        except WrongPassphrase:
            self.app.call_from_thread(self._wrong)
            return
        except StoreError as exc:  # damaged header, missing extra: said, nothing changed
            self.app.call_from_thread(self._problem, str(exc))
            return
        self.app.call_from_thread(self.dismiss, store)

    def _wrong(self) -> None:
        self.failures += 1
        delay = wrong_delay(self.failures)
        self._say(f"Wrong passphrase. Try again in {delay:.0f} s.", error=True)
        self.set_timer(delay, self._after_delay)

    def _after_delay(self) -> None:
        self._say("Wrong passphrase. Try again.", error=True)
        self._enable(True)

    def _problem(self, text: str) -> None:
        self._say(text, error=True)
        self._enable(True)

    # -- panic wipe ---------------------------------------------------------------------------

    def action_wipe(self) -> None:
        from tui.ui.widgets.sheets import TextPromptSheet

        self.app.push_screen(
            TextPromptSheet(
                "Destroy the whole history now? There is no undo. Type wipe to confirm.",
                placeholder="wipe",
                ok="Wipe now",
                must_equal="wipe",
                danger=True,
            ),
            self._wipe_confirmed,
        )

    def _wipe_confirmed(self, answer: str | None) -> None:
        if answer is None:
            return
        from tui import paths
        from tui.store import locking

        locking.wipe_now(self.database, [paths.states_dir(), paths.exports_dir()])
        self.dismiss("wiped")
