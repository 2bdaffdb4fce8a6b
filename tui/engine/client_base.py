"""What every engine client (the worker's and llama-server's) shares: generate and cancel
over the client's own ``_generate``, and the asyncio face.

Each asyncio call runs the blocking one in a thread so an event loop (the app) never waits
on the engine; :meth:`EngineClientBase.agenerate` paces the streamed text for a screen."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tui.engine.delivery import TextDelivery
from tui.engine.protocol import (
    Failed,
    Finished,
    GenerationEvent,
    LoadParams,
    ModelInfo,
    Prompt,
    SamplingParams,
)


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class EngineClientBase:
    """The base of an engine client that has the blocking methods declared below; its
    ``__init__`` calls :meth:`_init_running`."""

    if TYPE_CHECKING:

        def start(self) -> int: ...
        def load(self, params: LoadParams) -> ModelInfo: ...
        def unload(self) -> None: ...
        def restart(self) -> ModelInfo | None: ...
        def shutdown(self) -> None: ...
        def tokenize(
            self, text: str, *, special: bool = False, add_bos: bool = False
        ) -> list[int]: ...
        def count_tokens(self, prompt: Prompt, *, add_bos: bool = False) -> int: ...
        def save_state(self, path: str | Path) -> int: ...
        def load_state(self, path: str | Path) -> int: ...
        def system_info(self) -> dict[str, Any]: ...
        def _new_cancel(self) -> Cancellable: ...
        def _generate(
            self,
            prompt: Prompt,
            params: SamplingParams,
            add_bos: bool,
            cancel: Any,
            send_every: float = 0.0,
        ) -> Iterator[GenerationEvent]: ...

    def _init_running(self) -> None:
        self._running: set[Cancellable] = set()
        self._running_lock = threading.Lock()

    @contextmanager
    def _running_generation(self, cancel: Cancellable) -> Iterator[None]:
        """Keeps ``cancel`` where :meth:`cancel` reaches it while a generation runs."""
        with self._running_lock:
            self._running.add(cancel)
        try:
            yield
        finally:
            with self._running_lock:
                self._running.discard(cancel)

    def cancel(self) -> None:
        """Stop every running generation after its next token. Thread-safe."""
        with self._running_lock:
            running = list(self._running)
        for cancel in running:
            cancel.cancel()

    def generate(
        self,
        prompt: Prompt,
        params: SamplingParams | None = None,
        *,
        add_bos: bool = True,
        send_every: float = 0.0,
    ) -> Iterator[GenerationEvent]:
        """Stream an answer: TextChunk* then exactly one Finished or Failed. Never raises
        for engine trouble (that is a Failed event) and never hangs on a dead engine.

        ``send_every`` (seconds): text comes at most this often (for the worker, never more
        often than ``generation.SEND_EVERY``); the first piece comes at once, the end is
        never held back."""
        cancel = self._new_cancel()
        return self._generate(prompt, params or SamplingParams(), add_bos, cancel, send_every)

    # ---------------------------------------------------------------- asyncio
    async def astart(self) -> int:
        return await asyncio.to_thread(self.start)

    async def aload(self, params: LoadParams) -> ModelInfo:
        return await asyncio.to_thread(self.load, params)

    async def aunload(self) -> None:
        await asyncio.to_thread(self.unload)

    async def arestart(self) -> ModelInfo | None:
        return await asyncio.to_thread(self.restart)

    async def ashutdown(self) -> None:
        await asyncio.to_thread(self.shutdown)

    async def atokenize(
        self, text: str, *, special: bool = False, add_bos: bool = False
    ) -> list[int]:
        return await asyncio.to_thread(self.tokenize, text, special=special, add_bos=add_bos)

    async def acount_tokens(self, prompt: Prompt, *, add_bos: bool = False) -> int:
        return await asyncio.to_thread(self.count_tokens, prompt, add_bos=add_bos)

    async def asave_state(self, path: str | Path) -> int:
        return await asyncio.to_thread(self.save_state, path)

    async def aload_state(self, path: str | Path) -> int:
        return await asyncio.to_thread(self.load_state, path)

    async def asystem_info(self) -> dict[str, Any]:
        return await asyncio.to_thread(self.system_info)

    async def agenerate(
        self,
        prompt: Prompt,
        params: SamplingParams | None = None,
        *,
        add_bos: bool = True,
        interval: float | Callable[[], float] = 0.0,
    ) -> AsyncIterator[GenerationEvent]:
        """The asyncio twin of ``generate``. Leaving the loop early (break, task cancelled)
        cancels the generation in the engine.

        ``interval`` (seconds) paces the text for a screen: the first piece comes at once,
        then the pieces that arrive within ``interval`` of the last delivery come together
        as one ``TextChunk`` (``tokens`` counts them), so the event loop wakes once per
        frame instead of once per token. ``interval`` may be a function, asked before each
        delivery (a screen that adapts its redraw rate). The end of the stream is never
        delayed. A consumer slower than the model gets everything queued as one chunk
        either way."""
        cancel = self._new_cancel()
        delivery = TextDelivery(asyncio.get_running_loop(), interval)
        # The engine sends text twice per interval (as it stands at the start): each piece
        # wakes two threads here, on the CPUs llama.cpp's threads need, and preempts one of
        # them; half the interval keeps the pieces in step with the deliveries.
        send_every = delivery.interval() / 2
        delivery.feed_from(
            self._generate(prompt, params or SamplingParams(), add_bos, cancel, send_every),
            cancel.cancel,
        )
        finished = False
        try:
            while (item := await delivery.next_event()) is not None:
                finished = isinstance(item, Finished | Failed)
                yield item
                if finished:
                    return
        finally:
            if not finished:
                cancel.cancel()
