"""The engine when things go wrong: bad files, a worker killed mid-answer, the AMX crash.

All of it for real: real files, real signals, a real worker process.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tui import paths
from tui.engine import prefs
from tui.engine.client import EngineClient, EngineError, ModelLoadError
from tui.engine.protocol import Failed, Finished, LoadParams, SamplingParams, TextChunk
from tui.engine.worker import SIMULATE_EXTRA_BUFTS_CRASH_ENV

pytestmark = pytest.mark.slow

GREEDY = SamplingParams(temperature=0, seed=1, max_tokens=8)


def cpu_has_amx() -> bool:
    try:
        return "amx_tile" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def finished(client: EngineClient, prompt: str, params: SamplingParams = GREEDY) -> Finished:
    events = list(client.generate(prompt, params))
    assert isinstance(events[-1], Finished), events[-1]
    return events[-1]


@pytest.fixture
def client(burrow_home: Path) -> Iterator[EngineClient]:
    engine = EngineClient()
    yield engine
    engine.shutdown()


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory, smollm2_path: Path) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad-models")
    files: dict[str, Path] = {}
    files["not_gguf"] = folder / "notes.gguf"
    files["not_gguf"].write_text("this is a text file, not a model\n")
    files["empty"] = folder / "empty.gguf"
    files["empty"].touch()
    data = smollm2_path.read_bytes()
    files["truncated_header"] = folder / "cut-header.gguf"
    files["truncated_header"].write_bytes(data[:200_000])
    files["truncated_tensors"] = folder / "cut-tensors.gguf"
    files["truncated_tensors"].write_bytes(data[: len(data) // 2])
    files["directory"] = folder / "a-folder.gguf"
    files["directory"].mkdir()
    files["missing"] = folder / "missing.gguf"
    # No "larger than memory" file here: the estimate reads tensor sizes from the header, so
    # a sparse file's padding is not a model that needs memory (the fit tests cover refusals).
    return files


REASONS = {
    "not_gguf": "not a GGUF model file",
    "empty": "empty file",
    "truncated_header": "truncated GGUF file",
    "truncated_tensors": "truncated GGUF file",
    "directory": "is a directory",
    "missing": "file not found",
}


@pytest.mark.parametrize("case", sorted(REASONS))
def test_bad_model_files_give_one_clear_error(
    client: EngineClient, bad_files: dict[str, Path], case: str
) -> None:
    path = bad_files[case]
    with pytest.raises(ModelLoadError) as caught:
        client.load(LoadParams(path=str(path), n_ctx=512))
    message = str(caught.value)
    assert str(path) in message
    assert REASONS[case] in message
    assert "\n" not in message
    assert caught.value.path == str(path)
    assert client.model is None
    # Nothing is left half-loaded: the worker answers and reports no model.
    events = list(client.generate("hello", GREEDY))
    assert len(events) == 1 and isinstance(events[0], Failed)
    assert events[0].kind == "no_model"


def test_context_too_large_for_memory(client: EngineClient, smollm2_path: Path) -> None:
    # A context this large is refused before any memory is weighed: past the trained context.
    with pytest.raises(ModelLoadError, match="8192 tokens this model was trained on") as caught:
        client.load(LoadParams(path=str(smollm2_path), n_ctx=8_000_000, extra_bufts=False))
    assert str(smollm2_path) in str(caught.value)


def test_no_model_loaded(client: EngineClient) -> None:
    with pytest.raises(EngineError, match="no model"):
        client.tokenize("hello")
    events = list(client.generate("hello"))
    assert isinstance(events[-1], Failed) and events[-1].kind == "no_model"


def test_worker_killed_mid_stream_reports_the_signal(
    client: EngineClient, smollm2_path: Path
) -> None:
    client.load(LoadParams(path=str(smollm2_path), n_ctx=512, extra_bufts=False))
    pid = client.worker_pid
    assert pid is not None
    events = []
    params = SamplingParams(temperature=0.8, seed=2, max_tokens=400)
    for event in client.generate("Once upon a time, a dragon", params):
        events.append(event)
        if len(events) == 2:
            os.kill(pid, signal.SIGSEGV)
    final = events[-1]
    assert isinstance(final, Failed), final
    assert final.kind == "crash"
    assert "SIGSEGV" in final.error
    assert all(isinstance(e, TextChunk) for e in events[:-1])
    assert client.last_crash is not None and client.last_crash.signal_name == "SIGSEGV"
    # The next request restarts the worker and reloads the model by itself.
    assert finished(client, "The capital of France is").text
    assert client.worker_pid not in (None, pid)
    assert client.model is not None and client.model.path == str(smollm2_path)


def test_restart_reloads_the_model(client: EngineClient, smollm2_path: Path) -> None:
    client.load(LoadParams(path=str(smollm2_path), n_ctx=256, extra_bufts=False))
    pid = client.worker_pid
    info = client.restart()
    assert info is not None and info.n_ctx == 256
    assert client.worker_pid != pid
    assert finished(client, "Hello").stats.completion_tokens > 0


def test_extra_buffer_fallback_retries_and_is_remembered(
    smollm2_path: Path, burrow_home: Path
) -> None:
    # These x86 machines report AMX and crash for real; elsewhere the worker simulates it.
    env = {} if cpu_has_amx() else {SIMULATE_EXTRA_BUFTS_CRASH_ENV: "1"}
    with EngineClient(env=env) as client:
        info = client.load(LoadParams(path=str(smollm2_path), n_ctx=512))
        assert info.extra_bufts is True
        # A one-token decode survives extra buffer types; the first prompt batch does not.
        assert finished(client, "Hello").stats.prompt_tokens == 1
        first_pid = client.worker_pid
        answer = finished(client, "The capital of France is")
        assert answer.text
        assert len(client.fallbacks) == 1
        assert client.worker_pid != first_pid
        assert client.model is not None and client.model.extra_bufts is False
        assert client.last_crash is not None and client.last_crash.signal_name

    assert prefs.extra_bufts_disabled(smollm2_path)
    prefs_file = paths.engine_prefs_file()
    assert stat.S_IMODE(prefs_file.stat().st_mode) == 0o600
    assert "first decode" in prefs.model_prefs(smollm2_path)["reason"]

    # The next start does not crash first: "off" is remembered for this file.
    with EngineClient(env=env) as client:
        info = client.load(LoadParams(path=str(smollm2_path), n_ctx=512))
        assert info.extra_bufts is False
        assert finished(client, "The capital of France is").text
        assert client.fallbacks == []


def test_explicit_extra_bufts_on_is_not_overridden(smollm2_path: Path, burrow_home: Path) -> None:
    env = {} if cpu_has_amx() else {SIMULATE_EXTRA_BUFTS_CRASH_ENV: "1"}
    with EngineClient(env=env) as client:
        client.load(LoadParams(path=str(smollm2_path), n_ctx=256, extra_bufts=True))
        events = list(client.generate("The capital of France is", GREEDY))
        assert isinstance(events[-1], Failed) and events[-1].kind == "crash"
        assert client.fallbacks == []
    assert not prefs.extra_bufts_disabled(smollm2_path)


def test_gemma_without_chat_template_and_switching_models(
    client: EngineClient, gemma_path: Path, smollm2_path: Path
) -> None:
    gemma = client.load(LoadParams(path=str(gemma_path), n_ctx=256, extra_bufts=False))
    assert gemma.architecture == "gemma3"
    assert gemma.has_chat_template is False and gemma.chat_template is None
    assert gemma.add_bos is True
    text = finished(client, "The capital of France is").text
    assert text

    smol = client.load(LoadParams(path=str(smollm2_path), n_ctx=256, extra_bufts=False))
    assert smol.architecture == "llama" and smol.has_chat_template
    assert client.model == smol
    assert finished(client, "The capital of France is").text
    # Different tokenizers: gemma adds BOS, SmolLM2 does not.
    assert client.tokenize("hello", add_bos=True) == client.tokenize("hello")


def test_context_full_stops_with_context(client: EngineClient, smollm2_path: Path) -> None:
    info = client.load(LoadParams(path=str(smollm2_path), n_ctx=64, extra_bufts=False))
    n_ctx = info.n_ctx  # llama.cpp may round the context size up
    words = (n_ctx - 4) // 2
    prompt = " cat dog" * words
    while client.count_tokens(prompt) > n_ctx - 3:
        words -= 1
        prompt = " cat dog" * words
    params = SamplingParams(temperature=0, max_tokens=None, repeat_penalty=1.0)
    final = finished(client, prompt, params)
    assert final.stats.stop_reason in ("context", "eos")
    if final.stats.stop_reason == "context":
        assert final.stats.prompt_tokens + final.stats.completion_tokens >= n_ctx


def test_worker_output_never_reaches_our_stdout(
    client: EngineClient, smollm2_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    client.load(LoadParams(path=str(smollm2_path), n_ctx=256, extra_bufts=False))
    finished(client, "Hello")
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    log = client.log_path.read_text(errors="replace")
    assert "llama" in log  # llama.cpp's own chatter went to the log


def test_copy_of_model_in_models_dir_loads(client: EngineClient, smollm2_path: Path) -> None:
    target = paths.models_dir() / "copy.gguf"
    shutil.copyfile(smollm2_path, target)
    info = client.load(LoadParams(path=str(target), n_ctx=128, extra_bufts=False))
    assert info.path == str(target)
