"""End to end in a real terminal: tmux runs ``burrow`` at 60x30 on the bundled model, a
question is typed and sent with Enter, and the answer and its tokens/s are read back from
the screen with ``capture-pane``."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tmux_helpers import burrow_command

pytestmark = pytest.mark.slow

SESSION = f"burrow-e2e-{os.getpid()}"


def tmux(*args: str) -> str:
    result = subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=20, check=True)
    return result.stdout


def screen() -> str:
    return tmux("capture-pane", "-p", "-t", SESSION)


def wait_screen(contains: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = screen()
        if contains in text:
            return text
        time.sleep(0.2)
    raise AssertionError(f"{contains!r} never appeared; the screen was:\n{text}")


@pytest.fixture
def tmux_session(burrow_home: Path, smollm2_path: Path) -> Iterator[None]:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (.ci/run installs it: apt-get install tmux)")
    # Short greedy answers: the test reads the screen, it does not measure speed. No
    # --model: a newcomer gets the bundled model (the fixture checks it is installed).
    command = burrow_command(burrow_home, "max_tokens = 32\ntemperature = 0.0\nn_ctx = 1024\n")
    tmux("new-session", "-d", "-s", SESSION, "-x", "60", "-y", "30", command)
    try:
        yield
    finally:
        subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True)


def test_burrow_in_tmux_answers_a_question(tmux_session: None) -> None:
    # The status line shows the context meter once the model is ready.
    wait_screen("/1024", 90)
    tmux("send-keys", "-t", SESSION, "-l", "What is the capital of France?")
    time.sleep(0.3)
    tmux("send-keys", "-t", SESSION, "Enter")
    # The live tokens/s in the status line shows while streaming; the stats line under the
    # answer ("N tokens · X tok/s · first token ...") appears when it has ended.
    text = wait_screen("first token", 120)
    lines = text.splitlines()
    assert any("You" in line for line in lines), text
    answer_at = next(i for i, line in enumerate(lines) if "Burrow" in line and "▌" in line)
    answer = "\n".join(lines[answer_at + 1 : answer_at + 4]).replace("▌", "").strip()
    assert answer, f"no answer text under 'Burrow':\n{text}"
    assert any("tok/s" in line and "tokens" in line for line in lines), text
    tmux("send-keys", "-t", SESSION, "C-q")
    wait_screen("burrow exited: 0", 30)
