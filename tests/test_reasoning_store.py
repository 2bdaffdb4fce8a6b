"""A reasoning model's thinking in the history: its own column, migrated into old files,
never found by search, left out of exports unless asked for."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tui.store import Store
from tui.store.db import MIGRATIONS, SCHEMA_VERSION
from tui.store.export import conversation_to_markdown, export, import_json


def answered(store: Store) -> tuple[int, int]:
    conversation = store.create_conversation(title="Sums")
    store.add_message(conversation.id, "user", "What is 2+2?")
    writer = store.begin_assistant(conversation.id, flush_interval=0)
    writer.append("", "Pelicans aside, two plus ")
    writer.append("", "two is four.")
    writer.append("It is 4.")
    message = writer.finish("done", {"reasoning_tokens": 9, "reasoning_seconds": 1.5})
    return conversation.id, message.id


def test_the_writer_keeps_thinking_apart_and_saves_it_as_it_streams() -> None:
    with Store.open() as store:
        conversation = store.create_conversation(title="t")
        store.add_message(conversation.id, "user", "Q")
        writer = store.begin_assistant(conversation.id, flush_interval=0)
        writer.append("", "thinking")
        # Flushed at once (interval 0): a crash now keeps the thought, and no answer.
        saved = store.get_message(writer.message_id)
        assert (saved.reasoning, saved.content, saved.status) == ("thinking", "", "streaming")
        writer.append("answer", " more")
        message = writer.finish()
        assert (message.reasoning, message.content) == ("thinking more", "answer")
        assert writer.reasoning == "thinking more" and writer.text == "answer"


def test_continuing_an_answer_keeps_its_thinking() -> None:
    with Store.open() as store:
        _, message_id = answered(store)
        writer = store.continue_assistant(message_id)
        assert writer.reasoning == "Pelicans aside, two plus two is four."
        writer.append(" Sure.")
        message = writer.finish()
        assert message.content == "It is 4. Sure."
        assert message.reasoning == "Pelicans aside, two plus two is four."


def test_search_finds_answers_not_thoughts() -> None:
    with Store.open() as store:
        answered(store)
        assert store.search("pelicans") == []
        assert [h.role for h in store.search("4")] == ["assistant"]


def test_thoughts_are_found_when_asked_for() -> None:
    with Store.open() as store:
        conversation_id, message_id = answered(store)
        other = store.create_conversation(title="Other")
        store.add_message(other.id, "user", "Birds?")
        writer = store.begin_assistant(other.id, flush_interval=0)
        writer.append("", "Pelicans 100% fly; so_do gulls.")
        writer.append("Yes.")
        newer = writer.finish()
        hits = store.search_thoughts("PELICANS")
        assert [(h.message_id, h.in_thinking) for h in hits] == [
            (newer.id, True),
            (message_id, True),
        ]
        assert hits[1].conversation_id == conversation_id and hits[1].role == "assistant"
        assert hits[1].snippet == "**Pelicans** aside, two plus two is four."
        # Every word must be there, in any order.
        assert [h.message_id for h in store.search_thoughts("four pelicans")] == [message_id]
        assert [h.message_id for h in store.search_thoughts("100%")] == [newer.id]
        assert [h.message_id for h in store.search_thoughts("so_do")] == [newer.id]
        assert store.search_thoughts("s_") == []  # "_" is not LIKE's any-character
        assert store.search_thoughts("It is 4") == []  # the answer is not a thought
        assert store.search_thoughts("") == [] and store.search_thoughts("%") == []


def test_export_leaves_thinking_out_unless_asked(tmp_path: Path) -> None:
    with Store.open() as store:
        conversation_id, _ = answered(store)
        plain = export(store, [conversation_id], "json", tmp_path / "plain")
        assert "Pelicans" not in plain.read_text()
        kept = export(store, [conversation_id], "json", tmp_path / "kept", reasoning=True)
        messages = json.loads(kept.read_text())["conversations"][0]["messages"]
        assert messages[1]["reasoning"] == "Pelicans aside, two plus two is four."
        assert "reasoning" not in messages[0]  # nothing to keep for a question
        markdown = conversation_to_markdown(
            store, store.get_conversation(conversation_id), reasoning=True
        )
        assert "> **Thinking**\n>\n> Pelicans aside, two plus two is four.\n\nIt is 4." in markdown
        assert "Pelicans" not in conversation_to_markdown(
            store, store.get_conversation(conversation_id)
        )
    # An export that kept the thinking brings it back on import.
    with Store.open(tmp_path / "other.sqlite3") as other:
        import_json(other, kept)
        conversation = other.list_conversations()[0]
        answer = other.active_path(conversation.id)[-1]
        assert answer.reasoning == "Pelicans aside, two plus two is four."
        assert other.search("pelicans") == []


def test_migrates_a_version_2_database(tmp_path: Path) -> None:
    """A file written before the reasoning column opens, keeps its text and takes thoughts."""
    db = tmp_path / "v2.sqlite3"
    conn = sqlite3.connect(db)
    for migration in MIGRATIONS[:2]:
        for statement in migration:
            conn.execute(statement)
    conn.execute(
        "INSERT INTO conversations (id, uid, title, created_at, updated_at) "
        "VALUES (1, 'c1', 'Old', 1.0, 2.0)"
    )
    conn.execute(
        "INSERT INTO messages (id, uid, conversation_id, parent_id, role, content, created_at) "
        "VALUES (1, 'm1', 1, NULL, 'user', 'Old question about herons', 1.0)"
    )
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    with Store.open(db) as store:
        assert store.schema_version == SCHEMA_VERSION == 3
        old = store.get_message(1)
        assert (old.content, old.reasoning) == ("Old question about herons", "")
        assert store.search("herons")[0].message_id == 1
        writer = store.begin_assistant(1)
        writer.append("Herons wade.", "about herons")
        assert writer.finish().reasoning == "about herons"
