"""Start-up: time from ``burrow`` to the first drawn frame, and import time of the headless core.

    python bench/startup.py               # 5 runs of each, interleaved
    python bench/startup.py --runs 2 --json

Each figure is measured in a fresh interpreter (a child process), from the moment the parent
starts it to the moment the child reports, so interpreter start-up is included as a user
would feel it:

- first frame: the ``burrow`` entry path (argument parser with every subcommand, then the
  app with its real services; the model loads in the background and is not waited for)
  until the first frame is drawn (headless, but rendered to terminal bytes);
- baseline: a minimal Textual app (one ``Static``) to its first frame, same method;
- headless core import: ``tui.engine.client``, ``tui.chat.session``, ``tui.store``,
  ``tui.settings``; baseline: an interpreter that imports nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import emit, median, private_home, progress  # noqa: E402


def _report(**values: Any) -> None:
    print(json.dumps({"at": time.time(), **values}), flush=True)


def child(kind: str) -> None:
    if kind == "bare":
        _report()
        return
    if kind == "core":
        import importlib

        for name in ("tui.engine.client", "tui.chat.session", "tui.store", "tui.settings"):
            importlib.import_module(name)
        _report(textual_loaded="textual" in sys.modules, rich_loaded="rich" in sys.modules)
        return
    import asyncio

    async def run_app(app: Any) -> None:
        from _common import PaintRecorder

        painted = asyncio.Event()
        recorder = PaintRecorder(app)
        first: list[float] = []

        def hook(now: float) -> None:
            if not first:
                first.append(time.time())
                painted.set()

        recorder.hooks.append(hook)
        async with app.run_test(size=(80, 24)):
            await asyncio.wait_for(painted.wait(), 60)
            print(json.dumps({"at": first[0]}), flush=True)
            app.exit(0)

    if kind == "minimal":
        from textual.app import App, ComposeResult
        from textual.widgets import Static

        class Minimal(App[None]):
            def compose(self) -> ComposeResult:
                yield Static("hello")

        asyncio.run(run_app(Minimal()))
        return
    # "burrow": the entry point's path, minus app.run() (a real terminal)
    from tui.cli import build_parser

    build_parser().parse_args([])
    from tui.ui.app import BurrowApp
    from tui.ui.services import Services

    asyncio.run(run_app(BurrowApp(Services())))


def spawn(kind: str) -> float:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE.parent), env.get("PYTHONPATH", "")])
    started = time.time()
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", kind],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            return float(json.loads(line)["at"]) - started
    raise RuntimeError(f"{kind}: no report\n{proc.stderr[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child)
        return 0
    kinds = ("burrow", "minimal", "core", "bare")
    times: dict[str, list[float]] = {k: [] for k in kinds}
    with private_home():
        for i in range(args.runs):
            order = kinds if i % 2 == 0 else tuple(reversed(kinds))
            for kind in order:
                progress(f"run {i + 1}/{args.runs}: {kind}")
                times[kind].append(spawn(kind))
    m = {k: median(v) for k, v in times.items()}
    result = {
        "benchmark": "startup",
        "runs": args.runs,
        "first_frame_seconds": m["burrow"],
        "minimal_textual_first_frame_seconds": m["minimal"],
        "first_frame_ratio_vs_minimal_textual": m["burrow"] / m["minimal"],
        "core_import_process_seconds": m["core"],
        "bare_interpreter_seconds": m["bare"],
        "core_import_seconds": m["core"] - m["bare"],
        "samples": times,
    }
    rows = [
        ("burrow → first frame, s", f"{m['burrow']:.3f}"),
        ("minimal Textual app → first frame, s", f"{m['minimal']:.3f}"),
        ("ratio", f"{result['first_frame_ratio_vs_minimal_textual']:.2f}"),
        ("headless core import (beyond a bare interpreter), s", f"{m['core'] - m['bare']:.3f}"),
        ("bare interpreter start, s", f"{m['bare']:.3f}"),
    ]
    emit(result, rows, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
