"""Touch in a real terminal: tmux runs ``burrow`` at 40x24 (a phone in portrait) and taps
arrive as the SGR mouse sequences Termux sends (``ESC [ < 0 ; x ; y M`` then ``... m``).
What is on the screen is read back with ``capture-pane``; a tap lands on the middle of the
text a finger would aim at."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.cells import cell_len
from tmux_helpers import burrow_command

from tui.store.store import Store

pytestmark = pytest.mark.slow

SESSION = "burrow"
SOCKET = f"burrow-touch-{os.getpid()}"
"""A tmux server of its own (``tmux -L``): another server's options and clients (its
window size among them) cannot change this one's 40x24."""
WIDTH, HEIGHT = 40, 24


def tmux(*args: str) -> str:
    result = subprocess.run(
        ["tmux", "-L", SOCKET, *args], capture_output=True, text=True, timeout=20, check=True
    )
    return result.stdout


def screen() -> list[str]:
    return tmux("capture-pane", "-p", "-t", SESSION).splitlines()


def where(text: str, lines: list[str], *, last: bool = False) -> tuple[int, int] | None:
    """1-based (column, row) of the middle of ``text`` on the screen, in cells: its first
    place from the top (``last``: from the bottom)."""
    rows = list(enumerate(lines))
    for row, line in reversed(rows) if last else rows:
        index = line.find(text)
        if index >= 0:
            return cell_len(line[:index]) + cell_len(text) // 2 + 1, row + 1
    return None


def wait_for_text(text: str, timeout: float = 20) -> list[str]:
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while time.monotonic() < deadline:
        lines = screen()
        if where(text, lines) is not None:
            return lines
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared; the screen was:\n" + "\n".join(lines))


def wait_gone(text: str, timeout: float = 10) -> list[str]:
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while time.monotonic() < deadline:
        lines = screen()
        if where(text, lines) is None:
            return lines
        time.sleep(0.2)
    raise AssertionError(f"{text!r} stayed; the screen was:\n" + "\n".join(lines))


def tap(text: str, timeout: float = 20, *, last: bool = False) -> None:
    """Press and release the left button on ``text``, as a finger on Termux does."""
    position = where(text, wait_for_text(text, timeout), last=last)
    assert position is not None
    x, y = position
    tmux("send-keys", "-t", SESSION, "-l", f"\x1b[<0;{x};{y}M")
    time.sleep(0.2)  # a finger rests about this long; the app redraws in between
    tmux("send-keys", "-t", SESSION, "-l", f"\x1b[<0;{x};{y}m")
    time.sleep(0.5)  # the app redraws; the next read or tap sees the result


@pytest.fixture
def burrow(burrow_home: Path, smollm2_path: Path) -> Iterator[Path]:
    """``burrow`` on the bundled model in a 40x24 tmux pane; yields BURROW_HOME."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (.ci/run installs it: apt-get install tmux)")
    with Store.open() as store:
        for title, question in [
            ("Alpha apples", "Original question"),
            ("Bravo bananas", "Why bananas?"),
            ("Charlie cherries", "Why cherries?"),
        ]:
            conversation = store.create_conversation(title=title)
            user = store.add_message(conversation.id, "user", question)
            store.add_message(conversation.id, "assistant", "Because.", parent_id=user.id)
    command = burrow_command(burrow_home, "max_tokens = 16\ntemperature = 0.0\nn_ctx = 1024\n")
    tmux("new-session", "-d", "-s", SESSION, "-x", str(WIDTH), "-y", str(HEIGHT), command)
    try:
        wait_for_text("/1024", 90)  # the context meter: the model is ready
        yield burrow_home
    finally:
        subprocess.run(["tmux", "-L", SOCKET, "kill-server"], capture_output=True)


def open_from_list(title: str) -> None:
    if where(title, screen()) is None:  # narrow: the list opens over the chat
        tap("☰")
    tap(title)


def title_row() -> str:
    return next(line for line in screen()[:4] if line.strip(" ▔▁"))


def test_tap_the_second_conversation_in_the_list_opens_it(burrow: Path) -> None:
    # The list shows the newest first: Charlie, Bravo, Alpha.
    open_from_list("Bravo bananas")
    lines = wait_for_text("Why bananas?", 10)
    assert "Bravo bananas" in title_row(), "\n".join(lines)


def test_start_an_edit_and_cancel_it_by_tap(burrow: Path) -> None:
    # Asked here rather than opened from the list, so that this test does not depend on
    # the list's taps (the test above).
    tmux("send-keys", "-t", SESSION, "-l", "Original question")
    time.sleep(0.3)
    tmux("send-keys", "-t", SESSION, "Enter")
    wait_for_text("first token", 120)  # the stats line under the answer: it has ended
    tap("Original question", last=True)  # in the transcript (the title says it too)
    tap("Edit & resend")
    wait_for_text("Editing", 10)
    tap("Cancel", 5)
    lines = wait_gone("Editing", 5)
    composer = [line for line in lines if "Ask anything" in line]
    assert composer, "the composer is not empty:\n" + "\n".join(lines)
