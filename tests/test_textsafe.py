"""``tui.textsafe``: control characters shown visibly, text otherwise unchanged."""

from __future__ import annotations

import json

from tui.textsafe import has_controls, json_escape_c1, one_line, terminal_text


def test_terminal_text_shows_c0_c1_and_del_visibly() -> None:
    assert terminal_text("a\x1b]0;title\x1b\\b") == "a^[]0;title^[\\b"
    assert terminal_text("x\x9b31my") == "x<9b>31my"
    assert terminal_text("bell\x07 nul\x00 del\x7f") == "bell^G nul^@ del^?"
    assert terminal_text("over\rwrite") == "over^Mwrite"


def test_terminal_text_keeps_newlines_tabs_and_unicode() -> None:
    text = "line 1\n\tindented — café 🐇\n"
    assert terminal_text(text) == text
    assert terminal_text("windows\r\nline") == "windows\nline"
    assert terminal_text("\u00a0nbsp and \u00a9") == "\u00a0nbsp and \u00a9"  # not C1


def test_one_line_turns_breaks_into_spaces() -> None:
    assert one_line("Title\nsecond\tline\r\nthird\u2028fourth") == "Title second line third fourth"
    assert one_line("evil\x1b]0;x\x07") == "evil^[]0;x^G"
    assert one_line("c1 next line\x85here") == "c1 next line here"


def test_has_controls() -> None:
    assert has_controls("a\x1bb") and has_controls("\x9b") and has_controls("a\rb")
    assert not has_controls("plain\n\ttext\r\n")


def test_json_escape_c1_keeps_the_exact_text() -> None:
    value = {"content": "red\x9b31m \x1b[0m del\x7f end"}
    encoded = json_escape_c1(json.dumps(value, ensure_ascii=False))
    assert "\x9b" not in encoded and "\x7f" not in encoded and "\x1b" not in encoded
    assert json.loads(encoded) == value
