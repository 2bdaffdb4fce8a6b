"""Text from the history or a model, made safe to show on a terminal or write for one.

Why: stored text is not trusted. An answer, an imported conversation or a title can carry
``ESC ] 0 ; … ESC \\`` (sets the terminal title), ``ESC ] 52 ; c ; … BEL`` (writes the
clipboard), ``ESC [ 2 J`` (clears the screen), a carriage return that overwrites what was
printed, or the same in 8-bit form (U+009B is CSI on terminals that honour C1 controls).
Printed raw, any of them acts on the user's terminal. Dropping them would hide that the text
held them, so each is shown visibly instead: caret notation for C0 and DEL (``^[``, ``^?``),
``<9b>`` for C1. Newline and tab stay (text keeps its shape); CR LF becomes a plain newline.

Pure functions on ``str``; no terminal, Textual or Rich import (the headless core uses them).
"""

from __future__ import annotations

import re

_C0_KEEP = frozenset({"\n", "\t"})


def _visible(code: int) -> str:
    """How one control character is shown: ``^[`` for ESC, ``^?`` for DEL, ``<9b>`` for C1."""
    if code < 0x20:
        return "^" + chr(code + 0x40)
    if code == 0x7F:
        return "^?"
    return f"<{code:02x}>"


_CONTROL_CODES = (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0))
_TERMINAL_TABLE: dict[int, str] = {
    code: _visible(code) for code in _CONTROL_CODES if chr(code) not in _C0_KEEP
}
_LINE_BREAKS = re.compile("\r\n|[\n\r\t\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_CONTROL_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")


def has_controls(text: str) -> bool:
    """Whether ``text`` holds a control character a terminal would act on."""
    return _CONTROL_RE.search(text.replace("\r\n", "\n")) is not None


def terminal_text(text: str) -> str:
    """``text`` with every C0/C1 control character but newline and tab shown visibly.

    For anything printed to a terminal or written to a file people ``cat`` (the Markdown
    export): answers, questions, system prompts, snippets.
    """
    return text.replace("\r\n", "\n").translate(_TERMINAL_TABLE)


def one_line(text: str) -> str:
    """``text`` for a one-line field (a title, a tag, a list row): line breaks and tabs
    become spaces, then every other control character is shown visibly."""
    return _LINE_BREAKS.sub(" ", text).translate(_TERMINAL_TABLE)


_JSON_C1 = re.compile("[\x7f-\x9f]")


def json_escape_c1(encoded: str) -> str:
    """JSON text (from ``json.dumps(..., ensure_ascii=False)``) with DEL and C1 characters
    written as ``\\u00XX`` escapes.

    ``json.dumps`` escapes C0 (ESC becomes ``\\u001b``) but passes DEL and C1 through raw, so
    U+009B reached the terminal. These characters can only occur inside JSON strings, where
    the escape means the same character: a program reading the JSON gets the exact text.
    """
    return _JSON_C1.sub(lambda match: f"\\u{ord(match.group()):04x}", encoded)
