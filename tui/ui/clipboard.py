"""Copying text out of the app, on any terminal and on Termux."""

from __future__ import annotations

import shutil
import subprocess
from functools import partial

from textual.widget import Widget

TERMUX_COPY = "termux-clipboard-set"


def copy_text(owner: Widget, text: str, note: str = "Copied.") -> None:
    """Copy with OSC 52 (any terminal that allows it) and, where it exists,
    termux-clipboard-set (in a worker of ``owner``: it may take a moment); ``note`` is the
    toast that says so."""
    owner.app.copy_to_clipboard(text)
    if shutil.which(TERMUX_COPY):
        owner.run_worker(
            partial(subprocess.run, [TERMUX_COPY], input=text, text=True, timeout=10, check=False),
            group="clipboard",
            thread=True,
            exit_on_error=False,
        )
    owner.notify(note, timeout=2)
