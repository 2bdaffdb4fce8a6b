"""ChatSession against the real engine (SmolLM2 in a worker process) and a real SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from session_helpers import collect, loaded_engine

from tui.chat.events import (
    AnswerChunk,
    AnswerFailed,
    AnswerFinished,
    AnswerRefused,
    AnswerStarted,
    SessionEvent,
)
from tui.chat.session import ChatSession
from tui.engine.client import EngineClient
from tui.settings import Settings
from tui.store import Store

GREEDY = Settings(temperature=0.0, seed_mode="fixed", seed=7, max_tokens=12)


@pytest.fixture(scope="module")
def engine(smollm2_path: Path) -> Iterator[EngineClient]:
    with loaded_engine(smollm2_path, n_ctx=512) as client:
        yield client


def final(events: list[SessionEvent]) -> SessionEvent:
    assert isinstance(events[0], AnswerStarted | AnswerFailed), events[0]
    return events[-1]


async def test_ask_streams_and_saves(engine: EngineClient, store: Store) -> None:
    session = ChatSession(engine, store, GREEDY)
    events = await collect(session.ask("What is the capital of France?"))
    started, last = events[0], events[-1]
    assert isinstance(started, AnswerStarted)
    assert isinstance(last, AnswerFinished)
    chunks = "".join(e.text for e in events if isinstance(e, AnswerChunk))
    assert chunks == last.text and chunks.strip()
    assert last.status == "done"
    path = store.active_path(session.conversation_id or -1)
    assert [m.role for m in path] == ["user", "assistant"]
    assert path[1].content == last.text
    assert path[1].status == "done"
    assert path[1].stats["completion_tokens"] == last.stats.completion_tokens
    conversation = store.get_conversation(session.conversation_id or -1)
    assert conversation.title.startswith("What is the capital")
    assert engine.model is not None and conversation.model_path == engine.model.path
    assert conversation.settings["temperature"] == 0.0


async def test_second_turn_reuses_the_prefix(engine: EngineClient, store: Store) -> None:
    session = ChatSession(engine, store, GREEDY)
    await collect(session.ask("Name a colour."))
    events = await collect(session.ask("Name another one."))
    last = events[-1]
    assert isinstance(last, AnswerFinished)
    assert last.stats.prompt_tokens_evaluated < last.stats.prompt_tokens / 2


async def test_regenerate_makes_a_branch_and_flip_returns(
    engine: EngineClient, store: Store
) -> None:
    session = ChatSession(engine, store, GREEDY.replace(temperature=1.0, seed_mode="random"))
    first = final(await collect(session.ask("Tell me a word.")))
    assert isinstance(first, AnswerFinished) and first.assistant_message_id is not None
    second = final(await collect(session.regenerate(first.assistant_message_id)))
    assert isinstance(second, AnswerFinished) and second.assistant_message_id is not None
    branches = store.siblings(second.assistant_message_id)
    assert branches.count == 2 and branches.index == 1
    path = session.switch_branch(second.assistant_message_id, -1)
    assert path[-1].id == first.assistant_message_id
    assert [m.id for m in session.path()] == [m.id for m in path]


async def test_edit_branches_the_question(engine: EngineClient, store: Store) -> None:
    session = ChatSession(engine, store, GREEDY)
    await collect(session.ask("What is 2 plus 2?"))
    question = session.path()[0]
    last = final(await collect(session.edit(question.id, "What is 3 plus 3?")))
    assert isinstance(last, AnswerFinished)
    path = session.path()
    assert path[0].content == "What is 3 plus 3?"
    assert store.siblings(path[0].id).count == 2


async def test_continue_extends_an_answer_cut_at_max_tokens(
    engine: EngineClient, store: Store
) -> None:
    session = ChatSession(engine, store, GREEDY.replace(max_tokens=4))
    first = final(await collect(session.ask("Write a long story about a cat.")))
    assert isinstance(first, AnswerFinished) and first.assistant_message_id is not None
    assert first.stats.stop_reason == "length"
    more = final(await collect(session.continue_answer(first.assistant_message_id)))
    assert isinstance(more, AnswerFinished)
    assert more.assistant_message_id == first.assistant_message_id
    assert more.text.startswith(first.text) and len(more.text) > len(first.text)
    assert store.get_message(first.assistant_message_id).content == more.text


async def test_cancel_keeps_the_partial_answer(engine: EngineClient, store: Store) -> None:
    session = ChatSession(engine, store, GREEDY.replace(max_tokens=400))
    events: list[SessionEvent] = []
    async for event in session.ask("Write a very long story about a cat who travels the world."):
        events.append(event)
        if sum(isinstance(e, AnswerChunk) for e in events) == 2:
            session.cancel()
    last = events[-1]
    assert isinstance(last, AnswerFinished), last
    assert last.status == "cancelled"
    assert last.stats.completion_tokens < 50
    saved = store.get_message(last.assistant_message_id or -1)
    assert saved.status == "cancelled" and saved.content == last.text and saved.content


async def test_trimming_drops_old_turns_and_reports_it(engine: EngineClient, store: Store) -> None:
    session = ChatSession(engine, store, GREEDY.replace(max_tokens=200))
    conversation = store.create_conversation(title="long")
    for i in range(8):
        store.add_message(conversation.id, "user", f"Question {i}: " + "tell me more " * 20)
        store.add_message(conversation.id, "assistant", f"Answer {i}: " + "here is more " * 20)
    session.open_conversation(conversation.id)
    events = await collect(session.ask("And finally?"))
    started = events[0]
    assert isinstance(started, AnswerStarted)
    assert started.context.dropped_messages > 0
    assert started.context.tokens_used <= 512 - 200
    assert isinstance(events[-1], AnswerFinished)


async def test_stop_policy_refuses_without_writing_an_answer(
    engine: EngineClient, store: Store
) -> None:
    session = ChatSession(engine, store, GREEDY.replace(max_tokens=200, context_policy="stop"))
    conversation = store.create_conversation(title="long")
    for i in range(8):
        store.add_message(conversation.id, "user", f"Question {i}: " + "tell me more " * 20)
        store.add_message(conversation.id, "assistant", f"Answer {i}: " + "here is more " * 20)
    session.open_conversation(conversation.id)
    events = await collect(session.ask("And finally?"))
    assert len(events) == 1 and isinstance(events[0], AnswerRefused)
    assert isinstance(events[0], AnswerFailed)  # clients that know only AnswerFailed still stop
    assert "context" in events[0].message and events[0].policy == "stop"
    # refused before saving: the question is the caller's to keep, no orphan turn is stored
    assert session.path()[-1].content.startswith("Answer 7")


async def test_incognito_writes_nothing(engine: EngineClient, store: Store) -> None:
    session = ChatSession(engine, store, GREEDY)
    session.new_conversation(incognito=True)
    assert session.incognito
    last = final(await collect(session.ask("A secret question.")))
    assert isinstance(last, AnswerFinished)
    assert store.count_conversations() == 0
    assert store.search("secret") == []
    session.new_conversation()
    assert not session.incognito


async def test_conversation_reopens_with_its_own_settings(
    engine: EngineClient, store: Store
) -> None:
    session = ChatSession(engine, store, GREEDY)
    await collect(session.ask("Hello"))
    session.apply_settings({"temperature": 0.3, "max_tokens": 5})
    conversation_id = session.conversation_id
    assert conversation_id is not None
    other = ChatSession(engine, store, Settings())
    other.open_conversation(conversation_id)
    assert other.settings.temperature == 0.3
    assert other.settings.max_tokens == 5
    flagged = ChatSession(engine, store, Settings(), flags={"temperature": 0.9})
    flagged.open_conversation(conversation_id)
    assert flagged.settings.temperature == 0.9


async def test_the_model_that_answers_is_remembered(engine: EngineClient, store: Store) -> None:
    """The app reopens with the model a conversation last used: switching models updates it."""
    conversation = store.create_conversation(title="old", model_path="/gone/old-model.gguf")
    session = ChatSession(engine, store, GREEDY)
    session.open_conversation(conversation.id)
    await collect(session.ask("Hello again"))
    assert engine.model is not None
    assert store.get_conversation(conversation.id).model_path == engine.model.path
