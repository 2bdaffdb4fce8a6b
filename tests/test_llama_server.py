"""The local llama-server engine against the REAL llama-server (built from the llama.cpp
sources of the pinned llama-cpp-python) on the bundled SmolLM2 model, next to the embedded
engine on the same model, context and threads.

Each module-scoped engine is shared by the tests (loads cost seconds); answers are a few
tokens. Speed is never asserted: bench/ and ``burrow bench --engine local`` measure it.
"""

from __future__ import annotations

import os
import re
import signal
import stat
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from server_helpers import require_binary, socket_inodes, table_inodes

from tui.engine.client import EngineClient, ModelLoadError
from tui.engine.protocol import Failed, Finished, LoadParams, ModelInfo, SamplingParams, TextChunk
from tui.engine.server_client import LocalServerClient

pytestmark = pytest.mark.slow

GREEDY = SamplingParams(temperature=0, seed=1, max_tokens=24)
SYSTEM = "You are a helpful assistant. You answer briefly and precisely, in one sentence."


def chat(question: str) -> list[tuple[str, bool]]:
    return [
        ("<|im_start|>system\n", True),
        (SYSTEM, False),
        ("<|im_end|>\n<|im_start|>user\n", True),
        (question, False),
        ("<|im_end|>\n<|im_start|>assistant\n", True),
    ]


def params_for(model: Path) -> LoadParams:
    return LoadParams(path=str(model), n_ctx=1024, n_threads=2, extra_bufts=False)


@pytest.fixture(scope="module")
def binary() -> str:
    return require_binary()


@pytest.fixture(scope="module")
def local(
    binary: str, tmp_path_factory: pytest.TempPathFactory, smollm2_path: Path
) -> Iterator[tuple[LocalServerClient, ModelInfo]]:
    home = tmp_path_factory.mktemp("local-home")
    old = os.environ.get("BURROW_HOME")
    os.environ["BURROW_HOME"] = str(home)
    client = LocalServerClient(binary=binary, log_path=home / "engine.log")
    try:
        info = client.load(params_for(smollm2_path))
        yield client, info
    finally:
        client.shutdown()
        if old is None:
            os.environ.pop("BURROW_HOME", None)
        else:
            os.environ["BURROW_HOME"] = old


@pytest.fixture(scope="module")
def embedded(
    tmp_path_factory: pytest.TempPathFactory, smollm2_path: Path
) -> Iterator[tuple[EngineClient, ModelInfo]]:
    home = tmp_path_factory.mktemp("embedded-home")
    client = EngineClient(env={"BURROW_HOME": str(home)}, log_path=home / "engine.log")
    info = client.load(params_for(smollm2_path))
    yield client, info
    client.shutdown()


def finish(events: list[object]) -> Finished:
    final = events[-1]
    assert isinstance(final, Finished), final
    chunks = [e for e in events[:-1] if isinstance(e, TextChunk)]
    assert len(chunks) == len(events) - 1
    assert "".join(c.text for c in chunks) == final.text
    return final


def test_metadata_matches_the_embedded_engine(
    local: tuple[LocalServerClient, ModelInfo], embedded: tuple[EngineClient, ModelInfo]
) -> None:
    client, info = local
    theirs = embedded[1]
    for name in (
        "path",
        "file_size",
        "n_ctx",
        "n_ctx_train",
        "architecture",
        "name",
        "size_label",
        "quantization",
        "has_chat_template",
        "chat_template",
        "n_vocab",
        "eos_token",
        "add_bos",
        "parameter_count",
        "use_mmap",
        "kv_cache_type",
        "flash_attn",
    ):
        assert getattr(info, name) == getattr(theirs, name), name
    assert client.model == info
    assert client.worker_pid is not None and client.worker_pid != os.getpid()


def test_token_counts_equal_the_embedded_engine(
    local: tuple[LocalServerClient, ModelInfo], embedded: tuple[EngineClient, ModelInfo]
) -> None:
    ours, theirs = local[0], embedded[0]
    for text, special in [
        ("Hello, world!", False),
        ("<|im_start|>user\nhi<|im_end|>", True),
        ("<|im_end|> typed by a user is text", False),
        ("émoji 🦙 and 中文", False),
    ]:
        assert ours.tokenize(text, special=special) == theirs.tokenize(text, special=special)
        assert ours.tokenize(text, special=special, add_bos=True) == theirs.tokenize(
            text, special=special, add_bos=True
        )
    prompt = chat("What is <|im_end|> in ChatML?")
    assert ours.count_tokens(prompt) == theirs.count_tokens(prompt)
    ids = ours.tokenize("round trip", special=False)
    assert ours.detokenize(ids) == theirs.detokenize(ids) == "round trip"


def test_streaming_equals_the_embedded_answer_at_temperature_0(
    local: tuple[LocalServerClient, ModelInfo], embedded: tuple[EngineClient, ModelInfo]
) -> None:
    for question in ("What is the capital of France?", "Name three primary colours."):
        prompt = chat(question)
        ours = finish(list(local[0].generate(prompt, GREEDY)))
        theirs = finish(list(embedded[0].generate(prompt, GREEDY)))
        assert ours.text == theirs.text, question
        assert ours.stats.completion_tokens == theirs.stats.completion_tokens
        assert ours.stats.stop_reason == theirs.stats.stop_reason
        assert ours.stats.prompt_tokens == theirs.stats.prompt_tokens


def test_stats_come_from_the_server_timings(local: tuple[LocalServerClient, ModelInfo]) -> None:
    final = finish(list(local[0].generate(chat("Why is the sky blue?"), GREEDY)))
    stats = final.stats
    assert stats.prompt_tokens > 20
    assert 0 < stats.prompt_tokens_evaluated <= stats.prompt_tokens
    assert 0 < stats.completion_tokens <= 24
    assert stats.stop_reason in ("eos", "length")
    assert stats.prompt_seconds > 0 and stats.prompt_tps > 0
    assert stats.generation_tps > 0 and stats.ttft_seconds > 0


def test_max_tokens_and_stop_strings(local: tuple[LocalServerClient, ModelInfo]) -> None:
    client = local[0]
    short = finish(
        list(
            client.generate(
                chat("Tell me a long story."), SamplingParams(temperature=0, max_tokens=5)
            )
        )
    )
    assert short.stats.completion_tokens == 5 and short.stats.stop_reason == "length"
    story = finish(list(client.generate(chat("Tell me a long story."), GREEDY)))
    word = story.text.split()[3]
    stopped = finish(
        list(
            client.generate(
                chat("Tell me a long story."),
                SamplingParams(temperature=0, max_tokens=24, stop=(word,)),
            )
        )
    )
    assert stopped.stats.stop_reason == "stop"
    assert word not in stopped.text and story.text.startswith(stopped.text)


def test_the_same_seed_repeats_at_temperature_above_0(
    local: tuple[LocalServerClient, ModelInfo],
) -> None:
    params = SamplingParams(temperature=0.9, seed=7, max_tokens=16, top_k=50, min_p=0.0)
    prompt = chat("Write a word.")
    first = finish(list(local[0].generate(prompt, params))).text
    assert finish(list(local[0].generate(prompt, params))).text == first


def test_the_previous_turn_is_reused(local: tuple[LocalServerClient, ModelInfo]) -> None:
    client = local[0]
    prompt = chat("What is the capital of Italy?")
    finish(list(client.generate(prompt, GREEDY)))
    again = finish(list(client.generate([*prompt, ("Rome", False)], GREEDY)))
    assert again.stats.prompt_tokens_evaluated < again.stats.prompt_tokens / 2


def test_cancel_ends_with_the_text_so_far(local: tuple[LocalServerClient, ModelInfo]) -> None:
    client = local[0]
    params = SamplingParams(temperature=0, max_tokens=400)
    events: list[object] = []
    for event in client.generate(chat("Write a very long story about a dragon."), params):
        events.append(event)
        if len(events) == 2:
            threading.Thread(target=client.cancel).start()
    final = finish(events)
    assert final.stats.stop_reason == "cancelled"
    assert 0 < final.stats.completion_tokens < 400
    after = finish(list(client.generate(chat("Say hi."), GREEDY)))
    assert after.text


async def test_async_stream_and_leaving_early(local: tuple[LocalServerClient, ModelInfo]) -> None:
    client = local[0]
    seen = []
    stream = client.agenerate(
        chat("Count to fifty."), SamplingParams(temperature=0, max_tokens=200)
    )
    async for event in stream:
        seen.append(event)
        break
    await stream.aclose()
    assert isinstance(seen[0], TextChunk)
    final = [e async for e in client.agenerate(chat("Say hi."), GREEDY)][-1]
    assert isinstance(final, Finished)


def test_slot_save_and_restore_resume(
    local: tuple[LocalServerClient, ModelInfo], tmp_path: Path
) -> None:
    client = local[0]
    prompt = chat("What is the largest planet?")
    first = finish(list(client.generate(prompt, GREEDY)))
    path = tmp_path / "states" / "conv1.kvstate"
    saved = client.save_state(path)
    assert saved >= first.stats.prompt_tokens
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finish(list(client.generate(chat("Something else entirely, about cats."), GREEDY)))
    assert client.load_state(path) == saved
    resumed = finish(list(client.generate([*prompt, (first.text, False)], GREEDY)))
    assert resumed.stats.prompt_tokens_evaluated <= resumed.stats.prompt_tokens - saved + 1
    assert not list(path.parent.glob("*.bin"))


def test_a_state_of_another_model_is_refused(
    local: tuple[LocalServerClient, ModelInfo], tmp_path: Path
) -> None:
    bogus = tmp_path / "bogus.kvstate"
    bogus.write_bytes(b"not a state" * 100)
    with pytest.raises(Exception, match="does not fit"):
        local[0].load_state(bogus)
    assert finish(list(local[0].generate(chat("Say hi."), GREEDY))).text


def test_unix_socket_only_no_tcp(local: tuple[LocalServerClient, ModelInfo]) -> None:
    """The server listens on a Unix socket in the private run folder: none of its sockets
    is in the TCP or UDP tables."""
    client = local[0]
    pid = client.worker_pid
    assert pid is not None
    server = client._server
    assert server is not None
    assert str(server.socket_path).endswith(".sock") and server.socket_path.is_socket()
    assert stat.S_IMODE(server.dir.stat().st_mode) == 0o700
    finish(list(client.generate(chat("Say hi."), GREEDY)))  # while it has a client
    mine = socket_inodes(pid)
    assert mine & table_inodes("unix"), "the server holds its Unix socket"
    for table in ("tcp", "tcp6", "udp", "udp6"):
        assert not mine & table_inodes(table), f"llama-server has a {table} socket"


def test_the_server_log_goes_to_the_engine_log(local: tuple[LocalServerClient, ModelInfo]) -> None:
    text = local[0].log_path.read_text(errors="replace")
    assert "llama-server" in text and "model" in text.lower()


def kv_cache_lines(log: Path) -> list[tuple[str, float]]:
    """(K cache type, MiB of the whole KV cache) of each load llama.cpp logged."""
    found = re.findall(
        r"llama_kv_cache: size = +([0-9.]+) MiB .*K \((\w+)\)", log.read_text(errors="replace")
    )
    return [(kind, float(size)) for size, kind in found]


def flash_attn_lines(log: Path) -> list[str]:
    return re.findall(r"flash_attn += (\w+)", log.read_text(errors="replace"))


def test_a_q8_0_cache_reaches_the_server_at_about_half_the_memory(
    binary: str, smollm2_path: Path, tmp_path: Path
) -> None:
    # The server logs its cache and attention choices only above its default verbosity: a
    # wrapper adds -lv 4 after Burrow's own command line.
    chatty = tmp_path / "llama-server"
    chatty.write_text(f'#!/bin/sh\nexec "{binary}" "$@" -lv 4\n')
    chatty.chmod(0o755)
    logs = {}
    for kv_type in ("f16", "q8_0"):
        logs[kv_type] = tmp_path / f"engine-{kv_type}.log"
        client = LocalServerClient(binary=str(chatty), log_path=logs[kv_type])
        try:
            info = client.load(replace(params_for(smollm2_path), kv_cache_type=kv_type))
            assert (info.kv_cache_type, info.flash_attn) == (kv_type, kv_type == "q8_0")
            server = client._server
            assert server is not None
            argv = " ".join(server.argv)
            assert f"--cache-type-k {kv_type} --cache-type-v {kv_type}" in argv
            assert finish(list(client.generate(chat("Name a colour."), GREEDY))).text.strip()
        finally:
            client.shutdown()
    plain, quantized = kv_cache_lines(logs["f16"]), kv_cache_lines(logs["q8_0"])
    assert [kind for kind, _ in plain] == ["f16"] and [k for k, _ in quantized] == ["q8_0"]
    assert quantized[0][1] < 0.6 * plain[0][1]  # 8.5 bits a value instead of 16
    assert flash_attn_lines(logs["q8_0"]) == ["enabled"]
    assert flash_attn_lines(logs["f16"]) == ["disabled"]  # the server's own auto is on


def test_killed_mid_answer_keeps_the_text_and_restarts(
    binary: str, smollm2_path: Path, tmp_path: Path
) -> None:
    client = LocalServerClient(binary=binary, log_path=tmp_path / "engine.log")
    try:
        client.load(params_for(smollm2_path))
        pid = client.worker_pid
        assert pid is not None
        events: list[object] = []
        for event in client.generate(
            chat("Write a very long story."), SamplingParams(temperature=0, max_tokens=400)
        ):
            events.append(event)
            if len(events) == 2:
                os.kill(pid, signal.SIGKILL)
        failed = events[-1]
        assert isinstance(failed, Failed) and failed.kind == "crash", failed
        assert "SIGKILL" in failed.error and "kept" in failed.error
        assert any(isinstance(e, TextChunk) and e.text for e in events[:-1])
        assert client.model is not None  # the model is reloaded on the next request
        again = finish(list(client.generate(chat("Say hi."), GREEDY)))
        assert again.text and client.worker_pid not in (None, pid)
    finally:
        client.shutdown()


def test_shutdown_stops_the_server_and_removes_its_socket(
    binary: str, smollm2_path: Path, tmp_path: Path
) -> None:
    client = LocalServerClient(binary=binary, log_path=tmp_path / "engine.log")
    client.load(params_for(smollm2_path))
    server = client._server
    assert server is not None
    client.shutdown()
    assert server.proc.returncode is not None
    assert not server.socket_path.exists() and not server.slots.exists()
    assert client.model is None


def test_a_bad_model_file_is_named(binary: str, tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    client = LocalServerClient(binary=binary, log_path=tmp_path / "engine.log")
    with pytest.raises(ModelLoadError, match=r"broken\.gguf"):
        client.load(LoadParams(path=str(bad)))
    client.shutdown()


def test_no_binary_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smollm2_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("BURROW_LLAMA_SERVER", raising=False)
    monkeypatch.setattr("tui.engine.server_client.find_llama_server", lambda c=None: None)
    client = LocalServerClient(log_path=tmp_path / "engine.log")
    with pytest.raises(ModelLoadError, match="pkg install llama-cpp"):
        client.load(params_for(smollm2_path))
