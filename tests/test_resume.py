"""Instant resume: saved model states are private, checked, capped, and exact.

The unit tests use a small fake engine that writes state files of a chosen size; the
end-to-end tests run the real worker with the bundled model and check that an answer after
a restore equals the answer without one (temperature 0).
"""

from __future__ import annotations

import contextlib
import stat
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tui import paths
from tui.chat import resume
from tui.chat.events import AnswerFinished, SessionEvent
from tui.chat.resume import StateCache, StateKey, engine_used, file_sha256, state_file_name
from tui.chat.session import ChatSession
from tui.engine.client import EngineClient
from tui.engine.protocol import LoadParams, ModelInfo
from tui.settings import Settings
from tui.store import Store

GREEDY = Settings(temperature=0.0, seed_mode="fixed", seed=7, max_tokens=16)


def model_info(path: str = "/models/fake.gguf", n_ctx: int = 512) -> ModelInfo:
    return ModelInfo(
        path=path,
        file_size=1,
        load_seconds=0.0,
        n_ctx=n_ctx,
        n_ctx_train=None,
        architecture="llama",
        name="fake",
        parameter_count=None,
        size_label=None,
        quantization=None,
        has_chat_template=False,
    )


class FakeEngine:
    """Writes state files of ``size`` bytes and records what it was asked to load."""

    def __init__(self, size: int = 1000) -> None:
        self.size = size
        self.model: ModelInfo | None = model_info()
        self.loaded: list[Path] = []
        self.worker_pid = 4242

    def save_state(self, path: str | Path) -> int:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"S" * self.size)
        return 10

    def load_state(self, path: str | Path) -> int:
        self.loaded.append(Path(path))
        return 10


@pytest.fixture(autouse=True)
def fresh_run() -> None:
    resume._BYTES_PER_TOKEN.clear()  # what one test's engine wrote says nothing of another's


@pytest.fixture()
def store() -> Iterator[Store]:
    with Store.open() as opened:
        yield opened


def conversation(store: Store) -> int:
    return store.create_conversation(model_path="/models/fake.gguf", template="auto").id


def key_for(cache: StateCache, conversation_id: int) -> StateKey:
    key = cache.key(conversation_id, "auto")
    assert key is not None
    return key


def test_save_writes_a_private_file_with_its_hash(store: Store) -> None:
    engine = FakeEngine()
    cache = StateCache(engine, store)
    key = key_for(cache, conversation(store))
    engine_used(engine, key, store)
    record = cache.save(key)
    assert record is not None
    assert record.path.name == state_file_name(key)
    assert stat.S_IMODE(record.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(paths.states_dir().stat().st_mode) == 0o700
    assert record.sha256 == file_sha256(record.path)
    assert record.size_bytes == engine.size
    assert cache.restore(key) == 0, "the engine already holds it: nothing to load"
    engine_used(engine, None)
    assert cache.restore(key) == 10
    assert engine.loaded == [record.path]


def test_only_the_conversation_the_engine_holds_is_saved(store: Store) -> None:
    engine = FakeEngine()
    cache = StateCache(engine, store)
    first, second = conversation(store), conversation(store)
    assert cache.save(key_for(cache, first)) is None, "the engine holds nothing yet"
    engine_used(engine, key_for(cache, second), store)
    assert cache.save(key_for(cache, first)) is None
    assert cache.save(key_for(cache, second)) is not None
    assert cache.save(key_for(cache, second)) is None, "unchanged since saved"
    engine.worker_pid = 4343  # the worker restarted: its cache is empty
    engine_used(engine, key_for(cache, first), store)
    engine.worker_pid = 4444
    assert cache.save_owner() is None
    assert [p.name for p in paths.states_dir().iterdir()] == [
        state_file_name(key_for(cache, second))
    ]


@pytest.mark.parametrize("tamper", ["same size", "longer", "replaced by a link"])
def test_a_changed_file_is_never_loaded(store: Store, tamper: str) -> None:
    engine = FakeEngine()
    cache = StateCache(engine, store)
    key = key_for(cache, conversation(store))
    engine_used(engine, key, store)
    record = cache.save(key)
    assert record is not None
    if tamper == "same size":
        record.path.write_bytes(b"X" * engine.size)
    elif tamper == "longer":
        with open(record.path, "ab") as handle:
            handle.write(b"X")
    else:
        other = record.path.with_name("elsewhere")
        other.write_bytes(b"S" * engine.size)  # same bytes, but not the file Burrow wrote
        record.path.unlink()
        record.path.symlink_to(other)
    engine_used(engine, None)
    assert cache.restore(key) == 0
    assert engine.loaded == [], "llama.cpp never sees a file that fails the check"
    assert store.states_for(key.conversation_id) == []
    assert not record.path.exists() and not record.path.is_symlink()
    assert cache.last_problem


def test_least_recently_used_states_are_evicted(store: Store) -> None:
    engine = FakeEngine(size=1000)
    cache = StateCache(engine, store, max_bytes=2500)
    keys = [key_for(cache, conversation(store)) for _ in range(3)]
    for key in keys[:2]:
        engine_used(engine, key, store)
        assert cache.save(key) is not None
    engine_used(engine, None)
    assert cache.restore(keys[0]) == 10  # the first is now the most recently used
    engine_used(engine, keys[2], store)
    assert cache.save(keys[2]) is not None
    left = {r.conversation_id for r in store.states_lru()}
    assert left == {keys[0].conversation_id, keys[2].conversation_id}
    assert store.states_total_bytes() <= 2500
    assert len(list(paths.states_dir().iterdir())) == 2
    # One state bigger than the whole cap is not kept either.
    big = StateCache(FakeEngine(size=5000), store, max_bytes=2500)
    key = key_for(big, conversation(store))
    engine_used(big.engine, key, store)
    big.save(key)
    assert store.states_total_bytes() <= 2500


def test_a_state_that_alone_would_pass_the_cap_is_not_written(store: Store) -> None:
    engine = FakeEngine(size=1000)  # 10 tokens: 100 bytes a token
    cache = StateCache(engine, store, max_bytes=2500)
    short, long = key_for(cache, conversation(store)), key_for(cache, conversation(store))
    engine_used(engine, short, store, n_tokens=10)
    assert cache.save(short) is not None  # learns 100 bytes a token
    engine_used(engine, long, store, n_tokens=26)  # 2,600 bytes: over the cap alone
    assert cache.save(long) is None
    assert cache.last_problem and "not saved" in cache.last_problem
    assert [p.name for p in paths.states_dir().iterdir()] == [state_file_name(short)]
    assert store.states_for(short.conversation_id), "the state that fits is kept"
    engine_used(engine, long, store, n_tokens=25)  # 2,500 bytes: fits
    assert cache.save(long) is not None


def test_the_size_a_token_takes_follows_the_cache_type(store: Store) -> None:
    engine = FakeEngine(size=1000)
    cache = StateCache(engine, store, max_bytes=2500)
    key = key_for(cache, conversation(store))
    engine_used(engine, key, store, n_tokens=10)
    assert cache.save(key) is not None  # f16 cache: 100 bytes a token
    assert engine.model is not None
    engine.model = replace(engine.model, kv_cache_type="q8_0")  # half: unknown until written
    other = key_for(cache, conversation(store))
    engine_used(engine, other, store, n_tokens=30)
    assert cache.save(other) is not None


def test_deleting_the_conversation_deletes_its_state(store: Store) -> None:
    engine = FakeEngine()
    cache = StateCache(engine, store)
    key = key_for(cache, conversation(store))
    engine_used(engine, key, store)
    record = cache.save(key)
    assert record is not None and record.path.exists()
    store.delete_conversation(key.conversation_id)
    assert not record.path.exists()


def test_an_incognito_store_has_no_state_cache() -> None:
    with Store.open_incognito() as incognito:
        with pytest.raises(ValueError):
            StateCache(FakeEngine(), incognito)
        engine = FakeEngine()
        engine_used(engine, StateKey(1, "/m.gguf", "auto", 512), incognito)
        with Store.open() as disk:
            assert StateCache(engine, disk).owner is None


# -- the real engine -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model(smollm2_path: Path) -> str:
    return str(smollm2_path)


@contextlib.contextmanager
def new_engine(model: str) -> Iterator[EngineClient]:
    """A fresh worker (its cache empty) with the bundled model, shut down afterwards."""
    client = EngineClient()
    try:
        client.load(LoadParams(path=model, n_ctx=1024, n_threads=2))
        yield client
    finally:
        client.shutdown()


async def answer(events: AsyncIterator[SessionEvent]) -> AnswerFinished:
    last = None
    async for event in events:
        last = event
    assert isinstance(last, AnswerFinished), last
    return last


async def new_saved_conversation(session: ChatSession, question: str) -> int:
    """Answer ``question`` in a new saved conversation; its id."""
    await answer(session.ask(question))
    conversation_id = session.conversation_id
    assert conversation_id is not None
    return conversation_id


async def test_the_answer_after_a_restore_equals_the_answer_without_it(
    model: str, store: Store
) -> None:
    # The reference is the same two turns in one engine that never stopped: a restored state
    # must be that engine's cache, bit for bit. Evaluating the first answer again as one batch
    # is not a reference: batched and one-token kernels round differently on some CPUs (AVX2
    # without AVX-512 here), enough to change a greedy answer of a 135M model.
    with new_engine(model) as engine:
        session = ChatSession(engine, store, GREEDY)
        conversation_id = await new_saved_conversation(
            session, "Name three colours of the rainbow."
        )
        first_answer = session.path()[-1].content
        held = resume._OWNERS[engine].n_tokens  # what the answer told the state cache
        session.new_conversation()  # leave it: saved before the next answer or at close
        session.close()
    (record,) = store.states_for(conversation_id)
    assert abs(held - record.n_tokens) <= 1  # the last sampled token may not be decoded
    assert stat.S_IMODE(record.path.stat().st_mode) == 0o600

    with new_engine(model) as engine:
        resumed = ChatSession(engine, store, GREEDY)
        resumed.open_conversation(conversation_id)
        after_restore = await answer(resumed.ask("Which one is between green and violet?"))
        assert resumed.restored_tokens == record.n_tokens
        stats = after_restore.stats
        assert stats.prompt_tokens_evaluated < stats.prompt_tokens - record.n_tokens + 2

    with new_engine(model) as engine:
        uninterrupted = ChatSession(engine, store, GREEDY)
        uninterrupted.states = None  # the cache stays in this engine between the two turns
        await new_saved_conversation(uninterrupted, "Name three colours of the rainbow.")
        assert uninterrupted.path()[-1].content == first_answer  # the same first turn
        without = await answer(uninterrupted.ask("Which one is between green and violet?"))
        assert without.stats.prompt_tokens_evaluated < without.stats.prompt_tokens
    assert after_restore.text == without.text
    assert after_restore.text.strip()


async def test_incognito_never_writes_a_state(model: str, store: Store) -> None:
    with new_engine(model) as engine:
        session = ChatSession(engine, store, GREEDY)
        saved_id = await new_saved_conversation(session, "Hello!")
        session.new_conversation(incognito=True)
        await answer(session.ask("A secret: my PIN is 1234."))
        # Leaving the saved conversation for incognito saved the saved one, before the
        # incognito answer touched the engine.
        before = [(r.conversation_id, r.path, r.sha256) for r in store.states_lru()]
        assert [b[0] for b in before] == [saved_id]
        # The engine now holds the incognito tokens: nothing may be written under any name,
        # neither when leaving incognito nor at close.
        session.new_conversation()
        session.close()
        session.open_conversation(saved_id)
        session.sync_state()
        session.new_conversation()
        session.close()
    after = [(r.conversation_id, r.path, r.sha256) for r in store.states_lru()]
    assert after == before
    assert [p.name for p in paths.states_dir().iterdir()] == [before[0][1].name]


async def test_deleting_a_message_leaves_no_state_that_holds_it(model: str, store: Store) -> None:
    with new_engine(model) as engine:
        session = ChatSession(engine, store, GREEDY)
        conversation_id = await new_saved_conversation(session, "Hello there.")
        session.new_conversation()
        session.sync_state()  # leaving it saves its state
        assert store.states_for(conversation_id)
        session.open_conversation(conversation_id)
        await answer(session.ask("My locker code is wombatsecret."))
        secret_question = store.active_path(conversation_id)[-2]
        assert "wombatsecret" in secret_question.content
        session.delete_message(secret_question.id)
        assert store.states_for(conversation_id) == [], "the saved state is gone"
        # Quitting saves the engine's cache, which still holds the deleted question: not
        # under this conversation's name.
        session.close()
        assert store.states_for(conversation_id) == []
        assert list(paths.states_dir().iterdir()) == []
    assert store.path is not None
    data = b"".join(
        Path(f"{store.path}{suffix}").read_bytes()
        for suffix in ("", "-wal")
        if Path(f"{store.path}{suffix}").exists()
    )
    assert b"wombatsecret" not in data
