"""System-prompt presets: built-ins, parameters, user files."""

from __future__ import annotations

import pytest

from tui import paths
from tui.chat.presets import load_presets, parse_preset_text


def test_builtin_presets() -> None:
    presets, problems = load_presets()
    assert problems == []
    assert {"assistant", "concise", "translate", "summarize", "extract"} <= set(presets)
    for preset in presets.values():
        assert preset.system and preset.description and preset.source == "builtin"


def test_translation_target_language() -> None:
    translate = load_presets()[0]["translate"]
    assert [p.name for p in translate.parameters] == ["language"]
    assert "into English." in translate.system_prompt()
    assert "into Finnish." in translate.system_prompt(language="Finnish")
    assert "into Finnish." in translate.system_prompt({"language": "Finnish"})
    with pytest.raises(KeyError, match="no parameter 'tone'"):
        translate.system_prompt(tone="x")


def test_user_presets_override_and_report_problems() -> None:
    folder = paths.user_presets_dir()
    (folder / "concise.toml").write_text('system = "Mine. Keep {braces}."\n')
    (folder / "broken.toml").write_text('name = "broken"\nsystem = 3\n')
    presets, problems = load_presets()
    assert presets["concise"].source == "user"
    assert presets["concise"].system_prompt() == "Mine. Keep {braces}."
    assert "broken" not in presets
    assert [(p.file, p.line) for p in problems] == [(folder / "broken.toml", 2)]


def test_parse_preset_text_syntax_error_line() -> None:
    preset, problems = parse_preset_text('name = "x"\nsystem = """open\n', "x.toml")
    assert preset is None and problems[0].line is not None
