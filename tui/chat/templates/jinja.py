"""The ``auto`` template: the Jinja chat template embedded in a GGUF file, sandboxed.

A GGUF is untrusted input (CVE-2024-34359), so its template is rendered in Jinja's
``ImmutableSandboxedEnvironment`` with limits on time, output size, repetition and exponents:
a hostile template may try to loop forever or build a string that eats the RAM. Any failure
becomes a :class:`TemplateError`, and the caller falls back to a named format.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from tui.chat.templates.model import Message, Parts, TemplateError

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


def _raise_exception(message: str) -> None:
    raise TemplateError(f"the chat template refused the conversation: {message}")


def _strftime_now(fmt: str) -> str:
    from datetime import datetime

    return datetime.now().strftime(str(fmt))


_MAX_REPEAT = 10_000
"""Longest string/list a template may build with ``*`` (``'a' * 10**9`` would eat the RAM)."""


_RENDER_SECONDS = 2.0
"""Time budget of one render of a GGUF template: a hostile one may loop (nearly) forever."""
_MAX_OUTPUT = 2_000_000
"""Longest text a template may write (characters)."""


def _jinja_environment(deadline: float | None = None) -> Any:
    import time

    from jinja2.exceptions import SecurityError
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range

    end = deadline if deadline is not None else time.monotonic() + _RENDER_SECONDS

    def check_time() -> None:
        if time.monotonic() > end:
            raise SecurityError("the template took too long to render")

    class Sandbox(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**"})

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
            check_time()
            return super().call(__context, __obj, *args, **kwargs)

        def getattr(self, obj: Any, attribute: str) -> Any:
            check_time()
            return super().getattr(obj, attribute)

        def getitem(self, obj: Any, argument: Any) -> Any:
            check_time()
            return super().getitem(obj, argument)

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "**" and isinstance(right, int) and abs(right) > 64:
                raise SecurityError("exponent too large")
            if operator == "*":
                sizes = [
                    len(a) * b
                    for a, b in ((left, right), (right, left))
                    if isinstance(a, str | list | tuple) and isinstance(b, int)
                ]
                if any(size > _MAX_REPEAT for size in sizes):
                    raise SecurityError("repetition too large")
            return super().call_binop(context, operator, left, right)

    env = Sandbox(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols], autoescape=False)

    def tojson(value: Any, indent: int | None = None) -> str:
        import json

        return json.dumps(value, ensure_ascii=False, indent=indent)

    def budget_range(*args: int) -> Any:
        # Loops that write nothing and call nothing still pass through here on every step.
        for value in safe_range(*args):
            check_time()
            yield value

    env.filters["tojson"] = tojson
    env.globals["range"] = budget_range
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    return env


def _jinja_render(
    source: str,
    messages: Sequence[Message],
    contents: Sequence[str],
    add_generation_prompt: bool,
    bos_token: str,
    eos_token: str,
) -> str:
    import time

    import jinja2

    deadline = time.monotonic() + _RENDER_SECONDS
    try:
        compiled = _jinja_environment(deadline).from_string(source)
        pieces: list[str] = []
        size = 0
        # generate() yields as it writes, so a runaway loop is stopped by time or size.
        for piece in compiled.generate(
            messages=[
                {"role": m.role, "content": c} for m, c in zip(messages, contents, strict=True)
            ],
            add_generation_prompt=add_generation_prompt,
            bos_token=bos_token,
            eos_token=eos_token,
        ):
            size += len(piece)
            if size > _MAX_OUTPUT:
                raise jinja2.exceptions.SecurityError("the template wrote too much text")
            if time.monotonic() > deadline:
                raise jinja2.exceptions.SecurityError("the template took too long to render")
            pieces.append(piece)
        result = "".join(pieces)
    except TemplateError:
        raise
    except jinja2.exceptions.SecurityError as exc:
        raise TemplateError(f"the chat template tried something unsafe: {exc}") from exc
    except Exception as exc:  # any failure of untrusted code is a failed template
        raise TemplateError(f"the chat template failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(result, str):
        raise TemplateError("the chat template did not produce text")
    return result


def render_jinja(
    source: str,
    messages: Sequence[Message],
    add_generation_prompt: bool,
    bos_token: str,
    eos_token: str,
) -> tuple[list[tuple[str, bool]], bool]:
    """Render with sentinels for the message texts, then cut the output at them.

    Markup is whatever the template wrote around the sentinels. The cut is trusted only if
    putting the real texts back gives exactly what the template renders with the real texts;
    templates that ``trim`` their messages are handled by trying stripped texts too. A
    template that rewrites message text in any other way cannot be split safely and fails.

    ``bos_token`` is a sentinel too, so a BOS the template writes first can be told apart
    from markup that merely looks like it (SmolLM2's BOS *is* ``<|im_start|>``). Returns the
    parts without that leading BOS, and whether the template wrote it.
    """
    sentinels = [_SENTINEL.format(i) for i in range(len(messages))]
    bos_sentinel = _SENTINEL.format("bos")
    skeleton = _jinja_render(
        source, messages, sentinels, add_generation_prompt, bos_sentinel, eos_token
    )
    real = _jinja_render(
        source,
        messages,
        [m.content for m in messages],
        add_generation_prompt,
        bos_token,
        eos_token,
    )
    wrote_bos = skeleton.startswith(bos_sentinel)
    body = skeleton[len(bos_sentinel) :] if wrote_bos else skeleton
    body = body.replace(bos_sentinel, bos_token)
    expected_prefix = bos_token if wrote_bos else ""
    for contents in ([m.content for m in messages], [m.content.strip() for m in messages]):
        out = Parts()
        pos = 0
        for match in _SENTINEL_RE.finditer(body):
            out.add(body[pos : match.start()], True)
            out.add(contents[int(match.group(1))], False)
            pos = match.end()
        out.add(body[pos:], True)
        if expected_prefix + "".join(t for t, _ in out.items) == real:
            return out.items, wrote_bos
    raise TemplateError(
        "the chat template changes message text in a way Burrow cannot follow, "
        "so markup and text cannot be told apart"
    )
