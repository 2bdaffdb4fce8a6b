"""The history browser: full-text search as you type, open a hit, manage conversations.

Search runs in a worker (``Store.search``, FTS5; see ``docs/history.md`` for the syntax) and
``tag:NAME`` lists the conversations with that tag. A hit opens its conversation on the
branch that holds the matching message. Rename, pin, tag, export and delete act on one
conversation (``conversation_actions.py``, shared with the chat screen's list); **More**
exports or imports everything, picks the export folder, or wipes the history after a typed
confirmation. Exports, imports and wipes run in workers too.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Button, Input, Static
from textual.worker import get_current_worker

from tui import paths
from tui.ui.screens.conversation_actions import ConversationActions
from tui.ui.screens.dialogs import MessageActionsSheet
from tui.ui.screens.history_import import ImportSheet
from tui.ui.widgets.history_results import END, START, HistoryResults
from tui.ui.widgets.row_list import Row
from tui.ui.widgets.sheets import SheetScreen, TextPromptSheet

if TYPE_CHECKING:
    from tui.store import ImportResult
    from tui.ui.services import Services

WIPE_WORD = "wipe"


class HistoryScreen(ConversationActions, SheetScreen):
    """Search and manage every saved conversation."""

    TITLE_TEXT = "History"
    DEFAULT_CSS = """
    HistoryScreen #history-info { height: auto; padding: 0 1; color: $text-muted; }
    HistoryScreen #history-results { height: 1fr; padding: 0 0 0 1; }
    HistoryScreen.-compact .actions { grid-size: 3; }
    /* With the soft keyboard up the list keeps three rows: the search loses its frame
       and the count line goes. */
    HistoryScreen.-short #history-search { height: 1; border: none; padding: 0 1; }
    HistoryScreen.-short #history-info { display: none; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        *SheetScreen.BINDINGS,
        Binding("ctrl+t", "manage", "Actions"),
        Binding("ctrl+g", "more", "More"),
        Binding("ctrl+f", "focus_search", "Search", show=False),
        # Enter in the search opens the first hit; Down goes to the list to pick another.
        Binding("down", "focus_results", "Results", show=False),
    ]

    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services
        self.export_dir: Path = paths.exports_dir()
        self.searches = 0
        """How many result lists have been shown: tests wait on it."""
        self.busy = 0
        """Deletes, exports, imports and wipes running: tests wait on it."""
        self._opened: dict[str, Any] | None = None
        self._open_first = False

    def compose_body(self) -> ComposeResult:
        self._query = Input(placeholder="Search all conversations…", id="history-search")
        yield self._query
        self._info = Static("", id="history-info", markup=False)
        yield self._info
        self._results = HistoryResults(id="history-results")
        yield self._results
        with Horizontal(classes="actions"):
            yield Button("Open", id="history-open", variant="primary", action="screen.open")
            yield Button("Actions", id="history-manage", action="screen.manage")
            yield Button("More", id="history-more", action="screen.more")

    def on_mount(self) -> None:
        self._query.focus()
        self.refresh_results()

    @property
    def rows(self) -> list[Row]:
        """What each result opens, in the list's order."""
        return self._results.rows

    # searching ---------------------------------------------------------------------

    @on(Input.Changed, "#history-search")
    def _typed(self, event: Input.Changed) -> None:
        self.refresh_results(debounce=0.15)

    @on(Input.Submitted, "#history-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        """Enter opens the first hit: search now (typing may still be debounced), then
        open the first row the search shows."""
        event.stop()
        self._open_first = True
        self.refresh_results()

    def refresh_results(self, debounce: float = 0.0) -> None:
        self._search(self._query.value, debounce)

    @work(thread=True, group="search", exclusive=True, exit_on_error=False)
    def _search(self, query: str, debounce: float) -> None:
        if debounce:
            time.sleep(debounce)  # typing fast: only the last query runs
        if get_current_worker().is_cancelled:
            return
        query = query.strip()
        try:
            if not query or query.startswith("tag:"):
                tag = query[4:].strip() or None if query else None
                found: list[Any] = self.store.list_conversations(limit=500, tag=tag)
            else:
                found = self.store.search(query, limit=100, start_mark=START, end_mark=END)
        except Exception as exc:  # a closed or broken store: say so, keep the app
            self.app.call_from_thread(self._show_error, str(exc))
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show, query, found)

    def _show_error(self, reason: str) -> None:
        self.searches += 1
        self._info.update(f"Search failed: {reason}")

    async def _show(self, query: str, found: list[Any]) -> None:
        count = len(found)
        if not query or query.startswith("tag:"):
            await self._results.show_conversations(found)
            what = f"with tag {query[4:].strip()!r}" if query else "saved"
            self._info.update(
                f"{count} conversation{'s' if count != 1 else ''} {what}. "
                "Type to search every message."
                if count
                else f"No conversations {what} yet."
            )
        else:
            await self._results.show_hits(found)
            self._info.update(
                f"{count} match{'es' if count != 1 else ''} for {query!r}"
                + (". Tap one to open it there." if count else ".")
            )
        self.searches += 1
        open_first, self._open_first = self._open_first, False
        if open_first and self.rows:
            self.open_row(self.rows[0])

    def current_row(self) -> Row | None:
        return self._results.current_row()

    def action_focus_search(self) -> None:
        self._query.focus()

    def action_focus_results(self) -> None:
        if self.rows:
            self._results.focus()

    # opening -------------------------------------------------------------------------

    @on(HistoryResults.Opened)
    def _chosen(self, event: HistoryResults.Opened) -> None:
        if 0 <= event.index < len(self.rows):
            self._results.highlighted = event.index
            self.open_row(self.rows[event.index])

    @on(HistoryResults.Actions)
    def _row_actions(self, event: HistoryResults.Actions) -> None:
        """A row's own "⋯": its actions, whichever row is highlighted."""
        if 0 <= event.index < len(self.rows):
            self._results.highlighted = event.index
            self.action_manage()

    def action_open(self) -> None:
        row = self.current_row()
        if row is not None:
            self.open_row(row)

    def open_row(self, row: Row) -> None:
        """Open the conversation; for a message hit, on the branch that holds it."""
        chat = getattr(self.app, "chat", None)
        session = self.session
        if session is None:
            return
        if chat is not None and getattr(chat, "streaming", False):
            self.notify("An answer is streaming: Stop it first.", severity="warning")
            return
        try:
            if row.message_id is not None:
                self.store.switch_branch(row.message_id)
            session.open_conversation(row.conversation_id)
        except LookupError:
            self.notify("That conversation is gone.", severity="error")
            self.refresh_results()
            return
        self._opened = {"opened": row.conversation_id, "message_id": row.message_id}
        self.dismiss(self._opened)

    def result(self) -> dict[str, Any] | None:
        return self._opened

    # one conversation (the actions themselves are ConversationActions') ---------------

    def action_manage(self) -> None:
        row = self.current_row()
        if row is None:
            self.notify("Pick a conversation first.", severity="warning")
            return
        self.conversation_actions(row)

    def conversations_changed(self) -> None:
        self.refresh_results()

    # everything ---------------------------------------------------------------------

    def action_more(self) -> None:
        actions = [
            ("export_all_md", "Export all .md"),
            ("export_all_json", "Export all .json"),
            ("import", "Import .json"),
            ("folder", "Export folder"),
            ("wipe", "Wipe all"),
        ]

        def chosen(action: str | None) -> None:
            if action:
                self.history_action(action)

        self.app.push_screen(
            MessageActionsSheet(f"All conversations · exports go to {self.export_dir}", actions),
            chosen,
        )

    def history_action(self, action: str) -> None:
        if action in ("export_all_md", "export_all_json"):
            self.export(None, action.removeprefix("export_all_"))
        elif action == "import":
            self._ask_import()
        elif action == "folder":
            self._ask_path(
                "Export into this folder (on Termux ~/storage/shared/Documents works):",
                self.set_export_dir,
                str(self.export_dir),
            )
        elif action == "wipe":

            def confirmed(text: str | None) -> None:
                if text is not None:
                    self.wipe()

            self.app.push_screen(
                TextPromptSheet(
                    "Wipe every conversation and saved state from this device? This cannot be "
                    f"undone. Type {WIPE_WORD} to confirm.",
                    ok="Wipe",
                    must_equal=WIPE_WORD,
                    danger=True,
                ),
                confirmed,
            )

    def _ask_path(self, question: str, then: Any, value: str) -> None:
        def answered(text: str | None) -> None:
            if text and text.strip():
                then(Path(text.strip()).expanduser())

        self.app.push_screen(TextPromptSheet(question, value=value), answered)

    def _ask_import(self) -> None:
        def answered(text: str | None) -> None:
            if text and text.strip():
                self.import_file(Path(text.strip()).expanduser())

        self.app.push_screen(ImportSheet(self.export_dir), answered)

    def set_export_dir(self, folder: Path) -> None:
        self.export_dir = folder
        self.notify(f"Exports go to {folder}", timeout=3)

    @work(thread=True, group="files", exit_on_error=False)
    def import_file(self, file: Path) -> None:
        from tui.store.export import import_json

        self.file_task(
            lambda: import_json(self.store, file), "Import failed", self._after_import, "Import"
        )

    def _after_import(self, result: ImportResult) -> None:
        self.notify(
            f"Imported {result.conversations_added} new and {result.conversations_merged} "
            f"updated conversations ({result.messages_added} messages).",
            title="Import",
        )
        self.refresh_results()

    @work(thread=True, group="files", exit_on_error=False)
    def wipe(self) -> None:
        self.file_task(self.store.wipe, "Wipe failed", lambda _: self._after_wipe())

    def _after_wipe(self) -> None:
        session = self.session
        if session is not None and not session.incognito:
            session.new_conversation()
        self.notify("Every conversation was wiped.", title="History")
        self.refresh_results()

    # palette ---------------------------------------------------------------------------

    def commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand("Open conversation", "Open the highlighted one", self.action_open)
        yield SystemCommand(
            "Conversation actions", "Rename, pin, tag, export, delete", self.action_manage
        )
        yield SystemCommand(
            "Export all (Markdown)", "Every conversation, readable", lambda: self.export(None, "md")
        )
        yield SystemCommand(
            "Export all (JSON)", "Every conversation, complete", lambda: self.export(None, "json")
        )
        yield SystemCommand("Import JSON export", "", lambda: self.history_action("import"))
        yield SystemCommand("Export folder", "", lambda: self.history_action("folder"))
        yield SystemCommand(
            "Wipe history", "Typed confirmation", lambda: self.history_action("wipe")
        )
