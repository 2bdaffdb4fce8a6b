"""The ``burrow`` command line: the TUI by default, headless subcommands beside it.

Each subcommand lives in its own module of this package with a ``register(subparsers)``
function; modules import only ``argparse`` at the top so ``burrow --help`` stays fast, and
load the engine, store or templates inside their ``run`` functions.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Iterator, Sequence

from tui import __version__
from tui.cli.common import CliError, UsageError
from tui.textsafe import one_line

SUBCOMMANDS = (
    "ask",
    "models",
    "doctor",
    "history",
    "lock",
    "wipe",
    "templates",
    "config",
    "bench",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"burrow: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="burrow",
        description="Private, offline chat with a local LLM. Without a subcommand, starts the app.",
    )
    parser.add_argument("--version", action="version", version=f"burrow {__version__}")
    parser.add_argument("--model", help="model file path or catalog name to load at start")
    parser.add_argument(
        "--incognito", action="store_true", help="start in an incognito conversation"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"tui.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"tui.cli.{name}":
                continue
            raise
        module.register(sub)
    return parser


# Arguments that name files: any bytes the file system allows are fine there.
_PATH_ARGUMENTS = frozenset({"model", "file", "out"})


def _texts(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _texts(item)


def _check_text_arguments(args: argparse.Namespace) -> None:
    """Refuse text arguments that are not UTF-8 (a question, a title, a query).

    Python hands undecodable bytes over as lone surrogates, which SQLite, the tokenizer and
    the terminal cannot encode; refused here by name instead of a traceback later.
    """
    for name, value in vars(args).items():
        if name in _PATH_ARGUMENTS:
            continue
        for text in _texts(value):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                shown = one_line(_bytes_shown(text))
                raise UsageError(f'{name.replace("_", "-")} "{shown}" is not valid UTF-8') from None


def _bytes_shown(text: str) -> str:
    """``text`` with the bytes that were not UTF-8 written as ``\\xff``."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that was not a byte: show its code point
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    try:
        _check_text_arguments(args)
        if func is None:
            from tui.ui.launch import launch

            return launch(args)
        return int(func(args) or 0)
    except CliError as exc:
        print(f"burrow: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("burrow: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
