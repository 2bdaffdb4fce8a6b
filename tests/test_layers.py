"""Import contracts between the layers of ``tui``, read from the source of every module.

- The headless core (paths, settings, TOML files, engine, store, chat, bench) imports
  neither Textual, Rich, the UI nor the CLI: ``burrow ask``, the benchmarks and the engine
  worker start without them, and the core can be tested and reused without a terminal.
- The UI does not import the CLI: the CLI is a front end like the UI, both sit on the core.

Every import statement counts, at any depth (a function-level import is still a
dependency), relative imports resolved, and so do ``importlib.import_module("...")`` and
``__import__("...")`` calls with a literal name. ``tests/test_headless.py`` checks the
same boundary at run time, in a fresh interpreter.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import tui

ROOT = Path(tui.__file__).resolve().parent

CORE = (
    "tui.paths",
    "tui.settings",
    "tui.tomlfiles",
    "tui.engine",
    "tui.store",
    "tui.chat",
    "tui.bench",
)
RULES: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (CORE, ("textual", "rich", "tui.ui", "tui.cli")),
    (("tui.ui",), ("tui.cli",)),
)

#: Known violations, each to be removed with the import it allows (none today).
ALLOWED: set[tuple[str, str]] = set()


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute name of ``from <level dots><name> import ...`` written in ``module``."""
    if level == 0:
        return name or ""
    package = module.split(".")
    if not is_package:
        package.pop()
    base = package[: len(package) - (level - 1)]
    return ".".join([*base, name] if name else base)


def _literal_import(node: ast.Call) -> str | None:
    """The module named by ``importlib.import_module("x")``, ``import_module("x")`` or
    ``__import__("x")``, when it is a string literal."""
    func = node.func
    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if called not in ("import_module", "__import__") or not node.args:
        return None
    first = node.args[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value
    return None


def imported_names(source: str, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """``(line, module name)`` for every import in ``source``, at any depth."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = resolve(module, is_package, node.level, node.module)
            yield node.lineno, base
            for alias in node.names:  # ``from tui import cli`` imports tui.cli
                yield node.lineno, f"{base}.{alias.name}"
        elif isinstance(node, ast.Call):
            name = _literal_import(node)
            if name is not None and name.startswith("."):
                level = len(name) - len(name.lstrip("."))
                name = resolve(module, is_package, level, name.lstrip(".") or None)
            if name:
                yield node.lineno, name


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    found = []
    for line, name in imported_names(source, module, is_package):
        for layer, forbidden in RULES:
            if within(module, layer) and within(name, forbidden):
                found.append(f"{module}:{line} imports {name}")
    return found


def tui_modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(ROOT.rglob("*.py")):
        yield module_name(path), path


def test_the_checker_sees_every_module_of_every_layer() -> None:
    names = [name for name, _ in tui_modules()]
    assert len(names) >= 40, names
    for layer in ("tui.engine", "tui.store", "tui.chat", "tui.settings", "tui.ui", "tui.cli"):
        assert any(within(n, (layer,)) for n in names), layer


def test_the_checker_finds_each_kind_of_import() -> None:
    source = (
        "import textual\n"
        "from rich.text import Text\n"
        "def later():\n"
        "    from ..ui import app\n"
        "    from tui import cli\n"
        "    import importlib\n"
        "    importlib.import_module('tui.cli.ask')\n"
        "    __import__('rich')\n"
    )
    found = violations(source, "tui.chat.session")
    lines = {int(problem.split(":")[1].split()[0]) for problem in found}
    assert lines == {1, 2, 4, 5, 7, 8}, found
    for expected in (
        "tui.chat.session:4 imports tui.ui.app",
        "tui.chat.session:5 imports tui.cli",
        "tui.chat.session:7 imports tui.cli.ask",
        "tui.chat.session:8 imports rich",
    ):
        assert expected in found, found
    assert violations("from . import ask\n", "tui.cli", is_package=True) == []
    assert violations("from ..cli import bench\n", "tui.ui.app") == [
        "tui.ui.app:1 imports tui.cli",
        "tui.ui.app:1 imports tui.cli.bench",
    ]
    assert violations("from tui.settings import Settings\n", "tui.engine.client") == []


def test_layers_import_only_what_they_may() -> None:
    found: list[str] = []
    used: set[tuple[str, str]] = set()
    for module, path in tui_modules():
        is_package = path.name == "__init__.py"
        for problem in violations(path.read_text(encoding="utf-8"), module, is_package):
            imported = problem.rsplit(" imports ", 1)[1]
            allowance = next(
                (a for a in ALLOWED if a[0] == module and within(imported, (a[1],))), None
            )
            if allowance is None:
                found.append(problem)
            else:
                used.add(allowance)
    assert found == [], "\n".join(found)
    assert used == ALLOWED, f"allowed but no longer imported (remove it): {ALLOWED - used}"
