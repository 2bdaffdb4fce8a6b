"""The streaming reasoning splitter: thinking told apart from the answer, in any pieces."""

from __future__ import annotations

import pytest

from tui.chat.reasoning import (
    ReasoningSplitter,
    ThoughtTracker,
    opened_block,
    split_text,
)

THINK = ("<think>", "</think>")

CASES = [
    # (text, opened by the template, reasoning, answer)
    (
        "<think>\nLet me add.\n2+2=4\n</think>\n\nIt is 4.",
        None,
        "\nLet me add.\n2+2=4\n",
        "It is 4.",
    ),
    ("  <think>a</think>b", None, "a", "b"),
    ("No thinking here, just é and 😀.", None, "", "No thinking here, just é and 😀."),
    ("\n\nHello", None, "", "\n\nHello"),
    ("Let me see.</think>Answer", THINK, "Let me see.", "Answer"),
    (
        "<think>outer <think>inner</think> more</think>done",
        None,
        "outer <think>inner</think> more",
        "done",
    ),
    ("<think>never closed, cut off by max tokens", None, "never closed, cut off by max tokens", ""),
    (
        "<think>unclosed <think>nested</think> still thinking",
        None,
        "unclosed <think>nested</think> still thinking",
        "",
    ),
    ("still thinking when it stopped", THINK, "still thinking when it stopped", ""),
    (
        "An answer about <think> tags</think> is not thinking.",
        None,
        "",
        "An answer about <think> tags</think> is not thinking.",
    ),
    ("<b>bold</b> answer", None, "", "<b>bold</b> answer"),
    ("<th", None, "", "<th"),
    ("<thinking>Claude-style</thinking>Answer", None, "Claude-style", "Answer"),
    ("[THINK]Magistral[/THINK]Answer", None, "Magistral", "Answer"),
    ("<seed:think>Seed</seed:think>\nAnswer", None, "Seed", "Answer"),
    ("<think></think>\n\nEmpty thought", None, "", "Empty thought"),
    ("<|START_THINKING|>Cohere<|END_THINKING|>Answer", None, "Cohere", "Answer"),
]


def run(pieces: list[str], opened: tuple[str, str] | None) -> tuple[str, str]:
    splitter = ReasoningSplitter(opened)
    reasoning, answer = [], []
    for piece in pieces:
        split = splitter.feed(piece)
        reasoning.append(split.reasoning)
        answer.append(split.answer)
    last = splitter.finish()
    return "".join(reasoning) + last.reasoning, "".join(answer) + last.answer


@pytest.mark.parametrize(("text", "opened", "reasoning", "answer"), CASES)
def test_whole_text(text: str, opened: tuple[str, str] | None, reasoning: str, answer: str) -> None:
    assert split_text(text, opened) == (reasoning, answer)


@pytest.mark.parametrize(("text", "opened", "reasoning", "answer"), CASES)
def test_split_at_every_boundary(
    text: str, opened: tuple[str, str] | None, reasoning: str, answer: str
) -> None:
    """Every cut into two pieces, every cut into three, and one piece per character."""
    for i in range(len(text) + 1):
        assert run([text[:i], text[i:]], opened) == (reasoning, answer), i
        for j in range(i, len(text) + 1):
            assert run([text[:i], text[i:j], text[j:]], opened) == (reasoning, answer), (i, j)
    assert run(list(text), opened) == (reasoning, answer)


def test_split_at_every_utf8_byte_boundary() -> None:
    """The engine hands text over as it decodes bytes; cut the UTF-8 at every byte and
    decode incrementally as it does, so multi-byte characters arrive whole but late."""
    import codecs

    text = "<think>Überlegung 😀 …</think>Antwort: ja"
    data = text.encode()
    for i in range(len(data) + 1):
        decoder = codecs.getincrementaldecoder("utf-8")()
        pieces = [decoder.decode(data[:i]), decoder.decode(data[i:], final=True)]
        assert run(pieces, None) == ("Überlegung 😀 …", "Antwort: ja"), i


def test_state_while_streaming() -> None:
    splitter = ReasoningSplitter()
    assert not splitter.thinking
    splitter.feed("<thi")
    assert not splitter.thinking  # not decided yet: held
    assert splitter.feed("nk>hmm") == type(splitter.feed(""))(reasoning="hmm")
    assert splitter.thinking and not splitter.closed
    assert splitter.feed("</think>").answer == ""
    assert splitter.closed and not splitter.thinking
    assert splitter.feed("\n\nYes").answer == "Yes"


def test_no_detection_for_more_of_an_answer() -> None:
    splitter = ReasoningSplitter(detect=False)
    assert splitter.feed("<think>x</think>").answer == "<think>x</think>"


@pytest.mark.parametrize(
    ("prompt", "opened"),
    [
        ("<|im_start|>assistant\n<think>\n", THINK),  # Nemotron-3-Nano, Qwen3.5 thinking
        ("<｜Assistant｜><think>\n", THINK),  # DeepSeek-R1 distills
        ("<|im_start|>assistant\n<think>\n\n</think>\n\n", None),  # Qwen3, thinking off
        ("<|im_start|>assistant\n", None),
        ("[THINK]", ("[THINK]", "[/THINK]")),
    ],
)
def test_opened_block(prompt: str, opened: tuple[str, str] | None) -> None:
    assert opened_block(prompt) == opened


def test_tracker_counts_tokens_and_time() -> None:
    now = [100.0]
    tracker = ThoughtTracker(clock=lambda: now[0])
    tracker.feed("<think>", 1)
    now[0] = 103.0
    tracker.feed("one two", 2)
    assert tracker.thinking and tracker.tokens == 3 and tracker.seconds == 3.0
    now[0] = 105.0
    split = tracker.feed("</think>Answer", 2)
    assert split.answer == "Answer" and not tracker.thinking
    now[0] = 110.0
    assert tracker.seconds == 5.0  # until the block closed, not until now
    assert tracker.tokens == 3 + 0  # "</think>" settles no reasoning text; the answer's share
