"""Hostile files and arguments (defect 6): no hang, no crash, a message naming the culprit.

Deeply nested TOML, a FIFO or ``/dev/zero`` where a config or template should be, a symlink
loop among the models, huge numbers, invalid UTF-8 and unwritable folders given on the
command line. Each runs the real ``burrow`` in a child process with a hang guard.
"""

from __future__ import annotations

import os
import resource
import sys
from pathlib import Path

import pytest
from hostile_helpers import assert_clear_failure, burrow, child_env, text

from tui import paths
from tui.store import Store

DEEP = "x = " + "[" * 50_000 + "]" * 50_000 + "\n"
SHORT_GUARD = 45.0
"""A FIFO read blocks for ever: this is how long the test waits before calling it a hang."""


def template_ok(name: str) -> str:
    return f'name = "{name}"\nuser = "U: {{content}}\\n"\nassistant = "A: {{content}}\\n"\n'


def quiet(result_err: bytes, result_out: bytes, *names: str) -> None:
    """No traceback, and each name appears somewhere in what the command printed."""
    err, out = text(result_err), text(result_out)
    assert "Traceback" not in err, err
    for name in names:
        assert name in err + out, f"{name!r} not named in:\n{out}\n{err}"


def ask_without_model(home: Path) -> tuple[str, ...]:
    """``burrow ask`` reads config, templates and presets, then stops at an unknown preset
    before loading any model."""
    return ("ask", "hi", "--preset", "no-such-preset")


@pytest.mark.parametrize("kind", ["config", "template", "preset"])
def test_deeply_nested_toml_is_a_problem_not_a_crash(burrow_home: Path, kind: str) -> None:
    """Defect 6: a 50,000-deep TOML array raised RecursionError (config, templates, presets;
    the app crashed at start)."""
    if kind == "config":
        file = paths.config_file()
    elif kind == "template":
        file = paths.user_templates_dir() / "deep.toml"
    else:
        file = paths.user_presets_dir() / "deep.toml"
    file.write_text(DEEP, encoding="utf-8")
    result = burrow(burrow_home, *ask_without_model(burrow_home))
    assert result.returncode == 2, text(result.stderr)  # the unknown preset, nothing worse
    quiet(result.stderr, result.stdout, file.name)
    listing = burrow(burrow_home, "templates", "list")
    quiet(listing.stderr, listing.stdout)
    shown = burrow(burrow_home, "config", "show")
    quiet(shown.stderr, shown.stdout)


def test_deeply_nested_theme_is_a_problem_not_a_crash(burrow_home: Path) -> None:
    """Defect 6: a 50,000-deep theme TOML crashed the theme loader."""
    import subprocess

    (paths.user_themes_dir() / "deep.toml").write_text(DEEP, encoding="utf-8")
    script = (
        "from tui.ui.themes import load_themes\n"
        "themes, problems = load_themes()\n"
        "print([str(p) for p in problems])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        env=child_env(burrow_home),
        timeout=120,
    )
    assert result.returncode == 0, text(result.stderr)
    quiet(result.stderr, result.stdout, "deep.toml")


def test_fifo_as_config_does_not_hang(burrow_home: Path) -> None:
    """Defect 6: a FIFO as config.toml hung every command (and left the app blank)."""
    config = paths.config_file()
    os.mkfifo(config, 0o600)
    for command in (("config", "show"), ask_without_model(burrow_home)):
        result = burrow(burrow_home, *command, timeout=SHORT_GUARD)
        quiet(result.stderr, result.stdout, "config.toml")


def test_fifo_as_template_does_not_hang(burrow_home: Path) -> None:
    """Defect 6: a FIFO in the templates folder hung `templates list` and the app."""
    os.mkfifo(paths.user_templates_dir() / "trap.toml", 0o600)
    (paths.user_templates_dir() / "fine.toml").write_text(template_ok("fine"))
    result = burrow(burrow_home, "templates", "list", timeout=SHORT_GUARD)
    assert result.returncode == 0, text(result.stderr)
    quiet(result.stderr, result.stdout, "trap.toml", "fine")


def _limit_memory() -> None:
    """The child may not take the machine's memory down with it."""
    two_gb = 2 * 1024**3
    resource.setrlimit(resource.RLIMIT_AS, (two_gb, two_gb))


def test_config_linked_to_dev_zero_is_refused(burrow_home: Path) -> None:
    """Defect 6: config.toml -> /dev/zero read until MemoryError."""
    config = paths.config_file()
    config.symlink_to("/dev/zero")
    result = burrow(burrow_home, "config", "show", timeout=SHORT_GUARD, preexec=_limit_memory)
    quiet(result.stderr, result.stdout, "config.toml")


def test_symlink_loop_in_a_models_folder(burrow_home: Path) -> None:
    """Defect 6: a symlink loop in a models folder crashed `burrow models` and `doctor`."""
    models = paths.models_dir()
    (models / "loop.gguf").symlink_to(models / "loop.gguf")
    (models / "ring-a.gguf").symlink_to(models / "ring-b.gguf")
    (models / "ring-b.gguf").symlink_to(models / "ring-a.gguf")
    (models / "sub").mkdir()
    (models / "sub" / "up").symlink_to(models)
    for command in (("models",), ("models", "--json"), ("doctor",), ("doctor", "--json")):
        result = burrow(burrow_home, *command)
        assert result.returncode == 0, text(result.stderr)
        quiet(result.stderr, result.stdout)
        assert b"smollm2" in result.stdout.lower() or b"SmolLM2" in result.stdout


def seed() -> int:
    with Store.open() as store:
        conversation = store.create_conversation(title="Seeded")
        store.add_message(conversation.id, "user", "hello there")
        return conversation.id


HUGE = "99999999999999999999"


@pytest.mark.parametrize(
    "command",
    [
        ("history", "show", HUGE),
        ("history", "delete", HUGE),
        ("history", "export", HUGE),
        ("history", "rename", HUGE, "x"),
        ("history", "list", "--limit", HUGE),
        ("history", "list", "--offset", HUGE),
        ("history", "search", "hello", "--limit", HUGE),
        ("history", "list", "--limit", "1e20"),
        ("ask", "hi", "--continue", HUGE),
    ],
)
def test_huge_numbers_are_refused_clearly(burrow_home: Path, command: tuple[str, ...]) -> None:
    """Defect 6: `history show 99999999999999999999` and `--limit 1e20` raised OverflowError."""
    seed()
    result = burrow(burrow_home, *command)
    assert "Traceback" not in text(result.stderr), text(result.stderr)
    assert result.returncode in (0, 1, 2)


@pytest.mark.parametrize(
    "command",
    [
        (b"history", b"search", b"caf\xe9 \xff"),
        (b"history", b"rename", b"1", b"bad \xff title"),
        (b"history", b"list", b"--tag", b"\xfe"),
        (b"history", b"import", b"/tmp/\xff-missing.json"),
    ],
)
def test_invalid_utf8_arguments_are_handled(burrow_home: Path, command: tuple[bytes, ...]) -> None:
    """Defect 6: invalid UTF-8 in a search argument crashed with UnicodeEncodeError."""
    seed()
    result = burrow(burrow_home, *command)
    assert "Traceback" not in text(result.stderr), text(result.stderr)
    assert result.returncode in (0, 1, 2)


def test_export_into_an_unwritable_folder_says_so(burrow_home: Path) -> None:
    """Defect 6: `history export --out /proc` crashed with a traceback."""
    conversation_id = seed()
    result = burrow(burrow_home, "history", "export", str(conversation_id), "--out", "/proc")
    assert_clear_failure(result, "/proc")


def test_fifo_as_import_file_does_not_hang(burrow_home: Path, tmp_path: Path) -> None:
    """Defect 6: importing from a FIFO blocked for ever (only regular files are read)."""
    fifo = tmp_path / "export.json"
    os.mkfifo(fifo, 0o600)
    result = burrow(burrow_home, "history", "import", str(fifo), timeout=SHORT_GUARD)
    assert_clear_failure(result, str(fifo))
