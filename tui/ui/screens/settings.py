"""The settings sheet: every sampler and runtime setting, with its range and help text.

The rows come from :func:`tui.settings.setting_specs` (type, range, choices and the help text
declared with each field of :class:`tui.settings.Settings`), so a new setting shows up here
without touching this file. A value is checked as it is typed, with the same rules
``burrow config set`` uses; an invalid one is refused in place with the reason.

**Apply** makes the values this conversation's own (they are stored with it); **Save as
default** also writes them to ``config.toml`` (with ``tomli-w``, keeping per-model tables).
Context size, threads, batch, mmap and mlock only take effect when the model is loaded
again: the sheet says so and reloads on confirmation.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events, on
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, Input, Select, Static, Switch

from tui.settings import (
    SettingsError,
    SettingSpec,
    cross_check,
    parse_cli_value,
    save_settings,
    setting_specs,
)
from tui.ui.layout import is_compact
from tui.ui.screens.dialogs import ConfirmSheet
from tui.ui.widgets.sheets import SheetScreen

if TYPE_CHECKING:
    from tui.settings import Settings
    from tui.ui.services import Services

GROUPS = {
    "sampling": "Sampling (how answers are written)",
    "runtime": "Runtime (used when the model is loaded)",
    "chat": "Chat",
    "app": "App",
}
RELOAD_KEYS = (
    "n_ctx",
    "n_threads",
    "n_batch",
    "kv_cache_type",
    "flash_attn",
    "use_mmap",
    "use_mlock",
)
"""Settings that need the model loaded again to take effect."""
LABELS = {
    "top_k": "Top-k",
    "top_p": "Top-p",
    "min_p": "Min-p",
    "typical_p": "Typical-p",
    "repeat_last_n": "Repeat window",
    "mirostat_mode": "Mirostat",
    "mirostat_tau": "Mirostat tau",
    "mirostat_eta": "Mirostat eta",
    "n_ctx": "Context size",
    "n_threads": "Threads",
    "n_batch": "Batch size",
    "kv_cache_type": "KV cache type",
    "flash_attn": "Flash attention",
    "use_mmap": "Memory-map file",
    "use_mlock": "Lock in RAM",
    "model_dirs": "Model folders",
    "stop": "Stop strings",
}


def label_for(key: str) -> str:
    return LABELS.get(key, key.replace("_", " ").capitalize())


def show_value(value: Any) -> str:
    if isinstance(value, tuple | list):
        return ", ".join(str(v) for v in value)
    return str(value)


class SettingsScreen(SheetScreen):
    """Edit the open conversation's settings, or the defaults."""

    TITLE_TEXT = "Settings"
    DEFAULT_CSS = """
    SettingsScreen #settings-form { height: 1fr; padding: 0 1; scrollbar-size-vertical: 1; }
    SettingsScreen .group-title {
        text-style: bold; color: $primary; margin-top: 1; height: auto;
    }
    SettingsScreen .setting { height: auto; margin-bottom: 1; }
    SettingsScreen .setting > Horizontal { height: auto; }
    SettingsScreen .setting-label { width: 18; height: 3; content-align: left middle; }
    SettingsScreen.-compact .setting-label { width: 14; }
    SettingsScreen .setting Input, SettingsScreen .setting Select { width: 1fr; }
    SettingsScreen .setting-help { color: $text-muted; height: auto; }
    SettingsScreen .setting-error { color: $text-error; height: auto; display: none; }
    SettingsScreen .setting.-invalid .setting-error { display: block; }
    SettingsScreen .setting.-invalid Input { border: tall $error; }
    SettingsScreen #settings-status { height: auto; color: $text-muted; }
    SettingsScreen.-compact .actions { grid-size: 3; }
    """

    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services
        self.errors: dict[str, str] = {}
        self._result: dict[str, Any] | None = None

    # what is shown -------------------------------------------------------------------

    def current(self) -> Settings:
        """The values the open conversation uses (defaults < config < its own)."""
        session = self.session
        return session.settings if session is not None else self.services.settings

    def _specs(self) -> list[SettingSpec]:
        session = self.session
        # The thinking switch only means something to a template that has one.
        hide_thinking = session is not None and not session.thinking_switch()
        return [
            s
            for s in setting_specs().values()
            if s.group in GROUPS and not (s.name == "thinking" and hide_thinking)
        ]

    def _choices(self, spec: SettingSpec) -> list[tuple[str, Any]] | None:
        if spec.choices is not None:
            return [(show_value(c), c) for c in spec.choices]
        session = self.session
        if spec.name == "default_template" and session is not None:
            return [(name, name) for name in session.templates]
        if spec.name == "default_preset" and session is not None:
            return [(name, name) for name in session.presets]
        if spec.name == "theme":
            return [(name, name) for name in sorted(self.app.available_themes)]
        return None

    def _editor(self, spec: SettingSpec, value: Any) -> Widget:
        widget_id = f"set-{spec.name}"
        if spec.type == "bool":
            return Switch(bool(value), id=widget_id)
        choices = self._choices(spec)
        if choices is not None:
            if value not in [v for _, v in choices]:
                choices.append((show_value(value), value))
            return Select(choices, value=value, allow_blank=False, id=widget_id)
        return Input(show_value(value), id=widget_id, select_on_focus=False)

    def compose_body(self) -> ComposeResult:
        values = self.current()
        where = "this conversation" if self.session is not None else "the defaults"
        with VerticalScroll(id="settings-form"):
            # Inside the form, so on a short screen it scrolls away and leaves the rows.
            yield Static(
                f"Apply uses the values in {where}; Save also writes them to config.toml "
                "as the defaults.",
                id="settings-status",
                markup=False,
            )
            group = None
            for spec in self._specs():
                if spec.group != group:
                    group = spec.group
                    yield Static(GROUPS[group], classes="group-title", markup=False)
                value = getattr(values, spec.name)
                help_text = spec.help
                if spec.name in RELOAD_KEYS:
                    help_text += " Needs a model reload."
                with Vertical(classes="setting", id=f"row-{spec.name}"):
                    with Horizontal():
                        yield Static(label_for(spec.name), classes="setting-label", markup=False)
                        yield self._editor(spec, value)
                    yield Static(
                        f"{spec.describe_range()}. {help_text}",
                        classes="setting-help",
                        markup=False,
                    )
                    yield Static("", classes="setting-error", markup=False)
        with Horizontal(classes="actions"):
            yield Button("Apply", id="settings-apply", variant="primary")
            yield Button("Save as default", id="settings-save", variant="success")
            yield Button("Reset", id="settings-reset")

    def on_resize(self, event: events.Resize) -> None:
        # Three buttons in one row at 40 columns: the long label would be cut to "Save as".
        save = self.query_one("#settings-save", Button)
        save.label = "Save" if is_compact(event.size.width) else "Save as default"

    def on_mount(self) -> None:
        self.query_one("#settings-form").focus()

    # reading and checking -------------------------------------------------------------

    def read_value(self, key: str) -> Any:
        """The typed value of one row, converted and range-checked (SettingsError)."""
        widget = self.query_one(f"#set-{key}")
        if isinstance(widget, Switch):
            return widget.value
        if isinstance(widget, Select):
            return parse_cli_value(key, show_value(widget.value))
        assert isinstance(widget, Input)
        return parse_cli_value(key, widget.value)

    def check(self, key: str) -> bool:
        row = self.query_one(f"#row-{key}")
        try:
            self.read_value(key)
        except SettingsError as exc:
            self._mark_invalid(key, str(exc))
            return False
        self.errors.pop(key, None)
        row.remove_class("-invalid")
        return True

    def _mark_invalid(self, key: str, reason: str) -> None:
        self.errors[key] = reason
        row = self.query_one(f"#row-{key}")
        row.query_one(".setting-error", Static).update(f"Not allowed: {reason}")
        row.add_class("-invalid")

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        if event.input.id and event.input.id.startswith("set-"):
            self.check(event.input.id[4:])

    def values(self) -> dict[str, Any] | None:
        """Every row's value, or None (and the first bad row shown) when one is invalid."""
        result: dict[str, Any] = {}
        bad: list[str] = []
        for spec in self._specs():
            if not self.check(spec.name):
                bad.append(spec.name)
                continue
            result[spec.name] = self.read_value(spec.name)
        # Each value can be valid alone and still not work with another (max_tokens >= n_ctx).
        for key, reason in cross_check(result).items():
            self._mark_invalid(key, reason)
            bad.append(key)
        if bad:
            first = self.query_one(f"#set-{bad[0]}")
            first.focus()
            first.scroll_visible()
            self.notify(
                f"{label_for(bad[0])}: {self.errors[bad[0]]}", title="Not saved", severity="error"
            )
            return None
        return result

    # applying -------------------------------------------------------------------------

    def apply(self, values: dict[str, Any], *, save: bool) -> None:
        """Make ``values`` current (and the defaults when ``save``); reload if needed."""
        services = self.services
        before = services.settings
        shown = self.current().to_dict()
        changed = {k: v for k, v in values.items() if show_value(v) != show_value(shown[k])}
        app_wide = {k: v for k, v in values.items() if setting_specs()[k].group != "sampling"}
        if save:
            new_base = before.replace(**values)
            try:
                path = save_settings(new_base)
            except OSError as exc:
                self.notify(f"config.toml not written: {exc}", severity="error")
                return
            self.notify(f"Saved as default: {path}", title="Settings", timeout=4)
        else:
            new_base = before.replace(**app_wide)
        services.set_settings(new_base)
        session = self.session
        if session is not None:
            session.base_settings = new_base
            session.apply_settings(values)
        if new_base.theme != self.app.theme and new_base.theme in self.app.available_themes:
            self.app.theme = new_base.theme
        self._result = {"changed": changed, "saved": save}
        reload = [k for k in RELOAD_KEYS if getattr(new_base, k) != getattr(before, k)]
        model = services.engine.model
        if reload and model is not None:
            names = ", ".join(label_for(k).lower() for k in reload)

            def answered(yes: bool | None) -> None:
                if yes:
                    self.app.load_model(model.path)  # type: ignore[attr-defined]
                    self._result = {**(self._result or {}), "reloading": True}
                else:
                    self.notify("The new values are used the next time a model loads.")
                self.dismiss(self._result)

            self.app.push_screen(
                ConfirmSheet(
                    f"The {names} change only takes effect after reloading the model. "
                    "Reload it now?",
                    yes="Reload",
                    no="Later",
                ),
                answered,
            )
            return
        if not save:
            self.notify("Applied to this conversation.", timeout=2)
        self.dismiss(self._result)

    def result(self) -> dict[str, Any] | None:
        return self._result

    @on(Button.Pressed, "#settings-apply")
    def _apply_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_apply()

    @on(Button.Pressed, "#settings-save")
    def _save_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_save()

    @on(Button.Pressed, "#settings-reset")
    def _reset_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_reset()

    def action_apply(self) -> None:
        values = self.values()
        if values is not None:
            self.apply(values, save=False)

    def action_save(self) -> None:
        values = self.values()
        if values is not None:
            self.apply(values, save=True)

    def commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand("Apply settings", "Use them in this conversation", self.action_apply)
        yield SystemCommand(
            "Save settings as default", "Write them to config.toml", self.action_save
        )
        yield SystemCommand("Reset settings form", "Fill in the defaults", self.action_reset)

    def action_reset(self) -> None:
        """Put the built-in defaults in the form (nothing changes until Apply or Save)."""
        for spec in self._specs():
            widget = self.query_one(f"#set-{spec.name}")
            if isinstance(widget, Switch):
                widget.value = bool(spec.default)
            elif isinstance(widget, Select):
                widget.value = spec.default
            elif isinstance(widget, Input):
                widget.value = show_value(spec.default)
        self.notify("Defaults filled in: Apply or Save to use them.", timeout=3)

    BINDINGS: ClassVar[list[BindingType]] = [
        *SheetScreen.BINDINGS,
        Binding("ctrl+t", "apply", "Apply"),
        Binding("ctrl+s", "save", "Save default"),
    ]
