"""A stand-in for the ``llama-server`` binary (a test double, named so), for the process
side of the local engine where the real binary has not been built
(``scripts/build-llama-server.sh``): it takes llama-server's command line, listens on the
``--host`` Unix socket, writes a log line, and answers /health, /props, /v1/models,
/tokenize, /detokenize, /completion (streamed, one "token" per character, slowly enough to
be killed mid-answer) and /slots save/restore into ``--slot-save-path``.

    python tests/fake_llama_server.py -m MODEL -c 512 --host /run/x.sock --slot-save-path D/
"""

from __future__ import annotations

import json
import os
import socketserver
import sys
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

FLAGS = (
    "-m -c --host -np -b -t -tb --slot-save-path --no-webui --cache-ram --no-repack --offline "
    "--load-mode MODE --cache-type-k TYPE --cache-type-v TYPE --flash-attn [on|off|auto]"
)


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    n_ctx = 512
    model = ""
    slots = ""
    cached: list[int] = []  # noqa: RUF012 - one server per process


class TcpServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """With ``--port``: the stand-in for a remote server (on loopback)."""

    daemon_threads = True
    allow_reuse_address = True
    n_ctx = 512
    model = ""
    slots = ""
    cached: list[int] = []  # noqa: RUF012 - one server per process


class Handler(BaseHTTPRequestHandler):
    server: Server | TcpServer
    protocol_version = "HTTP/1.1"

    def address_string(self) -> str:  # a Unix socket has no client address
        return "local"

    def log_message(self, fmt: str, *args: Any) -> None:
        sys.stderr.write("fake llama-server: " + (fmt % args) + "\n")

    def _json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        server = self.server
        if self.path == "/health":
            self._json(200, {"status": "ok"})
        elif self.path == "/props":
            self._json(
                200,
                {
                    "default_generation_settings": {"n_ctx": server.n_ctx},
                    "model_path": server.model,
                    "build_info": "fake",
                },
            )
        elif self.path == "/v1/models":
            self._json(200, {"data": [{"id": server.model, "meta": {"n_vocab": 256}}]})
        else:
            self._json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        path, _, query = self.path.partition("?")
        if path == "/tokenize":
            tokens = [ord(c) % 256 for c in body.get("content", "")]
            self._json(200, {"tokens": tokens})
        elif path == "/detokenize":
            self._json(200, {"content": "".join(chr(t) for t in body.get("tokens", []))})
        elif path == "/completion":
            self._completion(body)
        elif path == "/slots/0":
            self._slot(query, body)
        else:
            self._json(404, {"error": {"message": "not found"}})

    def _completion(self, body: dict[str, Any]) -> None:
        prompt = list(body.get("prompt") or [])
        cached = self.server.cached
        reused = 0
        while reused < min(len(prompt), len(cached)) and prompt[reused] == cached[reused]:
            reused += 1
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        limit = int(body.get("n_predict") or 16)
        limit = 200 if limit < 0 else limit
        text = "abcdefghij" * 40
        for i in range(limit):
            piece = text[i]
            event = {"content": piece, "tokens": [ord(piece)], "stop": False}
            self.wfile.write(b"data: " + json.dumps(event).encode() + b"\n\n")
            self.wfile.flush()
            time.sleep(0.02)
        self.server.cached = prompt + [ord(c) for c in text[:limit]]
        timings = {
            "prompt_n": len(prompt) - reused,
            "prompt_ms": 5.0,
            "predicted_n": limit,
            "predicted_ms": 20.0 * limit,
            "prompt_per_second": 1000.0,
            "predicted_per_second": 50.0,
        }
        final = {"content": "", "stop": True, "stop_type": "limit", "timings": timings}
        self.wfile.write(b"data: " + json.dumps(final).encode() + b"\n\n")
        self.wfile.flush()
        self.close_connection = True

    def _slot(self, query: str, body: dict[str, Any]) -> None:
        name = os.path.basename(str(body.get("filename", "")))
        target = os.path.join(self.server.slots, name)
        if query == "action=save":
            with open(target, "w") as handle:
                json.dump({"fake_state": self.server.cached}, handle)
            self._json(200, {"id_slot": 0, "n_saved": len(self.server.cached)})
        elif query == "action=restore":
            try:
                with open(target) as handle:
                    self.server.cached = list(json.load(handle)["fake_state"])
            except (OSError, ValueError, KeyError):
                self._json(400, {"error": {"message": "failed to restore slot"}})
                return
            self._json(200, {"id_slot": 0, "n_restored": len(self.server.cached)})
        else:
            self._json(400, {"error": {"message": "Invalid action"}})


def main(argv: list[str]) -> int:
    if "--help" in argv:
        print(FLAGS)
        return 0
    args: dict[str, str] = {}
    rest = list(argv)
    while rest:
        flag = rest.pop(0)
        takes_value = flag in (
            "-m",
            "-c",
            "--host",
            "-np",
            "-b",
            "-t",
            "-tb",
            "--cache-ram",
            "--slot-save-path",
            "--port",
            "--load-mode",
            "--cache-type-k",
            "--cache-type-v",
            "--flash-attn",
        )
        args[flag] = rest.pop(0) if takes_value and rest else ""
    kind: Any = TcpServer if "--port" in args else Server
    kind.n_ctx = int(args.get("-c", 512))
    kind.model = args.get("-m", "")
    kind.slots = args.get("--slot-save-path", "")
    print(f"fake llama-server: loading model {kind.model}", file=sys.stderr, flush=True)
    address = (args["--host"], int(args["--port"])) if "--port" in args else args["--host"]
    with kind(address, Handler) as server:
        server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
