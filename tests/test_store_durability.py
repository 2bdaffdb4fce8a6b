"""Durability of the history: SIGKILL mid-stream, two processes at once, old schemas."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tui.store import SCHEMA_VERSION, Store, StoreError
from tui.store.db import MIGRATIONS

REPO = Path(__file__).resolve().parent.parent


def child_env() -> dict[str, str]:
    env = dict(os.environ)  # keeps the per-test BURROW_HOME
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def spawn(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )


STREAMER = """
    import sys, time
    from pathlib import Path
    from tui.store import Store

    store = Store.open(Path(sys.argv[1]))
    conv = store.create_conversation(title="victim")
    store.add_message(conv.id, "user", "tell me a very long story")
    writer = store.begin_assistant(conv.id, model="m.gguf", flush_interval=0.05)
    print(writer.message_id, flush=True)
    i = 0
    while True:
        writer.append(f"w{i:07d} ")
        i += 1
        if i % 20 == 0:
            time.sleep(0.002)
"""


def snapshot(store: Store) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for conv in store.list_conversations(limit=1000):
        out.append(
            (
                conv.uid,
                conv.title,
                tuple((m.uid, m.content, m.status) for m in store.messages(conv.id)),
            )
        )
    return out


def test_sigkill_mid_stream_loses_at_most_the_unflushed_tail(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite3"
    with Store.open(db) as store:
        for i in range(3):
            conv = store.create_conversation(title=f"earlier {i}")
            store.add_message(conv.id, "user", f"question {i}")
            with store.begin_assistant(conv.id) as writer:
                writer.append(f"answer {i} " * 50)
        before = snapshot(store)

    child = spawn(STREAMER, str(db))
    try:
        assert child.stdout is not None
        message_id = int(child.stdout.readline())
        with Store.open(db) as watcher:
            # Opening the store while the child lives must not mark its stream interrupted.
            deadline = time.monotonic() + 60
            while True:
                seen = watcher.get_message(message_id)
                assert seen.status == "streaming"
                if len(seen.content) > 5000:
                    break
                assert time.monotonic() < deadline, "child never flushed"
                time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL

    with Store.open(db) as store:
        assert store.integrity_check() == "ok"
        message = store.get_message(message_id)
        assert message.status == "interrupted"
        # Present up to the last flush: at least what was seen, a whole-chunk prefix.
        assert message.content.startswith(seen.content)
        words = message.content.split()
        assert words == [f"w{i:07d}" for i in range(len(words))]
        assert message.content.endswith(" ")
        after = snapshot(store)
        assert [s for s in after if s[1] != "victim"] == before
        victim = store.get_conversation(message.conversation_id)
        assert victim.active_leaf_id == message_id


WRITER = """
    import sys
    from pathlib import Path
    from tui.store import Store

    name, rounds = sys.argv[2], int(sys.argv[3])
    with Store.open(Path(sys.argv[1])) as store:
        for i in range(rounds):
            conv = store.create_conversation(title=f"{name} {i}")
            store.add_message(conv.id, "user", f"{name} asks question {i}")
            writer = store.begin_assistant(conv.id, flush_interval=0)
            for j in range(5):
                writer.append(f"{name} chunk {j} ")
            writer.finish("done", {"tokens": 5})
            store.list_conversations(limit=20)
            store.search(name)
            if i % 10 == 0:
                store.set_pinned(conv.id, True)
    print("ok")
"""


def test_two_processes_write_at_once_without_locking_errors(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite3"
    Store.open(db).close()
    rounds = 40
    children = [spawn(WRITER, str(db), name, str(rounds)) for name in ("tui", "ask")]
    # This process reads meanwhile, like the app's list refreshing.
    with Store.open(db) as reader:
        while any(c.poll() is None for c in children):
            reader.list_conversations()
            reader.search("chunk")
            time.sleep(0.01)
    for child in children:
        out, err = child.communicate()
        assert child.returncode == 0, err
        assert "locked" not in err
        assert out.strip() == "ok"
    with Store.open(db) as store:
        assert store.integrity_check() == "ok"
        assert store.count_conversations() == 2 * rounds
        for conv in store.list_conversations(limit=1000):
            path = store.active_path(conv.id)
            assert [m.role for m in path] == ["user", "assistant"]
            assert path[1].status == "done"
            assert path[1].content.count("chunk") == 5


# -- migrations -----------------------------------------------------------------------------

# The schema exactly as version 1 wrote it, frozen here on purpose: the migration code must
# keep opening files like this one even when db.py changes.
V1_FIXTURE = [
    """CREATE TABLE conversations (
        id INTEGER PRIMARY KEY, uid TEXT NOT NULL UNIQUE, title TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL, updated_at REAL NOT NULL, pinned INTEGER NOT NULL DEFAULT 0,
        model_path TEXT, template TEXT, system_prompt TEXT, settings TEXT NOT NULL DEFAULT '{}',
        tag TEXT, active_leaf_id INTEGER)""",
    """CREATE TABLE messages (
        id INTEGER PRIMARY KEY, uid TEXT NOT NULL UNIQUE,
        conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        parent_id INTEGER REFERENCES messages(id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
        content TEXT NOT NULL DEFAULT '', created_at REAL NOT NULL,
        status TEXT NOT NULL DEFAULT 'done', model TEXT, stats TEXT NOT NULL DEFAULT '{}')""",
    "CREATE INDEX messages_by_conversation ON messages(conversation_id, id)",
    "CREATE INDEX messages_by_parent ON messages(parent_id)",
    """INSERT INTO conversations VALUES (1, 'c-uid-1', 'Old pelican talk', 100.0, 200.0, 1,
        '/models/old.gguf', 'chatml', 'Be kind.', '{"temperature": 0.5}', 'archive', 3)""",
    "INSERT INTO messages VALUES (1, 'm1', 1, NULL, 'user', 'Do pelicans migrate?', 110, "
    "'done', NULL, '{}')",
    "INSERT INTO messages VALUES (2, 'm2', 1, 1, 'assistant', 'Some pelicans migrate.', 120, "
    "'done', 'old', '{\"tokens\": 4}')",
    "INSERT INTO messages VALUES (3, 'm3', 1, 1, 'assistant', 'Half an answer abo', 130, "
    "'streaming', 'old', '{}')",
    "PRAGMA user_version = 1",
]


def write_fixture(path: Path, statements: list[str]) -> None:
    conn = sqlite3.connect(path)
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


def test_migrates_a_version_1_database(tmp_path: Path) -> None:
    db = tmp_path / "v1.sqlite3"
    write_fixture(db, V1_FIXTURE)
    with Store.open(db) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.integrity_check() == "ok"
        conv = store.get_conversation(1)
        assert (conv.title, conv.pinned, conv.tag, conv.settings) == (
            "Old pelican talk",
            True,
            "archive",
            {"temperature": 0.5},
        )
        assert [m.content for m in store.active_path(1)] == [
            "Do pelicans migrate?",
            "Half an answer abo",
        ]
        # A v1 stream that never finished has no writer: it is interrupted, not lost.
        assert store.get_message(3).status == "interrupted"
        assert store.siblings(2).messages[0].content == "Some pelicans migrate."
        # Old text is searchable once the FTS tables are built by the migration.
        assert {h.message_id for h in store.search("pelicans")} == {1, 2}
        assert store.search("pelican")[0].message_id is None  # the title
        # And new writes work on the migrated file.
        store.add_message(1, "user", "And herons?")
        assert store.search("herons")[0].message_id == 4
    with Store.open(db) as store:  # a second open does not re-run anything
        assert store.schema_version == SCHEMA_VERSION
        assert store.get_conversation(1).message_count == 4


def test_opens_an_empty_version_0_file(tmp_path: Path) -> None:
    db = tmp_path / "v0.sqlite3"
    sqlite3.connect(db).close()  # SQLite leaves an empty file with user_version 0
    with Store.open(db) as store:
        assert store.schema_version == SCHEMA_VERSION == len(MIGRATIONS)
        assert store.list_conversations() == []


def test_refuses_a_database_from_a_newer_burrow(tmp_path: Path) -> None:
    db = tmp_path / "future.sqlite3"
    write_fixture(db, [f"PRAGMA user_version = {SCHEMA_VERSION + 1}"])
    with pytest.raises(StoreError, match="newer"):
        Store.open(db)
