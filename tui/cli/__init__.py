"""The ``burrow`` command line: the TUI by default, headless subcommands beside it.

Each subcommand lives in its own module of this package with a ``register(subparsers)``
function; modules import only ``argparse`` at the top so ``burrow --help`` stays fast, and
load the engine, store or templates inside their ``run`` functions.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from tui import __version__
from tui.cli.common import CliError

SUBCOMMANDS = ("ask", "models", "doctor", "history", "templates", "config", "bench")


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    try:
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
