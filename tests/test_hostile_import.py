"""Hostile import files (defects 3 and 6): no joined conversations, all or nothing, no crash.

A crafted export can reuse a message ``uid`` of another conversation, put a bad conversation
after a good one, carry odd ``version`` / ``created_at`` values or nest 100,000 levels deep.
Each import is checked through ``burrow history import`` in a child process and the history
read back through ``Store``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hostile_helpers import assert_clear_failure, burrow, text

from tui.store import Store


def seed() -> tuple[int, str]:
    """Conversation A; returns its id and its question's uid."""
    with Store.open() as store:
        a = store.create_conversation(title="A")
        question = store.add_message(a.id, "user", "A's question")
        store.add_message(a.id, "assistant", "A's answer")
        return a.id, question.uid


def snapshot() -> list[tuple[str, tuple[tuple[str, str, int | None], ...]]]:
    with Store.open() as store:
        return [
            (c.uid, tuple((m.uid, m.content, m.parent_id) for m in store.messages(c.id)))
            for c in store.list_conversations(limit=1000)
        ]


def document(*conversations: dict[str, Any], version: Any = 1) -> dict[str, Any]:
    return {"format": "burrow-history", "version": version, "conversations": list(conversations)}


def conversation(uid: str, *messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"uid": uid, "title": f"imported {uid}", "messages": list(messages), **fields}


def message(uid: str, parent: str | None, role: str, content: str, **fields: Any) -> dict[str, Any]:
    return {"uid": uid, "parent_uid": parent, "role": role, "content": content, **fields}


def write(tmp_path: Path, data: Any, name: str = "import.json") -> Path:
    file = tmp_path / name
    file.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return file


def test_reused_message_uid_does_not_join_conversations(burrow_home: Path, tmp_path: Path) -> None:
    """Defect 3: a file reusing A's message uid linked its reply into A; deleting A then
    deleted the imported reply too."""
    a_id, a_question_uid = seed()
    file = write(
        tmp_path,
        document(
            conversation(
                "c" * 32,
                message(a_question_uid, None, "user", "hijacked question"),
                message("r" * 32, a_question_uid, "assistant", "imported reply"),
            )
        ),
    )
    result = burrow(burrow_home, "history", "import", str(file))
    assert result.returncode == 0, text(result.stderr)
    with Store.open() as store:
        [imported] = [c for c in store.list_conversations() if c.id != a_id]
        messages = store.messages(imported.id)
        assert [m.content for m in messages] == ["hijacked question", "imported reply"]
        own = {m.id for m in messages}
        assert all(m.parent_id is None or m.parent_id in own for m in messages)
        assert [m.content for m in store.messages(a_id)] == ["A's question", "A's answer"]
        store.delete_conversation(a_id)
        assert [m.content for m in store.messages(imported.id)] == [
            "hijacked question",
            "imported reply",
        ]


def test_parent_outside_the_imported_conversation_is_not_followed(
    burrow_home: Path, tmp_path: Path
) -> None:
    """Defect 3: a parent_uid naming another conversation's message must not link to it."""
    a_id, a_question_uid = seed()
    file = write(
        tmp_path,
        document(conversation("d" * 32, message("e" * 32, a_question_uid, "user", "orphan"))),
    )
    result = burrow(burrow_home, "history", "import", str(file))
    assert "Traceback" not in text(result.stderr), text(result.stderr)
    with Store.open() as store:
        for c in store.list_conversations():
            for m in store.messages(c.id):
                if m.parent_id is not None:
                    assert store.get_message(m.parent_id).conversation_id == c.id
        if result.returncode != 0:  # refusing the file is fine too
            return
        [imported] = [c for c in store.list_conversations() if c.id != a_id]
        store.delete_conversation(a_id)
        assert [m.content for m in store.messages(imported.id)] == ["orphan"]


def test_failed_import_changes_nothing(burrow_home: Path, tmp_path: Path) -> None:
    """Defect 3: an import failing on its second conversation had already added the first."""
    seed()
    before = snapshot()
    file = write(
        tmp_path,
        document(
            conversation("f" * 32, message("g" * 32, None, "user", "good one")),
            conversation("h" * 32, message("i" * 32, None, "wizard", "bad role")),
        ),
    )
    result = burrow(burrow_home, "history", "import", str(file))
    assert_clear_failure(result, str(file))
    assert snapshot() == before


@pytest.mark.parametrize(
    "raw_version",
    ['"one"', "1e400", "null", "[1]", "-1e400"],
)
def test_bad_version_values_give_a_clear_message(
    burrow_home: Path, tmp_path: Path, raw_version: str
) -> None:
    """Defect 6: `version` "one", 1e400 or null crashed the import with a traceback."""
    seed()
    before = snapshot()
    body = json.dumps(document(conversation("j" * 32), version=0))
    file = write(tmp_path, body.replace('"version": 0', f'"version": {raw_version}'))
    result = burrow(burrow_home, "history", "import", str(file))
    assert_clear_failure(result, str(file))
    assert snapshot() == before


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "1e400", '"yesterday"', "[]"])
def test_bad_created_at_values_never_crash(burrow_home: Path, tmp_path: Path, raw: str) -> None:
    """Defect 6: `created_at` NaN (and kin) crashed the import; refuse it clearly or store a
    finite time, never a traceback."""
    seed()
    before = snapshot()
    data = document(
        conversation(
            "k" * 32,
            message("l" * 32, None, "user", "when?", created_at="@@"),
            created_at="@@",
        )
    )
    file = write(tmp_path, json.dumps(data).replace('"@@"', raw))
    result = burrow(burrow_home, "history", "import", str(file))
    assert "Traceback" not in text(result.stderr), text(result.stderr)
    if result.returncode != 0:
        assert str(file) in text(result.stderr)
        assert snapshot() == before
        return
    with Store.open() as store:
        for c in store.list_conversations():
            assert math.isfinite(c.created_at) and math.isfinite(c.updated_at)
            for m in store.messages(c.id):
                assert math.isfinite(m.created_at)


@pytest.mark.parametrize("where", ["settings", "stats", "top"])
def test_deeply_nested_import_is_refused_clearly(
    burrow_home: Path, tmp_path: Path, where: str
) -> None:
    """Defect 6: an import file nested 100,000 levels deep crashed with RecursionError."""
    seed()
    before = snapshot()
    deep = "[" * 100_000 + "]" * 100_000
    body = json.dumps(
        document(
            conversation(
                "m" * 32,
                message("n" * 32, None, "assistant", "x", stats={"deep": "@@"}),
                settings={"deep": "@@"},
            )
        )
    )
    if where == "top":
        body = body[:-1] + ', "extra": @@}'
    target = '"@@"' if where != "top" else "@@"
    if where == "settings":
        body = body.replace('"stats": {"deep": "@@"}', '"stats": {}')
    elif where == "stats":
        body = body.replace('"settings": {"deep": "@@"}', '"settings": {}')
    else:
        body = body.replace('{"deep": "@@"}', "{}")
    file = write(tmp_path, body.replace(target, deep))
    result = burrow(burrow_home, "history", "import", str(file))
    err = assert_clear_failure(result, str(file))
    assert "nest" in err.lower() or "deep" in err.lower(), err
    assert snapshot() == before


def test_a_model_loaded_here_is_reopened_an_imported_one_is_not(
    burrow_home: Path, tmp_path: Path
) -> None:
    """Defect 8, the other side: "last used" still reopens a model the app loaded on this
    device, while a newer imported conversation naming another file does not displace it."""
    from tui.settings import Settings
    from tui.ui.services import Services

    mine, theirs = tmp_path / "mine.gguf", tmp_path / "theirs.gguf"
    mine.write_bytes(b"GGUF")
    theirs.write_bytes(b"GGUF")
    services = Services(settings=Settings())
    try:
        services.load_params(str(mine))  # what the app does for every model it loads
        with Store.open() as store:
            store.create_conversation(title="mine", model_path=str(mine))
        file = write(tmp_path, document(conversation("o" * 32, model_path=str(theirs))))
        assert burrow(burrow_home, "history", "import", str(file)).returncode == 0
        choice = services.choose_model()
        assert (choice.path, choice.why) == (str(mine), "last used")
    finally:
        services.close()
