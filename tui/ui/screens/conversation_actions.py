"""What can be done to one whole conversation (open, rename, pin, tag, export, delete), for
any screen that lists conversations: History and the chat screen's conversation list. Both
offer the same sheet, so a row's "⋯" means the same thing everywhere.

A screen mixes in :class:`ConversationActions` and says what opening a row means and what to
refresh when conversations change. Deletes and exports run in thread workers, counted in
:attr:`ConversationActions.busy`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from textual import work

from tui import paths
from tui.ui.screens.dialogs import ConfirmSheet, MessageActionsSheet
from tui.ui.widgets.sheets import TextPromptSheet

if TYPE_CHECKING:
    from tui.chat.session import ChatSession
    from tui.store import Store
    from tui.ui.services import Services
    from tui.ui.widgets.row_list import Row

R = TypeVar("R")


def conversation_menu(pinned: bool) -> list[tuple[str, str]]:
    """The (action, button label) pairs offered for one conversation."""
    return [
        ("open", "Open"),
        ("rename", "Rename"),
        ("pin", "Unpin" if pinned else "Pin"),
        ("tag", "Tag"),
        ("export_md", "Export .md"),
        ("export_json", "Export .json"),
        ("delete", "Delete"),
    ]


class ConversationActions:
    """Mixed into a :class:`~textual.screen.Screen` that lists conversations."""

    if TYPE_CHECKING:  # provided by the screen
        services: Services
        app: Any

        @property
        def session(self) -> ChatSession | None: ...
        def notify(self, message: str, **kwargs: Any) -> None: ...

    busy = 0
    """Deletes, exports, imports and wipes running: tests wait on it."""

    export_dir: Path | None = None
    """Where exports go (None: the default exports folder)."""

    def open_row(self, row: Row) -> None:
        """Open the row's conversation (the screen decides what that means)."""
        raise NotImplementedError

    def conversations_changed(self) -> None:
        """A conversation was renamed, pinned, tagged, deleted or imported: show it."""
        raise NotImplementedError

    @property
    def store(self) -> Store:
        return self.services.store

    def conversation_actions(self, row: Row) -> None:
        """The action sheet for the row's conversation; the chosen action runs on it."""
        try:
            conversation = self.store.get_conversation(row.conversation_id)
        except LookupError:
            self.notify("That conversation is gone.", severity="error")
            self.conversations_changed()
            return

        def chosen(action: str | None) -> None:
            if action:
                self.conversation_action(row, action)

        self.app.push_screen(
            MessageActionsSheet(
                conversation.title or "Untitled", conversation_menu(conversation.pinned)
            ),
            chosen,
        )

    def conversation_action(self, row: Row, action: str) -> None:
        cid = row.conversation_id
        try:
            if action == "open":
                self.open_row(row)
            elif action == "rename":
                self.ask_text(
                    "New title:",
                    lambda text: self.store.rename_conversation(cid, text.strip() or row.title),
                    value=row.title,
                )
            elif action == "tag":
                self.ask_text(
                    "Tag (empty removes it):",
                    lambda text: self.store.update_conversation(cid, tag=text.strip() or None),
                    value=self.store.get_conversation(cid).tag or "",
                )
            elif action == "pin":
                self.store.set_pinned(cid, not self.store.get_conversation(cid).pinned)
                self.conversations_changed()
            elif action in ("export_md", "export_json"):
                self.export([cid], action.removeprefix("export_"))
            elif action == "delete":
                self._confirm_delete(row)
        except LookupError:  # deleted meanwhile (by another window, the CLI)
            self.notify("That conversation is gone.", severity="error")
            self.conversations_changed()

    def ask_text(self, question: str, then: Callable[[str], object], value: str = "") -> None:
        def answered(text: str | None) -> None:
            if text is not None:
                then(text)
                self.conversations_changed()

        self.app.push_screen(TextPromptSheet(question, value=value), answered)

    def _confirm_delete(self, row: Row) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.delete(row.conversation_id)

        title = row.title or "this conversation"
        self.app.push_screen(
            ConfirmSheet(f"Delete {title!r} and all its messages?", yes="Delete"), answered
        )

    @work(thread=True, group="files", exit_on_error=False)
    def delete(self, conversation_id: int) -> None:
        """Delete, then compact the file so the deleted text is not left in it (as the CLI)."""

        def delete_and_compact() -> int:
            self.store.delete_conversation(conversation_id)
            self.store.compact()
            return conversation_id

        self.file_task(delete_and_compact, "Delete failed", self.after_delete)

    def after_delete(self, conversation_id: int) -> None:
        session = self.session
        if session is not None and session.conversation_id == conversation_id:
            session.new_conversation()
        self.notify("Deleted.", timeout=2)
        self.conversations_changed()

    @work(thread=True, group="files", exit_on_error=False)
    def export(self, conversation_ids: list[int] | None, fmt: str) -> None:
        from tui.store.export import export

        folder = self.export_dir or paths.exports_dir()
        self.file_task(
            # Fails on a folder that cannot be written, a vanished conversation.
            lambda: export(self.store, conversation_ids, fmt, folder),
            "Export failed",
            lambda written: self.notify(f"Exported to {written}", title="Export"),
            title="Export",
        )

    def file_task(
        self, task: Callable[[], R], failed: str, done: Callable[[R], None], title: str = ""
    ) -> None:
        """In a worker thread: run ``task``, counted in :attr:`busy`; then ``done`` with its
        result on the UI's thread, or a notification that it ``failed``."""
        self.app.call_from_thread(self._count_running, 1)
        try:
            result = task()
        except Exception as exc:
            self.app.call_from_thread(
                self.notify, f"{failed}: {exc}", title=title, severity="error"
            )
        else:
            self.app.call_from_thread(done, result)
        finally:
            self.app.call_from_thread(self._count_running, -1)

    def _count_running(self, step: int) -> None:
        """A file task (delete, export, import, wipe) started (+1) or ended (-1)."""
        self.busy += step
