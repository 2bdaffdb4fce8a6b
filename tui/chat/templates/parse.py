"""Template files: TOML text to :class:`Template` (with line-numbered problems) and back."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tui import paths
from tui.chat.templates.model import AUTO, AUTO_TEMPLATE, HOLE, TEXT_KEYS, Template
from tui.tomlfiles import FileProblem, load_toml_dirs, read_toml

_KNOWN_KEYS = frozenset(
    {"name", "description", "add_bos", "stop", "default_system", "trim_content", *TEXT_KEYS}
)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

_Report = Callable[[str | None, str], None]
"""``report(key, message)``: one problem, on the key's line when the key is given."""


def parse_template_text(
    text: str, source_name: str, *, source: str = "user", path: Path | None = None
) -> tuple[Template | None, list[FileProblem]]:
    """Validate template TOML (as typed in the editor or read from a file).

    Returns the template, or None and at least one problem with a line number where one can
    be found. Unknown keys are reported but do not make the template unusable.
    """
    file = path if path is not None else Path(source_name)
    data, problems = read_toml(text, file)
    if data is None:
        return None, problems
    for key in data:
        if key not in _KNOWN_KEYS:
            problems.add(key, f"unknown key {key!r} (known: {', '.join(sorted(_KNOWN_KEYS))})")
    values, typed = _typed_values(data, problems.add)
    name = values.get("name") or Path(source_name).stem
    shaped = _check_shape(data, values, name, problems.add)
    if not (typed and shaped):
        return None, problems
    values["name"] = name
    return Template(**values, source=source, path=path), problems


def _typed_values(data: Mapping[str, Any], report: _Report) -> tuple[dict[str, Any], bool]:
    """The values of the right type, and whether every value given had the right type."""
    values: dict[str, Any] = {}
    ok = True
    for keys, kind in (
        ((*TEXT_KEYS, "description", "default_system", "name"), str),
        (("add_bos", "trim_content"), bool),
    ):
        for key in keys:
            if key not in data:
                continue
            if isinstance(data[key], kind):
                values[key] = data[key]
                continue
            wanted = f"a string, got {type(data[key]).__name__}" if kind is str else "true or false"
            report(key, f"{key} must be {wanted}")
            ok = False
    if "stop" in data:
        stop = data["stop"]
        if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
            report("stop", "stop must be a list of non-empty strings")
            ok = False
        else:
            values["stop"] = tuple(stop)
    return values, ok


def _check_shape(
    data: Mapping[str, Any], values: Mapping[str, Any], name: str, report: _Report
) -> bool:
    """Whether the name is usable and every turn string has its ``{content}`` hole right."""
    ok = True
    if not _NAME.fullmatch(name):
        report("name", f"name {name!r} may use only letters, digits, '.', '_' and '-'")
        ok = False
    if name == AUTO:
        report("name", "'auto' is reserved for the model's own chat template")
        ok = False
    for key in ("user", "assistant"):
        if key not in data:
            report(None, f"missing required key {key!r}")
            ok = False
    for key in ("system", "system_in_first_user", "user", "first_user", "assistant"):
        value = values.get(key)
        if value and value.count(HOLE) != 1:
            report(key, f"{key} must contain {HOLE} exactly once")
            ok = False
    for key in ("generation_prompt", "prefix"):
        value = values.get(key)
        if value and HOLE in value:
            report(key, f"{key} is markup only and cannot contain {HOLE}")
            ok = False
    if values.get("system") and values.get("system_in_first_user"):
        report("system_in_first_user", "set either system or system_in_first_user, not both")
        ok = False
    return ok


def load_templates(
    *, builtin_dir: Path | None = None, user_dir: Path | None = None
) -> tuple[dict[str, Template], list[FileProblem]]:
    """Built-in templates, then the user's (same name overrides), plus ``auto`` first.

    Never raises on a bad user file: it is left out and described in the problems.
    """
    return load_toml_dirs(
        [
            (builtin_dir or paths.builtin_prompts_dir() / "templates", "builtin"),
            (user_dir or paths.user_templates_dir(), "user"),
        ],
        lambda text, file, source: parse_template_text(text, file.name, source=source, path=file),
        lambda template: template.name,
        into={AUTO: AUTO_TEMPLATE},
    )


def template_to_toml(template: Template) -> str:
    """The TOML text of a template (for ``templates show`` and copying a built-in)."""
    import tomli_w

    data: dict[str, Any] = {"name": template.name, "description": template.description}
    data["add_bos"] = template.add_bos
    data["stop"] = list(template.stop)
    if template.trim_content:
        data["trim_content"] = True
    data["default_system"] = template.default_system
    for key in TEXT_KEYS:
        value = getattr(template, key)
        if value or key in ("user", "assistant", "generation_prompt"):
            data[key] = value
    return tomli_w.dumps(data, multiline_strings=False)
