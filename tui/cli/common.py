"""Pieces every subcommand shares: errors with exit codes, JSON output."""

from __future__ import annotations

import json
import sys
from typing import Any


class CliError(Exception):
    """An expected failure: printed as one line on stderr, no traceback."""

    exit_code = 1


class UsageError(CliError):
    exit_code = 2


LARGEST_ID = 2**63 - 1
"""SQLite's largest integer: a larger id, limit or offset raised OverflowError."""


def whole_number(text: str) -> int:
    """argparse type of an id, a limit or an offset: a whole number from 0 to SQLite's
    largest, refused by argparse (exit 2, naming the argument) otherwise."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value <= LARGEST_ID:
        raise argparse.ArgumentTypeError(f"{text} is out of range (0 to {LARGEST_ID})")
    return value


def print_json(value: Any) -> None:
    """``value`` as JSON on stdout. Stored text stays exact (a program reads it back), but
    DEL and C1 controls are escaped like C0 already is, so none reaches the terminal raw."""
    from tui.textsafe import json_escape_c1

    encoded = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write(json_escape_c1(encoded) + "\n")
