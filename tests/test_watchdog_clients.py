"""A worker stopped (SIGSTOP) in the middle of an answer, as ``burrow ask`` and the app see it:
a clear message, the text written so far kept in the history, and a way on (the app's
Restart tap; ``burrow ask`` exits non-zero and leaves no stopped process behind)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from ui_helpers import Recorder, ask, chat, make_app, views, wait_for, wait_idle, wait_ready

from tui.engine.heartbeat import FLOOR_ENV
from tui.store.store import Store
from tui.ui.app import BurrowApp
from tui.ui.messages import Answer
from tui.ui.widgets.composer import Composer

pytestmark = pytest.mark.slow

LONG = "Write a very long story about a cat who travels around the world."


def last_answer() -> tuple[str, str]:
    with Store.open() as store:
        conversation = store.list_conversations()[0]
        message = store.active_path(conversation.id)[-1]
    assert message.role == "assistant"
    return message.content, message.status


def children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state == "Z"


def test_ask_reports_a_stopped_engine_and_exits_nonzero(burrow_home: Path) -> None:
    env = {**os.environ, "BURROW_HOME": str(burrow_home), FLOOR_ENV: "3"}
    argv = [sys.executable, "-m", "tui", "ask", LONG, "--max-tokens", "400", "--threads", "2"]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, bufsize=0
    )
    worker = 0
    try:
        assert proc.stdout is not None
        first = proc.stdout.read(1)  # the answer has started streaming
        assert first, proc.stderr.read() if proc.stderr else b""
        (worker,) = children(proc.pid)
        os.kill(worker, signal.SIGSTOP)
        rest, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        if worker:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker, signal.SIGCONT)
    assert proc.returncode == 1, err
    assert "the engine stopped responding while answering" in err.decode()
    assert "Traceback" not in err.decode()
    assert gone(worker)
    content, status = last_answer()
    assert status == "error"
    assert content.strip() and content.strip()[:10] in (first + rest).decode()


async def start_long_answer(pilot: Pilot[Any], app: BurrowApp, recorder: Recorder) -> None:
    chat(app).query_one(Composer).insert(LONG)
    await pilot.press("enter")
    await wait_for(pilot, lambda: len(recorder.of(Answer.Chunk)) >= 2, 180, "chunks")


async def test_app_shows_a_stopped_engine_and_restarts_by_tap(
    smollm2_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(smollm2_path, max_tokens=400)
    recorder = Recorder()
    async with app.run_test(size=(40, 24), message_hook=recorder) as pilot:
        await wait_ready(pilot, app)
        monkeypatch.setenv(FLOOR_ENV, "3")
        await start_long_answer(pilot, app, recorder)
        pid = app.services.engine.worker_pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        try:
            await wait_idle(pilot, app, 180)
        finally:
            with contextlib.suppress(ProcessLookupError):  # never leave a stopped process
                os.kill(pid, signal.SIGCONT)
        failed = recorder.of(Answer.Failed)
        assert failed and failed[-1].event.crashed
        assert "stopped responding" in failed[-1].event.message
        banner = chat(app).query_one("#banner")
        assert banner.display
        assert "The engine stopped responding" in str(chat(app).query_one("#banner-text").render())
        assert views(app)[-1].has_class("-failed")
        kept, status = last_answer()
        assert status == "error" and kept.strip()
        monkeypatch.delenv(FLOOR_ENV)  # a busy test machine may start a worker slowly
        await pilot.click("#banner-button")  # one tap: restart
        await wait_ready(pilot, app)
        await wait_for(pilot, lambda: gone(pid), 10, "the stopped worker to be gone")
        assert app.services.engine.worker_pid not in (None, pid)
        await ask(pilot, app, "Say hello.")
        assert views(app)[-1].data.status == "done"
