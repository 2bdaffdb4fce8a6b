"""The synthetic model writer: a GGUF llama.cpp loads and runs, with the shape asked for."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui.bench.synthetic import PRESETS, cached_synthetic, write_synthetic
from tui.engine.client import EngineClient
from tui.engine.gguf import read_header
from tui.engine.protocol import Finished, LoadParams, SamplingParams

pytestmark = pytest.mark.slow


def test_header_has_the_preset_shape_and_the_bundled_tokenizer(
    tiny_synthetic_path: Path, smollm2_path: Path
) -> None:
    header = read_header(tiny_synthetic_path)
    shape = PRESETS["tiny"]
    assert header.architecture == "llama"
    assert header.quantization == "Q4_0"
    assert header.arch_int("block_count") == shape.n_layer
    assert header.arch_int("embedding_length") == shape.n_embd
    assert header.arch_int("context_length") == shape.n_ctx_train
    assert header.n_vocab == read_header(smollm2_path).n_vocab
    assert header.chat_template == read_header(smollm2_path).chat_template
    assert header.data_end is not None and header.data_end <= header.file_size


def test_a_real_worker_loads_it_and_generates(tiny_synthetic_path: Path, tmp_path: Path) -> None:
    with EngineClient() as client:
        info = client.load(LoadParams(path=str(tiny_synthetic_path), n_ctx=256, extra_bufts=False))
        assert info.n_ctx == 256
        events = list(
            client.generate("Hello there", SamplingParams(temperature=0, seed=1, max_tokens=8))
        )
    final = events[-1]
    assert isinstance(final, Finished)
    assert final.stats.completion_tokens > 0


def test_cached_writes_once_and_bad_names_are_refused(tmp_path: Path, smollm2_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        write_synthetic(tmp_path / "x.gguf", "huge", "q4_0", tokenizer=smollm2_path)
    with pytest.raises(ValueError, match="unknown quant 'q2_k'"):
        write_synthetic(tmp_path / "x.gguf", "tiny", "q2_k", tokenizer=smollm2_path)
    first = cached_synthetic(tmp_path / "cache", "tiny", "q8_0")
    stamp = first.stat().st_mtime_ns
    assert cached_synthetic(tmp_path / "cache", "tiny", "q8_0").stat().st_mtime_ns == stamp
    assert read_header(first).quantization == "Q8_0"
    assert not list((tmp_path / "cache").glob("*.partial"))
