"""Import a JSON export: the export files listed to pick with a tap, or a path typed.

The path field starts at the export folder, so a typed file name goes on after it; the list
shows that folder's ``*.json`` files, newest first, with their size and date.
"""

from __future__ import annotations

import time
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.content import Content
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tui.engine.memory import format_bytes
from tui.ui.widgets.sheets import TextPromptSheet

IMPORT_CSS = """
ImportSheet #import-files {
    height: auto; max-height: 10; margin-bottom: 1; scrollbar-size-vertical: 1;
}
ImportSheet #import-files > .option-list--option { padding: 0; }
ImportSheet #import-none { color: $text-muted; margin-bottom: 1; }
"""


def export_files(folder: Path) -> list[Path]:
    """The ``*.json`` files in ``folder``, newest first (none if it cannot be read)."""
    try:
        found = [(p.stat().st_mtime, p) for p in folder.glob("*.json") if p.is_file()]
    except OSError:
        return []
    return [p for _, p in sorted(found, key=lambda pair: pair[0], reverse=True)]


def _label(path: Path) -> Content:
    try:
        info = path.stat()
    except OSError:
        return Content(path.name)
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.st_mtime))
    details = f"{format_bytes(info.st_size)} · {when}"
    return Content.assemble((path.name, "bold"), "\n", (details, "dim"))


class ImportSheet(TextPromptSheet):
    """Pick an export by tap (``#import-files``) or type a path; dismisses with the path."""

    DEFAULT_CSS = IMPORT_CSS

    def __init__(self, folder: Path) -> None:
        super().__init__(
            "Import a JSON export: tap one, or type a path.",
            value=str(folder) + "/",
            ok="Import",
        )
        self.files = export_files(folder)

    def compose_extra(self) -> ComposeResult:
        if not self.files:
            yield Static("No exports in this folder yet.", id="import-none", markup=False)
            return
        yield OptionList(
            *(Option(_label(path), id=str(path)) for path in self.files),
            id="import-files",
            compact=True,
        )

    @on(OptionList.OptionSelected, "#import-files")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)
