"""One line under the chat: model state, template, context meter, live tokens/s, incognito,
the remote server answering."""

from __future__ import annotations

from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

#: Share of the context from which the meter turns amber, then red.
WARN_AT = 0.75
FULL_AT = 0.9


class StatusLine(Widget):
    """Pure presentation: the chat screen sets the reactives, this renders them."""

    DEFAULT_CSS = """
    StatusLine {
        height: 1;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        background: $panel;
        color: $text-muted;
    }
    """

    model_state: reactive[str] = reactive("none")
    model_name: reactive[str] = reactive("")
    model_detail: reactive[str] = reactive("")
    template: reactive[str] = reactive("")
    tokens_used: reactive[int] = reactive(0)
    n_ctx: reactive[int] = reactive(0)
    dropped: reactive[int] = reactive(0)
    tokens_per_second: reactive[float | None] = reactive(None)
    incognito: reactive[bool] = reactive(False)
    remote: reactive[str] = reactive("")
    """``remote: HOST`` while a remote server answers: shown first, in its own colour."""
    compact: reactive[bool] = reactive(False)

    def show_model(self, state: str, name: str | None = None, detail: str = "") -> None:
        """The model's state; ``name`` None keeps the name shown."""
        self.model_state = state
        if name is not None:
            self.model_name = name
        self.model_detail = detail

    def show_context(self, tokens_used: int, n_ctx: int, dropped: int) -> None:
        """The context meter: tokens used of ``n_ctx``, earlier messages left out."""
        self.tokens_used = tokens_used
        self.n_ctx = n_ctx
        self.dropped = dropped

    def _model_part(self, name: str) -> tuple[str, str]:
        state = self.model_state
        if state == "loading":
            return (f"loading {name}…", "$warning")
        if state == "failed":
            return (f"model failed: {self.model_detail or name}", "bold $error")
        if state == "ready":
            return (name, "$text")
        return ("no model", "$text-muted")

    def _meter(self) -> tuple[str, str]:
        """``used/n_ctx``, amber then red near the limit; ``✂N`` first when N earlier
        messages are left out (the divider in the transcript says it in words)."""
        text = f"{self.tokens_used}/{self.n_ctx}"
        if self.dropped:
            text = f"✂{self.dropped} {text}"
        share = self.tokens_used / self.n_ctx
        style = "$text-error" if share >= FULL_AT else ("$text-warning" if share >= WARN_AT else "")
        return (text, style)

    def render(self) -> Content:
        # Whole parts only: the least needed go first when the line is too narrow (the
        # template, then the rate, then the model's name is shortened), never the meter.
        width = max(self.content_size.width, 1)
        name = self.model_name or "no model"
        limit = 14 if self.compact else 28
        if len(name) > limit:
            name = name[: limit - 1] + "…"
        full_template = self.template if self.template and not self.compact else ""
        full_rate = (
            f"{self.tokens_per_second:.1f} tok/s" if self.tokens_per_second is not None else ""
        )
        for template, rate in ((full_template, full_rate), ("", full_rate), ("", "")):
            line = self._line(name, template, rate)
            if line.cell_length <= width:
                return line
        spare = width - line.cell_length + len(name)
        return self._line(name[: max(spare - 1, 1)] + "…", "", "")

    def _line(self, name: str, template: str, rate: str) -> Content:
        sep = " · "
        parts: list[str | tuple[str, str]] = []
        if self.incognito:
            parts += [("INCOGNITO", "bold $warning"), sep]
        if self.remote:
            unencrypted = self.remote.endswith("(unencrypted)")
            style = "bold reverse $error" if unencrypted else "bold reverse $accent"
            parts += [(f" {self.remote} ", style), sep]
        parts.append(self._model_part(name))
        if template:
            parts += [sep, template]
        if self.n_ctx:
            parts += [sep, self._meter()]
        if rate:
            parts += [sep, (rate, "bold $success")]
        return Content.assemble(*parts)
