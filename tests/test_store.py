"""The history store on real SQLite files: schema, conversations, message trees, streaming."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tui import paths
from tui.store import SCHEMA_VERSION, NotFoundError, Store, StoreError


@pytest.fixture
def store() -> Iterator[Store]:
    with Store.open() as opened:
        yield opened


def wait_for(predicate: object, timeout: float = 10.0) -> None:
    """Poll until ``predicate()`` is true (a deadline for hangs, not a timing assert)."""
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.02)


# -- schema and connection ------------------------------------------------------------------


def test_database_lives_in_the_data_dir_with_durable_pragmas(store: Store) -> None:
    assert store.path == paths.database_path()
    assert store.path.is_file()
    assert store.schema_version == SCHEMA_VERSION
    conn = store._conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA secure_delete").fetchone()[0] == 1
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"conversations", "messages", "messages_fts", "conversations_fts", "kv_states"} <= tables
    assert store.integrity_check() == "ok"


def test_reopen_keeps_everything(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    with Store.open(db) as store:
        conv = store.create_conversation(
            title="Kept",
            model_path="/m/a.gguf",
            template="chatml",
            system_prompt="Be brief.",
            settings={"temperature": 0.2, "top_k": 40, "stop": ["</s>"]},
            tag="work",
            pinned=True,
        )
        store.add_message(conv.id, "user", "hello")
    with Store.open(db) as store:
        again = store.get_conversation(conv.id)
    expected = dataclasses.replace(
        conv,
        message_count=1,
        updated_at=again.updated_at,
        active_leaf_id=again.active_leaf_id,
    )
    assert again == expected
    assert again.settings == {"temperature": 0.2, "top_k": 40, "stop": ["</s>"]}


# -- conversations --------------------------------------------------------------------------


def test_title_comes_from_the_first_question_and_can_be_renamed(store: Store) -> None:
    conv = store.create_conversation()
    store.add_message(conv.id, "system", "You are terse.")
    store.add_message(conv.id, "user", "\n  Why is   the sky blue?\nMore detail here")
    store.add_message(conv.id, "user", "second question")
    assert store.get_conversation(conv.id).title == "Why is the sky blue?"
    long = store.create_conversation()
    store.add_message(long.id, "user", "x" * 500)
    assert len(store.get_conversation(long.id).title) <= 80
    assert store.rename_conversation(conv.id, "Sky").title == "Sky"


def test_update_conversation_changes_only_given_fields(store: Store) -> None:
    conv = store.create_conversation(model_path="/a.gguf", template="chatml", tag="t")
    updated = store.update_conversation(conv.id, settings={"temperature": 1.0}, tag=None)
    assert updated.settings == {"temperature": 1.0}
    assert updated.tag is None
    assert updated.model_path == "/a.gguf" and updated.template == "chatml"
    with pytest.raises(NotFoundError):
        store.update_conversation(999, title="x")
    with pytest.raises(NotFoundError):
        store.get_conversation(999)


def test_listing_is_paged_pinned_first_then_last_activity(store: Store) -> None:
    ids = [store.create_conversation(title=f"c{i}").id for i in range(7)]
    # Activity order: c0 oldest ... c6 newest; then c2 gets a message (most recent activity).
    time.sleep(0.01)
    store.add_message(ids[2], "user", "bump")
    store.set_pinned(ids[5], True)
    titles = [c.title for c in store.list_conversations(limit=100)]
    assert titles == ["c5", "c2", "c6", "c4", "c3", "c1", "c0"]
    page1 = store.list_conversations(limit=3)
    page2 = store.list_conversations(limit=3, offset=3)
    page3 = store.list_conversations(limit=3, offset=6)
    assert [c.title for c in page1 + page2 + page3] == titles
    assert store.count_conversations() == 7
    store.update_conversation(ids[0], tag="work")
    assert [c.title for c in store.list_conversations(tag="work")] == ["c0"]
    assert store.list_conversations(limit=100)[1].message_count == 1


def test_delete_conversation_removes_its_messages(store: Store) -> None:
    conv = store.create_conversation()
    other = store.create_conversation()
    m = store.add_message(conv.id, "user", "bye")
    store.add_message(other.id, "user", "stay")
    store.delete_conversation(conv.id)
    with pytest.raises(NotFoundError):
        store.get_message(m.id)
    with pytest.raises(NotFoundError):
        store.delete_conversation(conv.id)
    assert [c.id for c in store.list_conversations()] == [other.id]
    assert store.search("bye") == []
    assert {h.message_id for h in store.search("stay")} == {None, 2}  # title and message


# -- message tree ---------------------------------------------------------------------------


def test_edit_and_regenerate_branch_and_keep_history(store: Store) -> None:
    conv = store.create_conversation()
    q1 = store.add_message(conv.id, "user", "q1")
    a1 = store.add_message(conv.id, "assistant", "a1")
    q2 = store.add_message(conv.id, "user", "q2")
    a2 = store.add_message(conv.id, "assistant", "a2")
    assert q1.parent_id is None and a1.parent_id == q1.id and a2.parent_id == q2.id
    assert [m.content for m in store.active_path(conv.id)] == ["q1", "a1", "q2", "a2"]

    # Regenerate a2: a new answer under the same question.
    a2b = store.add_message(conv.id, "assistant", "a2 again", parent_id=q2.id)
    assert [m.content for m in store.active_path(conv.id)] == ["q1", "a1", "q2", "a2 again"]
    branches = store.siblings(a2b.id)
    assert [m.content for m in branches.messages] == ["a2", "a2 again"]
    assert branches.index == 1 and branches.count == 2

    # Edit q1: a new question under the same (absent) parent, with its own answer.
    q1b = store.add_message(conv.id, "user", "q1 edited", parent_id=None)
    store.add_message(conv.id, "assistant", "a1 for edit")
    assert [m.content for m in store.active_path(conv.id)] == ["q1 edited", "a1 for edit"]
    assert [m.content for m in store.siblings(q1.id).messages] == ["q1", "q1 edited"]

    # Switch back to the first question: its newest leaf is the regenerated answer.
    path = store.switch_branch(q1.id)
    assert [m.content for m in path] == ["q1", "a1", "q2", "a2 again"]
    assert store.get_conversation(conv.id).active_leaf_id == a2b.id
    assert [m.content for m in store.switch_branch(a2.id)] == ["q1", "a1", "q2", "a2"]
    assert [m.content for m in store.children(q2.id)] == ["a2", "a2 again"]
    assert len(store.messages(conv.id)) == 7
    assert store.path_to(q1b.id) == [store.get_message(q1b.id)]


def test_branches_cannot_cross_conversations(store: Store) -> None:
    a = store.create_conversation()
    b = store.create_conversation()
    m = store.add_message(a.id, "user", "in a")
    with pytest.raises(NotFoundError):
        store.add_message(b.id, "assistant", "x", parent_id=m.id)
    with pytest.raises(NotFoundError):
        store.set_active_leaf(b.id, m.id)
    with pytest.raises(NotFoundError):
        store.add_message(999, "user", "x")
    with pytest.raises(ValueError):
        store.add_message(a.id, "robot", "x")  # type: ignore[arg-type]


def test_deleting_a_conversation_with_a_deep_tree(store: Store) -> None:
    conv = store.create_conversation()
    parent = None
    for i in range(50):
        parent = store.add_message(
            conv.id, "user", f"m{i}", parent_id=parent.id if parent else None
        )
    store.delete_conversation(conv.id)
    assert store.integrity_check() == "ok"


# -- streaming ------------------------------------------------------------------------------


def test_streamed_answer_is_flushed_while_it_streams(store: Store) -> None:
    conv = store.create_conversation()
    store.add_message(conv.id, "user", "tell me")
    writer = store.begin_assistant(conv.id, model="m.gguf", flush_interval=0.05)
    assert store.get_message(writer.message_id).status == "streaming"
    with Store.open(store.path) as reader:  # a second connection sees only committed text
        writer.append("Hello ")
        # No further appends: the timer must flush the stalled tail on its own.
        wait_for(lambda: reader.get_message(writer.message_id).content == "Hello ")
        writer.append("world")
        wait_for(lambda: reader.get_message(writer.message_id).content == "Hello world")
        assert reader.get_message(writer.message_id).status == "streaming"
    final = writer.finish("done", {"tokens": 2, "tokens_per_second": 10.5, "stop_reason": "eos"})
    assert final.content == "Hello world" and final.status == "done"
    assert final.stats == {"tokens": 2, "tokens_per_second": 10.5, "stop_reason": "eos"}
    assert final.model == "m.gguf"
    assert store.get_conversation(conv.id).active_leaf_id == final.id


def test_streaming_does_not_commit_per_token(store: Store) -> None:
    conv = store.create_conversation()
    writer = store.begin_assistant(conv.id, flush_interval=3600)
    for i in range(500):
        writer.append(f"t{i} ")
    assert writer.flush_count == 0
    assert store.get_message(writer.message_id).content == ""
    writer.finish("cancelled")
    message = store.get_message(writer.message_id)
    assert message.content == writer.text and message.status == "cancelled"


def test_continue_appends_to_an_existing_answer(store: Store) -> None:
    conv = store.create_conversation()
    store.add_message(conv.id, "user", "q")
    with store.begin_assistant(conv.id) as writer:
        writer.append("first part")
    assert store.get_message(writer.message_id).status == "done"
    cont = store.continue_assistant(writer.message_id)
    assert store.get_message(writer.message_id).status == "streaming"
    cont.append(", second part")
    done = cont.finish("done", {"tokens": 3})
    assert done.content == "first part, second part"
    with pytest.raises(StoreError):
        cont.append("late")
    with pytest.raises(StoreError):
        cont.finish()
    question = store.active_path(conv.id)[0]
    with pytest.raises(StoreError):
        store.continue_assistant(question.id)


def test_a_failing_stream_is_marked_error(store: Store) -> None:
    conv = store.create_conversation()
    with pytest.raises(RuntimeError), store.begin_assistant(conv.id) as writer:
        writer.append("partial")
        raise RuntimeError("worker crashed")
    message = store.get_message(writer.message_id)
    assert (message.status, message.content) == ("error", "partial")
    assert "worker crashed" in message.stats["error"]
    with pytest.raises(ValueError):
        store.begin_assistant(conv.id).finish("streaming")  # type: ignore[arg-type]


def test_an_open_in_the_same_process_does_not_interrupt_a_live_stream(store: Store) -> None:
    conv = store.create_conversation()
    writer = store.begin_assistant(conv.id)
    with Store.open(store.path) as other:
        assert other.get_message(writer.message_id).status == "streaming"
    writer.finish()


def test_store_is_safe_to_share_between_threads(store: Store) -> None:
    conv = store.create_conversation()
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(40):
                store.add_message(conv.id, "user", f"thread {n} message {i}", parent_id=None)
                store.list_conversations()
                store.search("thread")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.get_conversation(conv.id).message_count == 160


def test_closed_store_refuses_work(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "h.sqlite3")
    store.close()
    store.close()
    with pytest.raises(StoreError):
        store.list_conversations()


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"this is not sqlite" * 100)
    # One clear error naming the file (not SQLite's bare "file is not a database").
    with pytest.raises(StoreError, match=r"bad\.sqlite3"):
        Store.open(bad)


def test_delete_message_removes_its_subtree_and_moves_the_shown_path(store: Store) -> None:
    conv = store.create_conversation()
    q = store.add_message(conv.id, "user", "q")
    a1 = store.add_message(conv.id, "assistant", "a1")
    a2 = store.add_message(conv.id, "assistant", "a2", parent_id=q.id)
    follow = store.add_message(conv.id, "user", "follow-up under a2")
    store.delete_message(a2.id)
    with pytest.raises(NotFoundError):
        store.get_message(follow.id)
    assert [m.content for m in store.active_path(conv.id)] == ["q", "a1"]
    store.delete_message(a1.id)
    assert [m.content for m in store.active_path(conv.id)] == ["q"]
    store.delete_message(q.id)
    assert store.active_path(conv.id) == []
    assert store.search("follow") == []


def test_a_failed_bulk_transaction_writes_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.bulk_transaction() as conn:
        conn.execute(
            "INSERT INTO conversations (uid, title, created_at, updated_at) "
            "VALUES ('bulk', 'Bulk', 0, 0)"
        )
        raise RuntimeError("loader failed half-way")
    assert store.count_conversations() == 0
    with store.bulk_transaction() as conn:
        conn.execute(
            "INSERT INTO conversations (uid, title, created_at, updated_at) "
            "VALUES ('bulk', 'Bulk', 0, 0)"
        )
    assert [c.title for c in store.list_conversations()] == ["Bulk"]


def test_store_modules_touch_no_private_member_of_another_object() -> None:
    """Each class of ``tui.store`` keeps its underscore members to itself: other code goes
    through public methods (``self._x`` and ``cls._x`` are the only private reads)."""
    import ast

    import tui.store

    offenders = []
    for file in sorted(Path(tui.store.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
                continue
            if node.attr.startswith("__") and node.attr.endswith("__"):
                continue
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            offenders.append(f"{file.name}:{node.lineno} .{node.attr}")
    assert offenders == []
