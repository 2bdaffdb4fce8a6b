"""Rendering a conversation with any template, and counting the prompt's tokens."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tui.chat.templates.jinja import END_MARKERS, render_jinja
from tui.chat.templates.model import (
    AUTO,
    FALLBACK_FORMAT,
    MessageLike,
    RenderedPrompt,
    Template,
    TemplateError,
    as_messages,
)
from tui.chat.templates.named import guess_format, render_named
from tui.chat.templates.parse import load_templates


def render(
    template: Template,
    messages: Iterable[MessageLike],
    *,
    add_generation_prompt: bool = True,
    chat_template_source: str | None = None,
    bos_token: str = "",
    eos_token: str = "",
    add_bos: bool | None = None,
    architecture: str | None = None,
    model_name: str | None = None,
    templates: Mapping[str, Template] | None = None,
    variables: Mapping[str, Any] | None = None,
) -> RenderedPrompt:
    """Render ``messages`` with ``template`` into the exact prompt.

    For ``auto``: ``chat_template_source`` is the GGUF's ``tokenizer.chat_template``;
    ``bos_token``/``eos_token`` the texts of those tokens; ``add_bos`` the model's
    ``tokenizer.ggml.add_bos_token`` (None: unknown). ``architecture``/``model_name``
    choose the fallback format; ``templates`` is where it is looked up (default: built-ins
    and the user's); ``variables`` are extra Jinja variables (``enable_thinking``). Named
    templates ignore these arguments.
    """
    items = as_messages(messages)
    if not template.is_auto:
        return RenderedPrompt(
            parts=render_named(template, items, add_generation_prompt),
            stop=list(template.stop),
            add_bos=template.add_bos,
            template_name=template.name,
        )
    reason = "the model file has no chat template"
    if chat_template_source:
        try:
            parts, wrote_bos = render_jinja(
                chat_template_source,
                items,
                add_generation_prompt,
                bos_token,
                eos_token,
                variables,
            )
        except TemplateError as exc:
            reason = str(exc)
        else:
            # A BOS the template writes is left to the tokenizer, so it is never added twice.
            model_bos = wrote_bos or bool(add_bos)
            stop = [m for m in END_MARKERS if m in chat_template_source]
            if eos_token and eos_token not in stop:
                stop.append(eos_token)
            return RenderedPrompt(parts=parts, stop=stop, add_bos=model_bos, template_name=AUTO)
    fallback_name = guess_format(
        architecture=architecture,
        model_name=model_name,
        chat_template_source=chat_template_source,
    )
    available = templates if templates is not None else load_templates()[0]
    fallback = available.get(fallback_name) or available.get(FALLBACK_FORMAT)
    if fallback is None or fallback.is_auto:
        raise TemplateError(f"{reason}, and no fallback format is installed")
    rendered = render(fallback, items, add_generation_prompt=add_generation_prompt)
    notice = f"auto: {reason}; using the {fallback.name} format instead"
    return RenderedPrompt(
        parts=rendered.parts,
        stop=rendered.stop,
        add_bos=rendered.add_bos,
        template_name=fallback.name,
        notice=notice,
    )


@dataclass
class TokenCounter:
    """Counts a rendered prompt's tokens the way the engine will feed it.

    ``tokenize(text, special=..., add_bos=...)`` is the engine client's method (or a
    ``llama_cpp.Llama`` adapter): each part is tokenized on its own with its own ``special``
    flag, exactly as the engine does, and BOS is counted once when the prompt asks for it.
    """

    tokenize: Callable[..., list[int]]
    cache: dict[tuple[str, bool], int] = field(default_factory=dict)

    def __call__(self, prompt: RenderedPrompt) -> int:
        total = 1 if prompt.add_bos else 0
        for text, special in prompt.parts:
            key = (text, special)
            if key not in self.cache:
                self.cache[key] = len(self.tokenize(text, special=special, add_bos=False))
            total += self.cache[key]
        return total


def chat_kwargs_from_metadata(
    metadata: Mapping[str, str], token_text: Callable[[int], str] | None = None
) -> dict[str, Any]:
    """``render`` keyword arguments for ``auto`` from GGUF metadata (string values, as
    ``llama_cpp.Llama.metadata`` gives them). ``token_text`` turns a token id into its text,
    for ``bos_token``/``eos_token``; without it they stay empty."""

    def token(key: str) -> str:
        raw = metadata.get(key)
        if token_text is None or raw is None:
            return ""
        try:
            return token_text(int(raw))
        except (ValueError, TypeError):
            return ""

    add_bos_raw = metadata.get("tokenizer.ggml.add_bos_token")
    add_bos = None if add_bos_raw is None else str(add_bos_raw).lower() in {"true", "1"}
    return {
        "chat_template_source": metadata.get("tokenizer.chat_template") or None,
        "bos_token": token("tokenizer.ggml.bos_token_id"),
        "eos_token": token("tokenizer.ggml.eos_token_id"),
        "add_bos": add_bos,
        "architecture": metadata.get("general.architecture"),
        "model_name": metadata.get("general.name"),
    }
