"""System-prompt presets: the jobs on-device models do, plus the user's own.

A preset is a TOML file with ``name``, ``description``, ``system`` and optional
``[parameters.<name>]`` tables (``description``, ``default``). ``{name}`` in the system
prompt is replaced by the parameter's value; any other braces are left alone, so a preset
may talk about ``{json}`` without escaping. Built-ins live in ``prompts/presets/``; files in
the user's ``presets/`` folder override or extend them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tui import paths
from tui.tomlfiles import FileProblem, load_toml_dirs, read_toml

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class PresetParameter:
    name: str
    description: str = ""
    default: str = ""


@dataclass(frozen=True)
class Preset:
    """A named system prompt, possibly with parameters (e.g. the target language)."""

    name: str
    system: str
    description: str = ""
    parameters: tuple[PresetParameter, ...] = ()
    source: str = "builtin"
    path: Path | None = field(default=None, compare=False)

    def system_prompt(self, values: Mapping[str, str] | None = None, **kwargs: str) -> str:
        """The system prompt with parameters filled in (defaults for those not given)."""
        given = {**(values or {}), **kwargs}
        unknown = set(given) - {p.name for p in self.parameters}
        if unknown:
            raise KeyError(f"preset {self.name!r} has no parameter {sorted(unknown)[0]!r}")
        text = self.system
        for parameter in self.parameters:
            text = text.replace(
                "{" + parameter.name + "}", given.get(parameter.name, parameter.default)
            )
        return text


def parse_preset_text(
    text: str, source_name: str, *, source: str = "user", path: Path | None = None
) -> tuple[Preset | None, list[FileProblem]]:
    """Validate preset TOML; problems carry file and line like template problems."""
    file = path if path is not None else Path(source_name)
    data, problems = read_toml(text, file)
    if data is None:
        return None, problems
    for key in data:
        if key not in {"name", "description", "system", "parameters"}:
            problems.add(key, f"unknown key {key!r}")
    name = data.get("name", Path(source_name).stem)
    system = data.get("system")
    description = data.get("description", "")
    ok = True
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        problems.add("name", "name may use only letters, digits, '.', '_' and '-'")
        ok = False
    if not isinstance(system, str):
        problems.add("system" if "system" in data else None, "system must be a string")
        ok = False
    if not isinstance(description, str):
        problems.add("description", "description must be a string")
        ok = False
    parameters: list[PresetParameter] = []
    raw = data.get("parameters", {})
    if not isinstance(raw, dict):
        problems.add("parameters", "parameters must be tables like [parameters.language]")
        ok = False
    else:
        for pname, table in raw.items():
            if not isinstance(table, dict) or not all(
                isinstance(table.get(k, ""), str) for k in ("description", "default")
            ):
                problems.add(None, f"[parameters.{pname}] needs string description and default")
                ok = False
                continue
            parameters.append(
                PresetParameter(pname, table.get("description", ""), table.get("default", ""))
            )
    if not ok:
        return None, problems
    assert isinstance(name, str) and isinstance(system, str) and isinstance(description, str)
    preset = Preset(name, system, description, tuple(parameters), source=source, path=path)
    return preset, problems


def load_presets(
    *, builtin_dir: Path | None = None, user_dir: Path | None = None
) -> tuple[dict[str, Preset], list[FileProblem]]:
    """Built-in presets, then the user's (same name overrides). Never raises on a bad file."""
    return load_toml_dirs(
        [
            (builtin_dir or paths.builtin_prompts_dir() / "presets", "builtin"),
            (user_dir or paths.user_presets_dir(), "user"),
        ],
        lambda text, file, source: parse_preset_text(text, file.name, source=source, path=file),
        lambda preset: preset.name,
    )
