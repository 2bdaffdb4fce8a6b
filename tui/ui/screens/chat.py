"""The chat screen: conversation list, messages, composer, status line.

It presents a :class:`~tui.chat.session.ChatSession` and nothing else: every answer comes
from the session's event stream, read in a worker that only posts typed messages
(:mod:`tui.ui.messages`); the handlers below are the only code that touches widgets.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.reactive import reactive
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Button, Footer, Static
from textual.worker import Worker, WorkerState

from tui.ui.messages import Answer, ContextUpdated, ModelStateChanged
from tui.ui.pacing import RedrawPacer, budget_for
from tui.ui.screens.dialogs import ConfirmSheet, MessageActionsSheet
from tui.ui.widgets.composer import Composer
from tui.ui.widgets.conversation_list import ConversationItem, ConversationList
from tui.ui.widgets.message_view import ConversationLog, MessageData, MessageView
from tui.ui.widgets.status_line import StatusLine

if TYPE_CHECKING:
    from tui.chat.session import ChatSession, SessionEvent
    from tui.ui.services import Services

ANSWER_GROUP = "answer"

#: How often the live tokens/s in the status line changes (seconds).
RATE_REFRESH = 1.0


def format_stats(stats: dict[str, Any] | None, status: str) -> str:
    """The line under an answer: tokens, tokens/s, time to first token, how it ended."""
    parts: list[str] = []
    if stats:
        tokens = stats.get("completion_tokens")
        tps = stats.get("generation_tps")
        ttft = stats.get("ttft_seconds")
        if tokens is not None:
            parts.append(f"{tokens} tokens")
        if tps:
            parts.append(f"{float(tps):.1f} tok/s")
        if ttft is not None:
            parts.append(f"first token {float(ttft):.2f}s")
        reason = stats.get("stop_reason")
        if reason == "length":
            parts.append("stopped at max tokens (Continue)")
        elif reason == "context":
            parts.append("context full")
    if status == "cancelled":
        parts.append("stopped")
    elif status in ("error", "failed"):
        parts.append("failed")
    elif status == "interrupted":
        parts.append("interrupted")
    return " · ".join(parts)


def relative_time(timestamp: float, now: float | None = None) -> str:
    seconds = max(0.0, (now or time.time()) - timestamp)
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return time.strftime("%Y-%m-%d", time.localtime(timestamp))


class ChatScreen(Screen[None]):
    """The home screen. Gets its services from the app at construction."""

    CSS_PATH = "../chat.tcss"

    # Textual declares this as a plain class attribute, so no ClassVar here (mypy).
    HORIZONTAL_BREAKPOINTS = [  # noqa: RUF012
        (0, "-compact"),
        (51, "-narrow"),
        (100, "-wide"),
    ]

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "stop", "Stop"),
        Binding("ctrl+n", "new_chat", "New"),
        Binding("ctrl+l", "toggle_list", "Chats"),
        Binding("ctrl+r", "regenerate_last", "Regen"),
        Binding("ctrl+t", "continue_last", "Continue", show=False),
        Binding("ctrl+g", "toggle_incognito", "Incognito"),
    ]

    streaming: reactive[bool] = reactive(False, init=False)
    show_list: reactive[bool] = reactive(False, init=False)

    def __init__(self, services: Services, *, incognito: bool = False) -> None:
        super().__init__()
        self.services = services
        self.session: ChatSession = services.new_session()
        self._pacer = RedrawPacer()
        # The app wakes for new text once per redraw, not once per token (issue 7).
        self.session.chunk_interval = self._redraw_interval
        self._start_incognito = incognito
        self._editing_id: int | None = None
        self._stream_view: MessageView | None = None
        self._stream_started = 0.0  # when the first text came
        self._stream_tokens = 0  # tokens that came
        self._rate_due = 0.0  # when the live tokens/s may change next
        self._stream_pending: list[str] = []
        self._stream_flush: Timer | None = None
        self.model_ready = False
        self.answers_ended = 0
        """How many answers have ended (done, stopped or failed): tests wait on it."""
        self._last_notice: str | None = None

    # layout --------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="topbar"):
            yield Button("☰", id="toggle-list", tooltip="Conversations")
            yield Static("New chat", id="title", markup=False)
            yield Button("Incognito", id="incognito-button")
            yield Button("+ New", id="new-chat", variant="primary")
        with Horizontal(id="body"):
            yield ConversationList(id="sidebar")
            with Vertical(id="chat"):
                with ConversationLog(id="log"):
                    yield Static(
                        "Ask anything. Answers are written on this device and never leave it.",
                        id="empty",
                        markup=False,
                    )
                with Horizontal(id="banner"):
                    yield Static("", id="banner-text", markup=False)
                    yield Button("Restart", id="banner-button", variant="warning")
                with Horizontal(id="composer-row"):
                    yield Composer(id="composer")
                    yield Button("Send", id="send", variant="primary")
        yield StatusLine(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#banner").display = False
        if self._start_incognito:
            self.session.new_conversation(incognito=True)
        self._after_conversation_change()
        self.query_one(Composer).focus()

    def on_resize(self, event: Resize) -> None:
        self.query_one(StatusLine).compact = event.size.width <= 50

    # rendering the conversation -----------------------------------------------

    @property
    def log_view(self) -> ConversationLog:
        return self.query_one("#log", ConversationLog)

    def _message_data(self, message: Any) -> MessageData:
        branches = self.services.branches(self.session, message.id)
        return MessageData(
            id=message.id,
            role=message.role,
            text=message.content,
            status=message.status,
            meta=format_stats(message.stats, message.status) if message.role == "assistant" else "",
            branch_index=branches[0],
            branch_count=branches[1],
        )

    async def _sync_path(self) -> None:
        """Make the message views match the session's active path (changes from the first
        message that differs: a regenerate, edit or branch flip re-renders only the tail)."""
        path = [m for m in self.session.path() if m.role != "system"]
        log = self.log_view
        views = list(log.query(MessageView))
        for view in views:
            view.close_gap()  # the rows left under the last answer (MessageView.keep_gap)
        keep = 0
        while keep < min(len(views), len(path)) and views[keep].message_id == path[keep].id:
            keep += 1
        for view in views[keep:]:
            if view is self._stream_view:
                self._stream_view = None
            await view.remove()
        for view, message in zip(views[:keep], path[:keep], strict=True):
            if view is not self._stream_view:
                view.update_data(self._message_data(message))
        new_views = [MessageView(self._message_data(m)) for m in path[keep:]]
        if new_views:
            await log.mount_all(new_views)
        self.query_one("#empty").display = not path

    def _view_for(self, message_id: int | None) -> MessageView | None:
        if message_id is None:
            return None
        for view in self.log_view.query(MessageView):
            if view.message_id == message_id:
                return view
        return None

    def _after_conversation_change(self) -> None:
        """Reload everything that depends on which conversation is open."""
        self._editing_id = None
        self._refresh_conversation()

    @work(group="render", exclusive=True)
    async def _refresh_conversation(self) -> None:
        await self._sync_path()
        self.log_view.anchor()
        self._refresh_title()
        self.refresh_list()
        self.refresh_context()

    def _refresh_title(self) -> None:
        incognito = bool(self.session.incognito)
        title = self.services.conversation_title(self.session) or "New chat"
        if incognito:
            title = f"Incognito · {title} · not saved"
        self.query_one("#title", Static).update(title)
        self.query_one("#topbar").set_class(incognito, "-incognito")
        self.query_one("#incognito-button", Button).label = (
            "Leave incognito" if incognito else "Incognito"
        )
        self.query_one(StatusLine).incognito = incognito

    def refresh_list(self) -> None:
        now = time.time()
        items = [
            ConversationItem(c.id, c.title, c.pinned, relative_time(c.updated_at, now))
            for c in self.services.list_conversations()
        ]
        current = None if self.session.incognito else self.session.conversation_id
        self.query_one(ConversationList).set_items(items, current)

    def refresh_context(self) -> None:
        if self.model_ready and not self.streaming:
            self._context_worker()

    @work(thread=True, group="context", exclusive=True, exit_on_error=False)
    def _context_worker(self) -> None:
        info = self.session.measure()
        if info is None:  # no model yet, or a template problem the next answer will report
            return
        self.post_message(ContextUpdated(info.tokens_used, info.n_ctx, info.dropped_messages))

    def on_context_updated(self, message: ContextUpdated) -> None:
        status = self.query_one(StatusLine)
        status.tokens_used = message.tokens_used
        status.n_ctx = message.n_ctx
        status.dropped = message.dropped

    def set_model_state(self, message: ModelStateChanged) -> None:
        """Called by the app whenever the engine's model changes state."""
        status = self.query_one(StatusLine)
        status.model_state = message.state
        status.model_name = message.name
        status.model_detail = message.detail
        status.template = self.services.template_name(self.session)
        self.model_ready = message.state == "ready"
        if message.state == "failed":
            self._show_banner(f"Model failed to load: {message.detail}", "Retry")
        elif message.state in ("ready", "loading"):
            self._hide_banner()
        if self.model_ready:
            self.refresh_context()

    # banner: restart after a crash, retry after a failed load --------------------

    def _show_banner(self, text: str, button: str) -> None:
        self.query_one("#banner-text", Static).update(text)
        self.query_one("#banner-button", Button).label = button
        self.query_one("#banner").display = True

    def _hide_banner(self) -> None:
        self.query_one("#banner").display = False

    @on(Button.Pressed, "#banner-button")
    def _banner_pressed(self) -> None:
        self._hide_banner()
        self.app.call_later(self.app.run_action, "restart_engine")

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
            self.send(self.query_one(Composer).text)

    def send(self, text: str) -> None:
        if self.streaming:
            self.notify("An answer is still streaming: Stop it first.", severity="warning")
            return
        if not text.strip():
            return
        if not self.model_ready:
            self.notify("The model is not ready yet.", severity="warning")
            return
        composer = self.query_one(Composer)
        composer.clear()
        if self._editing_id is not None:
            message_id, self._editing_id = self._editing_id, None
            self._set_editing(False)
            self._start_answer(lambda: self.session.edit(message_id, text))
        else:
            self._start_answer(lambda: self.session.ask(text))

    def _start_answer(self, events: Callable[[], AsyncIterator[SessionEvent]]) -> None:
        self.streaming = True
        self._run_answer(events)

    @work(group=ANSWER_GROUP, exclusive=True, exit_on_error=False)
    async def _run_answer(self, events: Callable[[], AsyncIterator[SessionEvent]]) -> None:
        from tui.chat.session import AnswerChunk, AnswerFailed, AnswerFinished, AnswerStarted

        async for event in events():
            if isinstance(event, AnswerChunk):
                self.post_message(Answer.Chunk(event))
            elif isinstance(event, AnswerStarted):
                self.post_message(Answer.Started(event))
            elif isinstance(event, AnswerFinished):
                self.post_message(Answer.Finished(event))
            elif isinstance(event, AnswerFailed):
                self.post_message(Answer.Failed(event))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group == ANSWER_GROUP and event.state == WorkerState.ERROR:
            # A bug in the session, not a model failure: keep the app, say what happened.
            self.notify(f"Answer failed: {worker.error}", severity="error", timeout=10)
            self.call_later(self._end_stream, "failed", "")
        elif worker.group == "context" and event.state == WorkerState.ERROR:
            self.log.warning(f"context meter: {worker.error}")

    async def on_answer_started(self, message: Answer.Started) -> None:
        event = message.event
        self.streaming = True
        await self._sync_path()
        view = self._view_for(event.assistant_message_id)
        if view is None:
            view = MessageView(MessageData(event.assistant_message_id, "assistant", ""))
            await self.log_view.mount(view)
            self.query_one("#empty").display = False
        self._stream_view = view
        view.start_stream()
        self._stream_tokens = 0
        model = self.session.engine.model
        self._pacer.budget = budget_for(model.n_threads if model else None)
        self._pacer.start()
        self._rate_due = time.monotonic() + RATE_REFRESH
        self._stream_pending.clear()
        self.log_view.anchor()
        self._refresh_title()
        if event.notice and event.notice != self._last_notice:
            self._last_notice = event.notice
            self.notify(event.notice, title="Template", severity="warning", timeout=8)
        self.on_context_updated(
            ContextUpdated(
                event.context.tokens_used, event.context.n_ctx, event.context.dropped_messages
            )
        )

    def _redraw_interval(self) -> float:
        return self._pacer.interval

    async def on_answer_chunk(self, message: Answer.Chunk) -> None:
        if self._stream_view is None:
            return
        now = time.monotonic()
        if self._stream_tokens == 0:
            self._stream_started = now
        self._stream_tokens += message.event.tokens
        self._stream_pending.append(message.event.text)
        if self._stream_flush is not None:
            return  # a redraw is already due
        wait = self._pacer.wait()
        if wait <= 0.02:  # paced text comes just when a redraw is due
            await self._flush_stream()
        else:
            self._stream_flush = self.set_timer(wait, self._flush_stream)

    async def _flush_stream(self) -> None:
        """Show the text that arrived since the last screen update, in one frame."""
        self._stream_flush = None
        if self._stream_view is None or not self._stream_pending:
            return
        text = "".join(self._stream_pending)
        self._stream_pending.clear()
        self._pacer.drawn()
        now = time.monotonic()
        with self.app.batch_update():
            await self._stream_view.append(text)
            elapsed = now - self._stream_started
            # The live tokens/s: once a second is enough, and each change is a frame.
            if self._stream_tokens > 1 and elapsed > 0 and now >= self._rate_due:
                self._rate_due = now + RATE_REFRESH
                status = self.query_one(StatusLine)
                status.tokens_per_second = (self._stream_tokens - 1) / elapsed

    async def on_answer_finished(self, message: Answer.Finished) -> None:
        event = message.event
        stats = event.stats.to_dict() if hasattr(event.stats, "to_dict") else None
        await self._end_stream(event.status, format_stats(stats, event.status))
        # After the last flush (which shows the live estimate): the engine's own figure.
        if stats and stats.get("generation_tps"):
            self.query_one(StatusLine).tokens_per_second = float(stats["generation_tps"])

    async def on_answer_failed(self, message: Answer.Failed) -> None:
        event = message.event
        self.notify(event.message, title="Answer failed", severity="error", timeout=10)
        await self._end_stream("failed", f"failed: {event.message}")
        if event.crashed:
            self.model_ready = False
            self.query_one(StatusLine).model_state = "failed"
            self.query_one(StatusLine).model_detail = "engine stopped"
            self._show_banner(f"The engine stopped: {event.message}", "Restart")

    async def _end_stream(self, status: str, meta: str) -> None:
        if self._stream_flush is not None:
            self._stream_flush.stop()
        await self._flush_stream()
        self._stream_pending.clear()
        view, self._stream_view = self._stream_view, None
        unused = 0
        if view is not None:
            unused = await view.stop_stream()
            view.update_data(
                MessageData(
                    view.data.id,
                    view.data.role,
                    view.data.text,
                    status,
                    meta,
                    view.data.branch_index,
                    view.data.branch_count,
                )
            )
        self.streaming = False
        if status != "failed":
            await self._sync_path()
        if view is not None and view.is_mounted:
            view.keep_gap(unused)  # after the sync, which closes gaps
        self._refresh_title()
        self.refresh_list()
        self.refresh_context()
        self.answers_ended += 1  # last: the end of the answer is handled

    def watch_streaming(self, streaming: bool) -> None:
        send = self.query_one("#send", Button)
        send.label = "Stop" if streaming else "Send"
        send.variant = "error" if streaming else "primary"
        self.query_one(Composer).hold_cursor(streaming)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            return self.streaming
        if action in ("regenerate_last", "continue_last"):
            return None if self.streaming else True
        return True

    async def wait_for_answer(self, timeout: float = 10.0) -> None:
        """Wait until the running answer (if any) has ended and its end was handled."""
        for worker in list(self.workers):
            if worker.group == ANSWER_GROUP and not worker.is_finished:
                with contextlib.suppress(Exception):  # its error was already reported
                    await worker.wait()
        deadline = time.monotonic() + timeout
        while self.streaming and time.monotonic() < deadline:
            await asyncio.sleep(0.02)  # let the queued answer messages land

    # actions -------------------------------------------------------------------

    def action_stop(self) -> None:
        if self.streaming:
            self.session.cancel()
        elif self._editing_id is not None:
            self._editing_id = None
            self._set_editing(False)
            self.query_one(Composer).clear()

    def action_new_chat(self) -> None:
        if self._busy():
            return
        self.session.new_conversation(incognito=False)
        self.show_list = False
        self._after_conversation_change()
        self.query_one(Composer).focus()

    def action_toggle_incognito(self) -> None:
        if self._busy():
            return
        self.session.new_conversation(incognito=not self.session.incognito)
        self._after_conversation_change()
        self.notify(
            "Incognito: this chat is never written to disk."
            if self.session.incognito
            else "Left incognito: the incognito chat is gone."
        )
        self.query_one(Composer).focus()

    def action_toggle_list(self) -> None:
        # Wide: the list is shown beside the chat and -show-list hides it. Narrow: the
        # open list replaces the chat.
        self.show_list = not self.show_list

    def watch_show_list(self, show: bool) -> None:
        self.set_class(show, "-show-list")
        if show and not self.has_class("-wide"):
            self.query_one("#chats-filter").focus()
        else:
            self.query_one(Composer).focus()

    def _busy(self) -> bool:
        if self.streaming:
            self.notify("An answer is streaming: Stop it first.", severity="warning")
            return True
        return False

    def _last(self, role: str) -> MessageView | None:
        views = [v for v in self.log_view.query(MessageView) if v.data.role == role]
        return views[-1] if views else None

    def action_regenerate_last(self) -> None:
        view = self._last("assistant")
        if view is not None:
            self.do_message_action(view, "regenerate")

    def action_continue_last(self) -> None:
        view = self._last("assistant")
        if view is not None:
            self.do_message_action(view, "continue")

    def action_edit_last(self) -> None:
        view = self._last("user")
        if view is not None:
            self.do_message_action(view, "edit")

    def action_copy_last(self) -> None:
        view = self._last("assistant")
        if view is not None:
            self.do_message_action(view, "copy")

    @on(ConversationList.Selected)
    def _conversation_selected(self, event: ConversationList.Selected) -> None:
        if self._busy():
            return
        self.session.open_conversation(event.conversation_id)
        self.show_list = False
        self._after_conversation_change()

    @on(ConversationList.NewChat)
    def _list_new_chat(self) -> None:
        self.action_new_chat()

    @on(Button.Pressed, "#toggle-list")
    def _toggle_list_pressed(self) -> None:
        self.action_toggle_list()

    @on(Button.Pressed, "#new-chat")
    def _new_chat_pressed(self) -> None:
        self.action_new_chat()

    @on(Button.Pressed, "#incognito-button")
    def _incognito_pressed(self) -> None:
        self.action_toggle_incognito()

    # sheets and the command palette ----------------------------------------------

    def sheet_closed(self, action: str, result: object) -> None:
        """A sheet from issue 6 closed: whatever it changed, show the current state."""
        if not self.streaming:
            self._refresh_conversation()
        self.query_one(StatusLine).template = self.services.template_name(self.session)
        if isinstance(result, dict) and result.get("message_id"):  # a history search hit
            self._scroll_to_message(int(result["message_id"]))

    @work(group="scroll-to", exclusive=True)
    async def _scroll_to_message(self, message_id: int) -> None:
        """Show a message (after the conversation re-rendered) instead of the bottom."""
        for worker in list(self.workers):
            if worker.group == "render" and not worker.is_finished:
                with contextlib.suppress(Exception):
                    await worker.wait()
        view = self._view_for(message_id)
        if view is not None:
            self.log_view.release_anchor()
            self.call_after_refresh(view.scroll_visible, top=True, animate=False)

    def commands(self) -> Iterable[SystemCommand]:
        """Every chat action, for the command palette."""
        yield SystemCommand("New chat", "Start a new conversation (ctrl+n)", self.action_new_chat)
        yield SystemCommand(
            "Incognito",
            "Start or leave a chat that is never saved (ctrl+g)",
            self.action_toggle_incognito,
        )
        yield SystemCommand(
            "Conversations",
            "Show or hide the conversation list (ctrl+l)",
            self.action_toggle_list,
        )
        if self.streaming:
            yield SystemCommand(
                "Stop", "Stop the answer, keep what it wrote (esc)", self.action_stop
            )
        yield SystemCommand(
            "Regenerate",
            "A new answer to the last question (ctrl+r)",
            self.action_regenerate_last,
        )
        yield SystemCommand(
            "Continue", "Continue the last answer (ctrl+t)", self.action_continue_last
        )
        yield SystemCommand("Edit last question", "Edit and resend it", self.action_edit_last)
        yield SystemCommand("Copy last answer", "Copy it to the clipboard", self.action_copy_last)
        yield SystemCommand(
            "Previous branch",
            "Show the previous version of the last answer",
            lambda: self._last_action("branch_prev"),
        )
        yield SystemCommand(
            "Next branch",
            "Show the next version of the last answer",
            lambda: self._last_action("branch_next"),
        )
        yield SystemCommand(
            "Delete last answer", "Delete the last answer", lambda: self._last_action("delete")
        )

    def _last_action(self, action: str) -> None:
        view = self._last("assistant")
        if view is not None:
            self.do_message_action(view, action)

    # per-message actions ---------------------------------------------------------

    @on(MessageView.Action)
    def _message_action(self, event: MessageView.Action) -> None:
        event.stop()
        if event.action == "menu":
            self._open_actions(event.view)
        else:
            self.do_message_action(event.view, event.action)

    def _open_actions(self, view: MessageView) -> None:
        data = view.data
        actions: list[tuple[str, str]] = [("copy", "Copy")]
        if data.role == "assistant":
            actions += [("regenerate", "Regenerate"), ("continue", "Continue")]
        elif data.role == "user":
            actions.append(("edit", "Edit & resend"))
        if data.branch_count > 1:
            actions += [("branch_prev", "‹ Prev branch"), ("branch_next", "Next branch ›")]
        actions.append(("delete", "Delete"))
        role = "your message" if data.role == "user" else "this answer"

        def chosen(action: str | None) -> None:
            if action:
                self.do_message_action(view, action)

        self.app.push_screen(MessageActionsSheet(f"Actions for {role}", actions), chosen)

    def do_message_action(self, view: MessageView, action: str) -> None:
        data = view.data
        if action == "copy":
            self.copy_text(view.text)
            return
        if self._busy() or data.id is None:
            return
        message_id = data.id
        if action == "regenerate" and data.role == "assistant":
            if self._need_model():
                self._start_answer(lambda: self.session.regenerate(message_id))
        elif action == "continue" and data.role == "assistant":
            if self._need_model():
                self._start_answer(lambda: self.session.continue_answer(message_id))
        elif action == "edit" and data.role == "user":
            composer = self.query_one(Composer)
            composer.load_text(data.text)
            composer.move_cursor(composer.document.end)
            composer.focus()
            self._editing_id = message_id
            self._set_editing(True)
        elif action in ("branch_prev", "branch_next"):
            self.session.switch_branch(message_id, -1 if action == "branch_prev" else 1)
            self._refresh_conversation()
        elif action == "delete":
            self._confirm_delete(message_id, data.role)

    def _need_model(self) -> bool:
        if not self.model_ready:
            self.notify("The model is not ready yet.", severity="warning")
        return self.model_ready

    def _confirm_delete(self, message_id: int, role: str) -> None:
        what = "this question and the answers under it" if role == "user" else "this answer"

        def answered(yes: bool | None) -> None:
            if yes:
                self._delete_message(message_id)

        self.app.push_screen(ConfirmSheet(f"Delete {what}?", yes="Delete"), answered)

    @work(thread=True, group="delete", exit_on_error=False)
    def _delete_message(self, message_id: int) -> None:
        """Off the UI: deleting scrubs the search index (seconds on a very big history)."""
        try:
            self.services.delete_message(self.session, message_id)
        except Exception as exc:
            self.app.call_from_thread(self.notify, f"Delete failed: {exc}", severity="error")
        self.app.call_from_thread(self._refresh_conversation)

    def _set_editing(self, editing: bool) -> None:
        self.query_one("#composer-row").set_class(editing, "-editing")
        self.query_one(Composer).border_title = (
            "Editing: Enter resends · Esc cancels" if editing else None
        )

    def copy_text(self, text: str) -> None:
        """Copy with OSC 52 (any terminal that allows it) and termux-clipboard-set."""
        self.app.copy_to_clipboard(text)
        if shutil.which("termux-clipboard-set"):
            self._termux_copy(text)
        self.notify("Copied.", timeout=2)

    @work(thread=True, group="clipboard", exit_on_error=False)
    def _termux_copy(self, text: str) -> None:
        subprocess.run(["termux-clipboard-set"], input=text, text=True, timeout=10, check=False)
