"""What a template is, what it is given and what it gives back."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

ROLES = ("system", "user", "assistant")
AUTO = "auto"
FALLBACK_FORMAT = "chatml"

TEXT_KEYS = (
    "system",
    "system_in_first_user",
    "user",
    "first_user",
    "assistant",
    "generation_prompt",
    "prefix",
)
"""The template fields that are text written into the prompt (the rest describe it)."""
HOLE = "{content}"


class TemplateError(Exception):
    """A chat template could not be rendered."""


@dataclass(frozen=True)
class Message:
    """One message of a conversation: ``role`` is system, user or assistant."""

    role: str
    content: str


class _HasRoleContent(Protocol):
    @property
    def role(self) -> str: ...

    @property
    def content(self) -> str: ...


MessageLike = tuple[str, str] | _HasRoleContent


def as_messages(messages: Iterable[MessageLike]) -> list[Message]:
    """Accept ``(role, content)`` pairs or objects with ``role``/``content`` attributes."""
    result: list[Message] = []
    for item in messages:
        if isinstance(item, tuple):
            role, content = item
        else:
            role, content = item.role, item.content
        if role not in ROLES:
            raise TemplateError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
        result.append(Message(role, content))
    return result


@dataclass(frozen=True)
class Template:
    """A prompt format. ``{content}`` in each turn string marks where the message text goes."""

    name: str
    description: str = ""
    user: str = HOLE
    assistant: str = HOLE
    system: str = ""
    """A system turn of its own. Empty when the format folds it into the first user turn."""
    system_in_first_user: str = ""
    """How the system prompt is written at the start of the first user turn (llama-2, gemma)."""
    first_user: str = ""
    """The first user turn when it differs from later ones (llama-2: no ``<s>``)."""
    generation_prompt: str = ""
    """Markup that opens the answer the model writes."""
    prefix: str = ""
    """Markup written once before everything (after the BOS token the tokenizer adds)."""
    stop: tuple[str, ...] = ()
    add_bos: bool = True
    """Whether the tokenizer adds the BOS token in front of the rendered text."""
    default_system: str = ""
    trim_content: bool = False
    """Strip whitespace around each message, as the format's reference template does."""
    source: str = "builtin"
    """``builtin``, ``user`` or ``gguf``; ``path`` is the file it came from."""
    path: Path | None = None

    @property
    def is_auto(self) -> bool:
        return self.name == AUTO


AUTO_TEMPLATE = Template(
    name=AUTO,
    description="The chat template embedded in the model file (sandboxed Jinja), "
    "or a format guessed from the model when it has none.",
    source="gguf",
)


@dataclass(frozen=True)
class RenderedPrompt:
    """The exact prompt. ``text`` never includes the BOS token; ``add_bos`` says to add it."""

    parts: list[tuple[str, bool]]
    """``(text, special)``: markup is special, message text never is."""
    stop: list[str]
    add_bos: bool
    template_name: str
    notice: str | None = None
    """Something the user should see, e.g. that ``auto`` fell back to a named format."""

    @property
    def text(self) -> str:
        return "".join(text for text, _ in self.parts)


class Parts:
    """Builds :attr:`RenderedPrompt.parts`: empty texts are dropped and neighbours of the
    same kind (markup or message text) are joined into one part."""

    def __init__(self) -> None:
        self.items: list[tuple[str, bool]] = []

    def add(self, text: str, special: bool) -> None:
        if not text:
            return
        if self.items and self.items[-1][1] == special:
            self.items[-1] = (self.items[-1][0] + text, special)
        else:
            self.items.append((text, special))
