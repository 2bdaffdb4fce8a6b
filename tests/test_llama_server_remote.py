"""Remote mode against the real llama-server on loopback TCP (a stand-in for a server on
another machine), with an API key and with a wrong one; the URL rules; the host
confirmation; ``burrow ask --engine local|URL``; and local mode with the network blocked in
Burrow's process.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_helpers import require_binary, tcp_server
from test_ui_offline import no_network  # noqa: F401  (the fixture)

from tui.cli import main
from tui.engine.client import EngineError, ModelLoadError
from tui.engine.engines import (
    HostNotConfirmed,
    check_url,
    confirm_host,
    host_confirmed,
    make_engine,
    resolve_kind,
)
from tui.engine.protocol import Finished, LoadParams, SamplingParams
from tui.engine.server_client import LocalServerClient, RemoteServerClient
from tui.settings import Settings

GREEDY = SamplingParams(temperature=0, seed=1, max_tokens=8)
PROMPT = [
    ("<|im_start|>user\n", True),
    ("Say hi.", False),
    ("<|im_end|>\n<|im_start|>assistant\n", True),
]


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory, smollm2_path: Path) -> Iterator[str]:
    log = tmp_path_factory.mktemp("remote") / "server.log"
    with tcp_server(require_binary(), smollm2_path, log, api_key="letmein") as url:
        yield url


def test_remote_with_the_right_key(keyed_server: str) -> None:
    settings = Settings().replace(server_url=keyed_server, server_api_key="letmein")
    engine = make_engine("remote", settings, trusted=True)
    assert isinstance(engine, RemoteServerClient)
    info = engine.load(LoadParams(path="remote"))
    assert info.n_ctx == 1024 and info.has_chat_template
    assert info.path.startswith("127.0.0.1:")
    assert engine.label == f"remote: {info.path.split('/')[0]}"
    final = list(engine.generate(PROMPT, GREEDY))[-1]
    assert isinstance(final, Finished) and final.text
    assert engine.count_tokens(PROMPT) > 5
    assert not engine.supports_state
    with pytest.raises(EngineError, match="no state files"):
        engine.save_state("/tmp/never-written")


def test_remote_with_a_wrong_key_or_none(keyed_server: str) -> None:
    for key in ("wrong", ""):
        settings = Settings().replace(server_url=keyed_server, server_api_key=key)
        engine = make_engine(keyed_server, settings, trusted=True)
        with pytest.raises(ModelLoadError, match="refused the API key"):
            engine.load(LoadParams(path="remote"))


def test_a_host_is_confirmed_once(keyed_server: str) -> None:
    settings = Settings().replace(server_api_key="letmein")
    host = keyed_server.removeprefix("http://")
    assert not host_confirmed(host)
    with pytest.raises(HostNotConfirmed, match=host):
        make_engine(keyed_server, settings)
    confirm_host(host)
    assert isinstance(make_engine(keyed_server, settings), RemoteServerClient)


@pytest.mark.parametrize(
    ("url", "allow", "problem"),
    [
        ("https://llm.example.org", False, None),
        ("http://127.0.0.1:8080", False, None),
        ("http://localhost:8080", False, None),
        ("http://[::1]:8080", False, None),
        ("http://192.168.1.20:8080", False, "unencrypted"),
        ("http://192.168.1.20:8080", True, None),
        ("http://10.0.0.5", True, None),
        ("http://llm.example.org", True, "public address"),
        ("http://8.8.8.8", True, "public address"),
        ("ftp://host", False, "starts with https://"),
        ("https://user:pw@host", False, "API key"),
        ("https://", False, "no host"),
    ],
)
def test_url_rules(url: str, allow: bool, problem: str | None) -> None:
    if problem is None:
        target = check_url(url, allow_plain_http=allow)
        assert target.marker.startswith(f"remote: {target.host}")
        plain = url.startswith("http://") and not any(
            local in url for local in ("127.0.0.1", "localhost", "[::1]")
        )
        assert target.marker.endswith("(unencrypted)") == plain
    else:
        with pytest.raises(EngineError, match=problem):
            check_url(url, allow_plain_http=allow)


def test_engine_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert resolve_kind("embedded", settings) == "embedded"
    assert resolve_kind("local", settings) == "local"
    assert resolve_kind("https://x.example", settings) == "remote"
    assert resolve_kind(None, settings.replace(engine="local")) == "local"
    assert resolve_kind(None, settings) == "embedded"  # auto, llama-cpp-python installed
    monkeypatch.setattr("tui.engine.engines.embedded_available", lambda: False)
    monkeypatch.setattr("tui.engine.server_process.find_llama_server", lambda c=None: "/x")
    assert resolve_kind(None, settings) == "local"  # auto without llama-cpp-python
    with pytest.raises(EngineError, match="unknown engine"):
        resolve_kind("gpu", settings)
    with pytest.raises(EngineError, match="not installed"):
        make_engine("embedded", settings)
    assert isinstance(make_engine("local", settings), LocalServerClient)


def test_burrow_ask_engine_local(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BURROW_LLAMA_SERVER", require_binary())
    code = main(
        [
            "ask",
            "--engine",
            "local",
            "--temperature",
            "0",
            "--max-tokens",
            "8",
            "--ctx",
            "512",
            "--json",
            "What is 2+2?",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    result = json.loads(out)
    assert result["status"] == "done" and result["answer"]
    assert result["stats"]["completion_tokens"] <= 8


def test_burrow_ask_engine_url_needs_confirmation(
    keyed_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "set", "server_api_key", "letmein"]) == 0
    args = ["ask", "--engine", keyed_server, "--max-tokens", "4", "--no-save", "Hi"]
    assert main(args) != 0
    captured = capsys.readouterr()
    assert "has not sent anything to this server" in captured.err
    assert main([*args[:-1], "--trust-host", "Hi"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip()
    assert f"answering with remote: {keyed_server.removeprefix('http://')}" in captured.err


def test_burrow_ask_remote_is_not_weighed_against_this_device_s_memory(
    keyed_server: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tui.engine import memory

    monkeypatch.setattr(memory, "available_bytes", lambda: 1024)  # nothing free here
    assert main(["config", "set", "server_api_key", "letmein"]) == 0
    args = ["ask", "--engine", keyed_server, "--trust-host", "--max-tokens", "4", "--no-save"]
    assert main([*args, "--ctx", "1024", "Hi"]) == 0, capsys.readouterr().err
    assert capsys.readouterr().out.strip()
    # The same question on this device is refused before loading.
    assert main(["ask", "--max-tokens", "4", "--no-save", "--ctx", "1024", "Hi"]) != 0
    assert "is free" in capsys.readouterr().err


def test_local_mode_opens_no_network_socket_here(
    no_network: list[str],  # noqa: F811
    smollm2_path: Path,
    tmp_path: Path,
) -> None:
    """Burrow's side of the local engine uses only its Unix socket (the server's side:
    test_llama_server.py::test_unix_socket_only_no_tcp)."""
    client = LocalServerClient(binary=require_binary(), log_path=tmp_path / "engine.log")
    try:
        client.load(LoadParams(path=str(smollm2_path), n_ctx=512, n_threads=2))
        final = list(client.generate(PROMPT, GREEDY))[-1]
        assert isinstance(final, Finished)
    finally:
        client.shutdown()
    assert no_network == [], f"tried the network: {no_network}"
