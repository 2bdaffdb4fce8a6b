"""Checking setting values: the conversions and range checks that ``config.toml``, a
conversation's stored values, command-line flags and the settings sheet all go through.

A bad value is reported (a :class:`SettingsProblem` naming where it came from, the key and
the allowed range) and that key keeps its lower-layer value; a value given on purpose that
is not valid raises :class:`SettingsError`.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tui.settings.fields import LEGACY_VALUES, Settings, format_value, setting_specs


@dataclass(frozen=True)
class SettingsProblem:
    """A value that was not used. ``file`` is None for values not from a file."""

    file: Path | None
    key: str | None
    message: str

    def __str__(self) -> str:
        parts = [str(self.file)] if self.file else []
        if self.key:
            parts.append(self.key)
        parts.append(self.message)
        return ": ".join(parts)


MIN_CONTEXT = 256
"""The smallest context size one may set (0 means automatic)."""


class SettingsError(ValueError):
    """A value given on purpose (``burrow config set``, a flag) is not valid."""


def validate_value(key: str, value: Any) -> Any:
    """Return ``value`` converted to the setting's Python type, or raise SettingsError."""
    specs = setting_specs()
    spec = specs.get(key)
    if spec is None:
        close = difflib.get_close_matches(key, list(specs), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise SettingsError(f"unknown setting {key!r}{hint}")
    expected = f"expected {spec.describe_range()}"
    legacy = LEGACY_VALUES.get(key, {})
    if isinstance(value, bool | str) and value in legacy:
        value = legacy[value]
    if spec.type == "bool":
        if not isinstance(value, bool):
            raise SettingsError(f"{expected}, got {_describe(value)}")
        return value
    if spec.type == "list":
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise SettingsError(f"{expected}, got {_describe(value)}")
        return tuple(value)
    if spec.type == "str":
        if not isinstance(value, str):
            raise SettingsError(f"{expected}, got {_describe(value)}")
        result: Any = value
    elif spec.type == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise SettingsError(f"{expected}, got {_describe(value)}")
        result = value
    else:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SettingsError(f"{expected}, got {_describe(value)}")
        if not math.isfinite(value):
            raise SettingsError(f"{expected}, got {value}")
        result = float(value)
    if spec.choices is not None and result not in spec.choices:
        raise SettingsError(f"{format_value(result)} is not allowed: {expected}")
    if (spec.min is not None and result < spec.min) or (spec.max is not None and result > spec.max):
        raise SettingsError(f"{format_value(result)} is out of range: {expected}")
    if key == "n_ctx" and 0 < result < MIN_CONTEXT:
        raise SettingsError(
            f"{result} is out of range: 0 (automatic) or at least {MIN_CONTEXT} tokens"
        )
    return result


def _describe(value: Any) -> str:
    kind = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(
        type(value), type(value).__name__
    )
    return f"{kind} ({value!r})"


def apply_layer(
    settings: Settings,
    values: Mapping[str, Any],
    *,
    source: Path | None,
    prefix: str = "",
    per_model: bool = False,
) -> tuple[Settings, list[SettingsProblem]]:
    """Settings with ``values`` applied on top; invalid keys keep their current value."""
    changes: dict[str, Any] = {}
    problems: list[SettingsProblem] = []
    specs = setting_specs()
    for key, value in values.items():
        try:
            converted = validate_value(key, value)
            if per_model and not specs[key].per_model:
                raise SettingsError("cannot be set per model; set it at the top of the file")
        except SettingsError as exc:
            problems.append(SettingsProblem(source, prefix + key, str(exc)))
            continue
        changes[key] = converted
    return (replace(settings, **changes) if changes else settings), problems


def parse_cli_value(key: str, text: str) -> Any:
    """Turn ``burrow config set KEY VALUE`` text into a valid value (or SettingsError)."""
    spec = setting_specs().get(key)
    if spec is None:
        validate_value(key, None)  # raises the unknown-key error with a suggestion
        raise AssertionError("unreachable")
    value: Any
    if spec.type == "bool":
        lowered = text.strip().lower()
        if lowered in {"true", "yes", "on", "1"}:
            value = True
        elif lowered in {"false", "no", "off", "0"}:
            value = False
        else:
            raise SettingsError(f"expected true or false, got {text!r}")
    elif spec.type == "int":
        try:
            value = int(text.strip())
        except ValueError:
            raise SettingsError(f"expected {spec.describe_range()}, got {text!r}") from None
    elif spec.type == "float":
        try:
            value = float(text.strip())
        except ValueError:
            raise SettingsError(f"expected {spec.describe_range()}, got {text!r}") from None
    elif spec.type == "list":
        value = [item.strip() for item in text.split(",") if item.strip()] if text else []
    else:
        value = text
    return validate_value(key, value)


def cross_check(values: Mapping[str, Any]) -> dict[str, str]:
    """Problems between settings that are each valid alone, by key: ``max_tokens`` must
    leave room in ``n_ctx`` for the conversation, or no answer can ever be written."""
    problems: dict[str, str] = {}
    max_tokens, n_ctx = values.get("max_tokens"), values.get("n_ctx")
    if isinstance(max_tokens, int) and isinstance(n_ctx, int) and 0 < n_ctx <= max_tokens:
        problems["max_tokens"] = (
            f"{max_tokens} answer tokens leave no room for the conversation in a context of "
            f"{n_ctx}: use less than {n_ctx} (half or less keeps earlier messages)"
        )
    return problems
