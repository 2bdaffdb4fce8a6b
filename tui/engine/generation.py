"""One answer generated in the worker: the sampling loop, stop strings, the spacing of the
text sent to the client, and the timing statistics.

The worker tokenizes the prompt and hands it to a :class:`Generation`, which sends
``prompt_done``, text ``chunk`` events and one ``finished`` event through the worker's
``send``. Everything here runs on the worker's main thread; only the cancel flag it polls
is set by another thread.
"""

from __future__ import annotations

import codecs
import ctypes
import os
import random
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from tui.engine.heartbeat import Heartbeat, Pace, beating_in_compute
from tui.engine.protocol import GenerationStats, SamplingParams, StopReason

#: Text is sent at most this often while the model writes (the first piece at once, the
#: rest of the answer at its end). Each message wakes two threads of the client, on CPUs
#: that llama.cpp's threads need: at 70 tokens/s one message per token cost about 140
#: wake-ups a second. A screen redraws a few times a second and a terminal does not show
#: the difference from 20 updates a second. Cancelling still stops within one token.
#: A request may ask for a longer spacing (``"send_every"``: a screen that redraws twice a
#: second wants text about four times a second), never a shorter one.
SEND_EVERY = 0.05

_Send = Callable[[dict[str, Any]], None]
_Eval = Callable[[Sequence[int]], None]


def find_stop(text: str, stops: Sequence[str], start: int) -> int | None:
    """Where the first stop string found at or after ``start`` begins, or None."""
    found: int | None = None
    for stop in stops:
        at = text.find(stop, start)
        if at >= 0 and (found is None or at < found):
            found = at
    return found


def held_back(text: str, stops: Sequence[str]) -> int:
    """How many trailing characters could be the start of a stop string."""
    hold = 0
    for stop in stops:
        for k in range(min(len(stop) - 1, len(text)), hold, -1):
            if text.endswith(stop[:k]):
                hold = k
                break
    return hold


def token_bytes(llm: Any, token: int) -> bytes:
    """The bytes of one token (a piece of a UTF-8 character for some tokens)."""
    import llama_cpp

    vocab = llm._model.vocab
    buf = ctypes.create_string_buffer(64)
    n = llama_cpp.llama_token_to_piece(vocab, token, buf, 64, 0, False)
    if n < 0:  # the piece is longer than the buffer: -n is the size needed
        buf = ctypes.create_string_buffer(-n)
        n = llama_cpp.llama_token_to_piece(vocab, token, buf, -n, 0, False)
    return buf.raw[: max(0, n)]


def sampler_args(params: SamplingParams) -> dict[str, Any]:
    """Keyword arguments of ``Llama.generate`` for ``params``."""
    return {
        "top_k": params.top_k,
        "top_p": params.top_p,
        "min_p": params.min_p,
        "typical_p": params.typical_p,
        "temp": params.temperature,
        "repeat_penalty": params.repeat_penalty,
        "frequency_penalty": params.frequency_penalty,
        "presence_penalty": params.presence_penalty,
        "mirostat_mode": params.mirostat_mode,
        "mirostat_tau": params.mirostat_tau,
        "mirostat_eta": params.mirostat_eta,
    }


class Generation:
    """One ``generate`` request on a loaded ``llama_cpp.Llama``.

    ``cancelled`` is polled after every token. ``crash_on_batch`` kills the process with
    SIGSEGV at the first multi-token decode, as the AMX extra-buffer crash does, so the
    client's fallback can be tested on any machine.
    """

    def __init__(
        self,
        llm: Any,
        request_id: int,
        *,
        send: _Send,
        cancelled: Callable[[], bool],
        n_ctx: int,
        received: float,
        send_every: float = SEND_EVERY,
        crash_on_batch: bool = False,
        pace: Pace | None = None,
    ) -> None:
        self.llm = llm
        self.request_id = request_id
        self._send = send
        self.heartbeat = Heartbeat(send, request_id)
        self.pace = pace or Pace()
        self._cancelled = cancelled
        self.n_ctx = n_ctx
        self.received = received
        self.send_every = send_every
        self.crash_on_batch = crash_on_batch
        self.text = ""
        self.emitted = 0  # characters of ``text`` already sent
        self.samples = 0  # tokens sampled, an end-of-generation token included
        self.completion = 0  # tokens of the answer
        self.evaluated = 0  # tokens llama.cpp decoded, prompt and answer
        self.prompt_evaluated = 0  # of those, the prompt's (a restored state skips some)
        self.started = 0.0
        self.first_at: float | None = None
        self.last_at = 0.0
        self.sent_at = 0.0
        self.sent_tokens = 0  # ``completion`` when text was last sent
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._stops: tuple[str, ...] = ()
        self._longest_stop = 0

    def run(self, tokens: list[int], params: SamplingParams, shifted: int = 0) -> None:
        """Generate an answer to ``tokens``, sending its events as it goes."""
        llm = self.llm
        seed = params.seed if params.seed is not None else random.SystemRandom().randrange(2**31)
        llm.set_seed(int(seed) & 0xFFFFFFFF)
        llm.last_n_tokens_size = params.repeat_last_n if params.repeat_last_n >= 0 else self.n_ctx
        llm.eval = self._counting_eval(llm.eval)
        self._stops = tuple(s for s in params.stop if s)
        self._longest_stop = max((len(s) for s in self._stops), default=0)
        max_tokens = params.max_tokens if params.max_tokens and params.max_tokens > 0 else None
        self.started = self.last_at = time.perf_counter()
        generator = llm.generate(tokens, **sampler_args(params), reset=True)
        try:
            reason: StopReason = (
                "cancelled" if self._cancelled() else self._loop(generator, max_tokens)
            )
        finally:
            generator.close()
            del llm.eval  # back to the class method
        if reason != "stop":
            self.text += self._decoder.decode(b"", final=True)
        if len(self.text) > self.emitted:
            self._send_chunk(self.text[self.emitted :])
        stats = replace(self.stats(len(tokens), reason), shifted_tokens=shifted)
        self._send(
            {
                "id": self.request_id,
                "event": "finished",
                "text": self.text,
                "stats": stats.to_dict(),
            }
        )

    def _counting_eval(self, real_eval: _Eval) -> _Eval:
        """``Llama.eval`` that counts the tokens decoded (the prompt's show how much of it a
        restored state saved)."""

        def counting_eval(batch: Sequence[int]) -> None:
            self.evaluated += len(batch)
            if len(batch) == 1:
                real_eval(batch)
                return
            if self.crash_on_batch:
                os.kill(os.getpid(), signal.SIGSEGV)  # like the AMX crash: batches only
            self.heartbeat.within = self.pace.node_seconds(min(len(batch), self.llm.n_batch))
            with beating_in_compute(self.llm._ctx.ctx, self.heartbeat):
                real_eval(batch)

        return counting_eval

    def _loop(self, generator: Iterator[int], max_tokens: int | None) -> StopReason:
        import llama_cpp

        vocab = self.llm._model.vocab
        for token in generator:
            now = time.perf_counter()
            self.samples += 1
            if self.first_at is None:
                self.first_at = now
                self.prompt_evaluated = self.evaluated
                self.pace.prompt_measured(self.evaluated, now - self.started)
                self._send({"id": self.request_id, "event": "prompt_done"})
                self.heartbeat.sent()
            else:
                self.pace.token_measured(now - self.last_at)
            self.last_at = now
            self.heartbeat.within = self.pace.token_seconds
            self.heartbeat()
            if self._cancelled():
                return "cancelled"
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                return "eos"
            self.completion += 1
            if self._add_text(token_bytes(self.llm, token)):
                return "stop"
            self._send_due_text()
            if max_tokens is not None and self.completion >= max_tokens:
                return "length"
            if self.llm.n_tokens >= self.n_ctx:
                return "context"
        return "length"

    def _add_text(self, data: bytes) -> bool:
        """Append a token's bytes to the answer; True when a stop string ends it there."""
        self.text += self._decoder.decode(data)
        if not self._stops:
            return False
        cut = find_stop(self.text, self._stops, max(0, self.emitted - self._longest_stop))
        if cut is None:
            return False
        self.text = self.text[: max(cut, self.emitted)]
        return True

    def _send_due_text(self) -> None:
        """Send the text not sent yet, if ``send_every`` has passed since the last piece;
        a tail that may be the start of a stop string waits."""
        if self.last_at - self.sent_at < self.send_every:
            return
        safe = len(self.text) - held_back(self.text, self._stops)
        if safe > self.emitted:
            self._send_chunk(self.text[self.emitted : safe])
            self.emitted, self.sent_at, self.sent_tokens = safe, self.last_at, self.completion

    def _send_chunk(self, piece: str) -> None:
        """``piece`` and the tokens generated since the last one was sent."""
        tokens = self.completion - self.sent_tokens
        self._send({"id": self.request_id, "event": "chunk", "text": piece, "tokens": tokens})
        self.heartbeat.sent()

    def stats(self, prompt_tokens: int, reason: StopReason) -> GenerationStats:
        first_at = self.first_at
        prompt_seconds = (first_at - self.started) if first_at is not None else 0.0
        generation_seconds = self.last_at - first_at if first_at is not None else 0.0
        evaluated = self.prompt_evaluated
        return GenerationStats(
            prompt_tokens=prompt_tokens,
            prompt_tokens_evaluated=evaluated,
            completion_tokens=self.completion,
            prompt_seconds=prompt_seconds,
            prompt_tps=evaluated / prompt_seconds if prompt_seconds > 0 else 0.0,
            ttft_seconds=(first_at - self.received) if first_at is not None else 0.0,
            generation_seconds=generation_seconds,
            generation_tps=(
                (self.samples - 1) / generation_seconds if generation_seconds > 0 else 0.0
            ),
            stop_reason=reason,
        )
