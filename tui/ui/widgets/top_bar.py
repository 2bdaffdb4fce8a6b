"""The chat screen's top bar: the conversation list toggle, the title, incognito, find in
the conversation, new chat, and with a locked history Lock and Wipe."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Static

from tui.textsafe import one_line


class TopBar(Horizontal):
    """Its buttons run the chat screen's actions; the screen tells it what to show."""

    def compose(self) -> ComposeResult:
        yield Button("☰", id="toggle-list", tooltip="Conversations", action="screen.toggle_list")
        self._title = Static("New chat", id="title", markup=False)
        yield self._title
        self._incognito = Button(
            "Incognito", id="incognito-button", action="screen.toggle_incognito"
        )
        yield self._incognito
        # Shown only with a locked history: lock now, and the panic wipe (then a typed word).
        yield Button("Lock", id="lock-now", action="app.lock_now")
        yield Button("Wipe", id="panic-wipe", variant="error", action="app.panic_wipe")
        yield Button("Find", id="find-button", tooltip="Find in this chat", action="screen.find")
        yield Button("+ New", id="new-chat", variant="primary", action="screen.new_chat")

    def on_mount(self) -> None:
        store = getattr(getattr(self.app, "services", None), "open_store", None)
        self.set_class(bool(store is not None and store.locked), "-locked")

    def show(self, title: str, *, incognito: bool) -> None:
        self._title.update(one_line(title))  # stored text: control characters shown visibly
        self.set_class(incognito, "-incognito")
        self._incognito.label = "Leave incognito" if incognito else "Incognito"
