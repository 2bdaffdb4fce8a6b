"""The texts the templates sheet puts in its editor: new files, TOML of a preset, problems."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tui.tomlfiles import FileProblem

NEW_TEMPLATE = """name = "my-template"
description = "My own prompt format."
add_bos = false
stop = ["<|im_end|>"]
system = "<|im_start|>system\\n{content}<|im_end|>\\n"
user = "<|im_start|>user\\n{content}<|im_end|>\\n"
assistant = "<|im_start|>assistant\\n{content}<|im_end|>\\n"
generation_prompt = "<|im_start|>assistant\\n"
"""
NEW_PRESET = '''name = "my-preset"
description = "My own system prompt."
system = """You are a helpful assistant. Answer in {language}."""

[parameters.language]
description = "Language of the answers"
default = "English"
'''
CUSTOM = "(this conversation's own)"
NAME_LINE = re.compile(r'^name\s*=\s*"([^"]*)"', re.MULTILINE)


def preset_to_toml(preset: Any) -> str:
    import tomli_w

    data: dict[str, Any] = {
        "name": preset.name,
        "description": preset.description,
        "system": preset.system,
    }
    if preset.parameters:
        data["parameters"] = {
            p.name: {"description": p.description, "default": p.default} for p in preset.parameters
        }
    return tomli_w.dumps(data, multiline_strings=True)


def describe_problems(problems: list[FileProblem]) -> str:
    lines = []
    for problem in problems:
        where = f"line {problem.line}" if problem.line is not None else "file"
        lines.append(f"{where}: {problem.message}")
    return "\n".join(lines)


def file_text(path: Path | None) -> str | None:
    if path is None:
        return None
    from tui.tomlfiles import read_file

    try:
        return read_file(path)  # a regular file of bounded size: never blocks on a FIFO
    except OSError:
        return None
