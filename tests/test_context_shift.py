"""Context shift: when a long conversation drops its oldest turns, the worker cuts them out of
the KV cache in place and decodes only the new question.

The real bundled model at a small context (512 tokens), a real SQLite history; Gemma 3
(sliding-window attention) for the fallback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from session_helpers import loaded_engine

from tui.chat.events import AnswerFinished, AnswerStarted, SessionEvent
from tui.chat.session import ChatSession
from tui.engine.client import EngineClient
from tui.engine.protocol import LoadParams
from tui.engine.shift import Shift, find_shift
from tui.settings import Settings
from tui.store import Store

pytestmark = pytest.mark.slow

GREEDY = Settings(temperature=0.0, seed_mode="fixed", seed=7, max_tokens=48)
FILLER = "Tell me about rivers, hills, towns and the weather in spring. " * 3


def test_find_shift_finds_the_block_of_dropped_turns() -> None:
    header, dropped, kept = [1, 2, 3], [50, 51, 52, 53], list(range(100, 120))
    cached = header + dropped + kept + [7, 7]  # the old answer's tail, re-tokenized below
    new = header + kept + [8, 9, 10]
    assert find_shift(cached, new) == Shift(start=3, end=7, kept=20)
    assert find_shift(cached, new, min_kept=21) is None  # not worth it
    assert find_shift(cached, [*cached, 5]) is None  # a plain follow-up: prefix reuse
    assert find_shift(cached, [*header, 60, 61, *kept]) is None  # nothing of the cache fits


@pytest.fixture(scope="module")
def engine(smollm2_path: Path) -> Iterator[EngineClient]:
    with loaded_engine(smollm2_path, n_ctx=512) as client:
        yield client


async def answer(events: AsyncIterator[SessionEvent]) -> tuple[AnswerStarted, AnswerFinished]:
    got = [event async for event in events]
    assert isinstance(got[0], AnswerStarted), got[0]
    assert isinstance(got[-1], AnswerFinished), got[-1]
    return got[0], got[-1]


def long_conversation(store: Store) -> int:
    """Five turns that fill most of a 512-token context, so the next questions trim."""
    conversation = store.create_conversation(title="long")
    for i in range(5):
        store.add_message(conversation.id, "user", f"Question {i}. {FILLER}")
        store.add_message(conversation.id, "assistant", f"Answer {i}. It is green and quiet.")
    return conversation.id


async def trim_until_shifted(session: ChatSession) -> tuple[AnswerStarted, AnswerFinished]:
    """Ask until an answer's prompt drops turns the cache still held."""
    questions = ["Colour?", "Hills?", "Town?", "Why?", "What else?", "More?", "And then?"]
    for question in questions:
        started, finished = await answer(session.ask(question))
        if finished.stats.shifted_tokens:
            return started, finished
    raise AssertionError("no answer shifted the cache")


async def test_a_trimmed_turn_decodes_only_the_new_question(
    engine: EngineClient, store: Store
) -> None:
    info = engine.model
    assert info is not None and info.context_shift and info.no_shift is None
    session = ChatSession(engine, store, GREEDY)
    session.open_conversation(long_conversation(store))
    started, finished = await trim_until_shifted(session)
    stats = finished.stats
    assert started.context.dropped_messages > 0
    # Without the shift everything after the system prompt was decoded again; now only
    # the end of the last answer and the new question are.
    assert stats.prompt_tokens_evaluated < 40 < stats.prompt_tokens
    assert stats.prompt_tokens_evaluated + stats.shifted_tokens < stats.prompt_tokens
    assert finished.text.strip()


async def test_a_saved_state_after_a_shift_resumes_exactly(
    smollm2_path: Path, engine: EngineClient, store: Store, tmp_path: Path
) -> None:
    """The shifted cache is saved like any other: restored in a fresh worker, the next
    answer decodes only the new question and is the one the shifted worker gives."""
    session = ChatSession(engine, store, GREEDY)
    session.states = None  # this test saves and loads the state itself
    session.open_conversation(long_conversation(store))
    await trim_until_shifted(session)
    state = tmp_path / "shifted.state"
    saved_tokens = engine.save_state(state)
    _, here = await answer(session.ask("Name one more thing."))
    with EngineClient() as fresh:
        fresh.load(LoadParams(path=str(smollm2_path), n_ctx=512, n_threads=2))
        assert fresh.load_state(state) == saved_tokens
        again = ChatSession(fresh, store, GREEDY)
        again.states = None
        again.open_conversation(session.conversation_id or -1)
        assert here.assistant_message_id is not None
        _, there = await answer(again.regenerate(here.assistant_message_id))
    assert there.stats.prompt_tokens_evaluated == here.stats.prompt_tokens_evaluated
    assert there.text == here.text


def test_sliding_window_models_decode_again_and_say_why(gemma_path: Path) -> None:
    with EngineClient() as client:
        info = client.load(LoadParams(path=str(gemma_path), n_ctx=512, n_threads=2))
    assert not info.context_shift
    assert info.no_shift is not None and "sliding-window" in info.no_shift
