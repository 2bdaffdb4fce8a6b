"""One answer being written: the prompt fitted to the context, the engine streamed, the text
saved as it comes (so a crash or a quit keeps what was written)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from tui.chat.context import ContextFit, ContextFull
from tui.chat.events import (
    AnswerChunk,
    AnswerFailed,
    AnswerFinished,
    AnswerRefused,
    AnswerStarted,
    ContextInfo,
    SessionError,
    SessionEvent,
)
from tui.chat.reasoning import BLOCKS, ThoughtTracker, opened_block
from tui.chat.resume import engine_used
from tui.chat.templates import TemplateError
from tui.engine.protocol import Failed, Finished, ModelInfo, SamplingParams, TextChunk
from tui.store import Message, StoreError, StreamWriter

if TYPE_CHECKING:
    from tui.chat.session import ChatSession

Parts = list[tuple[str, bool]]


#: The id a question has while it is fitted, before it is saved.
UNSAVED_ID = -1


@dataclass
class NewQuestion:
    """A question not saved yet: it is saved only once the conversation with it fits."""

    text: str
    before: list[Message]
    """The path it follows."""
    save: Callable[[], Message]
    unsaved: Message = field(init=False)

    def __post_init__(self) -> None:
        conversation_id = self.before[-1].conversation_id if self.before else 0
        parent_id = self.before[-1].id if self.before else None
        self.unsaved = Message(
            UNSAVED_ID, "", conversation_id, parent_id, "user", self.text, time.time()
        )


class AnswerRun:
    """The answer to ``parent_id`` (a question), or more of ``continuing`` (an answer), or
    the answer to a ``question`` not saved yet."""

    def __init__(
        self,
        session: ChatSession,
        parent_id: int | None,
        continuing: Message | None,
        question: NewQuestion | None = None,
    ) -> None:
        self.session = session
        self.parent_id = parent_id
        self.continuing = continuing
        self.question = question

    async def events(self) -> AsyncIterator[SessionEvent]:
        """AnswerStarted, chunks, then AnswerFinished or AnswerFailed (see the session);
        or AnswerRefused alone, before anything is saved."""
        session, question = self.session, self.question
        if question is not None:
            path = [*question.before, question.unsaved]
        else:
            assert self.parent_id is not None
            path = session.store.path_to(self.parent_id)
        try:
            # Counting asks the worker for tokens: off the event loop so the UI stays live.
            session.restored_tokens = await asyncio.to_thread(session.sync_state)
            fit = await asyncio.to_thread(session.fit_for_answer, path)
        except ContextFull as exc:
            yield AnswerRefused(None, str(exc), False, exc.tokens_needed, exc.n_ctx, exc.policy)
            return
        except (SessionError, TemplateError) as exc:
            yield AnswerFailed(None, str(exc), crashed=False)
            return
        if question is not None:
            self.parent_id = session.save_question(question)
        parent_id = self.parent_id
        assert parent_id is not None
        model = session.model_info()
        info = ContextInfo(fit.tokens_used, fit.n_ctx, fit.dropped_messages)
        session.last_context = info
        writer = self._begin_writer(model)
        session.last_notice = fit.prompt.notice
        yield AnswerStarted(parent_id, writer.message_id, info, fit.prompt.notice)
        async for event in self._generate(writer, fit, model):
            yield event

    def _sampling(self, fit: ContextFit) -> SamplingParams:
        settings = self.session.settings
        sampling = settings.sampling()
        sampling["stop"] = tuple(dict.fromkeys([*fit.prompt.stop, *settings.stop]))
        return SamplingParams(**sampling)

    def _begin_writer(self, model: ModelInfo) -> StreamWriter:
        parent_id, continuing = self.parent_id, self.continuing
        session = self.session
        conversation = session.ensure_conversation()
        if conversation.model_path != model.path:
            # The model that answers last is the one the app reopens the conversation with.
            session.conversation = session.store.update_conversation(
                conversation.id, model_path=model.path
            )
        if continuing is not None:
            return session.store.continue_assistant(continuing.id)
        return session.store.begin_assistant(
            conversation.id, parent_id, model=model.name or model.path
        )

    async def _generate(
        self, writer: StreamWriter, fit: ContextFit, model: ModelInfo
    ) -> AsyncIterator[SessionEvent]:
        finished = False
        try:
            async for event in self._stream(writer, fit, model):
                if isinstance(event, (AnswerFinished, AnswerFailed)):
                    finished = True
                yield event
        except StoreError as exc:
            # The history could not take the answer (full disk...): it stays on screen.
            finished = True
            yield AnswerFailed(writer.message_id, f"the answer could not be saved: {exc}", False)
        finally:
            if not finished and not writer.finished:
                # The consumer stopped listening (app quit, task cancelled): keep the text.
                engine_used(self.session.engine, None)
                self.session.engine.cancel()
                with contextlib.suppress(StoreError):
                    writer.finish("cancelled", {"stop_reason": "cancelled"})

    def _prompt_and_thoughts(self, fit: ContextFit) -> tuple[Parts, ThoughtTracker]:
        """The prompt's parts (with the answer being continued) and the tracker that tells
        the model's thinking from its answer."""
        parts = list(fit.prompt.parts)
        opened = opened_block(fit.prompt.text)
        old = self.continuing
        if old is None:
            return parts, ThoughtTracker(opened)
        if old.content:
            # Past its thinking already: the rest is answer.
            parts.append((old.content, False))
            return parts, ThoughtTracker(detect=False)
        if old.reasoning:
            # Stopped while thinking: think on, inside the same block.
            block = opened or BLOCKS[0]
            if opened is None:
                parts.append((block[0], True))
            parts.append((old.reasoning, False))
            return parts, ThoughtTracker(block)
        return parts, ThoughtTracker(opened)

    async def _stream(
        self, writer: StreamWriter, fit: ContextFit, model: ModelInfo
    ) -> AsyncIterator[SessionEvent]:
        prompt = fit.prompt
        parts, thoughts = self._prompt_and_thoughts(fit)
        stream = self.session.engine.agenerate(
            parts,
            self._sampling(fit),
            add_bos=prompt.add_bos,
            interval=self.session.delivery_interval,
        )
        async for event in stream:
            if isinstance(event, TextChunk):
                split = thoughts.feed(event.text, event.tokens)
                writer.append(split.answer, split.reasoning)
                yield AnswerChunk(
                    split.answer, event.tokens, split.reasoning, thoughts.thinking, thoughts.tokens
                )
            elif isinstance(event, Finished):
                rest = thoughts.finish()
                writer.append(rest.answer, rest.reasoning)
                yield await self._finished(writer, fit, model, event, thoughts)
            elif isinstance(event, Failed):
                rest = thoughts.finish()
                writer.append(rest.answer, rest.reasoning)
                engine_used(self.session.engine, None)
                writer.finish("error", {"error": event.error, "kind": event.kind})
                stopped = event.kind in ("crash", "hung")
                yield AnswerFailed(writer.message_id, event.error, stopped)

    async def _finished(
        self,
        writer: StreamWriter,
        fit: ContextFit,
        model: ModelInfo,
        event: Finished,
        thoughts: ThoughtTracker,
    ) -> AnswerFinished:
        status: Literal["done", "cancelled"] = (
            "cancelled" if event.stats.stop_reason == "cancelled" else "done"
        )
        stats = event.stats.to_dict()
        stats["model"] = model.name or model.path
        stats["template"] = fit.prompt.template_name
        stats["dropped_messages"] = fit.dropped_messages
        reasoning = writer.reasoning
        tokens, seconds = 0, 0.0
        if reasoning:
            tokens = await asyncio.to_thread(self._count_tokens, reasoning, thoughts.tokens)
            seconds = thoughts.seconds
            if self.continuing is not None:
                seconds += float(self.continuing.stats.get("reasoning_seconds") or 0.0)
            stats["reasoning_tokens"] = tokens
            stats["reasoning_seconds"] = round(seconds, 2)
        message = writer.finish(status, stats)
        session = self.session
        held = event.stats.prompt_tokens + event.stats.completion_tokens
        engine_used(session.engine, session.state_key(), session.store, held)
        return AnswerFinished(
            writer.message_id, message.content, status, event.stats, reasoning, tokens, seconds
        )

    def _count_tokens(self, text: str, estimate: int) -> int:
        """The exact token count of the thinking (the streamed count is an estimate)."""
        try:
            return len(self.session.engine.tokenize(text, special=False, add_bos=False))
        except Exception:  # counting is for show: never fail a finished answer for it
            return estimate
