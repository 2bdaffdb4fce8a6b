"""The ``auto`` template: the Jinja chat template embedded in a GGUF file, sandboxed.

The template runs in the sandbox of :mod:`tui.chat.templates.sandbox`. Any failure becomes a
:class:`TemplateError`, and the caller falls back to a named format. What this module adds is
telling the template's markup apart from the message texts (see :func:`render_jinja`) and
llama.cpp's system fold for templates that refuse a system message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from tui.chat.templates.model import Message, Parts, TemplateError
from tui.chat.templates.sandbox import (
    MAX_OUTPUT,
    RENDER_SECONDS,
    TemplateRefused,
    jinja_environment,
)

_SENTINEL = "\ue000burrow-message-{}\ue001"
_SENTINEL_RE = re.compile("\ue000burrow-message-(\\d+)\ue001")
"""Placeholders for the message texts, made of Private Use Area characters real text lacks."""

END_MARKERS = (
    "<|im_end|>",
    "<|eot_id|>",
    "<end_of_turn>",
    "<|end|>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "</s>",
)
"""Turn ends a GGUF template may write: those it does are the prompt's stop strings."""

_LOCATE_STEPS = 100_000
"""Most choices tried while matching message texts (a bound on adversarial backtracking)."""


class TemplateUnsafe(TemplateError):
    """The template tried something the sandbox forbids (or ran out of time or room)."""


def _jinja_render(
    source: str,
    messages: Sequence[Message],
    contents: Sequence[str],
    add_generation_prompt: bool,
    bos_token: str,
    eos_token: str,
    variables: Mapping[str, Any],
) -> str:
    import time

    import jinja2

    deadline = time.monotonic() + RENDER_SECONDS
    try:
        compiled = jinja_environment(deadline).from_string(source)
        pieces: list[str] = []
        size = 0
        # generate() yields as it writes, so a runaway loop is stopped by time or size.
        for piece in compiled.generate(
            **variables,
            messages=[
                {"role": m.role, "content": c} for m, c in zip(messages, contents, strict=True)
            ],
            add_generation_prompt=add_generation_prompt,
            bos_token=bos_token,
            eos_token=eos_token,
        ):
            size += len(piece)
            if size > MAX_OUTPUT:
                raise jinja2.exceptions.SecurityError("the template wrote too much text")
            if time.monotonic() > deadline:
                raise jinja2.exceptions.SecurityError("the template took too long to render")
            pieces.append(piece)
        result = "".join(pieces)
    except TemplateError:
        raise
    except jinja2.exceptions.SecurityError as exc:
        raise TemplateUnsafe(f"the chat template tried something unsafe: {exc}") from exc
    except Exception as exc:  # any failure of untrusted code is a failed template
        raise TemplateError(f"the chat template failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(result, str):
        raise TemplateError("the chat template did not produce text")
    return result


def fold_system(messages: Sequence[Message]) -> list[Message]:
    """llama.cpp's fold for templates without a system role: the system text joins the next
    message, separated by a newline (alone, it is dropped)."""
    if not messages or messages[0].role != "system":
        return list(messages)
    rest = list(messages[1:])
    if rest:
        rest[0] = Message(rest[0].role, messages[0].content + "\n" + rest[0].content)
    return rest


def _variants(text: str) -> list[str]:
    """What a template may have made of a message text: as it is, or stripped on either side
    (templates ``trim`` some roles and not others, or only ``lstrip``)."""
    seen: list[str] = []
    for v in (text, text.strip(), text.lstrip(), text.rstrip()):
        if v not in seen:
            seen.append(v)
    return seen


def _locate(
    markup: Sequence[str], indexes: Sequence[int], contents: Sequence[str], real: str
) -> list[str] | None:
    """The text each placeholder stands for in ``real`` (the render with the real texts):
    ``markup[0] text markup[1] text ... markup[-1]`` must spell ``real`` exactly, each text
    a variant of its message. None when no choice does."""
    # Depth-first over the variants, iteratively: a conversation may be long.
    choices: list[tuple[str, int]] = []  # (text chosen, position after it)
    options: list[list[str]] = []
    steps = 0
    pos = 0
    k = 0
    while True:
        steps += 1
        if steps > _LOCATE_STEPS:
            return None
        ok = real.startswith(markup[k], pos)
        if ok and k == len(indexes):
            if pos + len(markup[k]) == len(real):
                return [text for text, _ in choices]
            ok = False
        if ok:
            start = pos + len(markup[k])
            options.append(
                [v for v in _variants(contents[indexes[k]]) if real.startswith(v, start)]
            )
        else:
            options.append([])
        # Take the next untried option, backing up while a level has none left.
        while options and not options[-1]:
            options.pop()
            if not choices:
                return None
            choices.pop()
            k -= 1
        if not options:
            return None
        text = options[-1].pop(0)
        base = choices[-1][1] if choices else 0
        start = base + len(markup[k])
        choices.append((text, start + len(text)))
        pos = start + len(text)
        k += 1


def render_jinja(
    source: str,
    messages: Sequence[Message],
    add_generation_prompt: bool,
    bos_token: str,
    eos_token: str,
    variables: Mapping[str, Any] | None = None,
) -> tuple[list[tuple[str, bool]], bool]:
    """Render with sentinels for the message texts, then cut the output at them.

    Markup is whatever the template wrote around the sentinels. The cut is trusted only if
    putting the real texts back gives exactly what the template renders with the real texts;
    each text may appear as written or stripped on one or both sides (templates trim some
    roles and not others). A template that rewrites message text in any other way cannot be
    split safely and fails.

    A template that refuses a system message, or drops it, gets it folded into the next
    message as llama.cpp does (:func:`fold_system`). ``variables`` are extra template
    variables (``enable_thinking``).

    ``bos_token`` is a sentinel too, so a BOS the template writes first can be told apart
    from markup that merely looks like it (SmolLM2's BOS *is* ``<|im_start|>``). Returns the
    parts without that leading BOS, and whether the template wrote it.
    """
    extra = dict(variables or {})
    bos_sentinel = _SENTINEL.format("bos")

    def skeleton_of(msgs: Sequence[Message]) -> str:
        sentinels = [_SENTINEL.format(i) for i in range(len(msgs))]
        return _jinja_render(
            source, msgs, sentinels, add_generation_prompt, bos_sentinel, eos_token, extra
        )

    messages = list(messages)
    try:
        skeleton = skeleton_of(messages)
        refuses_system = (
            bool(messages)
            and messages[0].role == "system"
            and (_SENTINEL.format(0) not in skeleton)
        )
    except TemplateUnsafe:
        raise
    except TemplateError:
        if not messages or messages[0].role != "system":
            raise
        refuses_system = True
    if refuses_system:
        messages = fold_system(messages)
        skeleton = skeleton_of(messages)
    real = _jinja_render(
        source,
        messages,
        [m.content for m in messages],
        add_generation_prompt,
        bos_token,
        eos_token,
        extra,
    )
    wrote_bos = skeleton.startswith(bos_sentinel)
    body = skeleton[len(bos_sentinel) :] if wrote_bos else skeleton
    body = body.replace(bos_sentinel, bos_token)
    expected_prefix = bos_token if wrote_bos else ""
    pieces = _SENTINEL_RE.split(body)
    markup, indexes = pieces[0::2], [int(i) for i in pieces[1::2]]
    texts = None
    if real.startswith(expected_prefix):
        texts = _locate(
            markup, indexes, [m.content for m in messages], real[len(expected_prefix) :]
        )
    if texts is None:
        raise TemplateError(
            "the chat template changes message text in a way Burrow cannot follow, "
            "so markup and text cannot be told apart"
        )
    out = Parts()
    for i, text in enumerate(texts):
        out.add(markup[i], True)
        out.add(text, False)
    out.add(markup[-1], True)
    return out.items, wrote_bos


__all__ = ["END_MARKERS", "TemplateRefused", "TemplateUnsafe", "fold_system", "render_jinja"]
