"""The "Get models" sheet: the curated list with how each model fits this device, a download
that starts only after a confirmation naming the host and the size, and an import of a GGUF
file already on the phone.

Reading the list opens no connection (``tui.engine.curated``). A download is the one thing
Burrow sends over the network: :func:`tui.engine.download.target_for` names the host
without connecting, the confirmation shows it, and only a "Download" tap there starts the
worker that asks the host (``plan``) and fetches the file. Work runs in thread workers and
reports back with ``call_from_thread``; Cancel sets an event the transfer checks between
blocks (a cancelled download keeps its part file, so Download again resumes).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Button, OptionList, ProgressBar, Static
from textual.widgets.option_list import Option

from tui import paths
from tui.engine.memory import format_bytes
from tui.ui.widgets.sheets import SheetScreen, TextPromptSheet

if TYPE_CHECKING:
    from tui.engine.curated import CuratedFit
    from tui.engine.download import DownloadTarget
    from tui.engine.model_store import Progress
    from tui.ui.services import Services

_STYLE = {"fits": "$text-success", "tight": "$text-warning", "will not fit": "$text-error"}


def free_memory() -> int | None:
    """Bytes of RAM free for a new model (a seam: tests fix it)."""
    from tui.engine.memory import available_bytes

    return available_bytes()


def row_label(row: CuratedFit, present: bool = False) -> Content:
    """Three short lines (a 40-column phone): title; size; the fit label and licence."""
    model = row.model
    details = f"{model.params} params · {model.quant} · {format_bytes(model.size_bytes)}"
    label = row.verdict if row.verdict != "unknown" else "fit unknown"
    fit = f"{label}: needs {format_bytes(row.need_bytes)}"
    return Content.assemble(
        (model.title, "bold"),
        ("  ✓ downloaded" if present else "", "$text-success"),
        "\n",
        (details, "dim"),
        "\n",
        (fit, _STYLE.get(row.verdict, "dim")),
        (f" · {model.license}", "dim"),
    )


class GetModelsScreen(SheetScreen):
    """Download a curated model (after a confirmation) or import a GGUF file."""

    TITLE_TEXT = "Get models"
    DEFAULT_CSS = """
    GetModelsScreen #get-info { height: auto; padding: 0 1; color: $text-muted; }
    GetModelsScreen #get-list { height: 1fr; border: none; padding: 0 1; }
    GetModelsScreen #get-list > .option-list--option { padding: 0 1; }
    GetModelsScreen #get-progress { height: auto; display: none; padding: 0 1; }
    GetModelsScreen #get-progress.-busy { display: block; }
    GetModelsScreen #get-progress Horizontal { height: 3; }
    GetModelsScreen #get-bar { width: 1fr; padding: 1 1 0 0; }
    GetModelsScreen #get-cancel { width: auto; min-width: 10; }
    GetModelsScreen #get-state { height: auto; padding: 0 1; }
    GetModelsScreen #get-state.-failed { color: $text-error; }
    GetModelsScreen .actions { grid-size: 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        *SheetScreen.BINDINGS,
        Binding("ctrl+d", "download", "Download"),
    ]

    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services
        self.rows: list[CuratedFit] = []
        self.listed = 0
        """How many times the list was shown: tests wait on it."""
        self.busy = False
        self.finished: list[str] = []
        """Paths of the files added while the sheet was open (the picker shows them)."""
        self._cancel = threading.Event()
        self._last_progress = 0.0
        self._what = ""
        """What is being transferred (shown before the progress figures)."""
        self.info_text = Static("Reading the list…", id="get-info", markup=False)
        self.model_list = OptionList(id="get-list")
        self.progress_box = Vertical(id="get-progress")
        self.bar = ProgressBar(id="get-bar", show_eta=False, show_percentage=True)
        self.progress_text = Static("", id="get-progress-text", markup=False)
        self.state_text = Static("", id="get-state", markup=False)

    def compose_body(self) -> ComposeResult:
        yield self.info_text
        yield self.model_list
        with self.progress_box:
            with Horizontal():
                yield self.bar
                yield Button("Cancel", id="get-cancel", variant="error", action="screen.cancel")
            yield self.progress_text
        yield self.state_text
        with Horizontal(classes="actions"):
            yield Button("Download", id="get-download", variant="primary", action="screen.download")
            yield Button("Import file", id="get-import", action="screen.import_file")

    def on_mount(self) -> None:
        self.model_list.focus()
        self._list()

    # the list --------------------------------------------------------------------

    @work(thread=True, group="list", exclusive=True, exit_on_error=False)
    def _list(self) -> None:
        from tui.engine import curated, shared_storage

        settings = self.services.settings
        free = free_memory()
        try:
            rows = curated.with_fit(n_ctx=settings.n_ctx, n_batch=settings.n_batch, free=free)
        except curated.CuratedListError as exc:
            self.app.call_from_thread(self._list_failed, str(exc))
            return
        hint = shared_storage.report().hint
        self.app.call_from_thread(self._show_rows, rows, hint, free)

    def _list_failed(self, reason: str) -> None:
        self.listed += 1
        self.info_text.update(f"Could not read the list of models: {reason}")

    def _show_rows(self, rows: list[CuratedFit], hint: str | None, free: int | None) -> None:
        self.listed += 1
        before = self.selected()
        self.rows = rows
        self.model_list.clear_options()
        folder = paths.models_dir()
        for row in rows:
            present = (folder / Path(row.model.file).name).exists()
            self.model_list.add_option(Option(row_label(row, present), id=row.model.name))
        if rows:
            names = [r.model.name for r in rows]
            keep = before.model.name if before is not None else None
            self.model_list.highlighted = names.index(keep) if keep in names else 0
        n_ctx = self.services.settings.n_ctx or "auto"
        memory = f"{format_bytes(free)} free" if free is not None else "free memory unknown"
        text = (
            f"What fits first ({memory}, context {n_ctx}). The network is used only to "
            "download, after you confirm."
        )
        if hint:
            text += f"\nA model from the browser: {hint}."
        self.info_text.update(text)

    def selected(self) -> CuratedFit | None:
        index = self.model_list.highlighted
        if index is None or not 0 <= index < len(self.rows):
            return None
        return self.rows[index]

    # download ----------------------------------------------------------------------

    @on(OptionList.OptionSelected, "#get-list")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.action_download()

    def action_download(self) -> None:
        from tui.engine.model_store import ModelFileError

        row = self.selected()
        if row is None or self.busy:
            self.notify("Pick a model first." if row is None else "Wait for the current one.")
            return
        try:
            target = self._target(row.model.name)
        except ModelFileError as exc:
            self._show_state(str(exc), failed=True)
            return
        self._confirm(target)

    def _target(self, name: str) -> DownloadTarget:
        from tui.engine.download import refuse_present, target_for

        target = target_for(name)  # names the host; opens no connection
        refuse_present(target)
        return target

    def _confirm(self, target: DownloadTarget) -> None:
        from tui.ui.screens.dialogs import ConfirmSheet

        size = format_bytes(target.size_bytes) if target.size_bytes else "an unknown size"
        question = (
            f"Download {target.file} (about {size}) from {target.host}?\n\n"
            f"Burrow connects to {target.host} only if you tap Download; nothing is sent "
            "before that."
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self._start(target.file, f"Asking {target.host}…")
                self._download(target)

        self.app.push_screen(ConfirmSheet(question, yes="Download"), answered)

    def _start(self, what: str, text: str) -> None:
        self.busy = True
        self._what = what
        self._cancel = threading.Event()
        self.bar.update(total=None, progress=0)
        self.progress_text.update(text)
        self.state_text.update("")
        self.progress_box.add_class("-busy")

    @work(thread=True, group="transfer", exclusive=True, exit_on_error=False)
    def _download(self, target: DownloadTarget) -> None:
        from tui.engine import download
        from tui.engine.model_store import Cancelled, ModelFileError

        try:
            the_plan = download.plan(target)
            note = f"{format_bytes(the_plan.size_bytes)} from {the_plan.data_host}"
            if the_plan.resume_from:
                note += f", resuming after {format_bytes(the_plan.resume_from)}"
            text = f"{target.file}: {note}…"
            self.app.call_from_thread(self.progress_text.update, text)
            result = download.download(the_plan, progress=self._progress, cancel=self._cancel)
        except Cancelled:
            self.app.call_from_thread(
                self._finish, "Download cancelled. The part is kept: Download resumes it.", True
            )
            return
        except ModelFileError as exc:
            self.app.call_from_thread(self._finish, str(exc), True)
            return
        checked = "SHA-256 checked" if the_plan.sha256 else "not checked"
        text = f"Downloaded {result.path.name} ({checked}). It is in the model picker now."
        self.app.call_from_thread(self._finish, text, False, str(result.path))
        self.app.call_from_thread(self._list)  # the row now says it is downloaded

    def _progress(self, progress: Progress) -> None:
        """From the transfer's thread: at most ten updates a second reach the screen."""
        now = time.monotonic()
        last = progress.total is not None and progress.done >= progress.total
        if not last and now - self._last_progress < 0.1:
            return
        self._last_progress = now
        self.app.call_from_thread(self._show_progress, progress)

    def _show_progress(self, progress: Progress) -> None:
        self.bar.update(total=progress.total, progress=progress.done)
        self.progress_text.update(f"{self._what}: {progress.text()}")

    def action_cancel(self) -> None:
        self._cancel.set()
        self.progress_text.update("Stopping…")

    def _finish(self, text: str, failed: bool, path: str | None = None) -> None:
        self.busy = False
        self.progress_box.remove_class("-busy")
        if path is not None:
            self.finished.append(path)
        self._show_state(text, failed)

    def _show_state(self, text: str, failed: bool) -> None:
        self.state_text.set_class(failed, "-failed")
        self.state_text.update(text)

    # import ------------------------------------------------------------------------

    def action_import_file(self) -> None:
        if self.busy:
            self.notify("Wait for the current one.")
            return

        def chosen(text: str | None) -> None:
            if text and text.strip():
                self._start(Path(text.strip()).name, f"Checking {text.strip()}…")
                self._import(text.strip())

        self.app.push_screen(
            TextPromptSheet(
                "Path of a .gguf file to copy into Burrow's models folder:",
                placeholder="~/storage/downloads/model.gguf",
                ok="Import",
            ),
            chosen,
        )

    @work(thread=True, group="transfer", exclusive=True, exit_on_error=False)
    def _import(self, source: str) -> None:
        from tui.engine.importer import import_model
        from tui.engine.model_store import Cancelled, ModelFileError

        try:
            result = import_model(source, progress=self._progress, cancel=self._cancel)
        except Cancelled:
            self.app.call_from_thread(self._finish, "Import cancelled; nothing was added.", True)
            return
        except ModelFileError as exc:
            self.app.call_from_thread(self._finish, str(exc), True)
            return
        text = f"Imported {result.path.name}. It is in the model picker now."
        self.app.call_from_thread(self._finish, text, False, str(result.path))

    # palette -----------------------------------------------------------------------

    def commands(self) -> Iterable[SystemCommand]:
        actions: list[tuple[str, str, Callable[[], Any]]] = [
            ("Download model", "Download the highlighted model (asks first)", self.action_download),
            ("Import model file", "Copy a .gguf file into Burrow", self.action_import_file),
        ]
        for title, help_text, action in actions:
            yield SystemCommand(title, help_text, action)

    def result(self) -> Any:
        return self.finished[-1] if self.finished else None

    def action_close(self) -> None:
        # Leaving stops a transfer: a download keeps its part file for the next time.
        self._cancel.set()
        super().action_close()
