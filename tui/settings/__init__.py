"""Typed settings with a range check, layered from several places.

Layers, lowest first: built-in defaults < ``config.toml`` < per-model overrides (a
``[models."<file name>.gguf"]`` table in ``config.toml``) < per-conversation values (stored
with the conversation as a dict) < command-line flags.

Each field of :class:`Settings` carries its help text (what the settings sheet shows) and
its range in its declaration; :func:`setting_specs` gathers them. A bad value anywhere is
reported as a :class:`SettingsProblem` naming the file, the key and the allowed range, and
that key keeps its lower-layer value. Loading never raises on a bad file and never writes;
only :func:`save_settings` (the user saving) writes.

- :mod:`tui.settings.fields`: the fields, their ranges and help texts;
- :mod:`tui.settings.checks`: converting and range-checking values;
- :mod:`tui.settings.config`: ``config.toml`` and the layers.
"""

from tui.settings.checks import (
    SettingsError,
    SettingsProblem,
    apply_layer,
    cross_check,
    parse_cli_value,
    validate_value,
)
from tui.settings.config import (
    ConfigFile,
    layered_settings,
    load_settings,
    model_key,
    read_config,
    save_settings,
    set_config_value,
    unset_config_value,
)
from tui.settings.fields import SEED_MAX, Settings, SettingSpec, format_value, setting_specs

__all__ = [
    "SEED_MAX",
    "ConfigFile",
    "SettingSpec",
    "Settings",
    "SettingsError",
    "SettingsProblem",
    "apply_layer",
    "cross_check",
    "format_value",
    "layered_settings",
    "load_settings",
    "model_key",
    "parse_cli_value",
    "read_config",
    "save_settings",
    "set_config_value",
    "setting_specs",
    "unset_config_value",
    "validate_value",
]
