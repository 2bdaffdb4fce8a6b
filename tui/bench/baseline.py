"""The raw baseline: a plain llama-cpp-python loop in a child process (:mod:`tui.bench.rawloop`),
driven one step at a time so its runs can be interleaved with Burrow's and both see the same
contention on a shared CPU.

Its answers are the child's JSON objects as dictionaries: the scripts in ``bench/`` read
fields from them by name.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

#: How to start the child: this interpreter running the raw loop's module.
CHILD_COMMAND = [sys.executable, "-m", "tui.bench.rawloop"]


class RawBaseline:
    """A raw llama-cpp-python loop on ``model`` in a child process; it loads on creation."""

    def __init__(
        self,
        model: str,
        *,
        n_ctx: int,
        n_threads: int,
        n_batch: int = 512,
        extra_bufts: bool = False,
    ) -> None:
        from tui import paths

        log_path = paths.log_dir() / "bench-baseline.log"
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            CHILD_COMMAND,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=_child_env(),
        )
        self.load = self.call(
            "load",
            model=model,
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_batch=n_batch,
            extra_bufts=extra_bufts,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def call(self, op: str, **fields: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write((json.dumps({"op": op, **fields}) + "\n").encode())
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            raise RuntimeError(f"the baseline process died (exit {code}); see its log")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"baseline: {answer['error']}")
        return answer

    def prompt(self, text: str) -> dict[str, Any]:
        """Process ``text`` and sample one token: prompt_tokens, prompt_seconds, ttft."""
        return self.call("prompt", text=text)

    def generate(self, text: str, n_tokens: int) -> dict[str, Any]:
        """Generate up to ``n_tokens`` greedily: tokens, seconds, tps (first to last)."""
        return self.call("generate", text=text, n_tokens=n_tokens)

    def count(self, text: str) -> int:
        return int(self.call("count", text=text)["tokens"])

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(RuntimeError, OSError, ValueError):
                self.call("quit")
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def _child_env() -> dict[str, str]:
    """The environment, with this source tree first on the path when running from a
    checkout (so the child runs the same code as its parent, not an installed copy)."""
    env = dict(os.environ)
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file():
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH", "")) if p)
    return env
