"""``burrow`` without a subcommand: start the app."""

from __future__ import annotations

import argparse


def launch(args: argparse.Namespace) -> int:
    """Run the app until the user quits; the exit code is the app's return code."""
    from tui.ui.app import BurrowApp
    from tui.ui.services import Services

    services = Services(model=getattr(args, "model", None))
    app = BurrowApp(services, incognito=bool(getattr(args, "incognito", False)))
    result = app.run()
    # A crash inside the app (Textual printed it) must not look like a clean quit.
    return int(result or app.return_code or 0)
