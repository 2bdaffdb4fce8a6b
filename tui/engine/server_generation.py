"""One answer from llama-server's native ``/completion`` endpoint, streamed: the request body
for every sampler, the text handed on at most once per ``send_every``, the statistics from
the server's own timings, and the failures (server gone, slow, error, odd payload) turned
into a :class:`Failed` event after the text received so far.

The prompt is sent as token ids, tokenized piece by piece by the caller exactly as the
embedded engine does (markup with special tokens, user text without), so a user who types
``<|im_end|>`` sends text there too, and ``cache_prompt`` lets the server reuse the longest
common prefix of its slot (the previous turn, or a restored slot).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

from tui.engine.http import Endpoint, ServerError, Stream
from tui.engine.protocol import (
    Failed,
    Finished,
    GenerationEvent,
    GenerationStats,
    SamplingParams,
    StopReason,
    TextChunk,
)

#: Text is handed on at most this often (as the worker sends it).
SEND_EVERY = 0.05


class CancelToken:
    """Cancels one generation from any thread: closing its stream wakes the reader at once
    and llama-server stops a task whose client went away."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.cancelled = False
        self._stream: Stream | None = None

    def attach(self, stream: Stream) -> None:
        with self._lock:
            self._stream = stream
            cancelled = self.cancelled
        if cancelled:
            stream.close()

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            stream = self._stream
        if stream is not None:
            stream.close()


@dataclass
class SpeedWatch:
    """Timeouts from measured speed, like a watchdog: generous before anything is known,
    then a multiple of what this server did last time."""

    prompt_tps: float = 0.0
    generation_tps: float = 0.0
    floor: float = 30.0
    """No timeout is shorter (a phone's core may be busy for seconds)."""

    def first_token_timeout(self, prompt_tokens: int) -> float:
        """The prompt at a quarter of the speed seen (5 tokens/s before any is known)."""
        tps = self.prompt_tps / 4 if self.prompt_tps > 0 else 5.0
        return 2 * self.floor + prompt_tokens / max(tps, 1.0)

    def token_timeout(self) -> float:
        """Twenty tokens' time at the speed seen, between two events of an answer."""
        if self.generation_tps <= 0:
            return 4 * self.floor
        return max(self.floor, 20.0 / self.generation_tps)

    def learn(self, stats: GenerationStats) -> None:
        if stats.prompt_tps > 0 and stats.prompt_tokens_evaluated >= 8:
            self.prompt_tps = stats.prompt_tps
        if stats.generation_tps > 0:
            self.generation_tps = stats.generation_tps


def completion_body(tokens: list[int], params: SamplingParams, n_ctx: int) -> dict[str, Any]:
    """``/completion`` fields for ``params`` (llama-server's names)."""
    max_tokens = params.max_tokens if params.max_tokens and params.max_tokens > 0 else -1
    body: dict[str, Any] = {
        "prompt": tokens,
        "stream": True,
        "cache_prompt": True,
        "n_predict": max_tokens,
        "temperature": params.temperature,
        "top_k": params.top_k,
        "top_p": params.top_p,
        "min_p": params.min_p,
        "typical_p": params.typical_p,
        "repeat_penalty": params.repeat_penalty,
        "repeat_last_n": params.repeat_last_n if params.repeat_last_n >= 0 else n_ctx,
        "presence_penalty": params.presence_penalty,
        "frequency_penalty": params.frequency_penalty,
        "mirostat": params.mirostat_mode,
        "mirostat_tau": params.mirostat_tau,
        "mirostat_eta": params.mirostat_eta,
        "stop": [s for s in params.stop if s],
        "id_slot": 0,
        "return_tokens": True,
    }
    if params.seed is not None:
        body["seed"] = int(params.seed) & 0xFFFFFFFF
    return body


_STOP_TYPES: dict[str, StopReason] = {"eos": "eos", "word": "stop", "limit": "length"}


class ServerGeneration:
    """Streams one answer; :meth:`run` yields TextChunk* then one Finished or Failed."""

    def __init__(
        self,
        endpoint: Endpoint,
        tokens: list[int],
        params: SamplingParams,
        *,
        n_ctx: int,
        token: CancelToken,
        speed: SpeedWatch,
        send_every: float = SEND_EVERY,
        crashed: Callable[[], str | None] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.tokens = tokens
        self.params = params
        self.n_ctx = n_ctx
        self.token = token
        self.speed = speed
        self.send_every = max(SEND_EVERY, send_every)
        self._crashed = crashed  # why the local server died, if it did
        self.text = ""
        self.pending = ""
        self.pending_tokens = 0
        self.completion = 0
        # Tokens of the last event that brought no text: the end-of-generation token the
        # server reports and the embedded engine does not count.
        self.empty_tail = 0
        self.received = time.perf_counter()
        self.first_at: float | None = None
        self.last_at = self.received
        self.sent_at = 0.0

    def run(self) -> Iterator[GenerationEvent]:
        body = completion_body(self.tokens, self.params, self.n_ctx)
        final: dict[str, Any] | None = None
        try:
            if self.token.cancelled:
                yield Finished("", self._stats(None, "cancelled"))
                return
            stream = Stream(
                self.endpoint,
                "/completion",
                body,
                timeout=self.speed.first_token_timeout(len(self.tokens)),
                idle_timeout=self.speed.token_timeout(),
            )
            self.token.attach(stream)
            for event in stream.events():
                final = yield from self._take(event)
                if final is not None:
                    break
        except ServerError as exc:
            yield from self._flush()
            if self.token.cancelled and exc.kind in ("dropped", "timeout"):
                yield Finished(self.text, self._stats(None, "cancelled"))
                return
            yield self._failed(exc)
            return
        yield from self._flush()
        if final is None:  # the stream ended without its last event: cut by a cancel
            if self.token.cancelled:
                yield Finished(self.text, self._stats(None, "cancelled"))
            else:
                yield self._failed(
                    ServerError("the answer ended without its last event", "dropped")
                )
            return
        if final.get("stop_type") == "eos":
            self.completion -= self.empty_tail
        stats = self._stats(final, self._stop_reason(final))
        self.speed.learn(stats)
        yield Finished(self.text, stats)

    def _take(
        self, event: dict[str, Any]
    ) -> Generator[GenerationEvent, None, dict[str, Any] | None]:
        """Handle one event; returns (as the generator's value) the last event, if this is it."""
        content = event.get("content", "")
        if not isinstance(content, str):
            raise ServerError(
                f"llama-server at {self.endpoint.label} sent an unexpected event (content "
                f"is {type(content).__name__})",
                "payload",
            )
        now = time.perf_counter()
        pieces = event.get("tokens")
        count = len(pieces) if isinstance(pieces, list) else 0
        if content or count:  # not a prompt-progress event nor the empty last one
            count = count or 1
            self.last_at = now
            if self.first_at is None:
                self.first_at = now
            self.completion += count
            self.pending_tokens += count
            self.empty_tail = 0 if content else count
            self.text += content
            self.pending += content
            if now - self.sent_at >= self.send_every or self.sent_at == 0.0:
                yield from self._flush()
                self.sent_at = now
        if event.get("stop"):
            return event
        return None

    def _flush(self) -> Iterator[GenerationEvent]:
        if self.pending:
            yield TextChunk(self.pending, max(1, self.pending_tokens))
            self.pending, self.pending_tokens = "", 0

    def _failed(self, exc: ServerError) -> Failed:
        why = self._crashed() if self._crashed is not None else None
        if why:
            return Failed(f"{why}; the answer so far is kept", "crash")
        kept = "; the answer so far is kept" if self.text else ""
        kind = "context" if "context" in str(exc) and exc.status == 400 else "error"
        return Failed(f"{exc}{kept}", kind)

    def _stop_reason(self, final: dict[str, Any]) -> StopReason:
        stop_type = str(final.get("stop_type", ""))
        reason = _STOP_TYPES.get(stop_type, "length")
        if reason == "length":
            limit = self.params.max_tokens
            if not (limit and limit > 0 and self.completion >= limit):
                return "context" if stop_type == "limit" else "length"
        return reason

    def _stats(self, final: dict[str, Any] | None, reason: StopReason) -> GenerationStats:
        timings = final.get("timings") if final is not None else None
        first_at = self.first_at
        ttft = (first_at - self.received) if first_at is not None else 0.0
        if isinstance(timings, dict):
            prompt_n = _int(timings.get("prompt_n"))
            prompt_s = _float(timings.get("prompt_ms")) / 1000
            predicted_s = _float(timings.get("predicted_ms")) / 1000
            return GenerationStats(
                prompt_tokens=len(self.tokens),
                prompt_tokens_evaluated=prompt_n,
                completion_tokens=self.completion,
                prompt_seconds=prompt_s,
                prompt_tps=_float(timings.get("prompt_per_second")),
                ttft_seconds=ttft,
                generation_seconds=predicted_s,
                generation_tps=_float(timings.get("predicted_per_second")),
                stop_reason=reason,
            )
        generation_s = self.last_at - first_at if first_at is not None else 0.0
        return GenerationStats(
            prompt_tokens=len(self.tokens),
            prompt_tokens_evaluated=0,
            completion_tokens=self.completion,
            prompt_seconds=ttft,
            prompt_tps=0.0,
            ttft_seconds=ttft,
            generation_seconds=generation_s,
            generation_tps=(self.completion - 1) / generation_s if generation_s > 0 else 0.0,
            stop_reason=reason,
        )


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0
