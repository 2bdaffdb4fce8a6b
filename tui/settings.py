"""Typed settings with a range check, layered from several places.

Layers, lowest first: built-in defaults < ``config.toml`` < per-model overrides (a
``[models."<file name>.gguf"]`` table in ``config.toml``) < per-conversation values (stored
with the conversation as a dict) < command-line flags.

The docstring under each field of :class:`Settings` is the help text the settings sheet
shows; :func:`setting_specs` reads it together with each field's range, so both are written
once, here. A bad value anywhere is reported as a :class:`SettingsProblem` naming the file,
the key and the allowed range, and that key keeps its lower-layer value. Loading never
raises on a bad file and never writes; only :func:`save_settings` (the user saving) writes.
"""

from __future__ import annotations

import ast
import difflib
import functools
import inspect
import itertools
import math
import textwrap
import tomllib
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from tui import paths

SEED_MAX = 2**31 - 1


def _spec(
    group: str,
    *,
    min: float | None = None,
    max: float | None = None,
    choices: tuple[Any, ...] | None = None,
    per_model: bool = True,
) -> dict[str, Any]:
    return {"group": group, "min": min, "max": max, "choices": choices, "per_model": per_model}


@dataclass(frozen=True)
class Settings:
    """Every user setting. Immutable: make a changed copy with :meth:`replace`."""

    # ---- sampling
    temperature: float = field(default=0.7, metadata=_spec("sampling", min=0.0, max=5.0))
    """Randomness of the answer. 0 always picks the most likely word; 0.7 is a good start;
    above 1.2 small models ramble."""
    top_k: int = field(default=40, metadata=_spec("sampling", min=0, max=1000))
    """Choose only among the K most likely next tokens (0 = no limit)."""
    top_p: float = field(default=0.95, metadata=_spec("sampling", min=0.0, max=1.0))
    """Nucleus sampling: choose among the most likely tokens that together reach this
    probability (1 = off)."""
    min_p: float = field(default=0.05, metadata=_spec("sampling", min=0.0, max=1.0))
    """Drop tokens less likely than this fraction of the most likely one (0 = off)."""
    typical_p: float = field(default=1.0, metadata=_spec("sampling", min=0.0, max=1.0))
    """Locally typical sampling (1 = off)."""
    repeat_penalty: float = field(default=1.1, metadata=_spec("sampling", min=0.0, max=5.0))
    """Penalise tokens used recently (1 = off; 1.1 curbs the loops small models fall into)."""
    repeat_last_n: int = field(default=64, metadata=_spec("sampling", min=0, max=4096))
    """How many recent tokens the repeat penalty looks at (0 = off)."""
    presence_penalty: float = field(default=0.0, metadata=_spec("sampling", min=-2.0, max=2.0))
    """Penalise any token already present in the text (0 = off)."""
    frequency_penalty: float = field(default=0.0, metadata=_spec("sampling", min=-2.0, max=2.0))
    """Penalise tokens by how often they appeared (0 = off)."""
    mirostat_mode: int = field(default=0, metadata=_spec("sampling", choices=(0, 1, 2)))
    """Mirostat adaptive sampling: 0 = off, 1 = Mirostat, 2 = Mirostat 2.0 (replaces
    top-k/top-p)."""
    mirostat_tau: float = field(default=5.0, metadata=_spec("sampling", min=0.0, max=10.0))
    """Mirostat target surprise: lower is more focused."""
    mirostat_eta: float = field(default=0.1, metadata=_spec("sampling", min=0.0, max=1.0))
    """Mirostat learning rate."""
    seed_mode: str = field(
        default="random", metadata=_spec("sampling", choices=("random", "fixed"))
    )
    """random: a new seed for every answer, so regenerate gives a different answer.
    fixed: always use the seed below, so the same prompt gives the same answer."""
    seed: int = field(default=42, metadata=_spec("sampling", min=0, max=SEED_MAX))
    """The seed used when the seed mode is fixed."""
    max_tokens: int = field(default=512, metadata=_spec("sampling", min=1, max=32768))
    """Longest answer, in tokens. This much room is kept free in the context window."""
    stop: tuple[str, ...] = field(default=(), metadata=_spec("sampling"))
    """Extra stop strings, added to the ones the prompt template defines."""

    # ---- runtime (used when a model is loaded)
    n_ctx: int = field(default=2048, metadata=_spec("runtime", min=256, max=131072))
    """Context size in tokens: how much of the conversation the model sees. More needs
    more memory."""
    n_threads: int = field(default=0, metadata=_spec("runtime", min=0, max=64))
    """CPU threads for generation (0 = choose automatically)."""
    n_batch: int = field(default=256, metadata=_spec("runtime", min=8, max=4096))
    """Tokens processed per step while reading the prompt."""
    use_mmap: bool = field(default=True, metadata=_spec("runtime"))
    """Map the model file into memory instead of reading it (faster start, less RAM)."""
    use_mlock: bool = field(default=False, metadata=_spec("runtime"))
    """Lock the model in RAM so Android cannot swap it out (may fail without permission)."""

    # ---- chat
    default_template: str = field(default="auto", metadata=_spec("chat"))
    """Prompt format for new conversations; auto uses the one inside the model file."""
    default_preset: str = field(default="assistant", metadata=_spec("chat"))
    """System prompt preset for new conversations."""
    context_policy: str = field(default="trim", metadata=_spec("chat", choices=("trim", "stop")))
    """When the conversation outgrows the context: trim leaves out the oldest turns (the
    system prompt and latest question stay); stop asks you to start a new conversation or
    raise the context size."""

    # ---- app
    theme: str = field(default="textual-dark", metadata=_spec("app", per_model=False))
    """Colour theme of the app."""
    default_model: str = field(default="", metadata=_spec("app", per_model=False))
    """Model to load at start: a file path or catalog name (empty = the bundled model)."""
    model_dirs: tuple[str, ...] = field(default=(), metadata=_spec("app", per_model=False))
    """Extra folders searched for .gguf files."""

    def replace(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    def sampling(self) -> dict[str, Any]:
        """Keyword arguments for ``tui.engine.protocol.SamplingParams``."""
        return {
            "temperature": self.temperature,
            "top_k": self.top_k,
            "top_p": self.top_p,
            "min_p": self.min_p,
            "typical_p": self.typical_p,
            "repeat_penalty": self.repeat_penalty,
            "repeat_last_n": self.repeat_last_n,
            "presence_penalty": self.presence_penalty,
            "frequency_penalty": self.frequency_penalty,
            "mirostat_mode": self.mirostat_mode,
            "mirostat_tau": self.mirostat_tau,
            "mirostat_eta": self.mirostat_eta,
            "seed": self.seed if self.seed_mode == "fixed" else None,
            "max_tokens": self.max_tokens,
            "stop": tuple(self.stop),
        }

    def load_params(self) -> dict[str, Any]:
        """Keyword arguments for ``tui.engine.protocol.LoadParams`` (without ``path``).

        ``n_threads`` is None when it should be chosen automatically.
        """
        return {
            "n_ctx": self.n_ctx,
            "n_threads": self.n_threads or None,
            "n_batch": self.n_batch,
            "use_mmap": self.use_mmap,
            "use_mlock": self.use_mlock,
        }

    def to_dict(self, *, only_changed: bool = False) -> dict[str, Any]:
        """Plain TOML/JSON-able values (tuples become lists)."""
        result: dict[str, Any] = {}
        for spec in setting_specs().values():
            value = getattr(self, spec.name)
            if only_changed and value == spec.default:
                continue
            result[spec.name] = list(value) if isinstance(value, tuple) else value
        return result

    def diff(self, base: Settings) -> dict[str, Any]:
        """Values that differ from ``base`` (what a conversation stores as its own)."""
        mine, theirs = self.to_dict(), base.to_dict()
        return {k: v for k, v in mine.items() if theirs[k] != v}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base: Settings | None = None) -> Settings:
        """``base`` (default: defaults) with the valid values of ``data``; bad ones ignored."""
        settings, _ = apply_layer(base or cls(), data, source=None)
        return settings


@dataclass(frozen=True)
class SettingSpec:
    """What the settings sheet needs about one field: type, default, range and help."""

    name: str
    type: str
    """``float``, ``int``, ``bool``, ``str`` or ``list`` (a list of strings)."""
    default: Any
    group: str
    """``sampling``, ``runtime``, ``chat`` or ``app``."""
    help: str
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] | None = None
    per_model: bool = True
    """May be overridden per model (``[models."file.gguf"]``)."""

    def describe_range(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(_show(c) for c in self.choices)
        if self.type == "bool":
            return "true or false"
        if self.type == "list":
            return "a list of strings"
        if self.type == "str":
            return "a string"
        kind = "an integer" if self.type == "int" else "a number"
        if self.min is not None and self.max is not None:
            return f"{kind} from {_show(self.min)} to {_show(self.max)}"
        return kind


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return f"{value:.1f}"
    return str(value)


def _field_docs() -> dict[str, str]:
    """The docstring under each field, read from the source (Python drops them at run time)."""
    try:
        source = textwrap.dedent(inspect.getsource(Settings))
    except (OSError, TypeError):  # no source shipped: help texts are empty, nothing breaks
        return {}
    body = ast.parse(source).body[0]
    assert isinstance(body, ast.ClassDef)
    docs: dict[str, str] = {}
    statements = body.body
    for current, following in itertools.pairwise(statements):
        if (
            isinstance(current, ast.AnnAssign)
            and isinstance(current.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[current.target.id] = " ".join(following.value.value.split())
    return docs


@functools.cache
def setting_specs() -> dict[str, SettingSpec]:
    """Every setting in declaration order, with its range and help text."""
    docs = _field_docs()
    specs: dict[str, SettingSpec] = {}
    hints = {"float": "float", "int": "int", "bool": "bool", "str": "str"}
    for f in fields(Settings):
        annotation = str(f.type)
        kind = "list" if annotation.startswith("tuple") else hints.get(annotation, "str")
        default = f.default if f.default is not MISSING else None
        specs[f.name] = SettingSpec(
            name=f.name,
            type=kind,
            default=default,
            group=f.metadata["group"],
            help=docs.get(f.name, ""),
            min=f.metadata["min"],
            max=f.metadata["max"],
            choices=f.metadata["choices"],
            per_model=f.metadata["per_model"],
        )
    return specs


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
        raise SettingsError(f"{_show(result)} is not allowed: {expected}")
    if (spec.min is not None and result < spec.min) or (spec.max is not None and result > spec.max):
        raise SettingsError(f"{_show(result)} is out of range: {expected}")
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


# --------------------------------------------------------------------------- config.toml


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
    if not path.exists():
        return ConfigFile(path, {}, {}, [], exists=False)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        message = f"cannot read the file, using defaults for every setting: {exc}"
        return ConfigFile(path, {}, {}, [SettingsProblem(path, None, message)], exists=True)
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


def __getattr__(name: str) -> Any:
    # ``SETTING_SPECS`` is built on first use: reading the field docstrings parses source,
    # which start-up on a phone should not pay for.
    if name == "SETTING_SPECS":
        return setting_specs()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
