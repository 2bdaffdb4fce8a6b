"""Keystroke latency while an answer streams: key press to the frame that shows it, p95.

    python bench/keystroke.py                  # 60 keys while streaming, 60 while idle
    python bench/keystroke.py --keys 20 --json

The app runs headlessly with the real worker; frames are rendered to terminal bytes as a
real terminal run would. A key is sent the way a terminal delivers it (through the driver),
every ``--interval`` seconds, into the composer (typing the next question while the answer
streams); its latency is the time until the first frame drawn after the composer's text
changed. The baseline is the same measurement with the app idle, in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from _common import (
    PaintRecorder,
    emit,
    make_app,
    median,
    model_path,
    percentile,
    private_home,
    progress,
    wait_until,
)

QUESTION = (
    "Write a long story about a dragon who learns to bake bread. Make it at least 1000 words."
)


async def keystroke(app: Any, paints: PaintRecorder, composer: Any, char: str) -> float:
    from textual import events

    before = composer.text
    seen: list[float] = []
    done = asyncio.Event()

    def hook(now: float) -> None:
        if not seen and composer.text != before:
            seen.append(now)
            done.set()

    paints.hooks.append(hook)
    try:
        event = events.Key(char, char)
        event.set_sender(app)
        started = time.perf_counter()
        app._driver.send_message(event)
        await asyncio.wait_for(done.wait(), 30)
    finally:
        paints.hooks.remove(hook)
    return seen[0] - started


async def measure(model: str, keys: int, interval: float, threads: int) -> dict[str, Any]:
    from tui.ui.widgets.composer import Composer

    app = make_app(model, max_tokens=4096, n_threads=threads)
    paints = PaintRecorder(app)
    streaming: list[float] = []
    idle: list[float] = []
    letters = "abcdefghijklmnopqrstuvwxyz"
    async with app.run_test(size=(80, 30)) as pilot:
        await wait_until(pilot, lambda: app.chat and app.chat.model_ready, 300, "the model")
        screen = app.chat
        composer = screen.query_one(Composer)
        composer.focus()
        progress(f"{keys} keys with the app idle")
        for i in range(keys):
            idle.append(await keystroke(app, paints, composer, letters[i % 26]))
            await asyncio.sleep(interval)
        composer.load_text(QUESTION)
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.streaming, 60, "the answer to start")
        await wait_until(pilot, lambda: screen.answer_stream.tokens > 2, 300, "the first tokens")
        progress(f"{keys} keys while the answer streams")
        composer.focus()
        for i in range(keys):
            if not screen.streaming:
                break
            streaming.append(await keystroke(app, paints, composer, letters[i % 26]))
            await asyncio.sleep(interval)
        screen.action_stop()
        await wait_until(pilot, lambda: not screen.streaming, 60, "the answer to stop")
    p95_s, p95_i = percentile(streaming, 0.95), percentile(idle, 0.95)
    return {
        "benchmark": "keystroke",
        "model": model,
        "keys_streaming": len(streaming),
        "keys_idle": len(idle),
        "p95_streaming_ms": 1000 * p95_s,
        "p50_streaming_ms": 1000 * median(streaming),
        "p95_idle_ms": 1000 * p95_i,
        "p50_idle_ms": 1000 * median(idle),
        "p95_ratio_vs_idle": p95_s / p95_i if p95_i else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--keys", type=int, default=60)
    parser.add_argument("--interval", type=float, default=0.15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with private_home():
        result = asyncio.run(
            measure(model_path(args.model), args.keys, args.interval, args.threads)
        )
    rows = [
        ("keys measured (streaming / idle)", f"{result['keys_streaming']} / {result['keys_idle']}"),
        ("p95 while streaming, ms", f"{result['p95_streaming_ms']:.1f}"),
        ("p50 while streaming, ms", f"{result['p50_streaming_ms']:.1f}"),
        ("p95 idle, ms", f"{result['p95_idle_ms']:.1f}"),
        ("p95 streaming ÷ idle", f"{result['p95_ratio_vs_idle']:.2f}"),
    ]
    emit(result, rows, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
