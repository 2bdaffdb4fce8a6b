"""The local engine's process side with a stand-in for the llama-server binary
(``tests/fake_llama_server.py``, a test double: the real binary is built by
``scripts/build-llama-server.sh`` and ``test_llama_server.py`` runs against it when present).

What is checked here is Burrow's own work: the child on a Unix socket in the private run
folder and no TCP socket, its log in the engine log, a kill mid-answer (text kept, the next
request starts it again), a cancel, slot files moved into and out of Burrow's folder, the
prefix reuse figures, shutdown leaving nothing behind, and ``burrow ask --engine local``.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_helpers import socket_inodes, table_inodes

from tui.cli import main
from tui.engine.protocol import Failed, Finished, LoadParams, SamplingParams, TextChunk
from tui.engine.server_client import LocalServerClient

SHORT = SamplingParams(temperature=0, max_tokens=8)
LONG = SamplingParams(temperature=0, max_tokens=300)


@pytest.fixture
def client(fake_binary: str, tmp_path: Path, smollm2_path: Path) -> Iterator[LocalServerClient]:
    engine = LocalServerClient(binary=fake_binary, log_path=tmp_path / "engine.log")
    engine.load(LoadParams(path=str(smollm2_path), n_ctx=512, n_threads=2))
    yield engine
    engine.shutdown()


def final(events: list[object]) -> Finished:
    last = events[-1]
    assert isinstance(last, Finished), last
    assert "".join(e.text for e in events[:-1] if isinstance(e, TextChunk)) == last.text
    return last


def test_the_server_is_a_child_on_a_private_unix_socket(client: LocalServerClient) -> None:
    server = client._server
    assert server is not None and client.worker_pid == server.pid != os.getpid()
    assert server.socket_path.name.endswith(".sock") and server.socket_path.is_socket()
    assert stat.S_IMODE(server.dir.stat().st_mode) == 0o700
    assert "--host" in server.argv and str(server.socket_path) in server.argv
    assert "--port" not in server.argv
    assert final(list(client.generate("hi", SHORT))).text == "abcdefgh"
    mine = socket_inodes(server.pid)
    assert mine & table_inodes("unix")
    for table in ("tcp", "tcp6", "udp", "udp6"):
        assert not mine & table_inodes(table), table


def test_its_output_goes_to_the_engine_log(client: LocalServerClient) -> None:
    assert "fake llama-server: loading model" in client.log_path.read_text()


def test_model_info_and_tokens(client: LocalServerClient, smollm2_path: Path) -> None:
    info = client.model
    assert info is not None and info.path == str(smollm2_path) and info.n_ctx == 512
    assert info.architecture == "llama" and info.quantization == "Q4_1"  # from the file
    assert client.tokenize("ab") == [97, 98]
    assert client.count_tokens([("<x>", True), ("ab", False)]) == 5
    assert client.detokenize([104, 105]) == "hi"


def test_killed_mid_answer_keeps_the_text_and_starts_again(client: LocalServerClient) -> None:
    pid = client.worker_pid
    assert pid is not None
    events: list[object] = []
    for event in client.generate("story", LONG):
        events.append(event)
        if len(events) == 2:
            os.kill(pid, signal.SIGKILL)
    failed = events[-1]
    assert isinstance(failed, Failed) and failed.kind == "crash", failed
    assert "SIGKILL" in failed.error and "kept" in failed.error
    assert any(isinstance(e, TextChunk) and e.text for e in events)
    again = final(list(client.generate("hi", SHORT)))
    assert again.text and client.worker_pid not in (None, pid)


def test_cancel_ends_with_the_text_so_far(client: LocalServerClient) -> None:
    events: list[object] = []
    for event in client.generate("story", LONG):
        events.append(event)
        if len(events) == 2:
            threading.Thread(target=client.cancel).start()
    done = final(events)
    assert done.stats.stop_reason == "cancelled" and 0 < len(done.text) < 300


def test_slot_save_restore_and_prefix_reuse(client: LocalServerClient, tmp_path: Path) -> None:
    first = final(list(client.generate("question", SHORT)))
    path = tmp_path / "states" / "conv.kvstate"
    saved = client.save_state(path)
    assert saved == len("question") + 8
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    server = client._server
    assert server is not None and not list(server.slots.iterdir())
    final(list(client.generate("other", SHORT)))
    assert client.load_state(path) == saved
    assert not list(server.slots.iterdir())
    again = final(
        list(client.generate([("question", True), (first.text, False), ("!", False)], SHORT))
    )
    assert again.stats.prompt_tokens_evaluated == 1 < again.stats.prompt_tokens


def test_shutdown_leaves_nothing_behind(client: LocalServerClient) -> None:
    server = client._server
    assert server is not None
    client.shutdown()
    assert server.proc.returncode is not None
    assert not server.socket_path.exists() and not server.slots.exists()
    assert client.model is None


def test_burrow_ask_engine_local(
    fake_binary: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BURROW_LLAMA_SERVER", fake_binary)
    code = main(
        ["ask", "--engine", "local", "--max-tokens", "6", "--ctx", "512", "--json", "What is 2+2?"]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    result = json.loads(out)
    assert result["status"] == "done" and result["answer"] == "abcdef"
    assert result["stats"]["completion_tokens"] == 6


def test_burrow_bench_engine_local(
    fake_binary: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    smollm2_path: Path,
) -> None:
    """The plumbing of ``burrow bench --engine local`` (the figures of a stand-in server mean
    nothing; docs/performance.md has the real ones)."""
    monkeypatch.setenv("BURROW_LLAMA_SERVER", fake_binary)
    argv = [
        "bench",
        "--engine",
        "local",
        "--model",
        str(smollm2_path),
        "--threads",
        "2",
        "--ctx",
        "256",
        "--prompt-tokens",
        "48",
        "--gen-tokens",
        "8",
        "--repeat",
        "1",
        "--json",
        "--no-save",
    ]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["engine"] == "local"
    assert result["generated_tokens"] == 8 and result["generation_tps"] > 0
    assert result["worker_peak_rss_bytes"] > 0  # llama-server's own peak
    assert "llama-server" in (result["device"]["llama_cpp_system_info"] or "")


def test_burrow_doctor_reports_each_engine(
    fake_binary: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BURROW_LLAMA_SERVER", fake_binary)
    assert main(["config", "set", "server_url", "http://llm.example.org"]) == 0
    capsys.readouterr()
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "engines: auto -> embedded" in out
    assert "embedded  installed" in out
    assert f"local     {fake_binary}" in out
    assert "remote    REFUSED: http://llm.example.org: plain http:// to a public address" in out
    assert main(["config", "set", "server_url", "https://llm.example.org:8443"]) == 0
    capsys.readouterr()
    assert main(["doctor", "--json"]) == 0
    remote = json.loads(capsys.readouterr().out)["engines"]["remote"]
    assert remote["host"] == "llm.example.org:8443" and remote["encrypted"] is True
    assert remote["confirmed"] is False and remote["api_key"] is False
