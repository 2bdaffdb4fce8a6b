"""``config.toml``: reading it without ever failing or writing, layering its values with a
model's table, a conversation's values and command-line flags, and writing it when the user
saves (keeping the per-model tables and refusing to overwrite a file it cannot parse).

Layers, lowest first: built-in defaults < ``config.toml`` < per-model overrides (a
``[models."<file name>.gguf"]`` table in ``config.toml``) < per-conversation values (stored
with the conversation as a dict) < command-line flags.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui import paths
from tui.settings.checks import SettingsError, SettingsProblem, apply_layer, validate_value
from tui.settings.fields import Settings, setting_specs
from tui.tomlfiles import read_file, read_problem, read_toml


@dataclass(frozen=True)
class ConfigFile:
    """What ``config.toml`` holds: top-level values and per-model tables, unvalidated."""

    path: Path
    values: dict[str, Any]
    models: dict[str, dict[str, Any]]
    problems: list[SettingsProblem]
    exists: bool


def read_config(path: Path | None = None) -> ConfigFile:
    """Read ``config.toml`` without validating values. Never raises; never writes."""
    path = path or paths.config_file()
    try:
        text = read_file(path)
    except FileNotFoundError:
        return ConfigFile(path, {}, {}, [], exists=False)
    except OSError as exc:  # a folder, a FIFO, /dev/zero, too big, not UTF-8, no permission
        return _unreadable(path, read_problem(exc), None)
    data, found = read_toml(text, path)
    if data is None:
        return _unreadable(path, found[0].message, found[0].line)
    problems: list[SettingsProblem] = []
    models: dict[str, dict[str, Any]] = {}
    raw_models = data.pop("models", {})
    if not isinstance(raw_models, dict):
        problems.append(
            SettingsProblem(path, "models", 'expected tables like [models."file.gguf"]')
        )
    else:
        for name, table in raw_models.items():
            if isinstance(table, dict):
                models[name] = dict(table)
            else:
                problems.append(
                    SettingsProblem(path, f"models.{name}", "expected a table of settings")
                )
    return ConfigFile(path, data, models, problems, exists=True)


def _unreadable(path: Path, why: str, line: int | None) -> ConfigFile:
    where = f" (line {line})" if line else ""
    message = f"cannot read the file, using defaults for every setting: {why}{where}"
    return ConfigFile(path, {}, {}, [SettingsProblem(path, None, message)], exists=True)


def load_settings(path: Path | None = None) -> tuple[Settings, list[SettingsProblem]]:
    """Defaults < ``config.toml`` (top level). Bad keys keep defaults and are reported."""
    config = read_config(path)
    settings, problems = apply_layer(Settings(), config.values, source=config.path)
    return settings, config.problems + problems


def model_key(model: str | Path) -> str:
    """The ``[models."..."]`` key of a model: its file name."""
    return Path(model).name


def layered_settings(
    *,
    model: str | Path | None = None,
    conversation: Mapping[str, Any] | None = None,
    flags: Mapping[str, Any] | None = None,
    path: Path | None = None,
) -> tuple[Settings, list[SettingsProblem]]:
    """defaults < config.toml < ``[models."<file>"]`` < conversation values < flags.

    ``flags`` entries that are None (an argparse option not given) are skipped.
    """
    config = read_config(path)
    settings, problems = apply_layer(Settings(), config.values, source=config.path)
    problems = config.problems + problems
    if model is not None:
        name = model_key(model)
        table = config.models.get(name, {})
        settings, found = apply_layer(
            settings, table, source=config.path, prefix=f'models."{name}".', per_model=True
        )
        problems += found
    if conversation:
        settings, found = apply_layer(settings, conversation, source=None, prefix="conversation.")
        problems += found
    if flags:
        given = {k: v for k, v in flags.items() if v is not None}
        settings, found = apply_layer(settings, given, source=None, prefix="--")
        problems += found
    return settings, problems


def _write_config(path: Path, values: Mapping[str, Any], models: Mapping[str, Any]) -> None:
    import tomli_w

    data: dict[str, Any] = dict(values)
    if models:
        data["models"] = {name: dict(table) for name, table in models.items() if table}
        if not data["models"]:
            del data["models"]
    paths.write_private_text(path, tomli_w.dumps(data))


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write the values that differ from the defaults (0600); per-model tables are kept.

    A file that cannot be parsed is replaced: saving is the user's explicit choice.
    """
    path = path or paths.config_file()
    config = read_config(path)
    _write_config(path, settings.to_dict(only_changed=True), config.models)
    return path


def set_config_value(
    key: str, value: Any, *, model: str | None = None, path: Path | None = None
) -> Path:
    """Validate one value and write it into ``config.toml`` (other content kept).

    Refuses (SettingsError) to touch a file it cannot parse, so nothing the user wrote is lost.
    """
    path = path or paths.config_file()
    converted = validate_value(key, value)
    if model is not None and not setting_specs()[key].per_model:
        raise SettingsError(f"{key} cannot be set per model")
    config = read_config(path)
    if config.exists and config.problems and config.problems[0].key is None:
        raise SettingsError(f"{path} cannot be parsed; fix or delete it first")
    stored = list(converted) if isinstance(converted, tuple) else converted
    values = dict(config.values)
    models = {name: dict(table) for name, table in config.models.items()}
    if model is None:
        values[key] = stored
    else:
        models.setdefault(model_key(model), {})[key] = stored
    _write_config(path, values, models)
    return path


def unset_config_value(key: str, *, model: str | None = None, path: Path | None = None) -> bool:
    """Remove a key from ``config.toml`` (back to its default). True if it was there."""
    path = path or paths.config_file()
    config = read_config(path)
    if config.exists and config.problems and config.problems[0].key is None:
        raise SettingsError(f"{path} cannot be parsed; fix or delete it first")
    values = dict(config.values)
    models = {name: dict(table) for name, table in config.models.items()}
    target = values if model is None else models.get(model_key(model), {})
    if key not in target:
        return False
    del target[key]
    _write_config(path, values, models)
    return True
