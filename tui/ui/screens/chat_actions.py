"""The chat screen's actions: what can be done to one message (the actions, the sheet that
offers them, the handler of each) and the command palette's entries."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING

from tui.ui.screens.dialogs import ConfirmSheet, MessageActionsSheet
from tui.ui.widgets.context import TrimDivider
from tui.ui.widgets.conversation_log import ConversationLog
from tui.ui.widgets.message_view import MessageData, MessageView

if TYPE_CHECKING:
    from tui.ui.screens.chat import ChatScreen


class MessageAction(StrEnum):
    """A message's actions. The values are what the message's keys and its action sheet send
    (``MessageView.Action``); a plain string equal to a value finds the same handler."""

    COPY = "copy"
    REGENERATE = "regenerate"
    CONTINUE = "continue"
    EDIT = "edit"
    BRANCH_PREV = "branch_prev"
    BRANCH_NEXT = "branch_next"
    DELETE = "delete"


#: A message view asks for its action sheet with this (not an action on the message).
MENU = "menu"


def menu_for(data: MessageData) -> list[tuple[str, str]]:
    """The (action, button label) pairs the action sheet offers for this message."""
    actions: list[tuple[str, str]] = [(MessageAction.COPY, "Copy")]
    if data.role == "assistant":
        actions += [(MessageAction.REGENERATE, "Regenerate"), (MessageAction.CONTINUE, "Continue")]
    elif data.role == "user":
        actions.append((MessageAction.EDIT, "Edit & resend"))
    if data.branch_count > 1:
        actions += [
            (MessageAction.BRANCH_PREV, "‹ Prev branch"),
            (MessageAction.BRANCH_NEXT, "Next branch ›"),
        ]
    actions.append((MessageAction.DELETE, "Delete"))
    return actions


#: The command palette's screen actions: (title, help, action). Stop is listed while an
#: answer streams; the actions on the last message follow (LAST_MESSAGE_COMMANDS).
PALETTE: list[tuple[str, str, str]] = [
    ("New chat", "Start a new conversation (ctrl+n)", "new_chat"),
    ("Incognito", "Start or leave a chat that is never saved (ctrl+g)", "toggle_incognito"),
    ("Conversations", "Show or hide the conversation list (ctrl+l)", "toggle_list"),
    ("Find in chat", "Find text in this conversation (ctrl+b)", "find"),
    ("Stop", "Stop the answer, keep what it wrote (esc)", "stop"),
]


#: The command palette's actions on the last message: (title, help, its role, the action).
LAST_MESSAGE_COMMANDS: list[tuple[str, str, str, MessageAction]] = [
    (
        "Regenerate",
        "A new answer to the last question (ctrl+r)",
        "assistant",
        MessageAction.REGENERATE,
    ),
    ("Continue", "Continue the last answer (ctrl+t)", "assistant", MessageAction.CONTINUE),
    ("Edit last question", "Edit and resend it", "user", MessageAction.EDIT),
    ("Copy last answer", "Copy it to the clipboard", "assistant", MessageAction.COPY),
    (
        "Previous branch",
        "Show the previous version of the last answer",
        "assistant",
        MessageAction.BRANCH_PREV,
    ),
    (
        "Next branch",
        "Show the next version of the last answer",
        "assistant",
        MessageAction.BRANCH_NEXT,
    ),
    ("Delete last answer", "Delete the last answer", "assistant", MessageAction.DELETE),
]


def open_menu(screen: ChatScreen, view: MessageView) -> None:
    """The action sheet for the message ``view`` shows; the chosen action runs on it."""
    role = "your message" if view.data.role == "user" else "this answer"

    def chosen(action: str | None) -> None:
        if action:
            screen.do_message_action(view, action)

    screen.app.push_screen(MessageActionsSheet(f"Actions for {role}", menu_for(view.data)), chosen)


# The handlers: each gets the chat screen, the message's id and what its view shows. Copy is
# not here: it is the one action that works while an answer streams (ChatScreen runs it).


def _regenerate(screen: ChatScreen, message_id: int, data: MessageData) -> None:
    if screen.need_model():
        screen.start_answer(lambda: screen.session.regenerate(message_id))


def _continue(screen: ChatScreen, message_id: int, data: MessageData) -> None:
    if screen.need_model():
        screen.start_answer(lambda: screen.session.continue_answer(message_id))


def _edit(screen: ChatScreen, message_id: int, data: MessageData) -> None:
    screen.composer.start_editing(message_id, data.text)


def _flip(screen: ChatScreen, message_id: int, step: int) -> None:
    # The flip replaces the focused view: focus the one now in its place, so a second
    # Left/Right acts on the same message (else focus falls back to the one above).
    views = screen.log_view.views()
    focused = screen.focused
    index = views.index(focused) if isinstance(focused, MessageView) and focused in views else None
    screen.session.switch_branch(message_id, step)
    screen.refresh_conversation(index)


def _branch_prev(screen: ChatScreen, message_id: int, data: MessageData) -> None:
    _flip(screen, message_id, -1)


def _branch_next(screen: ChatScreen, message_id: int, data: MessageData) -> None:
    _flip(screen, message_id, 1)


def _confirm_delete(screen: ChatScreen, message_id: int, data: MessageData) -> None:
    what = "this question and the answers under it" if data.role == "user" else "this answer"

    def answered(yes: bool | None) -> None:
        if yes:
            screen.run_worker(
                partial(_delete, screen, message_id),
                group="delete",
                thread=True,
                exit_on_error=False,
            )

    screen.app.push_screen(ConfirmSheet(f"Delete {what}?", yes="Delete"), answered)


def _delete(screen: ChatScreen, message_id: int) -> None:
    """In a thread: deleting scrubs the search index (seconds on a very big history)."""
    try:
        screen.services.delete_message(screen.session, message_id)
    except Exception as exc:
        screen.app.call_from_thread(screen.notify, f"Delete failed: {exc}", severity="error")
    screen.app.call_from_thread(screen.refresh_conversation)


Handler = Callable[["ChatScreen", int, MessageData], None]

#: Each action on a stored message: the role it applies to (None: any) and its handler.
HANDLERS: dict[str, tuple[str | None, Handler]] = {
    MessageAction.REGENERATE: ("assistant", _regenerate),
    MessageAction.CONTINUE: ("assistant", _continue),
    MessageAction.EDIT: ("user", _edit),
    MessageAction.BRANCH_PREV: (None, _branch_prev),
    MessageAction.BRANCH_NEXT: (None, _branch_next),
    MessageAction.DELETE: (None, _confirm_delete),
}


async def show_trim(log: ConversationLog, dropped: int) -> None:
    """Put the trim divider before the first message sent to the model (``dropped`` shown
    messages are left out); none when nothing is."""
    views = log.views()
    dividers = list(log.query(TrimDivider))
    if not dropped or not views:
        for divider in dividers:
            await divider.remove()
        return
    before = views[min(dropped, len(views) - 1)]
    divider = dividers[0] if dividers else TrimDivider(dropped)
    divider.show(dropped)
    if divider.is_mounted:
        log.move_child(divider, before=before)
    else:
        await log.mount(divider, before=before)
