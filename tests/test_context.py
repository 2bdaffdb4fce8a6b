"""Context window fitting, counted with SmolLM2's real tokenizer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tui.chat.context import ContextFull, fit_messages, reserve_for
from tui.chat.templates import AUTO, Template, TokenCounter, load_templates


@pytest.fixture(scope="module")
def vocab(smollm2_path: Path) -> Iterator[Any]:
    import llama_cpp

    llama = llama_cpp.Llama(model_path=str(smollm2_path), vocab_only=True, verbose=False)
    yield llama
    llama.close()


@pytest.fixture
def count(vocab: Any) -> TokenCounter:
    def tokenize(text: str, *, special: bool, add_bos: bool) -> list[int]:
        return list(vocab.tokenize(text.encode(), add_bos=add_bos, special=special))

    return TokenCounter(tokenize)


@pytest.fixture(scope="module")
def chatml() -> Template:
    return load_templates(user_dir=Path("/nonexistent"))[0]["chatml"]


def conversation(turns: int) -> list[tuple[str, str]]:
    messages = [("system", "You are a helpful assistant who answers briefly.")]
    for i in range(turns):
        messages.append(("user", f"Question number {i}: tell me something about the number {i}."))
        messages.append(("assistant", f"The number {i} is a fine number. " * 5))
    messages.append(("user", "And the last question?"))
    return messages


def test_fits_without_dropping(chatml: Template, count: TokenCounter) -> None:
    messages = conversation(2)
    fit = fit_messages(chatml, messages, count, n_ctx=2048, reserve_tokens=256, policy="trim")
    assert fit.dropped_messages == 0 and len(fit.messages) == len(messages)
    assert fit.tokens_used == count(fit.prompt)
    assert fit.tokens_available == 2048 - fit.tokens_used
    assert 0 < fit.fraction_used < 1


def test_trims_oldest_whole_turns(chatml: Template, count: TokenCounter, vocab: Any) -> None:
    messages = conversation(10)
    full = fit_messages(chatml, messages, count, n_ctx=100_000, reserve_tokens=0)
    n_ctx, reserve = 400, 100
    assert full.tokens_used > n_ctx - reserve

    fit = fit_messages(chatml, messages, count, n_ctx=n_ctx, reserve_tokens=reserve)
    assert fit.tokens_used + reserve <= n_ctx
    assert fit.dropped_messages > 0 and fit.dropped_messages % 2 == 0  # whole turns
    kept = fit.messages
    assert kept[0].role == "system" and kept[0].content == messages[0][1]
    assert kept[1].role == "user"  # never starts with an orphaned answer
    assert kept[-1].content == "And the last question?"
    assert len(kept) == len(messages) - fit.dropped_messages
    # The count is the real one: tokenizing the parts gives the same number.
    ids = []
    for text, special in fit.prompt.parts:
        ids += vocab.tokenize(text.encode(), add_bos=False, special=special)
    assert fit.tokens_used == len(ids)
    # And it is the largest fit: one more turn would not have fit.
    more = [*messages[:1], *messages[1 + fit.dropped_messages - 2 :]]
    bigger = fit_messages(chatml, more, count, n_ctx=100_000, reserve_tokens=0)
    assert bigger.tokens_used + reserve > n_ctx


def test_stop_policy_raises_with_numbers(chatml: Template, count: TokenCounter) -> None:
    with pytest.raises(ContextFull) as info:
        fit_messages(chatml, conversation(10), count, n_ctx=400, reserve_tokens=100, policy="stop")
    error = info.value
    assert error.n_ctx == 400 and error.reserve_tokens == 100 and error.tokens_needed > 300
    assert "new conversation" in str(error) and "300 fit" in str(error)


def test_question_that_cannot_fit_raises_even_when_trimming(
    chatml: Template, count: TokenCounter
) -> None:
    messages = [("system", "Be brief."), ("user", "word " * 400)]
    with pytest.raises(ContextFull, match="shorten the question"):
        fit_messages(chatml, messages, count, n_ctx=256, reserve_tokens=64)


def test_auto_template_passes_through(vocab: Any, count: TokenCounter) -> None:
    source = vocab.metadata["tokenizer.chat_template"]
    fit = fit_messages(
        Template(AUTO),
        conversation(10),
        count,
        n_ctx=400,
        reserve_tokens=100,
        chat_template_source=source,
    )
    assert fit.prompt.template_name == AUTO and fit.dropped_messages > 0


def test_reserve_for() -> None:
    assert reserve_for(512, 2048) == 512
    assert reserve_for(4096, 2048) == 1024
