"""Unlucky moments at run time (defects 4, 5, 7, 8): crashes, signals, dead writers, search.

Real processes throughout: the bundled model in a real worker, ``burrow ask`` killed by a
signal, a writer that became a zombie or whose PID now runs another program.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from hostile_helpers import HANG_GUARD, burrow, child_env, database, text

from tui.store import Store

pytestmark = pytest.mark.slow

LONG = "Write a very long story about a cat who travels around the world."


# -- defect 5: the next question after a worker crash ---------------------------------------


async def test_next_question_after_a_worker_crash_gets_an_answer(smollm2_path: Path) -> None:
    """Defect 5: after a worker crash the app refused the next question with "The model is
    not ready yet." although it said the engine restarts on the next request."""
    from ui_helpers import Recorder, ask, chat, make_app, views, wait_for, wait_idle, wait_ready

    from tui.ui.messages import Answer
    from tui.ui.widgets.composer import Composer

    app = make_app(smollm2_path, max_tokens=400)
    recorder = Recorder()
    async with app.run_test(size=(60, 30), message_hook=recorder) as pilot:
        await wait_ready(pilot, app)
        chat(app).query_one(Composer).focus()
        await pilot.press(*LONG)
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(recorder.of(Answer.Chunk)) >= 2, 120, "text")
        pid = app.services.engine.worker_pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        await wait_idle(pilot, app, 60)
        assert recorder.of(Answer.Failed)
        # No tap on the banner's Restart: simply ask again.
        await ask(pilot, app, "Say hello.", timeout=HANG_GUARD)
        last = views(app)[-1]
        assert last.data.status == "done" and last.text.strip()
        assert app.services.engine.worker_pid not in (None, pid)


# -- defect 7: answers left "streaming" ------------------------------------------------------

WRITER = """
    import os, sys
    from pathlib import Path
    from tui.store import Store

    store = Store.open(Path(sys.argv[1]))
    conversation = store.create_conversation(title="dead writer")
    store.add_message(conversation.id, "user", "tell me something")
    writer = store.begin_assistant(conversation.id, flush_interval=0)
    writer.append("partial answer ")
    writer.flush()
    print(writer.message_id, flush=True)
    if sys.argv[2] == "exec":
        os.execv("/bin/sleep", ["sleep", "600"])  # same PID, another program: a reused PID
    os._exit(0)  # never reaped by the parent below: a zombie keeps the PID "alive"
"""


def _state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "gone"
    return stat.rsplit(")", 1)[1].split()[0]


@pytest.mark.parametrize("how", ["zombie", "exec"])
def test_answer_of_a_dead_writer_is_marked_interrupted(tmp_path: Path, how: str) -> None:
    """Defect 7: recovery trusted PID liveness, so an answer whose writer became a zombie or
    whose PID now runs another program stayed `streaming` for ever."""
    db = tmp_path / "history.sqlite3"
    Store.open(db).close()
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(WRITER), str(db), how],
        stdout=subprocess.PIPE,
        text=True,
        env=child_env(tmp_path / "home"),
    )
    try:
        assert child.stdout is not None
        message_id = int(child.stdout.readline())
        deadline = time.monotonic() + HANG_GUARD
        want = "Z" if how == "zombie" else "S"
        # Wait (without reaping) until the writer is a zombie / sleeping as `sleep`.
        while not (
            _state(child.pid) == want
            and (how == "zombie" or "sleep" in Path(f"/proc/{child.pid}/cmdline").read_text())
        ):
            assert time.monotonic() < deadline, f"child never reached state {want}"
            time.sleep(0.05)
        with Store.open(db) as store:
            message = store.get_message(message_id)
        assert message.status == "interrupted"
        assert message.content == "partial answer "
    finally:
        child.kill()
        child.wait()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_signal_during_ask_saves_the_partial_answer(burrow_home: Path, signum: int) -> None:
    """Defect 7: SIGTERM and SIGHUP of `burrow ask` left the answer `streaming` (then
    `interrupted`); like SIGINT, they must save the text so far, marked cancelled."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tui", "ask", LONG, "--max-tokens", "400", "--threads", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(burrow_home),
    )
    printed = b""
    try:
        assert child.stdout is not None
        deadline = time.monotonic() + HANG_GUARD
        while len(printed.strip()) < 40:
            assert time.monotonic() < deadline, "no answer text"
            chunk = os.read(child.stdout.fileno(), 4096)
            assert chunk, f"ask ended early: {text(child.stderr.read() if child.stderr else b'')}"
            printed += chunk
        child.send_signal(signum)
        _, err = child.communicate(timeout=60)
    finally:
        child.kill()
        child.wait()
    assert "Traceback" not in text(err), text(err)
    with Store.open(database(burrow_home)) as store:
        [conversation] = store.list_conversations()
        answer = store.active_path(conversation.id)[-1]
    assert answer.role == "assistant"
    assert answer.status == "cancelled"
    assert text(printed).strip()[:30] in answer.content


def _latest_answer(db: Path) -> tuple[str, str] | None:
    """(status, content) of the newest assistant message, read without touching the file."""
    import sqlite3

    if not db.exists():
        return None
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        row = conn.execute(
            "SELECT status, content FROM messages WHERE role = 'assistant' ORDER BY id DESC"
        ).fetchone()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return None if row is None else (str(row[0]), str(row[1]))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_signal_to_the_app_saves_the_partial_answer(burrow_home: Path, signum: int) -> None:
    """Defect 7: SIGTERM or SIGHUP (terminal closed) of the app killed it with the answer
    still `streaming`; it must quit as the user would, the text so far saved as cancelled."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 80, 0, 0))
    env = child_env(burrow_home, TERM="xterm-256color")
    child = subprocess.Popen(
        [sys.executable, "-m", "tui"], stdin=slave, stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    shown = bytearray()

    def drain() -> None:  # the app blocks if nobody reads its screen
        with contextlib.suppress(OSError):
            while chunk := os.read(master, 65536):
                shown.extend(chunk)

    threading.Thread(target=drain, daemon=True).start()
    db = database(burrow_home)
    try:
        deadline = time.monotonic() + HANG_GUARD
        # Keys typed before the app takes the terminal are flushed with the tty's input: type
        # once the composer is drawn.
        while b"Ask anything" not in shown:
            assert child.poll() is None, text(bytes(shown))[-2000:]
            assert time.monotonic() < deadline, "the app drew no composer"
            time.sleep(0.2)
        os.write(master, LONG.encode())
        # Enter until the model is ready and the answer has some text (typed text stays in
        # the composer while the model loads).
        while (found := _latest_answer(db)) is None or len(found[1].strip()) < 20:
            assert child.poll() is None, text(bytes(shown))[-2000:]
            assert time.monotonic() < deadline, "no answer text"
            if found is None:
                os.write(master, b"\r")
            time.sleep(0.5)
        child.send_signal(signum)
        child.wait(timeout=60)
    finally:
        child.kill()
        child.wait()
        os.close(master)
    assert "Traceback" not in text(bytes(shown))
    status, content = _latest_answer(db) or ("", "")
    assert status == "cancelled", (status, content)
    assert content.strip()


# -- defect 9: the worker's exit, a question in a conversation deleted elsewhere ----------


def test_doctor_worker_exits_cleanly(burrow_home: Path) -> None:
    """Defect 9: `burrow doctor`'s engine worker aborted at shutdown (5 runs in 5) with
    "Fatal Python error: _enter_buffered_busy": a daemon thread still reading its stdin.
    The abort depends on thread timing (about one run in two here), hence a few runs."""
    for _ in range(5):
        result = burrow(burrow_home, "doctor")
        assert result.returncode == 0, text(result.stderr)
    logs = sorted((burrow_home / "cache" / "logs").glob("*.log"))
    assert logs, "the worker wrote no log"
    for log in logs:
        assert "Fatal Python error" not in log.read_text(errors="replace"), log.read_text()


async def test_question_in_a_conversation_deleted_elsewhere_stays_in_the_composer(
    burrow_home: Path, smollm2_path: Path
) -> None:
    """Defect 9: asking in a conversation another process had deleted discarded the typed
    question; it stays in the composer, and the next send starts a new conversation."""
    from ui_helpers import ask, chat, make_app, views, wait_for, wait_idle, wait_ready

    from tui.ui.widgets.composer import Composer

    app = make_app(smollm2_path, max_tokens=8)
    async with app.run_test(size=(80, 30)) as pilot:
        await wait_ready(pilot, app)
        await ask(pilot, app, "Say hi.")
        conversation_id = chat(app).session.conversation_id
        assert conversation_id is not None
        with Store.open(database(burrow_home)) as other:  # another process's delete
            other.delete_conversation(conversation_id)
        composer = chat(app).query_one(Composer)
        composer.focus()
        await pilot.press(*"Keep me.")
        await pilot.press("enter")
        await wait_for(pilot, lambda: composer.text == "Keep me.", 30, "the question back")
        await wait_idle(pilot, app)
        assert composer.text == "Keep me."
        await ask(pilot, app, "", timeout=HANG_GUARD)  # Enter sends it, in a new conversation
        session = chat(app).session
        assert session.conversation_id is not None  # (SQLite may reuse the deleted id)
        path = session.store.active_path(session.conversation_id)
        assert next(m.content for m in path) == "Keep me."
        assert views(app)[-1].data.status == "done"


# -- defect 8: an imported model path is not loaded at start --------------------------------


def test_imported_model_path_is_not_loaded_at_start(
    burrow_home: Path, tmp_path: Path, smollm2_path: Path
) -> None:
    """Defect 8: the model named by an imported conversation's model_path was loaded at start
    without the user choosing it."""
    crafted = tmp_path / "somewhere" / "crafted.gguf"
    crafted.parent.mkdir()
    crafted.symlink_to(smollm2_path)
    export = tmp_path / "import.json"
    export.write_text(
        json.dumps(
            {
                "format": "burrow-history",
                "version": 1,
                "conversations": [
                    {
                        "uid": "a" * 32,
                        "title": "crafted",
                        "model_path": str(crafted),
                        "messages": [
                            {"uid": "b" * 32, "parent_uid": None, "role": "user", "content": "hi"}
                        ],
                    }
                ],
            }
        )
    )
    result = burrow(burrow_home, "history", "import", str(export))
    assert result.returncode == 0, text(result.stderr)

    from tui.settings import Settings
    from tui.ui.services import Services

    services = Services(settings=Settings())
    try:
        assert services.choose_model().path != str(crafted)
    finally:
        services.close()


# -- defect 4: a huge quoted query is bounded and does not block saving -------------------

VOCABULARY = [f"word{i}" for i in range(300)]


def _build_history(db: Path, conversations: int = 100, messages: int = 30) -> None:
    rng = random.Random(4)
    document = {
        "format": "burrow-history",
        "version": 1,
        "conversations": [
            {
                "uid": f"{c:032x}",
                "title": f"conversation {c}",
                "messages": [
                    {
                        "uid": f"{c:016x}{m:016x}",
                        "parent_uid": f"{c:016x}{m - 1:016x}" if m else None,
                        "role": "user" if m % 2 == 0 else "assistant",
                        "content": " ".join(rng.choices(VOCABULARY, k=60)),
                    }
                    for m in range(messages)
                ],
            }
            for c in range(conversations)
        ],
    }
    file = db.parent / "big.json"
    file.write_text(json.dumps(document))
    from tui.store.export import import_json

    with Store.open(db) as store:
        import_json(store, file)


def test_huge_quoted_query_is_bounded_and_saves_do_not_wait(tmp_path: Path) -> None:
    """Defect 4: a 1,000-word quoted query took seconds to minutes on 3,000 messages while
    holding the store lock, so a streaming answer's saves waited behind it."""
    db = tmp_path / "history.sqlite3"
    _build_history(db)
    rng = random.Random(9)
    query = '"' + " ".join(rng.choices(VOCABULARY, k=3000)) + '"'
    with Store.open(db) as store:
        live = store.create_conversation(title="live")
        done = threading.Event()
        outcome: dict[str, object] = {}

        def run() -> None:
            try:
                outcome["hits"] = store.search(query)
            except Exception as exc:  # a clear refusal is a bound too
                outcome["error"] = exc
            finally:
                done.set()

        searcher = threading.Thread(target=run, daemon=True)
        searcher.start()
        time.sleep(0.5)  # lets the search get under way (not a measurement)
        overlapped = not done.is_set()
        store.add_message(live.id, "user", "saved while a search runs")
        saved_first = not done.is_set()
        assert done.wait(HANG_GUARD), "the search never ended"
        # Either the search was already over, or the save did not wait for it.
        assert not overlapped or saved_first
        assert "error" not in outcome or "query" in str(outcome["error"]).lower()
