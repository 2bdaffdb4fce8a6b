"""Settings: ranges, help texts, a broken config.toml, layering, saving, ``burrow config``."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

import pytest

from tui import paths
from tui.cli import main
from tui.settings import (
    Settings,
    SettingsError,
    cross_check,
    layered_settings,
    load_settings,
    parse_cli_value,
    save_settings,
    set_config_value,
    setting_specs,
    unset_config_value,
    validate_value,
)


def write_config(text: str) -> Path:
    path = paths.config_file()
    path.write_text(text, encoding="utf-8")
    return path


def test_every_field_has_help_and_a_range() -> None:
    specs = setting_specs()
    assert list(specs) == [f for f in Settings.__dataclass_fields__]
    for spec in specs.values():
        assert spec.help, f"{spec.name} has no help text"
        if spec.type in {"int", "float"}:
            assert spec.choices is not None or (spec.min is not None and spec.max is not None)
    assert specs["temperature"].describe_range() == "a number from 0.0 to 5.0"
    assert specs["context_policy"].choices == ("trim", "stop")
    assert specs["seed_mode"].choices == ("random", "fixed")
    assert "regenerate" in specs["seed_mode"].help
    assert specs["theme"].per_model is False


def test_defaults_are_in_range() -> None:
    for name, spec in setting_specs().items():
        assert validate_value(name, spec.default) == spec.default


def test_missing_file_gives_defaults() -> None:
    settings, problems = load_settings()
    assert settings == Settings() and problems == []


def test_broken_values_are_reported_and_defaults_kept() -> None:
    text = (
        'temperature = "hot"\n'  # wrong type
        "top_k = 5\n"  # fine
        "top_p = 1.5\n"  # out of range
        "temprature = 0.2\n"  # unknown key
        'context_policy = "drop"\n'  # not a choice
        "use_mmap = 1\n"  # int is neither a choice nor an old true/false
        "n_ctx = 4096\n"
    )
    path = write_config(text)
    before = path.stat().st_mtime_ns
    settings, problems = load_settings()
    assert settings.top_k == 5 and settings.n_ctx == 4096
    assert settings.temperature == Settings().temperature
    assert settings.top_p == Settings().top_p
    assert settings.context_policy == "trim" and settings.use_mmap == "auto"
    messages = {p.key: p.message for p in problems}
    assert all(p.file == path for p in problems)
    assert messages["temperature"] == "expected a number from 0.0 to 5.0, got a string ('hot')"
    assert messages["top_p"] == "1.5 is out of range: expected a number from 0.0 to 1.0"
    assert messages["temprature"] == "unknown setting 'temprature' (did you mean 'temperature'?)"
    assert "one of trim, stop" in messages["context_policy"]
    assert "one of auto, on, off" in messages["use_mmap"]
    assert str(problems[0]).startswith(f"{path}: ")
    # Loading never rewrites the user's file.
    assert path.read_text(encoding="utf-8") == text
    assert path.stat().st_mtime_ns == before


def test_unparseable_file_gives_defaults_and_is_untouched() -> None:
    text = "temperature = 0.5\n[broken\n"
    path = write_config(text)
    settings, problems = load_settings()
    assert settings == Settings()
    assert len(problems) == 1 and problems[0].file == path and problems[0].key is None
    assert "line 2" in problems[0].message
    assert path.read_text(encoding="utf-8") == text
    with pytest.raises(SettingsError, match="cannot be parsed"):
        set_config_value("temperature", 0.1)
    assert path.read_text(encoding="utf-8") == text


def test_layers_in_order() -> None:
    write_config(
        "temperature = 0.5\ntop_k = 20\nn_ctx = 1024\n"
        '[models."tiny.gguf"]\ntemperature = 0.3\nn_ctx = 4096\ntheme = "x"\n'
        '[models."other.gguf"]\ntemperature = 1.0\n'
    )
    base, problems = layered_settings()
    assert (base.temperature, base.top_k, base.n_ctx) == (0.5, 20, 1024) and problems == []

    model, problems = layered_settings(model="/sdcard/models/tiny.gguf")
    assert (model.temperature, model.top_k, model.n_ctx) == (0.3, 20, 4096)
    # App-wide settings cannot be set per model: reported, ignored.
    assert [(p.key, "per model" in p.message) for p in problems] == [
        ('models."tiny.gguf".theme', True)
    ]

    conv, _ = layered_settings(model="tiny.gguf", conversation={"temperature": 0.9, "top_k": 7})
    assert (conv.temperature, conv.top_k, conv.n_ctx) == (0.9, 7, 4096)

    flags, problems = layered_settings(
        model="tiny.gguf",
        conversation={"temperature": 0.9, "top_k": 7},
        flags={"temperature": 0.0, "top_k": None, "n_ctx": 99},
    )
    assert (flags.temperature, flags.top_k, flags.n_ctx) == (0.0, 7, 4096)
    assert any(p.key == "--n_ctx" and "out of range" in p.message for p in problems)


def test_save_writes_only_changed_values_privately() -> None:
    write_config('top_k = 3\n[models."m.gguf"]\nn_ctx = 512\n')
    settings = Settings(temperature=0.2, model_dirs=("/sdcard/models",), top_k=40)
    path = save_settings(settings)
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert data == {
        "temperature": 0.2,
        "model_dirs": ["/sdcard/models"],
        "models": {"m.gguf": {"n_ctx": 512}},
    }
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    loaded, problems = load_settings()
    assert loaded == settings and problems == []


def test_sampling_and_load_params() -> None:
    random_seed = Settings(stop=("\n\n",))
    params = random_seed.sampling()
    assert params["seed"] is None and params["stop"] == ("\n\n",)
    assert set(params) == {
        "temperature", "top_k", "top_p", "min_p", "typical_p", "repeat_penalty",
        "repeat_last_n", "presence_penalty", "frequency_penalty", "mirostat_mode",
        "mirostat_tau", "mirostat_eta", "seed", "max_tokens", "stop",
    }  # fmt: skip
    assert Settings(seed_mode="fixed", seed=7).sampling()["seed"] == 7
    assert Settings(n_threads=0).load_params() == {
        "n_ctx": 0,
        "n_threads": None,
        "n_batch": 256,
        "use_mmap": None,
        "use_mlock": False,
        "kv_cache_type": "f16",
        "flash_attn": None,
    }
    assert Settings(n_threads=4).load_params()["n_threads"] == 4


def test_memory_knobs_reach_load_params_and_old_mmap_booleans_still_load() -> None:
    forced = Settings(use_mmap="off", flash_attn="on", kv_cache_type="q8_0").load_params()
    assert (forced["use_mmap"], forced["flash_attn"], forced["kv_cache_type"]) == (
        False,
        True,
        "q8_0",
    )
    assert Settings(use_mmap="on").memory_choices() == {
        "kv_type": "f16",
        "use_mmap": True,
        "flash_attn": None,
    }
    # use_mmap was true/false before "auto": such files keep meaning what they said.
    path = write_config("use_mmap = false\n")
    settings, problems = load_settings()
    assert settings.use_mmap == "off" and problems == []
    path.write_text("use_mmap = true\n", encoding="utf-8")
    assert load_settings()[0].use_mmap == "on"
    assert Settings.from_dict({"use_mmap": False}).use_mmap == "off"  # a stored conversation
    assert parse_cli_value("use_mmap", "false") == "off"
    assert parse_cli_value("kv_cache_type", "q4_0") == "q4_0"
    with pytest.raises(SettingsError, match="one of f16, q8_0, q4_0"):
        parse_cli_value("kv_cache_type", "q5_0")
    with pytest.raises(SettingsError, match="one of auto, on, off"):
        parse_cli_value("flash_attn", "maybe")


def test_context_size_is_automatic_by_default() -> None:
    assert Settings().n_ctx == 0 and Settings().load_params()["n_ctx"] == 0
    assert parse_cli_value("n_ctx", "0") == 0
    assert parse_cli_value("n_ctx", "256") == 256
    with pytest.raises(SettingsError, match="0 \\(automatic\\) or at least 256"):
        parse_cli_value("n_ctx", "100")
    assert cross_check({"max_tokens": 512, "n_ctx": 0}) == {}
    assert "max_tokens" in cross_check({"max_tokens": 512, "n_ctx": 512})


def test_dict_round_trip_and_diff() -> None:
    settings = Settings(temperature=0.1, stop=("END",))
    assert Settings.from_dict(settings.to_dict()) == settings
    assert settings.diff(Settings()) == {"temperature": 0.1, "stop": ["END"]}
    assert settings.to_dict(only_changed=True) == {"temperature": 0.1, "stop": ["END"]}
    # Stored conversation values from an older version: bad keys are ignored, not fatal.
    assert Settings.from_dict({"temperature": 0.4, "gone": 1, "top_k": -1}).temperature == 0.4


def test_parse_cli_value() -> None:
    assert parse_cli_value("use_mlock", "yes") is True
    assert parse_cli_value("top_k", "12") == 12
    assert parse_cli_value("temperature", "1") == 1.0
    assert parse_cli_value("model_dirs", "/a, /b") == ("/a", "/b")
    with pytest.raises(SettingsError, match="an integer from 0 to 1000"):
        parse_cli_value("top_k", "many")
    with pytest.raises(SettingsError, match="did you mean 'top_p'"):
        parse_cli_value("top_pp", "1")


def test_set_and_unset_keep_other_content() -> None:
    write_config('theme = "nord"\n[models."a.gguf"]\ntop_k = 1\n')
    set_config_value("temperature", 0.25)
    set_config_value("n_ctx", 4096, model="/x/a.gguf")
    data = tomllib.loads(paths.config_file().read_text())
    assert data == {
        "theme": "nord",
        "temperature": 0.25,
        "models": {"a.gguf": {"top_k": 1, "n_ctx": 4096}},
    }
    assert unset_config_value("theme") is True
    assert unset_config_value("theme") is False
    with pytest.raises(SettingsError, match="per model"):
        set_config_value("theme", "x", model="a.gguf")


def test_cli_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "path"]) == 0
    assert capsys.readouterr().out.strip() == str(paths.config_file())

    assert main(["config", "set", "temperature", "0.3"]) == 0
    assert "written to" in capsys.readouterr().out
    assert main(["config", "set", "temperature", "7"]) == 2
    err = capsys.readouterr().err
    assert "temperature: 7.0 is out of range: expected a number from 0.0 to 5.0" in err
    assert tomllib.loads(paths.config_file().read_text()) == {"temperature": 0.3}

    write_config("temperature = 0.3\ntop_k = -4\n")
    assert main(["config", "show"]) == 0
    captured = capsys.readouterr()
    shown = tomllib.loads(captured.out)
    assert shown["temperature"] == 0.3 and shown["top_k"] == 40
    assert "top_k: -4 is out of range: expected an integer from 0 to 1000" in captured.err

    assert main(["config", "show", "--help-text"]) == 0
    assert "# Randomness of the answer." in capsys.readouterr().out


def test_engine_parameter_objects_accept_the_conversions() -> None:
    from tui.engine.protocol import LoadParams, SamplingParams

    settings = Settings(seed_mode="fixed", seed=3, stop=("END",))
    sampling = SamplingParams(**settings.sampling())
    assert sampling.seed == 3 and sampling.stop == ("END",)
    load = LoadParams(path="m.gguf", **settings.load_params())
    assert load.n_ctx == settings.n_ctx and load.n_threads is None


def test_setting_specs_is_one_shared_table() -> None:
    assert setting_specs() is setting_specs()


def test_help_texts_are_data_not_read_from_the_source() -> None:
    """The help text travels with each field, so it is there when no source is shipped."""
    from dataclasses import fields

    for f in fields(Settings):
        assert f.metadata["help"] == setting_specs()[f.name].help
        assert "  " not in f.metadata["help"] and "\n" not in f.metadata["help"]
