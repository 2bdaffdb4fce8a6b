"""Write the README's pictures of the chat screen: ``python tests/make_screenshots.py``.

Uses ``ScriptedEngine`` (a TEST DOUBLE of the engine: fixed text, fixed stats) so the
pictures do not change from run to run; store, session and templates are the real ones.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "docs" / "screenshots"
SHOTS = {"chat-phone": (40, 24), "chat-desktop": (120, 40)}


async def shoot(name: str, size: tuple[int, int]) -> None:
    from doubles import ScriptedEngine
    from ui_helpers import ask, make_app, wait_ready

    from tui.ui.widgets.composer import Composer

    with tempfile.TemporaryDirectory() as home:
        os.environ["BURROW_HOME"] = home
        model = Path(home) / "SmolLM2-135M-Instruct.Q4_1.gguf"
        model.write_bytes(b"")
        app = make_app(model, engine=ScriptedEngine(), max_tokens=512, default_template="chatml")
        async with app.run_test(size=size) as pilot:
            await wait_ready(pilot, app, 10)
            app.screen.query_one(Composer).cursor_blink = False
            await ask(pilot, app, "Why is the sky blue?", timeout=20)
            await pilot.pause(0.3)
            app.save_screenshot(f"{name}.svg", str(OUT))
    print(OUT / f"{name}.svg")


def main() -> int:
    sys.path.insert(0, str(HERE))
    OUT.mkdir(parents=True, exist_ok=True)
    for name, size in SHOTS.items():
        asyncio.run(shoot(name, size))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
