"""``burrow wipe --now``: make the history unrecoverable at once (panic wipe)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "wipe",
        help="panic wipe: destroy the history, saved states and exports now",
        description="Locked history: the key material is destroyed first, then the files. "
        "Plain history: the files are zeroed, then deleted. There is no undo.",
    )
    p.add_argument("--now", action="store_true", help="required: there is no undo")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tui import paths
    from tui.cli.common import UsageError
    from tui.store import locking

    if not args.now:
        raise UsageError("add --now to wipe the history: there is no undo")
    gone = locking.wipe_now(paths.database_path(), [paths.states_dir(), paths.exports_dir()])
    print(f"History wiped ({len(gone)} files destroyed).")
    return 0
