"""Named formats (chatml, llama-3, ...): rendering one, and guessing which one a model uses.

A named format is a few strings with a ``{content}`` hole for each role; everything outside
the hole is markup. The formats themselves are data files (``prompts/templates/*.toml``).
"""

from __future__ import annotations

from collections.abc import Sequence

from tui.chat.templates.model import FALLBACK_FORMAT, HOLE, Message, Parts, Template


def _split(fmt: str) -> tuple[str, str]:
    before, _, after = fmt.partition(HOLE)
    return before, after


def render_named(
    template: Template, messages: Sequence[Message], add_generation_prompt: bool
) -> list[tuple[str, bool]]:
    """The parts of the prompt: each turn's markup around the message text."""
    out = Parts()
    out.add(template.prefix, True)
    pending_system: list[str] = []
    seen_user = False

    def text(content: str) -> str:
        return content.strip() if template.trim_content else content

    for message in messages:
        if message.role == "system":
            if template.system:
                before, after = _split(template.system)
                out.add(before, True)
                out.add(text(message.content), False)
                out.add(after, True)
            else:
                pending_system.append(message.content)
            continue
        if message.role == "user":
            fmt = template.first_user if (template.first_user and not seen_user) else template.user
            seen_user = True
            before, after = _split(fmt)
            out.add(before, True)
            if pending_system:
                sys_before, sys_after = _split(template.system_in_first_user or HOLE + "\n\n")
                out.add(sys_before, True)
                out.add(text("\n\n".join(pending_system)), False)
                out.add(sys_after, True)
                pending_system = []
            out.add(text(message.content), False)
            out.add(after, True)
        else:
            before, after = _split(template.assistant)
            out.add(before, True)
            out.add(text(message.content), False)
            out.add(after, True)
    if pending_system:  # a system prompt with no question after it
        sys_before, sys_after = _split(template.system_in_first_user or HOLE)
        out.add(sys_before, True)
        out.add(text("\n\n".join(pending_system)), False)
        out.add(sys_after, True)
    if add_generation_prompt:
        out.add(template.generation_prompt, True)
    return out.items


_GUESSES: tuple[tuple[str, str], ...] = (
    ("<|im_start|>", "chatml"),
    ("<|start_header_id|>", "llama-3"),
    ("<start_of_turn>", "gemma"),
    ("<|assistant|>\n", "phi-3"),
    ("<<SYS>>", "llama-2"),
    ("[INST]", "mistral-instruct"),
    ("### Response:", "alpaca"),
)
"""Markup a GGUF chat template writes, and the named format that writes the same."""


def guess_format(
    *,
    architecture: str | None = None,
    model_name: str | None = None,
    chat_template_source: str | None = None,
) -> str:
    """Pick a named format from GGUF metadata (``general.architecture``/``general.name``)."""
    name = (model_name or "").lower()
    arch = (architecture or "").lower()
    for needle, fmt in (
        ("orca", "orca-mini"),
        ("vicuna", "vicuna"),
        ("zephyr", "zephyr"),
        ("alpaca", "alpaca"),
        ("llama-3", "llama-3"),
        ("llama 3", "llama-3"),
        ("llama3", "llama-3"),
        ("llama-2", "llama-2"),
        ("llama 2", "llama-2"),
        ("mistral", "mistral-instruct"),
        ("phi-3", "phi-3"),
        ("phi 3", "phi-3"),
    ):
        if needle in name:
            return fmt
    if arch.startswith("gemma"):
        return "gemma"
    if arch in {"phi3", "phi4"}:
        return "phi-3"
    if chat_template_source:
        for marker, fmt in _GUESSES:
            if marker in chat_template_source:
                return fmt
    if arch == "llama" and "instruct" in name and "smol" not in name:
        return "llama-3"
    return FALLBACK_FORMAT
