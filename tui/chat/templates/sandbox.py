"""The Jinja environment a GGUF chat template runs in: Hugging Face's, with limits.

A GGUF is untrusted input (CVE-2024-34359), so its template runs in Jinja's
``ImmutableSandboxedEnvironment`` with limits on time, output size, repetition and exponents:
a hostile template may try to loop forever or build a string that eats the RAM. Within those
limits it offers what Hugging Face's ``apply_chat_template`` does, because that is what the
templates are written for: ``trim_blocks``/``lstrip_blocks``, ``loopcontrols``, the
``{% generation %}`` tag, ``tojson`` with its keyword arguments, ``raise_exception`` and
``strftime_now``.
"""

from __future__ import annotations

from typing import Any

from tui.chat.templates.model import TemplateError

MAX_REPEAT = 10_000
"""Longest string/list a template may build with ``*`` (``'a' * 10**9`` would eat the RAM)."""
RENDER_SECONDS = 2.0
"""Time budget of one render of a GGUF template: a hostile one may loop (nearly) forever."""
MAX_OUTPUT = 2_000_000
"""Longest text a template may write (characters)."""
_MAX_JSON_INDENT = 64
"""``tojson(indent=10**9)`` would build a gigabyte of spaces before the output cap sees it."""


class TemplateRefused(TemplateError):
    """The template called ``raise_exception``: it refuses this conversation."""


def _raise_exception(message: str) -> None:
    raise TemplateRefused(f"the chat template refused the conversation: {message}")


def _strftime_now(fmt: str) -> str:
    from datetime import datetime

    return datetime.now().strftime(str(fmt))


def _check_json_options(indent: Any, separators: Any) -> None:
    from jinja2.exceptions import SecurityError

    if isinstance(indent, bool) or not isinstance(indent, int | str | None):
        raise SecurityError("tojson indent must be a number or a string")
    if isinstance(indent, int) and not 0 <= indent <= _MAX_JSON_INDENT:
        raise SecurityError("tojson indent too large")
    if isinstance(indent, str) and len(indent) > _MAX_JSON_INDENT:
        raise SecurityError("tojson indent too large")
    if separators is not None and not (
        isinstance(separators, list | tuple)
        and len(separators) == 2
        and all(isinstance(s, str) and len(s) <= _MAX_JSON_INDENT for s in separators)
    ):
        raise SecurityError("tojson separators must be two short strings")


def tojson(
    value: Any,
    ensure_ascii: bool = False,
    indent: Any = None,
    separators: Any = None,
    sort_keys: bool = False,
) -> str:
    """Hugging Face's ``tojson``: ``json.dumps`` with its options (no HTML escaping)."""
    import json

    _check_json_options(indent, separators)
    return json.dumps(
        value,
        ensure_ascii=bool(ensure_ascii),
        indent=indent,
        separators=tuple(separators) if separators is not None else None,
        sort_keys=bool(sort_keys),
    )


def _generation_extension() -> type:
    """``{% generation %}...{% endgeneration %}``: Hugging Face marks the assistant's part
    of a training sample with it; for a prompt it simply writes its body."""
    from jinja2 import nodes
    from jinja2.ext import Extension

    class Generation(Extension):
        tags = {"generation"}  # noqa: RUF012 - jinja2 declares it so

        def parse(self, parser: Any) -> Any:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return nodes.Scope(body, lineno=lineno)

    return Generation


def jinja_environment(deadline: float) -> Any:
    """A sandbox whose every call, attribute, item and ``range`` step checks ``deadline``
    (a ``time.monotonic()`` value)."""
    import time

    from jinja2.exceptions import SecurityError
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range

    def check_time() -> None:
        if time.monotonic() > deadline:
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
                if any(size > MAX_REPEAT for size in sizes):
                    raise SecurityError("repetition too large")
            return super().call_binop(context, operator, left, right)

    env = Sandbox(
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=[loopcontrols, _generation_extension()],
        autoescape=False,
    )

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
