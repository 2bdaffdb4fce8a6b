"""Starting ``burrow`` in a real tmux pane, shared by the terminal tests."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path


def burrow_command(burrow_home: Path, config: str) -> str:
    """The shell command a tmux pane runs: ``burrow`` on the bundled model with ``config``
    as its config.toml, the pane kept open after it exits so a crash leaves its traceback
    on the screen to read."""
    path = burrow_home / "config" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(config)
    env = {
        "BURROW_HOME": str(burrow_home),
        "TERM": "xterm-256color",
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    }
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    # COLUMNS and LINES (set in the environment a tmux server started from pytest hands its
    # panes) would win over the pane's real size: the app would lay out 80 columns wide.
    command = f"env -u COLUMNS -u LINES {exports} {shlex.quote(sys.executable)} -m tui"
    return command + '; echo "burrow exited: $?"; sleep 600'
