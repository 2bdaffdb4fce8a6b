"""Export to Markdown and JSON, and the JSON import round trip without duplicates."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tui import paths
from tui.store import Store, StoreError
from tui.store.export import export, import_json


def fill(store: Store) -> int:
    conv = store.create_conversation(
        model_path="/models/smollm2.gguf",
        template="chatml",
        system_prompt="Answer in one sentence.",
        settings={"temperature": 0.3, "top_p": 0.9},
        tag="science",
        pinned=True,
    )
    q = store.add_message(conv.id, "user", "Why is the sky blue?")
    with store.begin_assistant(conv.id, model="/models/smollm2.gguf") as writer:
        writer.append("Rayleigh scattering.")
    store.add_message(conv.id, "assistant", "Because of *air*.", parent_id=q.id)  # a branch
    store.switch_branch(writer.message_id)
    other = store.create_conversation()
    store.add_message(other.id, "user", "Second conversation")
    return conv.id


def test_markdown_is_readable_with_a_header(tmp_path: Path) -> None:
    with Store.open() as store:
        conv_id = fill(store)
        file = export(store, [conv_id], "md", tmp_path / "out")
    text = file.read_text()
    assert text.startswith("# Why is the sky blue?\n")
    assert "- Model: `/models/smollm2.gguf`" in text
    assert "- Template: chatml" in text
    assert "- Settings: temperature=0.3, top_p=0.9" in text
    assert "## System\n\nAnswer in one sentence." in text
    assert "## You\n\nWhy is the sky blue?" in text
    assert "## Assistant" in text and "Rayleigh scattering." in text
    assert "Because of *air*." not in text  # the shown path only; JSON keeps every branch
    assert file.parent == tmp_path / "out" and file.suffix == ".md"


def test_json_round_trip_into_a_fresh_database_and_no_duplicates(tmp_path: Path) -> None:
    with Store.open(tmp_path / "a.sqlite3") as source:
        conv_id = fill(source)
        file = export(source, None, "json", tmp_path)
        original = source.get_conversation(conv_id)
        original_messages = source.messages(conv_id)
    document = json.loads(file.read_text())
    assert document["format"] == "burrow-history" and len(document["conversations"]) == 2

    with Store.open(tmp_path / "b.sqlite3") as target:
        first = import_json(target, file)
        assert (first.conversations_added, first.messages_added) == (2, 4)
        again = import_json(target, file)
        assert (again.conversations_added, again.messages_added, again.messages_skipped) == (
            0,
            0,
            4,
        )
        assert target.count_conversations() == 2
        imported = next(c for c in target.list_conversations() if c.uid == original.uid)
        for field in ("title", "pinned", "model_path", "template", "system_prompt", "tag"):
            assert getattr(imported, field) == getattr(original, field)
        assert imported.settings == original.settings
        messages = target.messages(imported.id)
        assert [(m.uid, m.role, m.content, m.status, m.model, m.stats) for m in messages] == [
            (m.uid, m.role, m.content, m.status, m.model, m.stats) for m in original_messages
        ]
        assert [m.content for m in target.active_path(imported.id)] == [
            "Why is the sky blue?",
            "Rayleigh scattering.",
        ]
        assert len(target.siblings(target.active_path(imported.id)[1].id).messages) == 2
        assert target.search("rayleigh")[0].conversation_id == imported.id


def test_import_merges_new_messages_of_a_known_conversation(tmp_path: Path) -> None:
    with Store.open() as store:
        conv = store.create_conversation()
        store.add_message(conv.id, "user", "one")
        file = export(store, [conv.id], "json", tmp_path)
        store.add_message(conv.id, "assistant", "two")
        later = export(store, [conv.id], "json", tmp_path / "later")
        store.delete_conversation(conv.id)
        assert import_json(store, file).conversations_added == 1
        result = import_json(store, later)
        assert (result.conversations_merged, result.messages_added) == (1, 1)
        assert store.count_conversations() == 1


def test_all_conversations_into_one_file_in_the_default_folder() -> None:
    with Store.open() as store:
        fill(store)
        md = export(store, None, "md")
        js = export(store, None, "json")
    assert md.parent == js.parent == paths.exports_dir()
    assert md.read_text().count("\n---\n") == 1


def test_exports_are_private_files(tmp_path: Path) -> None:
    with Store.open() as store:
        conv_id = fill(store)
        file = export(store, [conv_id], "json", tmp_path / "new" / "folder")
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert stat.S_IMODE(file.parent.stat().st_mode) == 0o700


def test_bad_input_is_a_store_error(tmp_path: Path) -> None:
    bogus = tmp_path / "x.json"
    bogus.write_text("{not json")
    with Store.open() as store:
        with pytest.raises(StoreError):
            import_json(store, bogus)
        bogus.write_text(json.dumps({"format": "something-else"}))
        with pytest.raises(StoreError):
            import_json(store, bogus)
        bogus.write_text(json.dumps({"format": "burrow-history", "conversations": [{}]}))
        with pytest.raises(StoreError):
            import_json(store, bogus)
        with pytest.raises(StoreError):
            export(store, None, "pdf")
        with pytest.raises(LookupError):
            export(store, [12345], "md", tmp_path)


def test_import_conversation_counts_and_skips_by_uid() -> None:
    data = {
        "uid": "c-1",
        "title": "Imported",
        "active_leaf_uid": "m-2",
        "messages": [
            {"uid": "m-1", "parent_uid": None, "role": "user", "content": "q"},
            {"uid": "m-2", "parent_uid": "m-1", "role": "assistant", "status": "streaming"},
        ],
    }
    with Store.open() as store:
        assert store.import_conversation(data) == (True, 2, 0)
        assert store.import_conversation(data) == (False, 0, 2)
        (conv,) = store.list_conversations()
        path = store.active_path(conv.id)
        assert [m.uid for m in path] == ["m-1", "m-2"]
        assert path[1].status == "interrupted"  # its writer was another process, long gone
        bad = {"uid": "c-2", "messages": [{"uid": "m-3", "role": "robot"}]}
        with pytest.raises(StoreError):
            store.import_conversation(bad)
        assert store.count_conversations() == 1  # the failed import wrote nothing
