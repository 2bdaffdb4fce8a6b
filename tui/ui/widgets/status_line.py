"""One line under the chat: model state, template, context meter, live tokens/s, incognito."""

from __future__ import annotations

from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget


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

    def render(self) -> Content:
        parts: list[str | tuple[str, str]] = []
        sep = " · "
        if self.incognito:
            parts += [("INCOGNITO", "bold $warning"), sep]
        state = self.model_state
        name = self.model_name or "no model"
        limit = 14 if self.compact else 28
        if len(name) > limit:
            name = name[: limit - 1] + "…"
        if state == "loading":
            parts.append((f"loading {name}…", "$warning"))
        elif state == "failed":
            parts.append((f"model failed: {self.model_detail or name}", "bold $error"))
        elif state == "ready":
            parts.append((name, "$text"))
        else:
            parts.append(("no model", "$text-muted"))
        if self.template and not self.compact:
            parts += [sep, self.template]
        if self.n_ctx:
            parts += [sep, f"{self.tokens_used}/{self.n_ctx}"]
        if self.dropped:
            text = (
                f"{self.dropped} earlier left out"
                if self.compact
                else (f"{self.dropped} earlier message{'s' if self.dropped != 1 else ''} left out")
            )
            parts += [sep, (text, "$warning")]
        if self.tokens_per_second is not None:
            parts += [sep, (f"{self.tokens_per_second:.1f} tok/s", "bold $success")]
        return Content.assemble(*parts)
