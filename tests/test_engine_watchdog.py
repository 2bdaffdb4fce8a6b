"""The hung-worker watchdog: a worker that stops making progress (SIGSTOP) while it answers or
loads is reported as "stopped responding", and the next request starts a fresh one.

Real worker processes and real signals; the floor of the watchdog is shrunk to a few
seconds through its environment variable so a stop is seen quickly.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tui.engine.client import EngineClient, ModelLoadError
from tui.engine.heartbeat import FLOOR_ENV, Heartbeat, Watchdog, beating_in_compute
from tui.engine.loading import STOP_WHILE_LOADING_ENV, open_llama
from tui.engine.protocol import Failed, Finished, LoadParams, SamplingParams, TextChunk

pytestmark = pytest.mark.slow

LONG = SamplingParams(temperature=0.8, seed=3, max_tokens=400)


def state(pid: int) -> str:
    """The process's state letter (``T`` stopped, ``Z`` zombie), "" once reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def gone(pid: int) -> bool:
    """The process no longer runs (reaped, or a zombie waiting for its parent)."""
    return state(pid) in ("", "Z")


@contextlib.contextmanager
def resumed_at_end(pid: int) -> Iterator[None]:
    """Never leave a stopped process behind, whatever the test does."""
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


def test_stop_mid_answer_is_reported_and_the_next_request_restarts(
    smollm2_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with EngineClient() as client:
        client.load(LoadParams(path=str(smollm2_path), n_ctx=512, extra_bufts=False))
        monkeypatch.setenv(FLOOR_ENV, "3")
        pid = client.worker_pid
        assert pid is not None
        events = []
        with resumed_at_end(pid):
            for event in client.generate("Once upon a time, a dragon", LONG):
                events.append(event)
                if len(events) == 2:
                    os.kill(pid, signal.SIGSTOP)
            final = events[-1]
            assert isinstance(final, Failed), final
            assert final.kind == "hung"
            assert "stopped responding while answering" in final.error
            assert re.search(r"no sign of progress for \d+ s", final.error)
            assert all(isinstance(e, TextChunk) for e in events[:-1])
            monkeypatch.delenv(FLOOR_ENV)  # a busy test machine may start a worker slowly
            # The next request does not queue behind the stopped worker: a new one answers.
            events = list(client.generate("The capital of France is", LONG))
            assert isinstance(events[-1], Finished), events[-1]
            assert client.worker_pid not in (None, pid)
            assert gone(pid)


def test_stop_while_loading_is_reported_and_a_retry_loads(
    tiny_synthetic_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FLOOR_ENV, "3")
    params = LoadParams(path=str(tiny_synthetic_path), n_ctx=256, extra_bufts=False)
    with EngineClient(env={STOP_WHILE_LOADING_ENV: "1"}) as client:
        pid = client.start()
        with resumed_at_end(pid):
            with pytest.raises(ModelLoadError) as caught:
                client.load(params)
            assert state(pid) == "T"  # stopped in the loader, not merely slow to start
        assert "stopped responding while loading it" in str(caught.value)
        assert str(tiny_synthetic_path) in str(caught.value)
        assert client.model is None
    assert gone(pid)  # shutting the client down did not wait for a "shutdown" answer
    with EngineClient() as client:
        assert client.load(params).path == str(tiny_synthetic_path)


def test_watchdog_bound_follows_the_measured_pace() -> None:
    watch = Watchdog(floor=30)
    assert watch.bound == 30
    watch.heard({"event": "beat", "within": 20.0})  # a very slow model: 20 s a token
    assert watch.bound == 80
    watch.heard({"event": "chunk", "text": "x"})  # other messages leave the estimate
    assert watch.bound == 80
    watch.heard({"event": "beat", "within": "junk"})
    assert watch.bound == 30


def test_beats_come_from_inside_a_prompt_decode_and_a_load(tiny_synthetic_path: Path) -> None:
    """The two places no Python runs for long stretches: llama.cpp's loader and its graph
    compute. Both call back, so a long load or prompt chunk still shows progress."""
    sent: list[dict[str, object]] = []
    beat = Heartbeat(sent.append, 5, every=0.0)
    params = LoadParams(path=str(tiny_synthetic_path), n_ctx=256)
    llm, _ = open_llama(tiny_synthetic_path, params, False, (1, 1), None, beat)
    try:
        assert sent and all(m == {"id": 5, "event": "beat", "within": 0.0} for m in sent)
        sent.clear()
        with beating_in_compute(llm._ctx.ctx, beat):
            llm.eval(list(range(10, 74)))
        assert len(sent) > 10  # one per graph node, here not rate-limited
        sent.clear()
        llm.eval([80])  # outside: the callback is off again
        assert sent == []
    finally:
        llm.close()
