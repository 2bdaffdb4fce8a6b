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
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")
