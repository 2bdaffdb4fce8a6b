"""The model picker: every model the catalog finds, whether it fits in memory, load/unload.

Scanning reads GGUF headers in a child process (``tui.engine.catalog``), so a crafted or
broken file cannot take the app down; it is listed with its error. Loading goes through the
app's own model worker (:meth:`BurrowApp.load_model`), so the chat screen's status line
follows along; this sheet watches ``app.model_state`` to show progress and the result.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.widgets import Button, LoadingIndicator, OptionList, Static
from textual.widgets.option_list import Option

from tui.engine.entry_fit import fit_offer, fit_text
from tui.engine.memory import format_bytes
from tui.ui.messages import ModelStateChanged
from tui.ui.screens.dialogs import MessageActionsSheet
from tui.ui.screens.models_engine import REMOTE_OPTION, EngineChoice
from tui.ui.widgets.sheets import SheetScreen, TextPromptSheet

if TYPE_CHECKING:
    from tui.bench.runs import Step
    from tui.engine.catalog import CatalogEntry
    from tui.engine.fit import FitOption
    from tui.ui.services import Services


def free_memory() -> int | None:
    """Bytes of RAM free for a new model (a seam: snapshot tests fix it)."""
    from tui.engine.memory import available_bytes

    return available_bytes()


def describe(entry: CatalogEntry) -> str:
    parts = [
        entry.quantization or "?",
        format_bytes(entry.size_bytes),
        f"{entry.size_label or '?'} params",
    ]
    if entry.n_ctx_train:
        parts.append(f"trained ctx {entry.n_ctx_train}")
    parts.append(entry.source)
    return " · ".join(parts)


class ModelsScreen(EngineChoice, SheetScreen):
    """Pick, load and unload models; add a folder to search."""

    TITLE_TEXT = "Models"
    DEFAULT_CSS = """
    ModelsScreen #models-info { height: auto; padding: 0 1; color: $text-muted; }
    ModelsScreen #models-body { height: 1fr; }
    ModelsScreen #models-list { height: auto; max-height: 100%; border: none; padding: 0 1; }
    ModelsScreen #models-list > .option-list--option { padding: 0 1; }
    ModelsScreen #models-progress { height: 3; display: none; }
    ModelsScreen #models-progress.-busy { display: block; }
    ModelsScreen #models-progress LoadingIndicator { width: 6; height: 3; }
    ModelsScreen #models-state { height: auto; padding: 0 1; }
    ModelsScreen #models-state.-failed { color: $text-error; }
    ModelsScreen #models-engine-row { height: 3; padding: 0 1; }
    ModelsScreen #models-engine-row > Static { width: auto; height: 3; content-align: left middle; }
    ModelsScreen #models-engine { width: 1fr; max-width: 40; }
    ModelsScreen .actions { grid-size: 6; }
    ModelsScreen.-narrow .actions { grid-size: 3; }
    ModelsScreen.-compact .actions { grid-size: 3; max-height: 9; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        *SheetScreen.BINDINGS,
        Binding("ctrl+t", "load", "Load"),
        Binding("ctrl+u", "unload", "Unload"),
        Binding("ctrl+r", "rescan", "Rescan"),
        Binding("ctrl+b", "benchmark", "Benchmark"),
        Binding("ctrl+n", "add_folder", "Add folder", show=False),
        Binding("ctrl+e", "engine", "Engine", show=False),
    ]

    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services
        self.entries: list[CatalogEntry] = []
        self._waiting: ModelStateChanged | None = None
        self.scans = 0
        """How many scans have finished: tests wait on it."""
        self.info_text = Static("Looking for models…", id="models-info", markup=False)
        self.model_list = OptionList(id="models-list")
        self.progress_row = Horizontal(id="models-progress")
        """Shown (class ``-busy``) while a model loads or a benchmark runs."""
        self.progress_text = Static("", id="models-progress-text", markup=False)
        self.state_text = Static("", id="models-state", markup=False)

    def compose_body(self) -> ComposeResult:
        # One scrolling body: a long benchmark result scrolls, the buttons stay.
        with VerticalScroll(id="models-body"):
            yield self.model_list  # first: on a short screen the models show, not the folders
            with Horizontal(id="models-engine-row"):
                yield Static("Engine ", markup=False)
                yield Button(self._engine_label(), id="models-engine", action="screen.engine")
            yield self.info_text
            with self.progress_row:
                yield LoadingIndicator()
                yield self.progress_text
            yield self.state_text
        with Horizontal(classes="actions"):
            yield Button("Load", id="models-load", variant="primary", action="screen.load")
            yield Button("Unload", id="models-unload", action="screen.unload")
            yield Button("Rescan", id="models-rescan", action="screen.rescan")
            yield Button("+ Folder", id="models-add", action="screen.add_folder")
            yield Button("Benchmark", id="models-bench", action="screen.benchmark")
            yield Button("Get models", id="models-get", action="screen.get_models")

    def on_mount(self) -> None:
        self.model_list.focus()
        self._show_state()
        self.set_interval(0.2, self._poll)
        self.action_rescan()

    # scanning --------------------------------------------------------------------

    def action_rescan(self) -> None:
        self.info_text.update("Looking for models…")
        self._scan()

    @work(thread=True, group="scan", exclusive=True, exit_on_error=False)
    def _scan(self) -> None:
        from tui.engine.catalog import scan

        try:
            entries = scan(self.services.settings.model_dirs)
        except Exception as exc:  # a scan that fails is shown, not raised
            self.app.call_from_thread(self._scan_failed, str(exc))
            return
        self.app.call_from_thread(self._show_entries, entries)

    def _scan_failed(self, reason: str) -> None:
        self.scans += 1
        self.info_text.update(f"Could not scan: {reason}")

    def loaded_path(self) -> str | None:
        model = self.services.engine.model
        return str(model.path) if model is not None else None

    def _show_entries(self, entries: list[CatalogEntry]) -> None:
        self.scans += 1
        self.entries = entries
        settings = self.services.settings
        free = free_memory()
        loaded = self.loaded_path()
        option_list = self.model_list
        highlighted = option_list.highlighted
        option_list.clear_options()
        for entry in entries:
            is_loaded = loaded is not None and _same(loaded, entry.path)
            if entry.error:
                label = Content.assemble(
                    (f"✗ {entry.name}", "bold $text-error"),
                    "\n  ",
                    (f"cannot be used: {entry.error}", "$text-error"),
                )
            else:
                verdict, sentence = fit_text(
                    entry, settings.n_ctx, settings.n_batch, free, **settings.memory_choices()
                )
                style = {"fits": "$text-success", "tight": "$text-warning"}.get(
                    verdict, "$text-error" if verdict == "will not fit" else "dim"
                )
                label = Content.assemble(
                    ("● " if is_loaded else "  ", "bold $text-success"),
                    (entry.name, "bold"),
                    ("  loaded" if is_loaded else "", "$text-success"),
                    "\n  ",
                    (describe(entry), "dim"),
                    "\n  ",
                    (sentence, style),
                )
            option_list.add_option(Option(label, id=entry.path))
        host = self.services.remote_host()
        if host is not None:  # the configured remote server's model: one more engine
            using = self.services.engine_kind == "remote"
            option_list.add_option(
                Option(
                    Content.assemble(
                        ("● " if using else "  ", "bold $text-success"),
                        (f"remote: {host}", "bold $accent"),
                        ("  in use" if using else "", "$text-success"),
                        "\n  ",
                        ("the model your llama-server serves there", "dim"),
                    ),
                    id=REMOTE_OPTION,
                )
            )
        if entries:
            option_list.highlighted = min(highlighted or 0, len(entries) - 1)
        where = "; ".join(str(d) for d in _search_dirs(settings.model_dirs))
        count = f"{len(entries)} model{'s' if len(entries) != 1 else ''}"
        size = settings.n_ctx or "auto"
        self.info_text.update(f"{count} found (context size {size}). Searched: {where}")

    # loading ---------------------------------------------------------------------

    def selected(self) -> CatalogEntry | None:
        index = self.model_list.highlighted
        if index is None or not 0 <= index < len(self.entries):
            return None
        return self.entries[index]

    @on(OptionList.OptionSelected, "#models-list")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.action_load()

    def action_load(self) -> None:
        index = self.model_list.highlighted
        if index is not None and index == len(self.entries) and self.services.remote_host():
            self.use_engine("remote")
            return
        entry = self.selected()
        if entry is None:
            self.notify("Pick a model first.", severity="warning")
            return
        offer = fit_offer(entry, self.services.settings, free_memory())
        if offer is None:
            self.load(entry.path)
            return
        # Android's low-memory killer would end the whole Termux session: offer what fits.
        text, options = offer
        actions = [
            (f"fit-{i}", f"Context {o.n_ctx}, {o.kv_type} cache") for i, o in enumerate(options)
        ]

        def chosen(name: str | None) -> None:
            if name and name.startswith("fit-"):
                self.use_fitting(options[int(name.removeprefix("fit-"))])
                self.load(entry.path)

        self.app.push_screen(MessageActionsSheet(text, actions), chosen)

    def use_fitting(self, option: FitOption) -> None:
        """Make ``option``'s context size and cache type the settings, and save them."""
        from tui.settings import SettingsError, set_config_value

        settings = self.services.settings
        changes = {"n_ctx": option.n_ctx, "kv_cache_type": option.kv_type}
        self.services.set_settings(settings.replace(**changes))
        try:
            for key, value in changes.items():
                set_config_value(key, value)
        except (SettingsError, OSError) as exc:
            self.notify(f"Used now but not saved: {exc}", severity="warning")

    def load(self, path: str) -> None:
        """Load ``path`` with the app's model worker and show its progress here (a file
        picked while a remote server answers goes back to a local engine)."""
        if self.services.engine_kind == "remote":
            local = [c for c in self.services.engine_choices() if c != "remote"]
            if local:
                self._switch(local[0], False, path)
                return
        self._load_now(path)

    def _load_now(self, path: str) -> None:
        self._waiting = getattr(self.app, "model_state", None)
        name = Path(path).name
        self.progress_row.add_class("-busy")
        self.progress_text.update(f"Loading {name}…")
        self.state_text.update("")
        self.app.load_model(path)  # type: ignore[attr-defined]

    def _poll(self) -> None:
        if self._waiting is None:
            return
        state = getattr(self.app, "model_state", None)
        if state is None or state is self._waiting or state.state == "loading":
            return
        self._waiting = None
        self.progress_row.remove_class("-busy")
        self._show_state()
        self.action_rescan()

    def _show_state(self) -> None:
        state: ModelStateChanged | None = getattr(self.app, "model_state", None)
        widget = self.state_text
        widget.remove_class("-failed")
        if state is None or state.state == "none":
            widget.update("No model loaded.")
        elif state.state == "ready":
            widget.update(f"Loaded: {state.name}")
        elif state.state == "loading":
            widget.update(f"Loading {state.name}…")
        else:
            widget.add_class("-failed")
            widget.update(f"Failed: {state.detail}")

    def action_unload(self) -> None:
        if self.services.engine.model is None:
            self.notify("No model is loaded.")
            return
        self._unload()

    @work(thread=True, group="unload", exclusive=True, exit_on_error=False)
    def _unload(self) -> None:
        try:
            self.services.engine.unload()
        except Exception as exc:
            self.app.call_from_thread(self.notify, f"Unload failed: {exc}", severity="error")
        self.app.post_message(ModelStateChanged("none"))
        self.app.call_from_thread(self._after_unload)

    def _after_unload(self) -> None:
        self.state_text.update("No model loaded.")
        self.action_rescan()

    # benchmark ---------------------------------------------------------------------

    def action_benchmark(self) -> None:
        entry = self.selected()
        if entry is None:
            self.notify("Pick a model first.", severity="warning")
            return
        from tui.engine.memory import available_bytes

        need = entry.ram_estimate(512)
        free = available_bytes()
        if need is not None and free is not None and need > free:
            self.notify(
                f"Not enough free memory to benchmark {Path(entry.path).name} beside the "
                "loaded model: unload it first.",
                severity="warning",
            )
            return
        self.progress_row.add_class("-busy")
        self._benchmark(entry.path)

    @work(thread=True, group="bench", exclusive=True, exit_on_error=False)
    def _benchmark(self, path: str) -> None:
        """``burrow bench`` in the app: its own engine worker, a short run, saved like the
        CLI's results (the chat model stays loaded)."""
        from tui.bench.results import save_result
        from tui.bench.runs import run_bench
        from tui.bench.table import format_table

        def show(step: Step) -> None:
            self.app.call_from_thread(self._bench_progress, step.line())

        try:
            result = run_bench(
                path, n_ctx=512, prompt_tokens=256, gen_tokens=64, repeat=1, on_step=show
            )
            save_result(result)
        except Exception as exc:  # a model that fails to load is shown, not raised
            self.app.call_from_thread(self._bench_done, f"Benchmark failed: {exc}", True)
            return
        self.app.call_from_thread(self._bench_done, format_table(result), False)

    def _bench_progress(self, line: str) -> None:
        self.progress_text.update(line)

    def _bench_done(self, text: str, failed: bool) -> None:
        self.progress_row.remove_class("-busy")
        self.state_text.set_class(failed, "-failed")
        self.state_text.update(text)

    # folders -----------------------------------------------------------------------

    def action_add_folder(self) -> None:
        def chosen(text: str | None) -> None:
            if text:
                self.add_folder(text.strip())

        self.app.push_screen(
            TextPromptSheet(
                "Folder to search for .gguf files:",
                placeholder="~/storage/shared/Download",
                ok="Add",
            ),
            chosen,
        )

    def add_folder(self, text: str) -> bool:
        from tui.settings import SettingsError, set_config_value

        folder = Path(text).expanduser()
        if not folder.is_dir():
            self.notify(f"{folder} is not a folder.", title="Add folder", severity="error")
            return False
        settings = self.services.settings
        dirs = tuple(dict.fromkeys([*settings.model_dirs, str(folder)]))
        self.services.set_settings(settings.replace(model_dirs=dirs))
        try:
            set_config_value("model_dirs", list(dirs))
        except (SettingsError, OSError) as exc:
            self.notify(f"Used now but not saved: {exc}", severity="warning")
        self.notify(f"Added {folder}", timeout=3)
        self.action_rescan()
        return True

    def action_get_models(self) -> None:
        """The curated list, downloads and imports; what they add shows here after."""
        from tui.ui.screens.get_models import GetModelsScreen

        self.app.push_screen(GetModelsScreen(self.services), lambda _added: self.action_rescan())

    # palette ---------------------------------------------------------------------

    def commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand("Load model", "Load the highlighted model (ctrl+t)", self.action_load)
        yield SystemCommand("Unload model", "Free its memory (ctrl+u)", self.action_unload)
        yield SystemCommand("Rescan models", "Look for models again (ctrl+r)", self.action_rescan)
        yield SystemCommand("Add model folder", "Search another folder", self.action_add_folder)
        yield SystemCommand(
            "Next engine",
            "Load the model with the next engine: embedded, local llama-server, remote (ctrl+e)",
            self.action_engine,
        )
        yield SystemCommand(
            "Benchmark model",
            "Measure load, prompt and generation speed of the highlighted model (ctrl+b)",
            self.action_benchmark,
        )

    def result(self) -> Any:
        return self.loaded_path()


def _same(a: str, b: str) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return a == b


def _search_dirs(extra: Iterable[str]) -> list[Path]:
    from tui.engine.catalog import search_dirs

    return [path for path, source in search_dirs(list(extra)) if source != "hf-cache"]
