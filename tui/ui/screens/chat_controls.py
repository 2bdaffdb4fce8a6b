"""The chat screen's controls around the conversation: the composer row's edit state and
Cancel, the find bar, the context bar's buttons, the rows left under a finished answer, and
what the sheets and the command palette ask of the chat. :class:`~tui.ui.screens.chat.ChatScreen`
builds on it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import SystemCommand
from textual.events import DescendantFocus
from textual.screen import Screen
from textual.widgets import Button

from tui.ui.screens.chat_actions import LAST_MESSAGE_COMMANDS, PALETTE, MessageAction
from tui.ui.screens.conversation_actions import ConversationActions
from tui.ui.widgets.composer import Composer
from tui.ui.widgets.conversation_list import ConversationList
from tui.ui.widgets.find_bar import FindBar
from tui.ui.widgets.message_view import MessageView

if TYPE_CHECKING:
    from tui.chat.session import ChatSession
    from tui.ui.services import Services
    from tui.ui.widgets.context import ContextBar
    from tui.ui.widgets.conversation_log import ConversationLog
    from tui.ui.widgets.row_list import Row
    from tui.ui.widgets.status_line import StatusLine

#: The worker group of the answer being written.
ANSWER_GROUP = "answer"


class ChatControls(ConversationActions, Screen[None]):
    """The parts of the chat screen that only react to a tap, a key or a sheet."""

    if TYPE_CHECKING:  # built by ChatScreen
        services: Services
        session: ChatSession
        composer: Composer
        context_bar: ContextBar
        log_view: ConversationLog
        find_bar: FindBar
        streaming: bool
        show_list: bool
        _send: Button
        _status: StatusLine

        def action_new_chat(self) -> None: ...
        def open_conversation(self, conversation_id: int) -> None: ...
        def refresh_list(self) -> None: ...
        def _refresh_title(self) -> None: ...
        def _after_conversation_change(self) -> None: ...
        def refresh_conversation(self, focus_index: int | None = None) -> object: ...
        def _act_on_last(self, role: str, action: MessageAction) -> None: ...

    _gap_view: MessageView | None = None
    """The answer with rows left unused under it (MessageView.keep_gap), if any."""

    def _refuse_while_streaming(self) -> bool:
        """True (and the user is told why) if an answer is streaming."""
        if self.streaming:
            self.notify("An answer is streaming: Stop it first.", severity="warning")
            return True
        return False

    # edit & resend ---------------------------------------------------------------

    def _show_send(self) -> None:
        editing = self.composer.editing_id is not None
        self._send.label = "Stop" if self.streaming else ("Resend" if editing else "Send")
        self._send.variant = "error" if self.streaming else "primary"

    @on(Composer.EditingChanged)
    def _editing_changed(self, event: Composer.EditingChanged) -> None:
        self.query_one("#composer-row").set_class(event.editing, "-editing")
        self._show_send()
        self.refresh_bindings()  # Esc cancels an edit

    @on(Button.Pressed, "#cancel-edit")
    def _cancel_edit_pressed(self) -> None:
        self.composer.cancel_editing()
        self.composer.focus()

    # find in the conversation (the bar's own work is in widgets/find_bar.py) ----------

    def action_find(self) -> None:
        if not self.has_class("-wide"):
            self.show_list = False  # an open list hides the chat (wide, the list is beside)
        self.set_class(True, "-finding")  # below 20 rows the bar takes the composer's place
        self.find_bar.open()

    @on(FindBar.Closed)
    def _find_closed(self) -> None:
        self.set_class(False, "-finding")
        if self.streaming:
            self.log_view.anchor()  # follow the answer being written again
        self.composer.focus()

    # a row's "⋯" in the conversation list (the actions are ConversationActions') ------

    @on(ConversationList.Actions)
    def _row_actions(self, event: ConversationList.Actions) -> None:
        event.stop()
        self.conversation_actions(event.row)

    def open_row(self, row: Row) -> None:
        self.open_conversation(row.conversation_id)

    def conversation_action(self, row: Row, action: str) -> None:
        # The streaming answer is being saved into its conversation: deleting or leaving
        # it waits for Stop (renaming, pinning and exporting do not).
        if action in ("open", "delete") and self._refuse_while_streaming():
            return
        super().conversation_action(row, action)

    def conversations_changed(self) -> None:
        self.refresh_list()
        self._refresh_title()

    def after_delete(self, conversation_id: int) -> None:
        was_open = self.session.conversation_id == conversation_id
        super().after_delete(conversation_id)  # a new chat if it was the open one
        if was_open:
            self._after_conversation_change()

    # the context bar (a question that does not fit) ------------------------------

    @on(Button.Pressed, "#context-new-chat")
    def _context_new_chat(self) -> None:
        self.composer.stop_editing()  # the question goes to the new chat, not the old one
        self.action_new_chat()

    @on(Button.Pressed, "#context-raise")
    async def _context_raise(self) -> None:
        self.context_bar.hide()
        await self.app.run_action("open_settings")

    @on(Button.Pressed, "#context-trim")
    def _context_trim(self) -> None:
        self.context_bar.hide()
        self.session.apply_settings({"context_policy": "trim"})
        # Not sent at once: the question stays in the composer for the user to send (or
        # change) now that older messages may be left out.
        self.notify("Context policy: trim. Tap Send to ask.", timeout=3)
        self.composer.focus()

    # The rows an answer was held in stay under it when it ends (nothing jumps while the
    # user reads); the user's next move (a tap, typing, focusing the composer) closes them.

    def _close_gap(self) -> None:
        if self._gap_view is not None:
            self._gap_view.close_gap()
            self._gap_view = None

    def on_click(self) -> None:
        self._close_gap()

    def on_descendant_focus(self, event: DescendantFocus) -> None:
        # The composer only: a tap's mouse-down focuses the message under it, and closing
        # the gap then would move that message before the mouse-up picks it.
        if event.widget is self.composer:
            self._close_gap()

    @on(Composer.Changed)
    def _composer_changed(self) -> None:
        self._close_gap()

    async def wait_for_answer(self, timeout: float = 10.0) -> None:
        """Wait until the running answer (if any) has ended and its end was handled."""
        for worker in list(self.workers):
            if worker.group == ANSWER_GROUP and not worker.is_finished:
                with contextlib.suppress(Exception):  # its error was already reported
                    await worker.wait()
        deadline = time.monotonic() + timeout
        while self.streaming and time.monotonic() < deadline:
            await asyncio.sleep(0.02)  # let the queued answer messages land

    # sheets and the command palette ----------------------------------------------

    def sheet_closed(self, result: object) -> None:
        """A sheet (settings, models, templates, history) closed: whatever it changed,
        show the current state."""
        if not self.streaming:
            self.refresh_conversation()
        self._status.template = self.services.template_name(self.session)
        if isinstance(result, dict) and result.get("message_id"):  # a history search hit
            self._scroll_to_message(int(result["message_id"]))

    @work(group="scroll-to", exclusive=True)
    async def _scroll_to_message(self, message_id: int) -> None:
        """Show a message (after the conversation re-rendered) instead of the bottom."""
        for worker in list(self.workers):
            if worker.group == "render" and not worker.is_finished:
                with contextlib.suppress(Exception):
                    await worker.wait()
        view = self.log_view.view_for(message_id)
        if view is not None:
            self.log_view.release_anchor()
            self.call_after_refresh(view.scroll_visible, top=True, animate=False)

    def commands(self) -> Iterable[SystemCommand]:
        """Every chat action, for the command palette."""
        for title, help_text, action in PALETTE:
            if action != "stop" or self.streaming:
                yield SystemCommand(title, help_text, getattr(self, f"action_{action}"))
        for title, help_text, role, message_action in LAST_MESSAGE_COMMANDS:
            yield SystemCommand(title, help_text, partial(self._act_on_last, role, message_action))
