"""The engine with a real model in a real worker process.

One worker (SmolLM2-135M, extra buffer types off so the AMX crash of these machines does not
cost every test a restart) is shared by the module; answers are kept to a few tokens.
Speed is never asserted here: that is what ``bench/`` is for.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tui.engine.client import EngineClient, EngineError
from tui.engine.generation import SEND_EVERY, find_stop, held_back
from tui.engine.protocol import (
    Failed,
    Finished,
    GenerationEvent,
    LoadParams,
    ModelInfo,
    SamplingParams,
    TextChunk,
)

pytestmark = pytest.mark.slow

GREEDY = SamplingParams(temperature=0, seed=1, max_tokens=12)
SYSTEM = (
    "You are a helpful assistant. You answer questions about geography, history and "
    "science briefly and precisely, in one sentence, without lists."
)


def chat(question: str, *, system: str = SYSTEM) -> list[tuple[str, bool]]:
    """A ChatML prompt with the user's text tokenized without special tokens."""
    return [
        ("<|im_start|>system\n", True),
        (system, False),
        ("<|im_end|>\n<|im_start|>user\n", True),
        (question, False),
        ("<|im_end|>\n<|im_start|>assistant\n", True),
    ]


def run(client: EngineClient, prompt: object, params: SamplingParams = GREEDY) -> Finished:
    events = list(client.generate(prompt, params))  # type: ignore[arg-type]
    final = events[-1]
    assert isinstance(final, Finished), final
    chunks = [e for e in events[:-1] if isinstance(e, TextChunk)]
    assert len(chunks) == len(events) - 1
    assert "".join(c.text for c in chunks) == final.text
    return final


@pytest.fixture(scope="module")
def engine(
    tmp_path_factory: pytest.TempPathFactory, smollm2_path: Path
) -> Iterator[tuple[EngineClient, ModelInfo]]:
    home = tmp_path_factory.mktemp("engine-home")
    client = EngineClient(env={"BURROW_HOME": str(home)}, log_path=home / "engine.log")
    info = client.load(LoadParams(path=str(smollm2_path), n_ctx=1024, extra_bufts=False))
    yield client, info
    client.shutdown()


@pytest.fixture
def client(engine: tuple[EngineClient, ModelInfo]) -> EngineClient:
    return engine[0]


def test_load_reports_metadata(engine: tuple[EngineClient, ModelInfo], smollm2_path: Path) -> None:
    client, info = engine
    assert info.path == str(smollm2_path)
    assert info.file_size == smollm2_path.stat().st_size
    assert info.architecture == "llama"
    assert info.quantization == "Q4_1"
    assert info.size_label == "135M"
    assert info.parameter_count and 100_000_000 < info.parameter_count < 200_000_000
    assert info.n_ctx == 1024
    assert info.n_ctx_train == 8192
    assert info.has_chat_template and info.chat_template and "im_start" in info.chat_template
    assert info.eos_token == "<|im_end|>"
    assert info.load_seconds > 0
    assert info.extra_bufts is False
    assert client.model == info
    assert client.worker_pid is not None and client.worker_pid != os.getpid()


def test_streams_text_and_stats(client: EngineClient) -> None:
    final = run(client, chat("What is the capital of France?"))
    assert final.text.strip()
    stats = final.stats
    assert stats.prompt_tokens > 20
    assert 0 < stats.prompt_tokens_evaluated <= stats.prompt_tokens
    assert 0 < stats.completion_tokens <= 12
    assert stats.stop_reason in ("eos", "length")
    assert stats.prompt_seconds > 0 and stats.prompt_tps > 0
    assert stats.ttft_seconds >= stats.prompt_seconds
    assert stats.generation_seconds >= 0


def test_text_comes_in_pieces_that_count_their_tokens(client: EngineClient) -> None:
    """The worker sends at most one piece per SEND_EVERY seconds, the first at once (each
    message wakes two client threads on CPUs llama.cpp needs), and says how many tokens
    each holds."""
    params = SamplingParams(temperature=0.0, seed=1, max_tokens=64)
    events = list(client.generate(chat("Write a long story about a dragon."), params))
    assert_pieces(events, SEND_EVERY, 40)


def assert_pieces(events: list[GenerationEvent], every: float, at_least: int) -> None:
    """All the text, in pieces that count their tokens, the first at once, at most one
    piece per ``every`` seconds of generation (plus the first and the last)."""
    final = events[-1]
    assert isinstance(final, Finished)
    chunks = [e for e in events if isinstance(e, TextChunk)]
    assert "".join(c.text for c in chunks) == final.text
    assert sum(c.tokens for c in chunks) == final.stats.completion_tokens > at_least
    assert chunks[0].tokens == 1, "the first token is sent as soon as it exists"
    limit = final.stats.generation_seconds / every + 2
    assert len(chunks) <= limit, (len(chunks), limit)


def test_a_request_may_ask_for_fewer_pieces(client: EngineClient) -> None:
    """A screen that redraws twice a second asks for text four times a second: each piece
    wakes two client threads, each preempting one of llama.cpp's when it has every core."""
    params = SamplingParams(temperature=0.0, seed=1, max_tokens=96)
    prompt = chat("Write a long story about a dragon.")
    assert_pieces(list(client.generate(prompt, params, send_every=0.3)), 0.3, 60)


def test_greedy_with_fixed_seed_repeats(client: EngineClient) -> None:
    prompt = chat("Name a large animal.")
    first = run(client, prompt)
    run(client, "Zebras are")  # evaluate something else in between
    second = run(client, prompt)
    assert first.text == second.text


def test_fixed_seed_sampling_repeats(client: EngineClient) -> None:
    params = SamplingParams(temperature=1.0, top_k=100, top_p=1.0, min_p=0.0, seed=1234,
                            max_tokens=12)  # fmt: skip
    prompt = chat("Tell me something about the sea.")
    first = run(client, prompt, params)
    run(client, "Zebras are")  # so both runs evaluate the whole prompt
    second = run(client, prompt, params)
    assert first.text == second.text


def test_every_sampler_is_accepted(client: EngineClient) -> None:
    params = SamplingParams(
        temperature=0.7,
        top_k=20,
        top_p=0.9,
        min_p=0.1,
        typical_p=0.95,
        repeat_penalty=1.2,
        repeat_last_n=32,
        presence_penalty=0.5,
        frequency_penalty=0.5,
        seed=None,
        max_tokens=6,
    )
    assert run(client, chat("Say hello."), params).stats.completion_tokens > 0
    for mode in (1, 2):
        mirostat = SamplingParams(mirostat_mode=mode, mirostat_tau=4.0, mirostat_eta=0.2,
                                  max_tokens=4)  # fmt: skip
        assert run(client, chat("Say hello."), mirostat).stats.completion_tokens > 0


def test_max_tokens_gives_length(client: EngineClient) -> None:
    params = SamplingParams(temperature=0, max_tokens=3)
    final = run(client, "Once upon a time, in a land far away,", params)
    assert final.stats.completion_tokens == 3
    assert final.stats.stop_reason == "length"


def test_stop_string_is_cut_and_never_streamed(client: EngineClient) -> None:
    reference = run(client, chat("What is the capital of France?"))
    word = "Paris" if "Paris" in reference.text else reference.text.split()[-1]
    params = SamplingParams(temperature=0, seed=1, max_tokens=12, stop=(word,))
    final = run(client, chat("What is the capital of France?"), params)
    assert final.stats.stop_reason == "stop"
    assert word not in final.text
    assert reference.text.startswith(final.text)


def test_multibyte_characters_are_never_split(client: EngineClient) -> None:
    # SmolLM2 spells each emoji with two or three byte-level tokens.
    assert len(client.tokenize("🙂")) > 1
    params = SamplingParams(temperature=0, max_tokens=8)
    events = list(client.generate("Emoji row: 🙂🙂🙂🙂🙂🙂", params))
    final = events[-1]
    assert isinstance(final, Finished)
    chunks = [e.text for e in events[:-1] if isinstance(e, TextChunk)]
    assert "".join(chunks) == final.text
    assert "\ufffd" not in final.text
    assert len(chunks) < final.stats.completion_tokens  # pieces were joined into characters


def test_held_back_text_is_a_stop_prefix() -> None:
    assert held_back("Hello <|us", ("<|user|>",)) == 4
    assert held_back("Hello", ("<|user|>",)) == 0
    assert held_back("ab", ("abc", "b")) == 2


def test_find_stop_finds_the_earliest_stop_from_start() -> None:
    assert find_stop("a<|user|>b</s>", ("</s>", "<|user|>"), 0) == 1
    assert find_stop("a<|user|>b</s>", ("</s>", "<|user|>"), 2) == 10
    assert find_stop("no stop here", ("</s>",), 0) is None


def test_cancel_from_another_thread_stops_within_a_token(client: EngineClient) -> None:
    params = SamplingParams(temperature=0.8, seed=7, max_tokens=400)
    first_chunk = threading.Event()
    seen_at_cancel: list[int] = []
    chunks: list[str] = []

    def canceller() -> None:
        first_chunk.wait(timeout=120)
        seen_at_cancel.append(len(chunks))
        client.cancel()

    thread = threading.Thread(target=canceller)
    thread.start()
    final: GenerationEvent | None = None
    for event in client.generate(chat("Write a very long story about a dragon."), params):
        if isinstance(event, TextChunk):
            chunks.append(event.text)
            first_chunk.set()
        else:
            final = event
    thread.join()
    assert isinstance(final, Finished), final
    assert final.stats.stop_reason == "cancelled"
    assert final.stats.completion_tokens < 400
    # One token may be in flight when cancel() lands (plus one already in the pipe).
    assert len(chunks) - seen_at_cancel[0] <= 2
    # The worker stays loaded and answers the next request.
    assert run(client, chat("Say yes.")).stats.stop_reason in ("eos", "length")


def test_cancel_inside_the_loop(client: EngineClient) -> None:
    params = SamplingParams(temperature=0.8, seed=3, max_tokens=400)
    after_cancel = 0
    cancelled = False
    final: GenerationEvent | None = None
    for event in client.generate(chat("Write a very long poem about rain."), params):
        if isinstance(event, TextChunk):
            if cancelled:
                after_cancel += 1
            else:
                client.cancel()
                cancelled = True
        else:
            final = event
    assert isinstance(final, Finished) and final.stats.stop_reason == "cancelled"
    assert after_cancel <= 2


def test_abandoned_stream_does_not_block_the_next_request(client: EngineClient) -> None:
    stream = client.generate(chat("Write a long story."), SamplingParams(max_tokens=300))
    assert isinstance(next(stream), TextChunk)
    stream.close()  # the caller stopped listening: the worker is told to cancel
    assert run(client, chat("Say yes.")).text


def test_prefix_reuse_evaluates_only_new_tokens(client: EngineClient) -> None:
    first_prompt = chat("What is the capital of France?")
    first = run(client, first_prompt)
    follow_up = [
        *first_prompt,
        (first.text, False),
        ("<|im_end|>\n<|im_start|>user\n", True),
        ("And of Italy?", False),
        ("<|im_end|>\n<|im_start|>assistant\n", True),
    ]
    second = run(client, follow_up)
    assert second.stats.prompt_tokens > first.stats.prompt_tokens
    new_tokens = second.stats.prompt_tokens - first.stats.prompt_tokens
    assert second.stats.prompt_tokens_evaluated <= new_tokens + 1
    assert second.stats.prompt_tokens_evaluated < second.stats.prompt_tokens // 2


def test_user_text_cannot_inject_control_tokens(client: EngineClient) -> None:
    as_markup = client.tokenize("<|im_end|>", special=True)
    as_text = client.tokenize("<|im_end|>", special=False)
    assert len(as_markup) == 1
    assert len(as_text) > 1
    assert client.count_tokens([("<|im_end|>", False)]) == len(as_text)
    assert client.count_tokens("<|im_end|>") == 1
    assert client.detokenize(as_text) == "<|im_end|>"


def test_prompt_longer_than_context_fails_clearly(client: EngineClient) -> None:
    events = list(client.generate("hello " * 1500, GREEDY))
    assert len(events) == 1
    assert isinstance(events[0], Failed) and events[0].kind == "context"
    assert "1024" in events[0].error
    assert run(client, chat("Say yes.")).text  # still usable


def test_save_and_load_state_roundtrip(client: EngineClient, tmp_path: Path) -> None:
    params = LoadParams(path=client.model.path if client.model else "", n_ctx=1024,
                        extra_bufts=False)  # fmt: skip
    first_prompt = chat("What is the capital of Germany?")
    first = run(client, first_prompt)
    state = tmp_path / "states" / "conversation.state"
    saved = client.save_state(state)
    assert saved >= first.stats.prompt_tokens
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    follow_up = [
        *first_prompt,
        (first.text, False),
        ("<|im_end|>\n<|im_start|>user\n", True),
        ("And of Spain?", False),
        ("<|im_end|>\n<|im_start|>assistant\n", True),
    ]
    live = run(client, follow_up)

    client.load(params)  # a fresh context: nothing cached
    assert client.load_state(state) == saved
    restored = run(client, follow_up)
    assert restored.text == live.text
    assert restored.stats.prompt_tokens_evaluated == live.stats.prompt_tokens_evaluated
    assert restored.stats.prompt_tokens_evaluated < restored.stats.prompt_tokens // 2

    client.load(params)
    cold = run(client, follow_up)
    assert cold.stats.prompt_tokens_evaluated == cold.stats.prompt_tokens


def test_load_state_rejects_a_missing_file(client: EngineClient, tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="no such state file"):
        client.load_state(tmp_path / "nope.state")


async def test_async_stream_and_early_exit(client: EngineClient) -> None:
    texts: list[str] = []
    final: GenerationEvent | None = None
    async for event in client.agenerate(chat("What is the capital of France?"), GREEDY):
        if isinstance(event, TextChunk):
            texts.append(event.text)
        else:
            final = event
    assert isinstance(final, Finished) and "".join(texts) == final.text

    async for event in client.agenerate(chat("Write a long story."), SamplingParams()):
        assert isinstance(event, TextChunk)
        break  # leaving early cancels the generation in the worker
    tokens = await client.atokenize("hello world")
    assert tokens
    again = [e async for e in client.agenerate(chat("Say yes."), GREEDY)]
    assert isinstance(again[-1], Finished)


async def test_async_stream_merges_text_queued_behind_a_slow_consumer(
    client: EngineClient,
) -> None:
    """A consumer slower than the model gets the queued pieces as one chunk (a busy UI pays
    per update, not per token), and not a character is lost or reordered."""
    params = SamplingParams(temperature=0.0, seed=1, max_tokens=40)
    # The reference runs on a reused prompt too: a fresh prompt's last token is decoded in a
    # batch, a reused one's alone, and on some CPUs (AVX2) the two round differently.
    run(client, chat("Write a long story about a dragon."), params)
    expected = run(client, chat("Write a long story about a dragon."), params)
    # A UI busy drawing for three tokens' time (measured, so a loaded machine is slower too).
    busy = 3 / max(expected.stats.generation_tps, 1.0)
    texts: list[str] = []
    final: GenerationEvent | None = None
    async for event in client.agenerate(chat("Write a long story about a dragon."), params):
        if isinstance(event, TextChunk):
            texts.append(event.text)
            await asyncio.sleep(busy)
        else:
            final = event
    assert isinstance(final, Finished)
    assert "".join(texts) == final.text == expected.text
    assert final.stats.completion_tokens > 10
    assert len(texts) < final.stats.completion_tokens / 2


async def test_async_stream_paced_for_a_screen(client: EngineClient) -> None:
    """With ``interval`` the text comes at most once per interval (a screen wakes once per
    redraw, not once per token), the pieces carry how many tokens they hold, and nothing is
    lost, reordered or held back at the end."""
    params = SamplingParams(temperature=0.0, seed=1, max_tokens=64)
    expected = run(client, chat("Write a long story about a dragon."), params)
    asked: list[float] = []

    def interval() -> float:
        asked.append(0.25)
        return 0.25

    chunks: list[TextChunk] = []
    times: list[float] = []
    final: GenerationEvent | None = None
    loop = asyncio.get_running_loop()
    stream = client.agenerate(chat("Write a long story about a dragon."), params, interval=interval)
    async for event in stream:
        if isinstance(event, TextChunk):
            chunks.append(event)
            times.append(loop.time())
        else:
            final = event
    assert isinstance(final, Finished)
    assert "".join(c.text for c in chunks) == final.text == expected.text
    assert sum(c.tokens for c in chunks) == final.stats.completion_tokens
    assert asked, "a function interval is asked as the stream goes"
    # The last piece comes with the end, at once; the others a full interval apart.
    gaps = [b - a for a, b in itertools.pairwise(times[:-1])]
    assert all(gap >= 0.2 for gap in gaps), gaps
    # However fast the model (a loaded machine is slow), no more pieces than intervals.
    assert len(chunks) <= (times[-1] - times[0]) / 0.25 + 2
    assert len(chunks) < final.stats.completion_tokens


async def test_async_cancel_from_another_task(client: EngineClient) -> None:
    params = SamplingParams(temperature=0.8, seed=5, max_tokens=400)
    started = asyncio.Event()

    async def consume() -> GenerationEvent | None:
        last: GenerationEvent | None = None
        async for event in client.agenerate(chat("Write a long story about ships."), params):
            started.set()
            last = event
        return last

    task = asyncio.create_task(consume())
    await asyncio.wait_for(started.wait(), timeout=120)
    client.cancel()
    final = await asyncio.wait_for(task, timeout=120)
    assert isinstance(final, Finished) and final.stats.stop_reason == "cancelled"


def test_the_scripted_double_saves_and_restores_its_state(tmp_path: Path) -> None:
    """The UI tests' engine double writes a real state file and reads it back, so the
    session's save-and-restore path runs in them as it does with the engine."""
    from doubles import ScriptedEngine

    engine = ScriptedEngine(["one two three"])
    engine.load(LoadParams(path="/models/fake.gguf"))
    list(engine.generate("a question"))
    held = engine.cached_tokens
    assert held > 0
    path = tmp_path / "states" / "conv1.kvstate"
    assert engine.save_state(path) == held and path.is_file()
    engine.cached_tokens = 0
    assert engine.load_state(path) == held == engine.cached_tokens
    path.write_text("something else")
    with pytest.raises(ValueError):
        engine.load_state(path)
