"""Helpers for tests that drive a ChatSession on a real worker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

from tui.chat.events import SessionEvent
from tui.engine.client import EngineClient
from tui.engine.protocol import LoadParams


@contextmanager
def loaded_engine(model: Path, n_ctx: int) -> Iterator[EngineClient]:
    """A worker with ``model`` loaded on 2 threads, shut down afterwards."""
    client = EngineClient()
    try:
        client.load(LoadParams(path=str(model), n_ctx=n_ctx, n_threads=2))
        yield client
    finally:
        client.shutdown()


async def collect(events: AsyncIterator[SessionEvent]) -> list[SessionEvent]:
    return [event async for event in events]
