"""The llama-server engines when the server misbehaves: unreachable, an error status, a
payload that is not llama-server's, the connection cut mid-answer, a server that stops
answering. A clear message, the text so far kept, no hang.

``MisbehavingServer`` is a test double (a real HTTP server on loopback that answers like
llama-server until told to misbehave): the real llama-server cannot be made to do these.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from server_helpers import free_port

from tui.engine.client import ModelLoadError
from tui.engine.http import Endpoint
from tui.engine.protocol import Failed, Finished, LoadParams, SamplingParams, TextChunk
from tui.engine.server_client import RemoteServerClient

PROPS = {
    "default_generation_settings": {"n_ctx": 512},
    "model_path": "/m/tiny.gguf",
    "chat_template": "",
    "bos_token": "<s>",
    "eos_token": "</s>",
    "build_info": "b1",
}
MODELS = {"data": [{"id": "tiny.gguf", "meta": {"n_vocab": 100, "n_ctx_train": 512}}]}


class MisbehavingServer(ThreadingHTTPServer):
    """Answers /health, /props, /v1/models and /tokenize like llama-server; /completion as
    ``mode`` says."""

    daemon_threads = True

    def __init__(self, mode: str, api_key: str | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode = mode
        self.api_key = api_key
        self.props: dict[str, Any] = PROPS
        self.release = threading.Event()
        self.connections = 0
        self.hang_up_silently = False
        """Close each connection after its answer without saying so (as a server that
        restarted, or dropped idle connections, does to a kept-alive one)."""
        self.held_to_the_end = False
        """A "slow" answer's handler waited until released or timed out (its client never
        went away)."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: MisbehavingServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def _json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        if self.server.hang_up_silently:
            self.close_connection = True

    def _authorized(self) -> bool:
        key = self.server.api_key
        if key and self.headers.get("Authorization") != f"Bearer {key}":
            self._json(401, {"error": {"message": "Invalid API Key", "code": 401}})
            return False
        return True

    def do_GET(self) -> None:
        if self.path == "/health":
            self._json(200, {"status": "ok"})
        elif not self._authorized():
            return
        elif self.path == "/props":
            self._json(200, self.server.props)
        elif self.path == "/v1/models":
            self._json(200, MODELS)
        else:
            self._json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
        if not self._authorized():
            return
        if self.path == "/tokenize":
            content = body.get("content", "")
            tokens = ([1] if body.get("add_special") else []) + [ord(c) % 100 for c in content]
            self._json(200, {"tokens": tokens})
        elif self.path == "/completion":
            self._completion()
        else:
            self._json(404, {"error": {"message": "not found"}})

    def _completion(self) -> None:
        mode = self.server.mode
        if mode == "error":
            self._json(500, {"error": {"message": "the model fell over", "code": 500}})
            return
        if mode == "context":
            self._json(
                400,
                {
                    "error": {
                        "message": "the request exceeds the available context size",
                        "type": "exceed_context_size_error",
                    }
                },
            )
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        self._event({"content": "Hello", "tokens": [5], "stop": False})
        self._event({"content": " there", "tokens": [6], "stop": False})
        if mode == "garbage":
            self.wfile.write(b"data: {this is not json\n\n")
        elif mode == "odd":
            self.wfile.write(b'data: {"content": 42}\n\n')
        elif mode == "slow":
            self.wfile.flush()
            if not self.server.release.wait(30):
                self.server.held_to_the_end = True
        elif mode == "ok":
            self._event(
                {
                    "content": "",
                    "stop": True,
                    "stop_type": "eos",
                    "timings": {
                        "prompt_n": 3,
                        "prompt_ms": 10.0,
                        "predicted_n": 2,
                        "predicted_ms": 20.0,
                        "prompt_per_second": 300.0,
                        "predicted_per_second": 100.0,
                    },
                }
            )
        self.wfile.flush()
        self.close_connection = True  # "drop": cut without the last event

    def _event(self, event: dict[str, Any]) -> None:
        self.wfile.write(b"data: " + json.dumps(event).encode() + b"\n\n")
        self.wfile.flush()


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[MisbehavingServer] = []

    def start(mode: str, api_key: str | None = None) -> MisbehavingServer:
        server = MisbehavingServer(mode, api_key)
        SERVERS[server.server_address[1]] = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.release.set()
        server.shutdown()
        server.server_close()


def remote(url: str, api_key: str | None = None) -> RemoteServerClient:
    client = RemoteServerClient(Endpoint.from_url(url, api_key))
    client.load(LoadParams(path="remote"))
    return client


def answer(client: RemoteServerClient) -> list[object]:
    return list(client.generate("hi", SamplingParams(temperature=0, max_tokens=8)))


def test_a_working_stream(serve: Any) -> None:
    client = remote(serve("ok").url)
    events = answer(client)
    final = events[-1]
    assert isinstance(final, Finished) and final.text == "Hello there"
    assert final.stats.stop_reason == "eos" and final.stats.generation_tps == 100.0
    assert client.model is not None and client.model.n_ctx == 512
    assert client.model.path.endswith("/tiny.gguf") and client.model.add_bos


@pytest.mark.parametrize(
    ("mode", "message", "kind"),
    [
        ("error", "HTTP 500: the model fell over", "error"),
        ("context", "exceeds the available context", "context"),
        ("garbage", "not JSON", "error"),
        ("odd", "unexpected event", "error"),
        ("drop", "closed the connection", "error"),
    ],
)
def test_a_failing_answer_is_a_clear_failure(
    serve: Any, mode: str, message: str, kind: str
) -> None:
    events = answer(remote(serve(mode).url))
    failed = events[-1]
    assert isinstance(failed, Failed), events
    assert message in failed.error and failed.kind == kind
    text = "".join(e.text for e in events if isinstance(e, TextChunk))
    if mode in ("garbage", "odd", "drop"):
        assert text == "Hello there" and "the answer so far is kept" in failed.error


def test_a_server_that_stops_answering_times_out(serve: Any) -> None:
    client = remote(serve("slow").url)
    client.speed.floor = 0.3  # the server holds the answer for 30 s: no hang means a timeout
    events = answer(client)
    failed = events[-1]
    assert isinstance(failed, Failed) and "did not answer in time" in failed.error
    assert "".join(e.text for e in events if isinstance(e, TextChunk)) == "Hello there"


def serve_state(client: RemoteServerClient) -> MisbehavingServer:
    return SERVERS[client.endpoint.port]


SERVERS: dict[int, MisbehavingServer] = {}


def test_cancel_while_the_server_is_silent(serve: Any) -> None:
    client = remote(serve("slow").url)
    events: list[object] = []
    for event in client.generate("hi", SamplingParams(max_tokens=8)):
        events.append(event)
        threading.Timer(0.2, client.cancel).start()
    final = events[-1]
    assert isinstance(final, Finished) and final.stats.stop_reason == "cancelled"
    assert final.text == "Hello there"
    assert not serve_state(client).held_to_the_end, "the cancel did not cut the connection"


def test_unreachable_server() -> None:
    with pytest.raises(ModelLoadError, match="not running"):
        remote(f"http://127.0.0.1:{free_port()}")


def test_an_unexpected_props_payload(serve: Any) -> None:
    server = serve("ok")
    server.props = {"default_generation_settings": {"n_ctx": "big"}}
    with pytest.raises(ModelLoadError, match="no context size"):
        remote(server.url)


def test_api_key(serve: Any) -> None:
    server = serve("ok", api_key="s3cret")
    assert isinstance(answer(remote(server.url, "s3cret"))[-1], Finished)
    with pytest.raises(ModelLoadError, match="refused the API key"):
        remote(server.url, "wrong")
    with pytest.raises(ModelLoadError, match="refused the API key"):
        remote(server.url)


def test_requests_share_a_kept_alive_connection(serve: Any) -> None:
    """A far server costs a TLS handshake per connection: the small requests (health, props,
    models, tokenize) share one; the streamed answer has its own."""
    server = serve("ok")
    client = remote(server.url)
    for _ in range(3):
        assert isinstance(answer(client)[-1], Finished)
    assert server.connections == 1 + 3


def test_a_kept_connection_the_server_closed_is_replaced(serve: Any) -> None:
    server = serve("ok")
    client = remote(server.url)
    server.hang_up_silently = True
    assert client.tokenize("ab") == [97 % 100, 98 % 100]
    assert client.tokenize("cd") == [99, 0]
