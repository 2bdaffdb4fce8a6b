"""Privacy: wipe leaves no text in the file, incognito writes nothing, permissions,
saved model states are deleted with their conversation."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest

from tui import paths
from tui.store import Store, StoreError
from tui.store.export import to_json, to_markdown

SECRET = "quokkasecretsource"
OTHER = "platypuskeepme"


def raw_bytes(db: Path) -> bytes:
    data = b""
    for suffix in ("", "-wal", "-journal"):
        file = Path(f"{db}{suffix}")
        if file.exists():
            data += file.read_bytes()
    return data


def fill_secret(store: Store, word: str) -> int:
    conv = store.create_conversation(
        title=f"About {word}", system_prompt=f"never reveal {word}", settings={"note": word}
    )
    store.add_message(conv.id, "user", f"Where does {word} live?")
    writer = store.begin_assistant(conv.id, flush_interval=0)
    for i in range(20):  # many flushes: many old copies of the growing text
        writer.append(f"{word} {i} ")
    writer.finish()
    store.add_message(conv.id, "user", f"{word} edited", parent_id=None)
    return conv.id


def test_wipe_leaves_no_searchable_text_in_the_file() -> None:
    with Store.open() as store:
        for _ in range(3):
            fill_secret(store, SECRET)
        db = store.path
        assert db is not None
        assert SECRET.encode() in raw_bytes(db)  # the check below can see text
        store.wipe()
        assert store.count_conversations() == 0
        assert store.search(SECRET) == []
        assert SECRET.encode() not in raw_bytes(db)
        assert store.integrity_check() == "ok"
        assert store._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        # The store keeps working after a wipe (search triggers restored).
        conv = store.create_conversation()
        store.add_message(conv.id, "user", "fresh start")
        assert {h.message_id for h in store.search("fresh")} == {None, 1}
    assert SECRET.encode() not in raw_bytes(db)


def test_deleting_one_conversation_and_compacting_erases_its_text() -> None:
    with Store.open() as store:
        gone = fill_secret(store, SECRET)
        fill_secret(store, OTHER)
        db = store.path
        assert db is not None
        store.delete_conversation(gone)
        store.compact()
        data = raw_bytes(db)
        assert SECRET.encode() not in data
        assert OTHER.encode() in data
        assert len(store.search(OTHER)) > 0


def test_deleting_one_message_and_scrubbing_erases_its_words() -> None:
    # The chat screen's "Delete" on one message: no file rebuild, yet no word of it stays
    # (without the scrub, FTS5 keeps the words in its index segments, only marked deleted).
    with Store.open() as store:
        conv = store.create_conversation(title="kept")
        for i in range(30):
            store.add_message(conv.id, "user", f"{OTHER} filler {i}")
        question = store.add_message(conv.id, "user", f"Where does {SECRET} live?")
        store.add_message(conv.id, "assistant", f"{OTHER} answer")
        db = store.path
        assert db is not None
        store.delete_message(question.id)
        store.scrub()
        data = raw_bytes(db)
        assert SECRET.encode() not in data
        assert OTHER.encode() in data
        assert len(store.search(OTHER)) > 0 and store.search(SECRET) == []
        assert [m.content for m in store.active_path(conv.id)][-1] == f"{OTHER} filler 29"


def test_incognito_writes_nothing_to_disk(burrow_home: Path) -> None:
    with Store.open_incognito() as store:
        assert store.incognito and store.path is None
        conv_id = fill_secret(store, SECRET)
        assert store.search(SECRET)
        assert SECRET in to_json(store, [conv_id]) and SECRET in to_markdown(store, [conv_id])
        store.delete_conversation(conv_id)
        store.wipe()
        with pytest.raises(StoreError):
            store.record_state(
                1,
                Path("/tmp/x.state"),
                sha256="0",
                model_path="m",
                template="t",
                n_ctx=1,
                n_tokens=1,
                size_bytes=1,
            )
    assert not burrow_home.exists()


def test_incognito_stores_are_separate() -> None:
    with Store.open_incognito() as a, Store.open_incognito() as b:
        a.create_conversation(title="only in a")
        assert b.count_conversations() == 0


def test_permissions_of_the_data_dir_and_database() -> None:
    with Store.open() as store:
        fill_secret(store, OTHER)
        db = store.path
        assert db is not None
        assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
        for suffix in ("", "-wal", "-shm"):
            file = Path(f"{db}{suffix}")
            assert file.exists(), suffix
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, suffix
        assert stat.S_IMODE(paths.states_dir().stat().st_mode) == 0o700


# -- saved model states ----------------------------------------------------------------------


def write_state(name: str, payload: bytes) -> tuple[Path, str]:
    path = paths.states_dir() / name
    path.write_bytes(payload)
    return path, hashlib.sha256(payload).hexdigest()


def record(store: Store, conversation_id: int, name: str, n_ctx: int = 2048) -> Path:
    path, digest = write_state(name, name.encode() * 10)
    store.record_state(
        conversation_id,
        path,
        sha256=digest,
        model_path="/m/smol.gguf",
        template="chatml",
        n_ctx=n_ctx,
        n_tokens=1500,
        size_bytes=path.stat().st_size,
    )
    return path


def test_state_records_lookup_touch_and_lru() -> None:
    with Store.open() as store:
        a = store.create_conversation().id
        b = store.create_conversation().id
        pa = record(store, a, "a.state")
        pb = record(store, b, "b.state")
        found = store.find_state(a, model_path="/m/smol.gguf", template="chatml", n_ctx=2048)
        assert found is not None and found.path == pa and found.n_tokens == 1500
        assert found.sha256 == hashlib.sha256(pa.read_bytes()).hexdigest()
        assert store.find_state(a, model_path="/m/smol.gguf", template="chatml", n_ctx=4096) is None
        assert [s.path for s in store.states_lru()] == [pa, pb]
        store.touch_state(pa)
        assert [s.path for s in store.states_lru()] == [pb, pa]
        assert store.states_total_bytes() == pa.stat().st_size + pb.stat().st_size
        store.delete_state(pb)
        assert not pb.exists() and [s.path for s in store.states_lru()] == [pa]
        assert [s.path for s in store.states_for(a)] == [pa]
        with pytest.raises(StoreError):
            store.touch_state(Path("/etc/passwd"))


def test_states_are_deleted_with_their_conversation_and_by_wipe() -> None:
    with Store.open() as store:
        a = store.create_conversation().id
        b = store.create_conversation().id
        pa = record(store, a, "a.state")
        pb = record(store, b, "b.state")
        stray, _ = write_state("stray.state", b"left over")
        store.delete_conversation(a)
        assert not pa.exists() and pb.exists()
        store.wipe()
        assert not pb.exists() and not stray.exists()
        assert store.states_lru() == []


def test_states_are_deleted_with_any_message_of_their_conversation() -> None:
    # A saved state holds the tokens of every message: deleting one makes it a leak.
    with Store.open() as store:
        a = store.create_conversation().id
        b = store.create_conversation().id
        question = store.add_message(a, "user", "hello")
        pa = record(store, a, "a.state")
        pb = record(store, b, "b.state")
        store.delete_message(question.id)
        assert not pa.exists() and store.states_for(a) == []
        assert pb.exists() and [s.path for s in store.states_for(b)] == [pb]


def test_a_state_outside_the_states_folder_is_refused(tmp_path: Path) -> None:
    with Store.open() as store:
        conv = store.create_conversation().id
        outside = tmp_path / "elsewhere.state"
        outside.write_bytes(b"x")
        with pytest.raises(StoreError):
            store.record_state(
                conv,
                outside,
                sha256="0",
                model_path="m",
                template="t",
                n_ctx=1,
                n_tokens=1,
                size_bytes=1,
            )
