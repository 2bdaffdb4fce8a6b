"""The banner over the composer when the model is unusable, with the button that fixes it."""

from __future__ import annotations

import re

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Static


class Banner(Horizontal):
    """Why the model cannot answer: **Restart** after the engine crashed, **Retry** after a
    failed load. Both restart the engine (which loads the model again)."""

    def compose(self) -> ComposeResult:
        self._text = Static("", id="banner-text", markup=False)
        yield self._text
        self._button = Button("Restart", id="banner-button", variant="warning")
        yield self._button

    def show(self, text: str, button: str) -> None:
        # The log's path would fill a phone's screen; it is in "Show engine log" and in
        # `burrow doctor`.
        self._text.update(re.sub(r";? *details in \S+", "", text))
        self._button.label = button
        self.display = True

    def hide(self) -> None:
        self.display = False

    @on(Button.Pressed, "#banner-button")
    def _pressed(self) -> None:
        self.hide()
        self.app.call_later(self.app.run_action, "restart_engine")
