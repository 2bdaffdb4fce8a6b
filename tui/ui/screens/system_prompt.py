"""The system prompt sheet: the open conversation's own system prompt, editable at any time.

The text is the conversation's (saved with it, used from its next answer on). Its token
count, counted by the loaded model's tokenizer, shows under it. The presets are starting
points: picking one puts its text in the editor, and each of its variables (``{language}``)
gets a field, so the text never keeps a literal placeholder; editing a field rewrites the
text from the preset.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Select, Static, TextArea

from tui.ui.widgets.sheets import SheetScreen

if TYPE_CHECKING:
    from tui.chat.presets import Preset
    from tui.ui.services import Services


class SystemPromptScreen(SheetScreen):
    """Edit the open conversation's system prompt; **Use** saves it with the conversation."""

    TITLE_TEXT = "System prompt"
    DEFAULT_CSS = """
    SystemPromptScreen #system-form { height: 1fr; padding: 0 1; }
    SystemPromptScreen #system-text { height: 8; min-height: 4; }
    SystemPromptScreen #system-tokens { height: 1; color: $text-muted; }
    SystemPromptScreen #system-fields { height: auto; }
    SystemPromptScreen .prompt-field { height: auto; }
    SystemPromptScreen .prompt-field-label { width: 14; height: 3; content-align: left middle; }
    SystemPromptScreen .prompt-field Input { width: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        *SheetScreen.BINDINGS,
        Binding("ctrl+t", "use", "Use"),
    ]

    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services
        self.preset: Preset | None = None
        self.tokens: int | None = None

    def compose_body(self) -> ComposeResult:
        session = self.session
        text = session.system_prompt if session is not None else ""
        presets = list(session.presets) if session is not None else []
        with VerticalScroll(id="system-form"):
            yield Select(
                [(name, name) for name in presets],
                prompt="Start from a preset",
                id="system-preset",
            )
            yield Vertical(id="system-fields")
            yield TextArea(text, id="system-text", soft_wrap=True, show_line_numbers=False)
            yield Static("", id="system-tokens", markup=False)
        with Horizontal(classes="actions"):
            yield Button("Use", id="system-use", variant="primary")
            yield Button("Clear", id="system-clear")

    def on_mount(self) -> None:
        self.count_tokens()

    @property
    def text(self) -> str:
        return self.query_one("#system-text", TextArea).text

    # presets and their variables ---------------------------------------------------

    @on(Select.Changed, "#system-preset")
    async def _preset_picked(self, event: Select.Changed) -> None:
        session = self.session
        if session is None or not isinstance(event.value, str):
            return
        self.preset = session.presets.get(event.value)
        fields = self.query_one("#system-fields", Vertical)
        await fields.remove_children()
        if self.preset is None:
            return
        rows = []
        for parameter in self.preset.parameters:
            label = parameter.description or parameter.name
            row = Horizontal(
                Static(parameter.name, classes="prompt-field-label", markup=False),
                Input(parameter.default, placeholder=label, id=f"param-{parameter.name}"),
                classes="prompt-field",
            )
            rows.append(row)
        await fields.mount_all(rows)
        self._fill_from_preset()

    def values(self) -> dict[str, str]:
        """The preset's variables as typed in their fields."""
        if self.preset is None:
            return {}
        return {
            p.name: self.query_one(f"#param-{p.name}", Input).value for p in self.preset.parameters
        }

    def _fill_from_preset(self) -> None:
        if self.preset is not None:
            self.query_one("#system-text", TextArea).text = self.preset.system_prompt(self.values())

    @on(Input.Changed)
    def _field_changed(self, event: Input.Changed) -> None:
        if event.input.id and event.input.id.startswith("param-"):
            self._fill_from_preset()

    # the token count -----------------------------------------------------------------

    @on(TextArea.Changed, "#system-text")
    def _text_changed(self) -> None:
        self.count_tokens()

    @work(thread=True, exclusive=True, group="system-tokens")
    def count_tokens(self) -> None:
        """Count with the loaded model's tokenizer (off the UI thread: it asks the engine)."""
        text = self.app.call_from_thread(lambda: self.text)
        engine = self.services.engine
        if engine.model is None:
            self.app.call_from_thread(self._show_tokens, None)
            return
        try:
            count = len(engine.tokenize(text, special=False, add_bos=False)) if text else 0
        except Exception:
            count = None
        self.app.call_from_thread(self._show_tokens, count)

    def _show_tokens(self, count: int | None) -> None:
        self.tokens = count
        label = "no model loaded: tokens not counted" if count is None else f"{count} tokens"
        self.query_one("#system-tokens", Static).update(label)

    # using it --------------------------------------------------------------------------

    @on(Button.Pressed, "#system-use")
    def _use_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_use()

    @on(Button.Pressed, "#system-clear")
    def _clear_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.query_one("#system-text", TextArea).text = ""

    def action_use(self) -> None:
        session = self.session
        if session is not None:
            session.set_system_prompt(self.text)
            self.notify("System prompt set for this conversation.", timeout=2)
        self.dismiss({"system_prompt": self.text})

    def commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand("Use system prompt", "Set it for this conversation", self.action_use)
