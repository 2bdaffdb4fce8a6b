"""The headless core (engine, store, chat, settings, bench, paths) must never import Textual
or Rich.

Each module is imported in a fresh interpreter, so an import made by another test cannot hide
a leak.
"""

from __future__ import annotations

import importlib.util
import pkgutil
import subprocess
import sys

import tui

HEADLESS_PACKAGES = ("tui.engine", "tui.store", "tui.chat", "tui.settings", "tui.bench")
HEADLESS_MODULES = ("tui.paths", "tui.tomlfiles", "tui.cli")


def headless_modules() -> list[str]:
    names = []
    for name in (*HEADLESS_MODULES, *HEADLESS_PACKAGES):
        spec = importlib.util.find_spec(name)
        if spec is None:
            continue  # not written yet (a module the refactor adds): nothing to check
        names.append(name)
        if name in HEADLESS_PACKAGES:  # every submodule; of the CLI only its entry point
            locations = spec.submodule_search_locations or []
            names.extend(info.name for info in pkgutil.walk_packages(locations, name + "."))
    return names


def test_there_are_headless_modules_to_check() -> None:
    # Guards the test below against silently checking nothing.
    assert len(headless_modules()) >= 8, headless_modules()


def test_core_imports_without_textual_or_rich() -> None:
    script = (
        "import importlib, sys\n"
        f"for name in {headless_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"headless core imported: {result.stdout.strip()}"


def test_package_version() -> None:
    assert tui.__version__


def test_ci_tests_the_installed_wheel_with_its_data_files() -> None:
    """CI installs the project non-editable: the code under test and its prompt templates
    and themes must come from the installed wheel, not from the checkout."""
    import os

    import pytest

    from tui import paths

    if os.environ.get("CI") != "true":
        pytest.skip("only CI installs the wheel non-editable")
    assert "site-packages" in tui.__file__
    assert "site-packages" in str(paths.builtin_prompts_dir())
    assert (paths.builtin_prompts_dir() / "templates" / "chatml.toml").is_file()
    assert any(paths.builtin_themes_dir().glob("*.toml"))
