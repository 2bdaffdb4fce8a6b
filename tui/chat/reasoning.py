"""Reasoning blocks: the thinking a model writes before its answer, told apart while it streams.

Reasoning models open their answer with a block such as ``<think>…</think>`` and then write
the answer. :class:`ReasoningSplitter` takes the streamed text piece by piece, in pieces cut
anywhere (a tag may arrive split over several pieces), and hands back what is reasoning and
what is answer. Only a block at the very start of the answer is reasoning: a model that
later writes ``<think>`` in an answer about markup is quoting it, not thinking.

Some templates open the block themselves (the prompt ends with ``<think>\\n``, as DeepSeek-R1
distills and Nemotron do); :func:`opened_block` finds that in the prompt, and the splitter
then starts inside the block.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

BLOCKS: tuple[tuple[str, str], ...] = (
    ("<think>", "</think>"),
    ("<thinking>", "</thinking>"),
    ("<seed:think>", "</seed:think>"),
    ("[THINK]", "[/THINK]"),
    ("<|START_THINKING|>", "<|END_THINKING|>"),
)
"""Open and close tags of the reasoning blocks templates declare: Qwen3, DeepSeek-R1,
SmolLM3, Nemotron, Granite (``<think>``); Claude-style distills (``<thinking>``); Seed-OSS;
Magistral and Ministral reasoning (``[THINK]``); Command R7B."""


def opened_block(prompt_text: str) -> tuple[str, str] | None:
    """The block the prompt leaves open at its end (the template opened the answer's
    reasoning), or None."""
    tail = prompt_text.rstrip()
    for open_tag, close_tag in BLOCKS:
        if tail.endswith(open_tag):
            return open_tag, close_tag
    return None


@dataclass(frozen=True)
class Split:
    """What one piece of streamed text turned out to be."""

    reasoning: str = ""
    answer: str = ""


class ReasoningSplitter:
    """Splits a streamed answer into reasoning and answer.

    ``feed(piece)`` returns the reasoning and answer text that piece settles; text that might
    still become a tag is held back until the next piece (or :meth:`finish`) settles it.
    ``opened`` is a block the prompt already opened: the stream starts inside it.
    ``detect`` False: the answer is plain text throughout (more of an answer already past
    its reasoning).
    """

    def __init__(self, opened: tuple[str, str] | None = None, *, detect: bool = True) -> None:
        self._block = opened
        self._depth = 1 if opened else 0
        self._state = "thinking" if opened else ("start" if detect else "answer")
        self._held = ""
        self.opened_by_template = opened is not None
        self.seen_block = opened is not None
        """A reasoning block was found (open or closed)."""

    @property
    def thinking(self) -> bool:
        """Inside a reasoning block now."""
        return self._state == "thinking"

    @property
    def closed(self) -> bool:
        """A reasoning block was found and has ended."""
        return self.seen_block and self._state in ("after", "answer")

    def feed(self, piece: str) -> Split:
        text = self._held + piece
        self._held = ""
        reasoning: list[str] = []
        answer: list[str] = []
        while text:
            if self._state == "start":
                text = self._at_start(text)
                if self._state == "start":  # still undecided: all of it held
                    break
            elif self._state == "thinking":
                text = self._in_block(text, reasoning)
                if self._state == "thinking":
                    break
            elif self._state == "after":
                stripped = text.lstrip()
                if not stripped:
                    break  # whitespace between the block and the answer is dropped
                self._state = "answer"
                text = stripped
            else:
                answer.append(text)
                break
        return Split("".join(reasoning), "".join(answer))

    def finish(self) -> Split:
        """The end of the stream: whatever was held back is settled as it stands."""
        held, self._held = self._held, ""
        if self._state == "thinking":
            return Split(reasoning=held)
        if self._state == "start":
            self._state = "answer"
            return Split(answer=held)
        return Split()

    def _at_start(self, text: str) -> str:
        """Before anything but whitespace: is this a reasoning block opening?"""
        body = text.lstrip()
        for open_tag, close_tag in BLOCKS:
            if body.startswith(open_tag):
                self._block = (open_tag, close_tag)
                self._depth = 1
                self._state = "thinking"
                self.seen_block = True
                return body[len(open_tag) :]
        if not body or any(tag.startswith(body) for tag, _ in BLOCKS):
            self._held = text  # whitespace alone, or the start of a tag: wait for more
            return ""
        self._state = "answer"
        return text

    def _in_block(self, text: str, reasoning: list[str]) -> str:
        """Reasoning up to the tag that closes the block (nested opens of the same tag
        count); returns the text after it."""
        assert self._block is not None
        open_tag, close_tag = self._block
        pos = 0
        while True:
            next_open = text.find(open_tag, pos)
            next_close = text.find(close_tag, pos)
            if next_close == -1 and next_open == -1:
                break
            if next_open != -1 and (next_close == -1 or next_open < next_close):
                self._depth += 1
                pos = next_open + len(open_tag)
                continue
            self._depth -= 1
            if self._depth == 0:
                reasoning.append(text[:next_close])
                self._state = "after"
                return text[next_close + len(close_tag) :]
            pos = next_close + len(close_tag)
        # No close yet: keep back a tail that may be the start of a tag.
        keep = _partial_tag_length(text, (open_tag, close_tag), pos)
        reasoning.append(text[: len(text) - keep])
        self._held = text[len(text) - keep :]
        return ""


def _partial_tag_length(text: str, tags: tuple[str, ...], start: int) -> int:
    """Length of the longest end of ``text`` (past ``start``) that begins one of ``tags``."""
    longest = 0
    for tag in tags:
        for n in range(min(len(tag) - 1, len(text) - start), 0, -1):
            if tag.startswith(text[len(text) - n :]):
                longest = max(longest, n)
                break
    return longest


def split_text(text: str, opened: tuple[str, str] | None = None) -> tuple[str, str]:
    """(reasoning, answer) of a whole answer text."""
    splitter = ReasoningSplitter(opened)
    first = splitter.feed(text)
    last = splitter.finish()
    return first.reasoning + last.reasoning, first.answer + last.answer


class ThoughtTracker:
    """A :class:`ReasoningSplitter` with the numbers the user sees: how long the model
    thought and how many tokens it spent (estimated from the pieces' token counts while
    streaming; the caller may set the exact count at the end)."""

    def __init__(
        self,
        opened: tuple[str, str] | None = None,
        *,
        detect: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.splitter = ReasoningSplitter(opened, detect=detect)
        self._clock = clock
        self._started = clock()
        self._ended: float | None = None
        self.tokens = 0

    @property
    def thinking(self) -> bool:
        return self.splitter.thinking

    @property
    def seconds(self) -> float:
        """Time spent thinking: until the block closed, or until now."""
        end = self._ended if self._ended is not None else self._clock()
        return max(0.0, end - self._started)

    def feed(self, text: str, tokens: int) -> Split:
        was_thinking = self.splitter.thinking
        split = self.splitter.feed(text)
        if split.reasoning and split.answer:
            share = len(split.reasoning) / (len(split.reasoning) + len(split.answer))
            self.tokens += round(tokens * share)
        elif split.reasoning or (not split.answer and (was_thinking or self.thinking)):
            self.tokens += tokens
        if self._ended is None and self.splitter.closed:
            self._ended = self._clock()
        return split

    def finish(self) -> Split:
        split = self.splitter.finish()
        if self._ended is None and self.splitter.seen_block:
            self._ended = self._clock()
        return split
