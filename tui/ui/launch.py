"""``burrow`` without a subcommand: start the app."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tui.store import Store

UNLOCK_TRIES = 5


def launch(args: argparse.Namespace) -> int:
    """Run the app until the user quits; the exit code is the app's return code."""
    import sys

    from tui.store import StoreError

    try:
        store = _unlock_on_terminal()
    except StoreError as exc:
        print(f"burrow: {exc}", file=sys.stderr)
        return 1
    from tui.ui.app import BurrowApp
    from tui.ui.services import Services

    services = Services(model=getattr(args, "model", None), store=store)
    app = BurrowApp(services, incognito=bool(getattr(args, "incognito", False)))
    result = app.run()
    # A crash inside the app (Textual printed it) must not look like a clean quit.
    return int(result or app.return_code or 0)


def _unlock_on_terminal() -> Store | None:
    """A locked history, opened with the passphrase typed on the terminal before the app
    draws anything (None: the history is plain). Each wrong passphrase doubles the wait."""
    import getpass
    import time

    from tui import paths
    from tui.store import db, keys, locking

    path = paths.database_path()
    if not db.is_encrypted(path):
        return None
    for attempt in range(UNLOCK_TRIES):
        try:
            passphrase = getpass.getpass("Passphrase of the history: ")
        except EOFError:
            raise keys.LockError("no passphrase typed: the history stays locked") from None
        try:
            return locking.open_locked(path, passphrase)
        except keys.WrongPassphrase:
            delay = 2**attempt
            print(f"Wrong passphrase. Wait {delay} s.")
            time.sleep(delay)
    raise keys.WrongPassphrase("wrong passphrase: the history stays locked")
