"""Templates and system prompts: pick them for the open conversation, and edit your own.

**Use** picks the prompt template and the system-prompt preset of the open conversation and
shows the exact prompt the model will read, with its token count (counted by the engine in a
worker). **Edit** opens any template or preset as TOML; it is validated as you type, with
line numbers (``tui.chat.templates.parse_template_text`` / ``parse_preset_text``).
**Save & use** writes it to your templates or presets folder (a built-in of the same name is
overridden, never changed) and applies it. The file format is in ``docs/templates.md``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events, on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Select, Static, TabbedContent, TabPane, TextArea

from tui import paths
from tui.chat.presets import load_presets, parse_preset_text
from tui.chat.templates import (
    load_templates,
    parse_template_text,
    template_to_toml,
)
from tui.ui.layout import is_short
from tui.ui.screens.dialogs import ConfirmSheet, MessageActionsSheet
from tui.ui.screens.template_text import (
    CUSTOM,
    NAME_LINE,
    NEW_PRESET,
    NEW_TEMPLATE,
    describe_problems,
    file_text,
    preset_to_toml,
)
from tui.ui.widgets.sheets import SheetScreen

if TYPE_CHECKING:
    from tui.chat.presets import Preset
    from tui.chat.templates import Template
    from tui.ui.services import Services


class TemplatesScreen(SheetScreen):
    """Pick and edit prompt templates and system-prompt presets."""

    TITLE_TEXT = "Templates & prompts"
    DEFAULT_CSS = """
    TemplatesScreen TabbedContent { height: 1fr; }
    TemplatesScreen TabPane { padding: 0 1; height: 1fr; }
    TemplatesScreen .pick { height: auto; }
    TemplatesScreen .pick-label { width: 14; height: 3; content-align: left middle; }
    TemplatesScreen .pick Select { width: 1fr; }
    TemplatesScreen #preview-title { height: auto; text-style: bold; margin-top: 1; }
    TemplatesScreen #preview-scroll { height: 1fr; background: $surface; }
    TemplatesScreen #preview { height: auto; padding: 0 1; }
    TemplatesScreen #edit-pick { height: auto; }
    TemplatesScreen #editor { height: 1fr; min-height: 5; }
    TemplatesScreen #edit-problems { height: auto; max-height: 6; }
    TemplatesScreen #edit-problems.-ok { color: $text-success; }
    TemplatesScreen #edit-problems.-bad { color: $text-error; }
    TemplatesScreen.-compact .actions { grid-size: 3; }
    TemplatesScreen.-short #edit-problems.-ok { display: none; }
    TemplatesScreen.-short #edit-problems.-bad {
        height: 1; text-wrap: nowrap; text-overflow: ellipsis;
    }
    TemplatesScreen.-short #editor { min-height: 4; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        *SheetScreen.BINDINGS,
        Binding("ctrl+s", "save", "Save & use"),
        Binding("ctrl+g", "more", "More"),
    ]

    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services
        self.kind = "template"
        self.editing_path: Path | None = None
        self.before_copy: tuple[Path | None, str] | None = None
        """What the editor held before Duplicate, while the copy is not saved."""
        self.valid: Any = None
        self.previews = 0
        """How many previews have been shown: tests wait on it."""
        self.preview_text = ""
        self.preview_tokens: int | None = None

    # compose -----------------------------------------------------------------------

    def _template_options(self) -> list[tuple[str, str]]:
        session = self.session
        names = list(session.templates) if session is not None else []
        return [(name, name) for name in names]

    def _preset_options(self) -> list[tuple[str, str]]:
        session = self.session
        options = [(name, name) for name in (session.presets if session is not None else [])]
        return [*options, (CUSTOM, CUSTOM)]

    def _edit_options(self) -> list[tuple[str, str]]:
        session = self.session
        if session is None:
            return []
        options = [
            (f"template · {name} ({t.source})", f"template:{name}")
            for name, t in session.templates.items()
            if not t.is_auto
        ]
        options += [
            (f"preset · {name} ({p.source})", f"preset:{name}")
            for name, p in session.presets.items()
        ]
        return options

    def _current_preset(self) -> str:
        session = self.session
        if session is None:
            return CUSTOM
        for name, preset in session.presets.items():
            try:
                if preset.system_prompt() == session.system_prompt:
                    return name
            except KeyError:
                continue
        return CUSTOM

    def compose_body(self) -> ComposeResult:
        session = self.session
        self.tabs = TabbedContent(id="tabs")
        self.pick_template: Select[str] = Select(
            self._template_options(),
            value=session.template_name if session else Select.NULL,
            allow_blank=session is None,
            id="pick-template",
        )
        self.pick_preset: Select[str] = Select(
            self._preset_options(),
            value=self._current_preset(),
            allow_blank=False,
            id="pick-preset",
        )
        self.preview_title = Static("Prompt the model reads", id="preview-title", markup=False)
        self.preview_body = Static("", id="preview", markup=False)
        self.edit_pick: Select[str] = Select(
            self._edit_options(), prompt="Open a template or preset", id="edit-pick"
        )
        self.editor = TextArea.code_editor(
            NEW_TEMPLATE, language="toml", id="editor", soft_wrap=True
        )
        self.edit_problems = Static("", id="edit-problems", markup=False)
        with self.tabs:
            with TabPane("Use", id="tab-use"):
                with Horizontal(classes="pick"):
                    yield Static("Template", classes="pick-label")
                    yield self.pick_template
                with Horizontal(classes="pick"):
                    yield Static("System prompt", classes="pick-label")
                    yield self.pick_preset
                yield self.preview_title
                with VerticalScroll(id="preview-scroll"):
                    yield self.preview_body
            with TabPane("Edit", id="tab-edit"):
                yield self.edit_pick
                yield self.editor
                yield self.edit_problems
                with Horizontal(classes="actions"):
                    yield Button("Save", id="edit-save", variant="primary", action="screen.save")
                    yield Button("Duplicate", id="edit-duplicate", action="screen.duplicate")
                    yield Button("More", id="edit-more", action="screen.more")

    def on_resize(self, event: events.Resize) -> None:
        # With the soft keyboard up (40x14) the bordered picker and editor leave the
        # editor 3 lines: without borders it keeps 5 above the pinned buttons.
        short = is_short(event.size.height)
        self.edit_pick.compact = short
        self.editor.compact = short

    def on_mount(self) -> None:
        self.editor.cursor_blink = False
        self.pick_template.focus()
        self.validate()
        self.refresh_preview()

    # use -----------------------------------------------------------------------------

    @on(Select.Changed, "#pick-template")
    def _template_picked(self, event: Select.Changed) -> None:
        session = self.session
        value = event.value
        if session is None or not isinstance(value, str) or value == session.template_name:
            return
        session.set_template(value)
        self.refresh_preview()

    @on(Select.Changed, "#pick-preset")
    def _preset_picked(self, event: Select.Changed) -> None:
        session = self.session
        value = event.value
        if session is None or value == CUSTOM or not isinstance(value, str):
            return
        preset = session.presets.get(value)
        if preset is None:
            return
        prompt = preset.system_prompt()
        if prompt != session.system_prompt:
            session.set_system_prompt(prompt)
            self.refresh_preview()

    def refresh_preview(self) -> None:
        self.preview_title.update("Prompt the model reads (counting…)")
        self._preview()

    @work(thread=True, group="preview", exclusive=True, exit_on_error=False)
    def _preview(self) -> None:
        session = self.session
        text, tokens = "", None
        if session is None:
            text = "No conversation is open."
        else:
            try:
                fit = session.fit(session.path())
            except Exception as exc:  # no model yet, a template that cannot render
                text = f"No preview: {exc}"
            else:
                text, tokens = fit.prompt.text, fit.tokens_used
        self.app.call_from_thread(self._show_preview, text, tokens)

    def _show_preview(self, text: str, tokens: int | None) -> None:
        self.previews += 1
        self.preview_text, self.preview_tokens = text, tokens
        session = self.session
        name = session.template_name if session is not None else "?"
        count = f" · {tokens} tokens" if tokens is not None else ""
        self.preview_title.update(f"Prompt with {name}{count}")
        self.preview_body.update(text)

    # edit ----------------------------------------------------------------------------

    @on(Select.Changed, "#edit-pick")
    def _edit_picked(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.open_for_edit(event.value)

    def open_for_edit(self, key: str) -> None:
        """Put ``template:NAME`` or ``preset:NAME`` in the editor."""
        session = self.session
        if session is None:
            return
        kind, _, name = key.partition(":")
        if kind == "template":
            template = session.templates[name]
            text = file_text(template.path) or template_to_toml(template)
            self.editing_path = template.path if template.source == "user" else None
        else:
            preset = session.presets[name]
            text = file_text(preset.path) or preset_to_toml(preset)
            self.editing_path = preset.path if preset.source == "user" else None
        self.kind = kind
        self.before_copy = None
        self.editor.load_text(text)
        self.validate()

    def new(self, kind: str) -> None:
        self.kind = kind
        self.editing_path = self.before_copy = None
        self.editor.load_text(NEW_TEMPLATE if kind == "template" else NEW_PRESET)
        self.tabs.active = "tab-edit"
        self.validate()

    @on(TextArea.Changed, "#editor")
    def _edited(self, event: TextArea.Changed) -> None:
        self.validate()

    def validate(self) -> bool:
        text = self.editor.text
        parsed: Template | Preset | None
        if self.kind == "template":
            parsed, problems = parse_template_text(text, "editor.toml")
        else:
            parsed, problems = parse_preset_text(text, "editor.toml")
        self.valid = parsed
        widget = self.edit_problems
        widget.set_class(parsed is not None and not problems, "-ok")
        widget.set_class(parsed is None, "-bad")
        if parsed is None:
            widget.update(describe_problems(problems))
        elif problems:
            widget.update(f"✓ usable {self.kind} {parsed.name!r}; " + describe_problems(problems))
        else:
            widget.update(f"✓ valid {self.kind} {parsed.name!r}")
        return parsed is not None

    def action_save(self) -> None:
        if not self.validate():
            self.notify(str(self.edit_problems.content), title="Not saved", severity="error")
            return
        parsed = self.valid
        folder = paths.user_templates_dir() if self.kind == "template" else paths.user_presets_dir()
        target = folder / f"{parsed.name}.toml"
        text = self.editor.text
        try:
            paths.write_private_text(target, text)
            if self.editing_path is not None and self.editing_path != target:
                self.editing_path.unlink(missing_ok=True)  # renamed: the old file goes
        except OSError as exc:
            self.notify(f"Not saved: {exc}", severity="error")
            return
        self.editing_path, self.before_copy = target, None
        self.reload()
        session = self.session
        if session is not None:
            if self.kind == "template":
                session.set_template(parsed.name)
            else:
                session.set_system_prompt(session.presets[parsed.name].system_prompt())
        self._refresh_picks()
        self.notify(f"Saved {target} and used it.", title="Templates", timeout=4)
        self.refresh_preview()

    def reload(self) -> None:
        """Read the template and preset folders again into the open session."""
        session = self.session
        if session is None:
            return
        templates, problems = load_templates()
        presets, preset_problems = load_presets()
        session.templates = templates
        session.presets = presets
        for problem in [*problems, *preset_problems]:
            self.notify(str(problem), title="Not loaded", severity="warning", timeout=8)

    def _refresh_picks(self) -> None:
        session = self.session
        if session is None:
            return
        with self.prevent(Select.Changed):
            self.pick_template.set_options(self._template_options())
            self.pick_template.value = session.template_name
            self.pick_preset.set_options(self._preset_options())
            self.pick_preset.value = self._current_preset()
            self.edit_pick.set_options(self._edit_options())

    def action_duplicate(self) -> None:
        text = self.editor.text
        match = NAME_LINE.search(text)
        old = match.group(1) if match else self.kind
        new_name = f"{old}-copy"
        if match:
            text = text[: match.start(1)] + new_name + text[match.end(1) :]
        else:
            text = f'name = "{new_name}"\n' + text
        self.before_copy = (self.editing_path, self.editor.text)
        self.editing_path = None
        self.editor.load_text(text)
        self.validate()
        self.notify(f"Copy named {new_name!r}: edit it, then Save & use.", timeout=3)

    def action_more(self) -> None:
        actions = [
            ("new_template", "New template"),
            ("new_preset", "New preset"),
            ("delete", "Delete file"),
            ("reload", "Reload files"),
        ]

        def chosen(action: str | None) -> None:
            if action == "new_template":
                self.new("template")
            elif action == "new_preset":
                self.new("preset")
            elif action == "delete":
                self.action_delete()
            elif action == "reload":
                self.reload()
                self._refresh_picks()

        self.app.push_screen(MessageActionsSheet("Templates and presets", actions), chosen)

    def action_delete(self) -> None:
        path = self.editing_path
        if self.before_copy is not None:  # an unsaved copy has no file: delete discards it
            self.app.push_screen(
                ConfirmSheet("Discard the unsaved copy?", yes="Discard"), self._discard_copy
            )
            return
        if path is None:
            self.notify("Only your own files can be deleted (built-ins stay).", severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if not yes:
                return
            path.unlink(missing_ok=True)
            self.editing_path = None
            self.reload()
            session = self.session
            if session is not None and session.template_name not in session.templates:
                session.set_template("auto")
            self._refresh_picks()
            self.new(self.kind)
            self.notify(f"Deleted {path.name}.", timeout=3)
            self.refresh_preview()

        self.app.push_screen(ConfirmSheet(f"Delete {path}?", yes="Delete"), answered)

    def _discard_copy(self, yes: bool | None) -> None:
        if yes and self.before_copy is not None:
            self.editing_path, text = self.before_copy
            self.before_copy = None
            self.editor.load_text(text)
            self.validate()

    def commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand("Save & use template", "Write it and use it (ctrl+s)", self.action_save)
        yield SystemCommand(
            "Duplicate template", "Copy what is in the editor", self.action_duplicate
        )
        yield SystemCommand("New template", "Start a prompt format", lambda: self.new("template"))
        yield SystemCommand("New preset", "Start a system prompt", lambda: self.new("preset"))
        yield SystemCommand("Delete template file", "Your own files only", self.action_delete)

    def result(self) -> str | None:
        session = self.session
        return session.template_name if session is not None else None
