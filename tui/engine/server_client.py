"""The llama-server engines, with the API of :class:`tui.engine.client.EngineClient`, so the
chat session, the app, ``burrow ask`` and ``burrow bench`` use them unchanged.

- :class:`LocalServerClient`: Burrow starts ``llama-server`` itself on a Unix socket in its
  private run folder (never a TCP port); loading a model (re)starts it with that model; a
  server that died is started again (and the model reloaded) on the next request, like the
  worker; save/restore state goes through the server's slot files.
- :class:`RemoteServerClient`: a server the user named by URL; the model is the one it
  serves; no state files (they would live on the other machine).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tui.engine.client_base import EngineClientBase
from tui.engine.gguf import GgufHeader
from tui.engine.http import Endpoint, ServerError, request_json
from tui.engine.process import EngineError, WorkerCrashed, default_log_path
from tui.engine.protocol import (
    Failed,
    GenerationEvent,
    LoadParams,
    ModelInfo,
    Prompt,
    SamplingParams,
    TextChunk,
)
from tui.engine.server_generation import CancelToken, ServerGeneration, SpeedWatch
from tui.engine.server_process import LocalServer, find_llama_server, load_timeout

__all__ = ["LocalServerClient", "RemoteServerClient", "ServerEngine"]


class ServerEngine(EngineClientBase):
    """What both llama-server engines share: tokenizing, generating, cancelling."""

    kind = "server"
    supports_state = False
    state_format = "llama-server"

    def __init__(self, log_path: Path | None = None) -> None:
        self._log_path = log_path
        self._lock = threading.RLock()
        self._params: LoadParams | None = None
        self._info: ModelInfo | None = None
        self._bos: list[int] = []
        self._init_running()
        self.speed = SpeedWatch()
        self.last_crash: WorkerCrashed | None = None
        self.fallbacks: list[str] = []

    # ---------------------------------------------------------------- state
    @property
    def model(self) -> ModelInfo | None:
        return self._info if self._params is not None else None

    @property
    def load_params(self) -> LoadParams | None:
        return self._params

    @property
    def log_path(self) -> Path:
        return self._log_path or default_log_path()

    @property
    def worker_pid(self) -> int | None:
        return None

    @property
    def label(self) -> str:
        return self.kind

    def __enter__(self) -> ServerEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def _endpoint(self) -> Endpoint:
        raise NotImplementedError

    def _ready(self) -> Endpoint:
        """The endpoint, with the model loaded."""
        if self._params is None:
            raise EngineError("no model is loaded")
        return self._endpoint()

    def _call(self, method: str, path: str, body: Any = None, timeout: float = 30.0) -> Any:
        try:
            return request_json(self._ready(), method, path, body, timeout=timeout)
        except ServerError as exc:
            raise EngineError(str(exc)) from exc

    def _crash_reason(self) -> str | None:
        return None

    def start(self) -> int:
        return 0

    def unload(self) -> None:
        with self._lock:
            self._params = None
            self._info = None

    def restart(self) -> ModelInfo | None:
        with self._lock:
            params = self._params
            self.shutdown()
            return self.load(params) if params is not None else None

    def shutdown(self) -> None:
        self.cancel()
        self.unload()

    def load(self, params: LoadParams) -> ModelInfo:
        raise NotImplementedError

    # ---------------------------------------------------------------- tokens
    def _tokenize_part(self, endpoint: Endpoint, text: str, special: bool) -> list[int]:
        if not text:
            return []
        answer = request_json(
            endpoint,
            "POST",
            "/tokenize",
            {"content": text, "add_special": False, "parse_special": special},
        )
        tokens = answer.get("tokens") if isinstance(answer, dict) else None
        if not isinstance(tokens, list):
            raise ServerError(
                f"llama-server at {endpoint.label}: /tokenize sent no tokens", "payload"
            )
        return [int(t) if not isinstance(t, dict) else int(t["id"]) for t in tokens]

    def _prompt_tokens(self, endpoint: Endpoint, prompt: Prompt, add_bos: bool) -> list[int]:
        """A prompt's tokens exactly as the embedded engine makes them."""
        tokens: list[int] = list(self._bos) if add_bos else []
        parts = [(prompt, True)] if isinstance(prompt, str) else list(prompt)
        for text, special in parts:
            tokens.extend(self._tokenize_part(endpoint, text, bool(special)))
        return tokens

    def tokenize(self, text: str, *, special: bool = False, add_bos: bool = False) -> list[int]:
        try:
            endpoint = self._ready()
            return self._prompt_tokens(endpoint, [(text, special)], add_bos)
        except ServerError as exc:
            raise EngineError(str(exc)) from exc

    def count_tokens(self, prompt: Prompt, *, add_bos: bool = False) -> int:
        try:
            return len(self._prompt_tokens(self._ready(), prompt, add_bos))
        except ServerError as exc:
            raise EngineError(str(exc)) from exc

    def detokenize(self, tokens: list[int]) -> str:
        answer = self._call("POST", "/detokenize", {"tokens": [int(t) for t in tokens]})
        content = answer.get("content") if isinstance(answer, dict) else None
        if not isinstance(content, str):
            raise EngineError("llama-server: /detokenize sent no text")
        return content

    def system_info(self) -> dict[str, Any]:
        props = self._call("GET", "/props")
        props = props if isinstance(props, dict) else {}
        return {
            "engine": self.label,
            "llama_cpp": str(props.get("build_info", "unknown")),
            "model_path": props.get("model_path"),
        }

    def save_state(self, path: str | Path) -> int:
        raise EngineError(f"{self.label}: this engine keeps no state files")

    def load_state(self, path: str | Path) -> int:
        raise EngineError(f"{self.label}: this engine keeps no state files")

    # ---------------------------------------------------------------- generation
    def _generate(
        self,
        prompt: Prompt,
        params: SamplingParams,
        add_bos: bool,
        token: CancelToken,
        send_every: float = 0.0,
    ) -> Iterator[GenerationEvent]:
        with self._running_generation(token):
            try:
                endpoint = self._ready()
                tokens = self._prompt_tokens(endpoint, prompt, add_bos)
            except (EngineError, ServerError) as exc:
                why = self._crash_reason()
                yield Failed(why or str(exc), "crash" if why else "load")
                return
            info = self._info
            n_ctx = info.n_ctx if info is not None else 0
            if not tokens:
                yield Failed("the prompt is empty")
                return
            if n_ctx and len(tokens) >= n_ctx:
                yield Failed(
                    f"the prompt has {len(tokens)} tokens; the context holds {n_ctx}", "context"
                )
                return
            generation = ServerGeneration(
                endpoint,
                tokens,
                params,
                n_ctx=n_ctx,
                token=token,
                speed=self.speed,
                send_every=send_every,
                crashed=self._crash_reason,
            )
            yield from generation.run()

    def _new_cancel(self) -> CancelToken:
        return CancelToken()

    # ---------------------------------------------------------------- model info
    def _read_model(
        self,
        endpoint: Endpoint,
        path: str | None,
        seconds: float,
        params: LoadParams,
        header: GgufHeader | None = None,
    ) -> ModelInfo:
        """ModelInfo from ``/props`` and ``/v1/models`` (and the file's header, if local);
        ``path`` None: the served model's name under the server's."""
        from tui.engine.server_info import model_info, served_model_id

        props = request_json(endpoint, "GET", "/props")
        models = request_json(endpoint, "GET", "/v1/models")
        self._bos = self._tokenize_bos(endpoint)
        if path is None:
            path = f"{endpoint.label}/{served_model_id(models)}"
        size = header.file_size if header is not None else 0
        return model_info(props, models, path, size, seconds, params, bool(self._bos), header)

    def _tokenize_bos(self, endpoint: Endpoint) -> list[int]:
        """``[bos]`` when the model wants one at the start of a prompt, else ``[]``: what the
        server's own tokenizer adds to an empty text."""
        answer = request_json(endpoint, "POST", "/tokenize", {"content": "", "add_special": True})
        tokens = answer.get("tokens") if isinstance(answer, dict) else None
        if not isinstance(tokens, list):
            raise ServerError(
                f"llama-server at {endpoint.label}: /tokenize sent no tokens", "payload"
            )
        return [int(t) for t in tokens[:1]]


class LocalServerClient(ServerEngine):
    """llama-server started by Burrow on a Unix socket."""

    kind = "local"
    supports_state = True

    def __init__(self, *, binary: str | None = None, log_path: Path | None = None) -> None:
        super().__init__(log_path)
        self._binary = binary
        self._server: LocalServer | None = None
        self._server_for_info: LocalServer | None = None

    @property
    def worker_pid(self) -> int | None:
        server = self._server
        return server.pid if server is not None and server.alive else None

    @property
    def binary(self) -> str:
        found = find_llama_server(self._binary)
        if found is None:
            raise EngineError(
                "llama-server was not found: install llama.cpp (Termux: pkg install llama-cpp), "
                "or name the binary with the llama_server setting or BURROW_LLAMA_SERVER"
            )
        return found

    def load(self, params: LoadParams) -> ModelInfo:
        from tui.engine.client import ModelLoadError

        with self._lock:
            self._stop_server()
            self._params = self._info = None
            try:
                info = self._start(params)
            except (EngineError, ServerError) as exc:
                message = str(exc)
                if params.path not in message:
                    message = f"{params.path}: {message}"
                raise ModelLoadError(message, params.path) from exc
            self._params, self._info = params, info
            return info

    def _start(self, params: LoadParams) -> ModelInfo:
        import time
        from dataclasses import replace

        from tui.engine import prefs
        from tui.engine.loading import check_memory, check_model_file, decide, with_context
        from tui.engine.protocol import RequestFailed

        path = Path(params.path).expanduser()
        if params.extra_bufts is None and prefs.extra_bufts_disabled(params.path):
            params = replace(params, extra_bufts=False)  # it crashed here with them before
        extra_bufts = params.extra_bufts is not False
        try:
            # The embedded engine's checks and decisions, so both load the same way.
            header = check_model_file(path)
            params = with_context(header, params, extra_bufts)
            choices = decide(path, header, params, extra_bufts)
            if params.check_memory:
                check_memory(path, header, params, choices)
        except RequestFailed as exc:
            raise EngineError(str(exc)) from exc
        started = time.perf_counter()
        server = LocalServer(self.binary, params, self.log_path, choices)
        self._server = server
        server.wait_ready(load_timeout(params))
        seconds = time.perf_counter() - started
        info = self._read_model(server.endpoint, str(path), seconds, params, header)
        info = replace(
            info,
            use_mmap=choices.use_mmap,
            kv_cache_type=choices.kv_cache_type,
            flash_attn=choices.flash_attn,
        )
        self._server_for_info = server
        return info

    def _endpoint(self) -> Endpoint:
        with self._lock:
            server = self._server
            if server is not None and server.alive and self._server_for_info is server:
                return server.endpoint
            if server is not None and not server.alive:
                self.last_crash = WorkerCrashed(server.exit_text(), server.proc.returncode, None)
            params = self._params
            if params is None:
                raise EngineError("no model is loaded")
            self._stop_server()
            self._info = self._start(params)  # a crashed server starts again, same model
            assert self._server is not None
            return self._server.endpoint

    def _generate(
        self,
        prompt: Prompt,
        params: SamplingParams,
        add_bos: bool,
        token: CancelToken,
        send_every: float = 0.0,
    ) -> Iterator[GenerationEvent]:
        """As the worker: when the server dies before the first token with the CPU weight
        repacking on (llama.cpp built with native flags crashes so on some AMX CPUs), it is
        remembered off for that file and the answer is tried once more without it."""
        texts = 0
        for event in super()._generate(prompt, params, add_bos, token, send_every):
            first_crash = isinstance(event, Failed) and event.kind == "crash" and not texts
            if first_crash and self._fall_back():
                yield from super()._generate(prompt, params, add_bos, token, send_every)
                return
            texts += isinstance(event, TextChunk)
            yield event

    def _fall_back(self) -> bool:
        from tui.engine import prefs

        with self._lock:
            server, params = self._server, self._params
            if server is None or params is None or params.extra_bufts is not None:
                return False
            if "--no-repack" in server.argv or prefs.extra_bufts_disabled(params.path):
                return False
            reason = (
                f"llama-server died ({server.exit_text()}) at the first decode with "
                "CPU weight repacking on"
            )
            with contextlib.suppress(OSError):
                prefs.remember_extra_bufts_off(params.path, reason)
            self.fallbacks.append(f"{params.path}: {reason}; retried with it off")
            self._stop_server()  # the next request starts it again, without repacking
            return True

    def _crash_reason(self) -> str | None:
        server = self._server
        if server is None:
            return None
        if server.alive:
            # A killed process closes its sockets before it can be reaped: the dropped
            # connection is often seen first. Only asked after a failure, so the wait is cheap.
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.proc.wait(timeout=1.0)
            if server.alive:
                return None
        return (
            f"{server.exit_text()}; details in {self.log_path}; "
            "the engine restarts on the next request"
        )

    def _stop_server(self) -> None:
        server, self._server, self._server_for_info = self._server, None, None
        if server is not None:
            server.stop()

    def unload(self) -> None:
        with self._lock:
            super().unload()
            self._stop_server()

    def shutdown(self) -> None:
        self.cancel()
        with self._lock:
            super().unload()
            self._stop_server()

    def system_info(self) -> dict[str, Any]:
        info = super().system_info()
        info["binary"] = self.binary
        return info

    # ---------------------------------------------------------------- slots
    def save_state(self, path: str | Path) -> int:
        """The slot's KV cache into ``path`` (0600), through the server's slot folder."""
        endpoint = self._ready()
        server = self._server
        assert server is not None
        name = f"save-{os.getpid()}.bin"
        try:
            answer = request_json(
                endpoint, "POST", "/slots/0?action=save", {"filename": name}, timeout=120
            )
        except ServerError as exc:
            raise EngineError(f"could not save the model state: {exc}") from exc
        target = Path(path).expanduser()
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        written = server.slots / name
        os.chmod(written, 0o600)
        shutil.move(str(written), str(target))
        return int(answer.get("n_saved", 0)) if isinstance(answer, dict) else 0

    def load_state(self, path: str | Path) -> int:
        """Restore a state :meth:`save_state` wrote (only Burrow's own files: llama.cpp
        parses them in C)."""
        endpoint = self._ready()
        server = self._server
        assert server is not None
        source = Path(path).expanduser()
        if not source.is_file():
            raise EngineError(f"{source}: no such state file")
        name = f"restore-{os.getpid()}.bin"
        staged = server.slots / name
        try:
            try:
                os.link(source, staged)
            except OSError:
                shutil.copyfile(source, staged)
            answer = request_json(
                endpoint, "POST", "/slots/0?action=restore", {"filename": name}, timeout=120
            )
        except ServerError as exc:
            raise EngineError(f"{source}: the state does not fit this model ({exc})") from exc
        finally:
            with contextlib.suppress(OSError):
                staged.unlink()
        return int(answer.get("n_restored", 0)) if isinstance(answer, dict) else 0


class RemoteServerClient(ServerEngine):
    """A llama-server the user named by URL (opt-in; see :mod:`tui.engine.remote`)."""

    kind = "remote"

    def __init__(self, endpoint: Endpoint, *, log_path: Path | None = None) -> None:
        super().__init__(log_path)
        self.endpoint = endpoint

    @property
    def label(self) -> str:
        return f"remote: {self.endpoint.label}"

    def _endpoint(self) -> Endpoint:
        return self.endpoint

    def load(self, params: LoadParams) -> ModelInfo:
        """Check the server and read what it serves (``params.path`` names it for the user;
        the server decides the model)."""
        import time

        from tui.engine.client import ModelLoadError

        with self._lock:
            started = time.perf_counter()
            try:
                request_json(self.endpoint, "GET", "/health", timeout=15)
                info = self._read_model(self.endpoint, None, 0.0, params)
            except ServerError as exc:
                raise ModelLoadError(str(exc), params.path) from exc
            info = _with_load_seconds(info, time.perf_counter() - started)
            self._params, self._info = params, info
            return info


def _with_load_seconds(info: ModelInfo, seconds: float) -> ModelInfo:
    from dataclasses import replace

    return replace(info, load_seconds=seconds)
