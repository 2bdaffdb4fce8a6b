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


def print_json(value: Any) -> None:
    """``value`` as JSON on stdout. Stored text stays exact (a program reads it back), but
    DEL and C1 controls are escaped like C0 already is, so none reaches the terminal raw."""
    from tui.textsafe import json_escape_c1

    encoded = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write(json_escape_c1(encoded) + "\n")
