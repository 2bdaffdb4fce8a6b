"""Thinking models through the real engine: SmolLM2 with Nemotron-3-Nano's chat template,
whose generation prompt opens ``<think>`` (so the model writes inside a think block) and
whose ``enable_thinking`` switch closes it (``<think></think>``) when thinking is off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from session_helpers import collect, loaded_engine

from tui.chat.events import AnswerChunk, AnswerFinished
from tui.chat.session import ChatSession
from tui.engine.client import EngineClient
from tui.engine.protocol import LoadParams
from tui.settings import Settings
from tui.store import Store

GREEDY = Settings(temperature=0.0, seed_mode="fixed", seed=7, max_tokens=24)


@pytest.fixture(scope="module")
def engine(thinking_model_path: Path) -> Iterator[EngineClient]:
    with loaded_engine(thinking_model_path, n_ctx=1024) as client:
        yield client


async def test_a_template_opened_block_is_thinking_stored_apart(
    engine: EngineClient, store: Store
) -> None:
    session = ChatSession(engine, store, GREEDY)
    assert session.thinking_switch()
    events = await collect(session.ask("What is 2+2?"))
    last = events[-1]
    assert isinstance(last, AnswerFinished), last
    chunks = [e for e in events if isinstance(e, AnswerChunk)]
    streamed = "".join(c.reasoning for c in chunks)
    # SmolLM2 never closes the block the template opened: all it wrote is thinking.
    assert streamed.strip() and streamed == last.reasoning
    assert last.text == "" and all(c.text == "" for c in chunks)
    assert all(c.thinking for c in chunks)
    assert [c.reasoning_tokens for c in chunks] == sorted(c.reasoning_tokens for c in chunks)
    assert last.reasoning_tokens == len(engine.tokenize(last.reasoning))
    saved = store.active_path(session.conversation_id or -1)[-1]
    assert (saved.content, saved.reasoning) == ("", last.reasoning)
    assert saved.stats["reasoning_tokens"] == last.reasoning_tokens
    assert saved.stats["reasoning_seconds"] >= 0


async def test_thinking_is_not_sent_back_and_off_closes_the_block(
    engine: EngineClient, store: Store
) -> None:
    session = ChatSession(engine, store, GREEDY)
    first = (await collect(session.ask("Name a colour.")))[-1]
    assert isinstance(first, AnswerFinished) and first.reasoning.strip()
    assert first.reasoning.strip() not in session.render_preview().text  # not sent back

    session.new_conversation()
    session.apply_settings({"thinking": "off"})
    events = await collect(session.ask("Name a fruit."))
    last = events[-1]
    assert isinstance(last, AnswerFinished)
    # Thinking off: the template writes "<think></think>", so the model answers at once
    # (what it answers is the 135M model's business: on some CPUs greedy decoding ends at once).
    assert last.status == "done" and last.reasoning == "" and "<think>" not in last.text
    prompt = session.fit(session.path()[:-1]).prompt
    assert prompt.text.endswith("<|im_start|>assistant\n<think></think>")
    # The setting is the conversation's own: it reopens with it.
    reopened = ChatSession(engine, store, GREEDY)
    reopened.open_conversation(session.conversation_id or -1)
    assert reopened.settings.thinking == "off"


async def test_plain_template_has_no_switch(smollm2_path: Path, store: Store) -> None:
    client = EngineClient()
    try:
        client.load(LoadParams(path=str(smollm2_path), n_ctx=512, n_threads=2))
        session = ChatSession(client, store, GREEDY)
        assert not session.thinking_switch()
        session.set_template("chatml")
        assert not session.thinking_switch()
    finally:
        client.shutdown()


def burrow(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BURROW_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "tui", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )


def test_ask_think_and_no_think(thinking_model_path: Path, burrow_home: Path) -> None:
    common = ["--model", str(thinking_model_path), "--max-tokens", "12", "--seed", "3", "--json"]
    thinking = burrow("ask", "Hi", "--think", *common, home=burrow_home)
    assert thinking.returncode == 0, thinking.stderr
    data = json.loads(thinking.stdout)
    assert data["reasoning"].strip() and data["answer"] == ""
    plain = burrow("ask", "Hi", "--no-think", *common, home=burrow_home)
    assert plain.returncode == 0, plain.stderr
    data = json.loads(plain.stdout)
    assert data["answer"].strip() and data["reasoning"] == ""


def test_ask_think_warns_when_the_template_has_no_switch(burrow_home: Path) -> None:
    result = burrow("ask", "Hi", "--think", "--max-tokens", "4", home=burrow_home)
    assert result.returncode == 0, result.stderr
    assert "--think ignored: the model's chat template has no thinking switch" in result.stderr
