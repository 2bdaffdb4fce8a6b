"""Locked (SQLCipher) history: real encrypted files, real conversions, real SIGKILLs."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tui.store import Store, StoreError, db, driver, keys, locking
from tui.store.keys import HeaderProblem, HistoryLocked, WrongPassphrase

REPO = Path(__file__).resolve().parent.parent
# Tests use a cheap Argon2id: the parameters are the header's, the code path is the same.
FAST = keys.KdfParams(memory_kib=1024, iterations=1, lanes=1)


@pytest.fixture(autouse=True)
def fast_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keys, "DEFAULT_PARAMS", FAST)


@pytest.fixture()
def database(burrow_home: Path) -> Path:
    return burrow_home / "data" / "history.sqlite3"


def every_file(root: Path) -> Iterator[Path]:
    for folder, _, files in os.walk(root):
        for name in files:
            yield Path(folder) / name


def hits(root: Path, words: list[str]) -> list[tuple[str, str]]:
    """Each (file, word) where the word's bytes appear in a file under ``root``, in UTF-8 or
    UTF-16 (how SQLite could store text)."""
    found = []
    for file in every_file(root):
        data = file.read_bytes()
        for word in words:
            for encoded in (word.encode(), word.encode("utf-16-le")):
                if encoded in data:
                    found.append((str(file), word))
    return found


def fingerprint(root: Path) -> dict[str, str]:
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in every_file(root)}


def fill(store: Store, word: str, *, stream: bool = True) -> tuple[int, int]:
    """A conversation with a branch (two answers to one question), all holding ``word``.

    ``stream``: the second answer through a StreamWriter (which makes this process a writer
    of the history for as long as it lives)."""
    conversation = store.create_conversation(title=f"about {word}title")
    question = store.add_message(conversation.id, "user", f"tell me about {word}question")
    store.add_message(conversation.id, "assistant", f"first {word}answer", parent_id=question.id)
    if not stream:
        store.add_message(conversation.id, "assistant", f"second {word}stream more text")
        return conversation.id, question.id
    with store.begin_assistant(conversation.id, parent_id=question.id) as writer:
        writer.append(f"second {word}stream ")
        writer.append("more text")
    return conversation.id, question.id


def state_of(store: Store) -> list[object]:
    """Everything a user would miss: conversations, every message of every branch, hits."""
    out: list[object] = []
    for conversation in store.list_conversations(limit=1000):
        messages = [
            (m.uid, m.parent_id, m.content, m.status) for m in store.messages(conversation.id)
        ]
        out.append((conversation.uid, conversation.title, conversation.active_leaf_id, messages))
    out.append([(h.message_id, h.conversation_id) for h in store.search("zanzibarquestion")])
    return out


def test_a_locked_history_keeps_wal_secure_delete_fts_and_branches(database: Path) -> None:
    with Store.open(database) as store:
        _, question = fill(store, "zanzibar")
    locking.enable(database, "correct horse")
    assert not database.read_bytes().startswith(b"SQLite format 3")
    with pytest.raises(HistoryLocked, match="locked"):
        Store.open(database)
    with locking.open_locked(database, "correct horse") as store:
        assert store.locked
        conn = store._conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA secure_delete").fetchone()[0] == 1
        assert store.schema_version == db.SCHEMA_VERSION
        assert store.integrity_check() == "ok"
        assert len(store.children(question)) == 2
        assert [h.message_id for h in store.search("zanzibarquestion")] == [question]
        assert store.search("zanzibarstr*")
        store.add_message(store.list_conversations()[0].id, "user", "written while locked")
    assert (database.stat().st_mode & 0o777) == 0o600
    assert (keys.header_path(database).stat().st_mode & 0o777) == 0o600


def test_nothing_readable_under_the_data_folder_in_locked_mode(
    database: Path, burrow_home: Path
) -> None:
    locking.enable(database, "pass phrase")  # from an empty history
    store = locking.open_locked(database, "pass phrase")
    try:
        words = []
        for i in range(20):
            word = f"quetzal{i:02d}marker"
            fill(store, word)
            words += [f"{word}title", f"{word}question", f"{word}answer", f"{word}stream"]
        assert store.search("quetzal05markerquestion")
        # Checked while the store is open too: the WAL and its index hold the newest pages.
        assert Path(f"{database}-wal").stat().st_size > 0
        assert hits(burrow_home, words) == []
    finally:
        store.close()
    assert hits(burrow_home, words) == []


STREAMER = """
    import sys, time
    from pathlib import Path
    from tui.store import keys, locking
    keys.DEFAULT_PARAMS = keys.KdfParams(memory_kib=1024, iterations=1, lanes=1)

    store = locking.open_locked(Path(sys.argv[1]), sys.stdin.readline().rstrip("\\n"))
    conv = store.create_conversation(title="victim okapititle")
    store.add_message(conv.id, "user", "tell me about okapiquestion")
    writer = store.begin_assistant(conv.id, model="m.gguf", flush_interval=0.05)
    print(writer.message_id, flush=True)
    i = 0
    while True:
        writer.append(f"okapi{i:07d} ")
        i += 1
        if i % 20 == 0:
            time.sleep(0.002)
"""


def test_sigkill_mid_answer_in_locked_mode(database: Path, burrow_home: Path) -> None:
    locking.enable(database, "pw")
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(STREAMER), str(database)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write("pw\n")
        child.stdin.flush()
        message_id = int(child.stdout.readline())
        with locking.open_locked(database, "pw") as watcher:
            deadline = time.monotonic() + 60
            while len(watcher.get_message(message_id).content) < 5000:
                assert time.monotonic() < deadline, "child never flushed"
                time.sleep(0.05)
            seen = watcher.get_message(message_id).content
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    assert hits(burrow_home, ["okapititle", "okapiquestion", "okapi0000001"]) == []
    with locking.open_locked(database, "pw") as store:
        assert store.integrity_check() == "ok"
        message = store.get_message(message_id)
        assert message.status == "interrupted"
        assert message.content.startswith(seen)
    assert hits(burrow_home, ["okapititle", "okapiquestion", "okapi0000001"]) == []


def test_enable_change_disable_round_trip_keeps_everything(database: Path) -> None:
    with Store.open(database) as store:
        for word in ("zanzibar", "yakutsk", "xian"):
            fill(store, word)
        before = state_of(store)
    locking.enable(database, "first")
    with locking.open_locked(database, "first") as store:
        assert state_of(store) == before
        fill(store, "wellington")
        before = state_of(store)
    locking.change_passphrase(database, "first", "second")
    with pytest.raises(WrongPassphrase):
        locking.open_locked(database, "first")
    with locking.open_locked(database, "second") as store:
        assert state_of(store) == before
    locking.disable(database, "second")
    assert database.read_bytes().startswith(b"SQLite format 3")
    assert not keys.header_path(database).exists()
    with Store.open(database) as store:
        assert not store.locked
        assert store.integrity_check() == "ok"
        assert state_of(store) == before
        assert len(before[-1]) == 1  # type: ignore[arg-type]  # the search hit itself


def test_a_passphrase_change_interrupted_after_the_rekey_still_opens(database: Path) -> None:
    locking.enable(database, "old")
    old_slot = keys.read_header(database)[0]
    old_key = keys.unlock_slot("old", old_slot)
    new_slot, new_key = keys.new_slot("new")
    # What change_passphrase leaves when killed between the re-key and the header rewrite.
    keys.write_header(database, [new_slot, old_slot])
    with Store.open(database, key=old_key) as store:
        store.rekey(new_key)
    with pytest.raises(StoreError):
        locking.open_locked(database, "old")
    with locking.open_locked(database, "new") as store:
        assert store.integrity_check() == "ok"
    assert len(keys.read_header(database)) == 1  # the change was finished on opening


KILLED_ENABLE = """
    import os, signal, sys
    from pathlib import Path
    from tui.store import keys, locking
    keys.DEFAULT_PARAMS = keys.KdfParams(memory_kib=1024, iterations=1, lanes=1)

    real_replace = os.replace

    def die(source, target):
        if str(target) == sys.argv[1]:
            os.kill(os.getpid(), signal.SIGKILL)
        real_replace(source, target)

    os.replace = die  # killed at the worst moment: the encrypted copy is whole, not yet in place
    locking.enable(Path(sys.argv[1]), "pw")
"""


def test_an_interrupted_enable_leaves_a_working_plain_history(database: Path) -> None:
    with Store.open(database) as store:
        fill(store, "zanzibar", stream=False)  # this process must not look like a writer
        before = state_of(store)
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    child = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(KILLED_ENABLE), str(database)],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert db.conversion_file(database, locking=True).exists()  # killed mid-conversion
    assert not db.is_encrypted(database)
    with Store.open(database) as store:
        assert store.integrity_check() == "ok"
        assert state_of(store) == before
    locking.enable(database, "pw")  # and it can be locked again
    with locking.open_locked(database, "pw") as store:
        assert state_of(store) == before


def test_an_interrupted_disable_leaves_no_plain_copy(database: Path) -> None:
    with Store.open(database) as store:
        fill(store, "zanzibar")
    locking.enable(database, "pw")
    leftover = db.conversion_file(database, locking=False)
    leftover.write_bytes(b"SQLite format 3\0 plain zanzibarquestion")
    with locking.open_locked(database, "pw") as store:
        assert store.search("zanzibarquestion")
    assert not leftover.exists()


def test_wrong_passphrase_changes_nothing(database: Path, burrow_home: Path) -> None:
    with Store.open(database) as store:
        fill(store, "zanzibar")
    locking.enable(database, "right")
    before = fingerprint(burrow_home)
    with pytest.raises(WrongPassphrase, match="wrong passphrase"):
        locking.open_locked(database, "wrong")
    with pytest.raises(WrongPassphrase):
        locking.disable(database, "wrong")
    with pytest.raises(WrongPassphrase):
        locking.change_passphrase(database, "wrong", "new")
    assert fingerprint(burrow_home) == before


def test_a_corrupted_or_missing_header_says_so_and_changes_nothing(
    database: Path, burrow_home: Path
) -> None:
    with Store.open(database) as store:
        fill(store, "zanzibar")
    locking.enable(database, "pw")
    header = keys.header_path(database)
    header.write_text('{"format": "burrow-lock", "version": 1, "slots": [{"kdf": 3}]}')
    before = fingerprint(burrow_home)
    with pytest.raises(HeaderProblem, match=f"lock header {header} is damaged"):
        locking.open_locked(database, "pw")
    with pytest.raises(HeaderProblem, match="damaged"):
        locking.disable(database, "pw")
    assert "damaged" in (locking.status(database).problem or "")
    assert fingerprint(burrow_home) == before
    header.write_bytes(b"\xff\xfe junk")
    with pytest.raises(HeaderProblem, match="damaged"):
        locking.open_locked(database, "pw")
    header.unlink()
    with pytest.raises(StoreError, match="lock header is missing"):
        Store.open(database)


def test_without_the_extra_locked_mode_says_what_to_install(
    database: Path, burrow_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store.open(database) as store:
        fill(store, "zanzibar")
    before = fingerprint(burrow_home)
    monkeypatch.setattr(driver, "_cipher", None)
    monkeypatch.setitem(sys.modules, "sqlcipher3", None)  # import fails as if not installed
    with pytest.raises(driver.LockedExtraMissing, match=r'pip install "burrow-chat\[locked\]"'):
        locking.enable(database, "pw")
    assert fingerprint(burrow_home) == before
    assert not locking.status(database).extra_installed
    with Store.open(database) as store:  # plain mode keeps working
        assert store.search("zanzibarquestion")


def test_a_locked_history_writes_no_states_and_no_exports(database: Path) -> None:
    from tui import paths
    from tui.chat.session import ChatSession
    from tui.store import export

    with Store.open(database) as store:
        conversation_id, _ = fill(store, "zanzibar")
        state = paths.states_dir() / "old.state"
        state.write_bytes(b"zanzibar tokens")
        store.record_state(
            conversation_id,
            state,
            sha256="0" * 64,
            model_path="m",
            template="chatml",
            n_ctx=512,
            n_tokens=3,
            size_bytes=15,
        )
    locking.enable(database, "pw")
    assert not state.exists()  # states hold plain tokens: gone before locking
    with locking.open_locked(database, "pw") as store:
        assert store.states_lru() == []
        with pytest.raises(StoreError, match="never saves model states"):
            store.record_state(
                conversation_id,
                state,
                sha256="0" * 64,
                model_path="m",
                template="chatml",
                n_ctx=512,
                n_tokens=3,
                size_bytes=15,
            )
        with pytest.raises(StoreError, match="writes no exports"):
            export.export(store, None, "md")

        class Engine:
            def save_state(self, path: str) -> int:
                raise AssertionError("never called")

        assert ChatSession(Engine(), store).states is None  # type: ignore[arg-type]
    assert list(paths.exports_dir().iterdir()) == []


def test_panic_wipe_of_ten_thousand_conversations(database: Path, burrow_home: Path) -> None:
    from tui import paths
    from tui.store import scale

    scale.generate(database, conversations=10_000, messages=20_000)
    locking.enable(database, "pw")
    with locking.open_locked(database, "pw") as store:
        assert store.count_conversations() == 10_000
    key = keys.unlock(database, "pw")[0]  # as a running app holds it in memory
    copy = burrow_home / "forensic-copy.sqlite3"
    shutil.copyfile(database, copy)  # what a forensic tool might still find on the flash
    (paths.exports_dir() / "old.md").write_text("zanzibar")
    (paths.states_dir() / "old.state").write_bytes(b"tokens")
    started = time.perf_counter()
    gone = locking.wipe_now(database, [paths.states_dir(), paths.exports_dir()])
    elapsed = time.perf_counter() - started
    print(f"wipe of 10,000 conversations: {elapsed:.3f} s")
    assert database in gone and keys.header_path(database) in gone
    left = sorted(p.name for p in every_file(paths.data_dir()))
    assert left == []
    # The passphrase no longer leads to the key: the salt and parameters are gone.
    with pytest.raises(HeaderProblem, match="missing"):
        keys.unlock(copy, "pw")
    # What is left of the history (a copy a forensic tool might find) needs the raw key,
    # which nothing on the device can rebuild any more.
    assert not database.exists()
    with pytest.raises(StoreError, match="damaged"):
        Store.open(copy, key=os.urandom(32))
    with Store.open(copy, key=key) as store:  # (the key itself still works: nothing else)
        assert store.count_conversations() == 10_000


def test_the_worker_process_never_sees_the_key_or_the_passphrase(database: Path) -> None:
    from tui.engine.client import EngineClient

    locking.enable(database, "worker must not know")
    store = locking.open_locked(database, "worker must not know")
    client = EngineClient()
    try:
        client.system_info()  # starts the worker while the history is open
        pid = client.worker_pid
        assert isinstance(pid, int)
        key = keys.unlock(database, "worker must not know")[0]
        for name in ("environ", "cmdline"):
            seen = Path(f"/proc/{pid}/{name}").read_bytes()
            assert key.hex().encode() not in seen and b"worker must not know" not in seen
    finally:
        client.shutdown()
        store.close()
