"""Helpers for the app's pilot tests (``tests/test_ui_*.py``)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from textual.message import Message
from textual.pilot import Pilot

from tui.settings import Settings
from tui.ui.app import BurrowApp
from tui.ui.messages import Answer
from tui.ui.screens.chat import ChatScreen
from tui.ui.services import Services
from tui.ui.widgets.composer import Composer
from tui.ui.widgets.message_view import MessageView

#: Small, fast answers from the real bundled model.
FAST = {"max_tokens": 24, "temperature": 0.0, "seed_mode": "fixed", "seed": 7, "n_ctx": 1024}


def make_app(
    model: Path | str,
    *,
    engine: Any | None = None,
    incognito: bool = False,
    **settings: Any,
) -> BurrowApp:
    values = {**FAST, **settings}
    services = Services(engine=engine, settings=Settings().replace(**values), model=str(model))
    return BurrowApp(services, incognito=incognito)


class Recorder:
    """A ``message_hook`` that keeps the answer lifecycle messages, in order."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def __call__(self, message: Message) -> None:
        if isinstance(message, Answer.Started | Answer.Chunk | Answer.Finished | Answer.Failed):
            self.messages.append(message)

    def of(self, kind: type[Message]) -> list[Any]:
        return [m for m in self.messages if isinstance(m, kind)]


async def wait_for(
    pilot: Pilot[Any], condition: Callable[[], bool], timeout: float = 60.0, what: str = ""
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await pilot.pause(0.05)


def chat(app: BurrowApp) -> ChatScreen:
    assert app.chat is not None
    return app.chat


async def wait_ready(pilot: Pilot[Any], app: BurrowApp, timeout: float = 90.0) -> None:
    await wait_for(
        pilot,
        lambda: app.chat is not None and app.chat.model_ready,
        timeout,
        f"the model to load (state: {app.model_state.state} {app.model_state.detail})",
    )


async def ask(pilot: Pilot[Any], app: BurrowApp, text: str, timeout: float = 120.0) -> None:
    """Type ``text`` in the composer, press Enter and wait for the answer to end."""
    screen = chat(app)
    screen.query_one(Composer).focus()
    await pilot.press(*text)
    async with answer(pilot, app, timeout):
        await pilot.press("enter")


@asynccontextmanager
async def answer(pilot: Pilot[Any], app: BurrowApp, timeout: float = 120.0) -> AsyncIterator[None]:
    """Wait, after the body, for one more answer to end (it may start and end at once)."""
    screen = chat(app)
    before = screen.answers_ended
    yield
    await wait_for(pilot, lambda: screen.answers_ended > before, timeout, "the answer to end")
    await pilot.pause(0.1)


async def wait_idle(pilot: Pilot[Any], app: BurrowApp, timeout: float = 120.0) -> None:
    screen = chat(app)
    await wait_for(pilot, lambda: not screen.streaming, timeout, "the answer to end")
    await pilot.pause(0.1)


def views(app: BurrowApp) -> list[MessageView]:
    return list(chat(app).query(MessageView))
