"""The chat screen: conversation list, messages, composer, status line.

It presents a :class:`~tui.chat.session.ChatSession` and nothing else: every answer comes
from the session's event stream, read in a worker that only posts typed messages; the
handlers below are the only code that touches widgets (an AnswerStream draws the answer).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.reactive import reactive
from textual.widgets import Button
from textual.worker import Worker, WorkerState

from tui.ui.answer_stream import AnswerStream
from tui.ui.clipboard import copy_text
from tui.ui.formatting import format_stats, message_data, relative_time
from tui.ui.layout import HORIZONTAL_BREAKPOINTS, VERTICAL_BREAKPOINTS, is_compact
from tui.ui.messages import Answer, ContextUpdated, ModelStateChanged
from tui.ui.screens import chat_recovery
from tui.ui.screens.chat_actions import (
    HANDLERS,
    MENU,
    MessageAction,
    open_menu,
    show_trim,
)
from tui.ui.screens.chat_controls import ANSWER_GROUP, ChatControls
from tui.ui.widgets.banner import Banner
from tui.ui.widgets.composer import Composer
from tui.ui.widgets.context import ContextBar
from tui.ui.widgets.conversation_list import ConversationItem, ConversationList
from tui.ui.widgets.conversation_log import ConversationLog
from tui.ui.widgets.find_bar import FindBar
from tui.ui.widgets.footer import FittingFooter
from tui.ui.widgets.message_view import MessageData, MessageView
from tui.ui.widgets.status_line import StatusLine
from tui.ui.widgets.top_bar import TopBar

if TYPE_CHECKING:
    from tui.chat.events import SessionEvent
    from tui.chat.session import ChatSession
    from tui.store import Message
    from tui.ui.services import Services


class ChatScreen(ChatControls):
    """The home screen. Gets its services from the app at construction."""

    CSS_PATH = "../chat.tcss"
    HORIZONTAL_BREAKPOINTS = HORIZONTAL_BREAKPOINTS
    VERTICAL_BREAKPOINTS = VERTICAL_BREAKPOINTS

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "stop", "Stop"),
        Binding("ctrl+n", "new_chat", "New"),
        Binding("ctrl+l", "toggle_list", "Chats"),
        Binding("ctrl+r", "regenerate_last", "Regen"),
        Binding("ctrl+t", "continue_last", "Continue", show=False),
        Binding("ctrl+g", "toggle_incognito", "Incognito"),
        Binding("ctrl+b", "find", "Find", show=False),
    ]

    streaming: reactive[bool] = reactive(False, init=False)
    show_list: reactive[bool] = reactive(False, init=False)

    def __init__(self, services: Services, *, incognito: bool = False) -> None:
        super().__init__()
        self.services = services
        self.session: ChatSession = services.new_session()
        self.answer_stream = AnswerStream(self, self._show_rate)
        # The engine sends new text once per redraw, not once per token: fewer wake-ups.
        self.session.delivery_interval = self._redraw_interval
        self._start_incognito = incognito
        self.model_ready = False
        self.unsent: str | None = None
        """A question sent whose answer has not started: the composer keeps it until then
        (a refused question is not lost) and gets it back if it could not be saved."""
        self.answers_ended = 0
        """How many answers have ended (done, stopped or failed): tests wait on it."""
        self._last_notice: str | None = None

    # layout --------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        self._topbar = TopBar(id="topbar")
        yield self._topbar
        with Horizontal(id="body"):
            self._sidebar = ConversationList(id="sidebar")
            yield self._sidebar
            with Vertical(id="chat"):
                yield from self._compose_chat()
        self._status = StatusLine(id="status")
        yield self._status
        yield FittingFooter()

    def _compose_chat(self) -> ComposeResult:
        self.log_view = ConversationLog(id="log")
        yield self.log_view
        self.find_bar = FindBar(self.log_view, id="find-bar")
        yield self.find_bar
        self._banner = Banner(id="banner")
        yield self._banner
        self.context_bar = ContextBar(id="context-bar")
        yield self.context_bar
        with Horizontal(id="composer-row"):
            self.composer = Composer(id="composer")
            yield self.composer
            yield Button("Cancel", id="cancel-edit")
            self._send = Button("Send", id="send", variant="primary")
            yield self._send

    def on_mount(self) -> None:
        self._banner.hide()
        if self._start_incognito:
            self.session.new_conversation(incognito=True)
        elif self.services.settings.reopen_last:
            self._reopen_last()
        self._after_conversation_change()
        self.composer.focus()

    def _reopen_last(self) -> None:
        """Start where the user left off: the conversation with the latest activity."""
        conversations = self.services.list_conversations()
        if conversations:
            latest = max(conversations, key=lambda c: (c.updated_at, c.id))
            self.session.open_conversation(latest.id)

    def on_resize(self, event: Resize) -> None:
        self._status.compact = is_compact(event.size.width)

    # rendering the conversation -----------------------------------------------

    def _message_data(self, message: Message) -> MessageData:
        return message_data(message, self.services.branches(self.session, message.id))

    async def _sync_path(self) -> None:
        """Make the message views match the session's active path."""
        path = [m for m in self.session.path() if m.role != "system"]
        stream = self.answer_stream
        await self.log_view.sync(path, self._message_data, live=stream.view, removing=stream.forget)

    def _after_conversation_change(self) -> None:
        """Reload everything that depends on which conversation is open."""
        self.composer.cancel_editing()  # an edit belongs to the conversation it was in
        self.find_bar.close()  # its matches were in the conversation left
        self.context_bar.hide()
        self.refresh_conversation()

    @work(group="render", exclusive=True)
    async def refresh_conversation(self, focus_index: int | None = None) -> None:
        await self._sync_path()
        self.log_view.anchor()
        if focus_index is not None:  # a branch flip replaced the focused view
            views = self.log_view.views()
            if views:
                views[min(focus_index, len(views) - 1)].focus(scroll_visible=False)
        self._refresh_title()
        self.refresh_list()
        self.refresh_context()

    def _refresh_title(self) -> None:
        incognito = bool(self.session.incognito)
        title = self.services.conversation_title(self.session) or "New chat"
        if incognito:
            title = f"Incognito · {title} · not saved"
        self._topbar.show(title, incognito=incognito)
        self._status.incognito = incognito

    def refresh_list(self) -> None:
        now = time.time()
        items = [
            ConversationItem(c.id, c.title, c.pinned, relative_time(c.updated_at, now))
            for c in self.services.list_conversations()
        ]
        current = None if self.session.incognito else self.session.conversation_id
        self._sidebar.set_items(items, current)

    def refresh_context(self) -> None:
        if self.model_ready and not self.streaming:
            self._context_worker()

    @work(thread=True, group="context", exclusive=True, exit_on_error=False)
    def _context_worker(self) -> None:
        info = self.session.measure()
        if info is None:  # no model yet, or a template problem the next answer will report
            return
        self.post_message(ContextUpdated(info.tokens_used, info.n_ctx, info.dropped_messages))

    async def on_context_updated(self, message: ContextUpdated) -> None:
        self._status.show_context(message.tokens_used, message.n_ctx, message.dropped)
        await show_trim(self.log_view, message.dropped)

    def set_model_state(self, message: ModelStateChanged) -> None:
        """Called by the app whenever the engine's model changes state."""
        self._status.show_model(message.state, message.name, message.detail)
        self._status.remote = self.services.remote_marker()
        self._status.template = self.services.template_name(self.session)
        self.model_ready = message.state == "ready"
        if message.state == "failed":
            self._banner.show(f"Model failed to load: {message.detail}", "Retry")
        elif message.state in ("ready", "loading"):
            self._banner.hide()
        if self.model_ready:
            self.refresh_context()

    # sending -------------------------------------------------------------------

    @on(Composer.Submitted)
    def _submitted(self, event: Composer.Submitted) -> None:
        event.stop()
        self.send(event.text)

    @on(Button.Pressed, "#send")
    def _send_pressed(self) -> None:
        if self.streaming:
            self.action_stop()
        else:
            self.send(self.composer.text)

    def send(self, text: str) -> None:
        if self.streaming:
            self.notify("An answer is still streaming: Stop it first.", severity="warning")
            return
        if not text.strip():
            return
        if not self.need_model():
            return
        self.unsent = text
        self.context_bar.hide()
        message_id = self.composer.editing_id
        if message_id is not None:
            self.start_answer(lambda: self.session.edit(message_id, text))
        else:
            self.start_answer(lambda: self.session.ask(text))

    def start_answer(self, events: Callable[[], AsyncIterator[SessionEvent]]) -> None:
        self.streaming = True
        self._run_answer(events)

    @work(group=ANSWER_GROUP, exclusive=True, exit_on_error=False)
    async def _run_answer(self, events: Callable[[], AsyncIterator[SessionEvent]]) -> None:
        async for event in events():
            self.post_message(Answer.of(event))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group == ANSWER_GROUP and event.state == WorkerState.ERROR:
            chat_recovery.answer_worker_failed(self, worker.error)
        elif worker.group == "context" and event.state == WorkerState.ERROR:
            self.log.warning(f"context meter: {worker.error}")

    async def on_answer_started(self, message: Answer.Started) -> None:
        event = message.event
        self.streaming = True
        if self.unsent is not None:
            self.composer.stop_editing()
            self.composer.clear()
        chat_recovery.answer_started(self)
        await self._sync_path()
        view = self.log_view.view_for(event.assistant_message_id)
        if view is None:
            view = MessageView(MessageData(event.assistant_message_id, "assistant", ""))
            await self.log_view.add(view)
        model = self.session.engine.model
        self.answer_stream.start(view, model.n_threads if model else None)
        self.log_view.anchor()
        self._refresh_title()
        if event.notice and event.notice != self._last_notice:
            self._last_notice = event.notice
            self.notify(event.notice, title="Template", severity="warning", timeout=8)
        context = event.context
        await self.on_context_updated(
            ContextUpdated(context.tokens_used, context.n_ctx, context.dropped_messages)
        )

    def _redraw_interval(self) -> float:
        return self.answer_stream.interval

    def _show_rate(self, tokens_per_second: float) -> None:
        self._status.tokens_per_second = tokens_per_second

    async def on_answer_chunk(self, message: Answer.Chunk) -> None:
        event = message.event
        if event.thinking or event.reasoning_tokens:
            self.answer_stream.thinking(event.reasoning_tokens, event.thinking)
        await self.answer_stream.add(event.text, event.tokens)

    async def on_answer_finished(self, message: Answer.Finished) -> None:
        event = message.event
        stats = event.stats.to_dict() if hasattr(event.stats, "to_dict") else None
        await self._end_stream(event.status, format_stats(stats, event.status))
        # After the last flush (which shows the live estimate): the engine's own figure.
        if stats and stats.get("generation_tps"):
            self._status.tokens_per_second = float(stats["generation_tps"])

    async def on_answer_failed(self, message: Answer.Failed) -> None:
        event = message.event
        self.notify(event.message, title="Answer failed", severity="error", timeout=10)
        await self._end_stream("failed", f"failed: {event.message}")
        if event.crashed:  # still "ready": the next question restarts the engine
            self._status.show_model("failed", detail="engine stopped")
            text = event.message
            if not text.startswith("the engine "):
                text = f"the engine stopped: {text}"
            self._banner.show(text[:1].upper() + text[1:], "Restart")

    async def on_answer_refused(self, message: Answer.Refused) -> None:
        """Not a toast: a bar that stays, with the ways out. The question stays typed."""
        self.unsent = None
        event = message.event
        self.context_bar.show(event.tokens_needed, event.n_ctx, event.policy)
        await self._end_stream("failed", "")

    async def _end_stream(self, status: str, meta: str) -> None:
        view, unused = await self.answer_stream.end()
        if view is not None:
            view.update_data(replace(view.data, status=status, meta=meta))
        self.streaming = False
        if status != "failed":
            await self._sync_path()
        if view is not None and view.is_mounted:
            view.keep_gap(unused)  # after the sync, which closes gaps
            self._gap_view = view
        self._refresh_title()
        self.refresh_list()
        self.refresh_context()
        self.answers_ended += 1  # last: the end of the answer is handled

    def watch_streaming(self, streaming: bool) -> None:
        self._show_send()
        self.composer.hold_cursor(streaming)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            return self.streaming or self.composer.editing_id is not None
        if action in ("regenerate_last", "continue_last"):
            return None if self.streaming else True
        return True

    # actions -------------------------------------------------------------------

    def action_stop(self) -> None:
        if self.streaming:
            self.session.cancel()
        else:
            self.composer.cancel_editing()

    def action_new_chat(self) -> None:
        if self._refuse_while_streaming():
            return
        self.session.new_conversation(incognito=False)
        self.show_list = False
        self._after_conversation_change()
        self.composer.focus()

    def action_toggle_incognito(self) -> None:
        if self._refuse_while_streaming():
            return
        self.session.new_conversation(incognito=not self.session.incognito)
        self._after_conversation_change()
        self.notify(
            "Incognito: this chat is never written to disk."
            if self.session.incognito
            else "Left incognito: the incognito chat is gone."
        )
        self.composer.focus()

    def action_toggle_list(self) -> None:
        # Wide: the list is shown beside the chat and -show-list hides it. Narrow: the
        # open list replaces the chat.
        self.show_list = not self.show_list

    def watch_show_list(self, show: bool) -> None:
        self.set_class(show, "-show-list")
        if show and not self.has_class("-wide"):
            self._sidebar.focus_filter()
        else:
            self.composer.focus()

    def _act_on_last(self, role: str, action: MessageAction) -> None:
        view = self.log_view.last(role)
        if view is not None:
            self.do_message_action(view, action)

    def action_regenerate_last(self) -> None:
        self._act_on_last("assistant", MessageAction.REGENERATE)

    def action_continue_last(self) -> None:
        self._act_on_last("assistant", MessageAction.CONTINUE)

    @on(ConversationList.Selected)
    def _conversation_selected(self, event: ConversationList.Selected) -> None:
        self.open_conversation(event.conversation_id)

    def open_conversation(self, conversation_id: int) -> None:
        if self._refuse_while_streaming():
            return
        try:
            self.session.open_conversation(conversation_id)
        except LookupError:  # deleted meanwhile (History, the CLI)
            self.notify("That conversation is gone.", severity="error")
            self.refresh_list()
            return
        self.show_list = False
        self._after_conversation_change()

    @on(ConversationList.NewChat)
    def _list_new_chat(self) -> None:
        self.action_new_chat()

    # per-message actions ---------------------------------------------------------

    @on(MessageView.Action)
    def _message_action(self, event: MessageView.Action) -> None:
        event.stop()
        if event.action == MENU:
            open_menu(self, event.view)
        else:
            self.do_message_action(event.view, event.action)

    def do_message_action(self, view: MessageView, action: str) -> None:
        """Run ``action`` (a :class:`MessageAction` value) on the message ``view`` shows."""
        data = view.data
        if action == MessageAction.COPY:
            copy_text(self, view.text)
            return
        if self._refuse_while_streaming() or data.id is None:
            return
        role, handler = HANDLERS.get(action, (None, None))
        if handler is not None and role in (None, data.role):
            handler(self, data.id, data)

    def need_model(self) -> bool:
        if not self.model_ready:
            self.notify("The model is not ready yet.", severity="warning")
        return self.model_ready
