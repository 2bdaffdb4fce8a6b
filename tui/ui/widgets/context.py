"""Context limits you can see: the bar shown when a question does not fit (policy "stop"),
and the divider in the transcript where the messages sent to the model start (policy
"trim")."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static


class ContextBar(Vertical):
    """Persistent (not a toast): the question did not fit. Its buttons are handled by the
    chat screen: New chat (keeps the question), Raise context (Settings), Switch to trim
    (and send again). Hidden until :meth:`show`."""

    DEFAULT_CSS = """
    ContextBar {
        height: auto;
        background: $warning 20%;
        display: none;
    }
    ContextBar > #context-reason { padding: 0 1; height: auto; max-height: 2; }
    ContextBar > Horizontal { height: auto; }
    ContextBar Button { width: 1fr; min-width: 0; }
    """

    def compose(self) -> ComposeResult:
        self._reason = Static("", id="context-reason", markup=False)
        yield self._reason
        with Horizontal():
            yield Button("New chat", id="context-new-chat", variant="primary")
            yield Button("Raise context", id="context-raise")
            yield Button("Trim", id="context-trim", variant="warning")

    def show(self, tokens_needed: int, n_ctx: int, policy: str) -> None:
        """``policy`` "trim": the question alone is too long, trimming cannot help."""
        needs = f": needs {tokens_needed} of {n_ctx} tokens" if tokens_needed else ""
        if policy == "trim":
            self._reason.update(f"The question alone is too long{needs}.")
        else:
            self._reason.update(f"Too long for the context{needs}.")
        self.query_one("#context-trim").display = policy != "trim"
        self.display = True

    def hide(self) -> None:
        self.display = False


def trim_text(dropped: int) -> str:
    plural = "s are" if dropped != 1 else " is"
    return f"✂ {dropped} earlier message{plural} not sent to the model"


class TrimDivider(Static):
    """Sits before the first message the model is sent; above it, what was left out."""

    DEFAULT_CSS = """
    TrimDivider {
        height: auto;
        margin: 0 0 1 0;
        color: $text-warning;
        text-align: center;
        border-bottom: dashed $warning 50%;
    }
    """

    def __init__(self, dropped: int) -> None:
        super().__init__(trim_text(dropped), classes="trim-divider", markup=False)
        self.dropped = dropped

    def show(self, dropped: int) -> None:
        self.dropped = dropped
        self.update(trim_text(dropped))
