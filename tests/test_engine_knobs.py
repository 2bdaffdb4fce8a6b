"""The memory and speed knobs reach llama.cpp: KV cache type, flash attention, memory map,
and the thread counts ``burrow bench --tune`` saves. Real workers, the tiny synthetic model;
what llama.cpp did is read back from its own log lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui import paths
from tui.engine import cpu, prefs
from tui.engine.client import EngineClient, ModelLoadError
from tui.engine.protocol import Finished, LoadParams, SamplingParams

pytestmark = pytest.mark.slow

GREEDY = SamplingParams(temperature=0, seed=1, max_tokens=4)


def engine_log() -> str:
    return (paths.log_dir() / "engine.log").read_text(encoding="utf-8", errors="replace")


def answer(client: EngineClient) -> Finished:
    final = list(client.generate("Hello there", GREEDY))[-1]
    assert isinstance(final, Finished), final
    return final


def test_a_quantized_kv_cache_turns_flash_attention_on(tiny_synthetic_path: Path) -> None:
    with EngineClient() as client:
        info = client.load(
            LoadParams(path=str(tiny_synthetic_path), n_ctx=256, kv_cache_type="q8_0")
        )
        assert (info.kv_cache_type, info.flash_attn) == ("q8_0", True)
        assert answer(client).stats.completion_tokens > 0
        log = engine_log()
        assert "K (q8_0)" in log and "V (q8_0)" in log
        info = client.load(LoadParams(path=str(tiny_synthetic_path), n_ctx=256))
        assert (info.kv_cache_type, info.flash_attn) == ("f16", False)
        assert "K (f16)" in engine_log()[len(log) :]


def test_a_quantized_kv_cache_without_flash_attention_is_refused(
    tiny_synthetic_path: Path,
) -> None:
    with EngineClient() as client, pytest.raises(ModelLoadError) as caught:
        client.load(
            LoadParams(
                path=str(tiny_synthetic_path), n_ctx=256, kv_cache_type="q4_0", flash_attn=False
            )
        )
    assert "q4_0 context cache needs flash attention" in str(caught.value)
    assert str(tiny_synthetic_path) in str(caught.value)


def test_a_quantized_kv_cache_is_refused_for_heads_it_cannot_hold(
    tmp_path: Path, smollm2_path: Path
) -> None:
    """OpenLLaMA-3B's heads are 100 wide; a q8_0/q4_0 cache stores blocks of 32, and
    llama.cpp only answers "Failed to create llama_context". The refusal says why and what
    to set; f16 loads the same file."""
    from tui.bench.synthetic import write_synthetic
    from tui.engine import gguf, memory

    model = write_synthetic(
        tmp_path / "head100.gguf", "tiny-head100", "q4_0", tokenizer=smollm2_path
    )
    assert not memory.ModelShape.from_header(gguf.read_header(model)).quantized_kv_ok
    with EngineClient() as client:
        for kv in ("q8_0", "q4_0"):
            with pytest.raises(ModelLoadError) as caught:
                client.load(LoadParams(path=str(model), n_ctx=256, kv_cache_type=kv))
            message = str(caught.value)
            assert f"{kv} context cache cannot hold" in message and "head size 100" in message
            assert "kv_cache_type to f16" in message and str(model) in message
        info = client.load(LoadParams(path=str(model), n_ctx=256))
        assert info.kv_cache_type == "f16"
        assert answer(client).stats.completion_tokens > 0


def test_auto_mmap_reads_the_file_when_weights_are_repacked(tiny_synthetic_path: Path) -> None:
    """The tiny model is q4_0: repacked on AVX2 and ARM dot-product CPUs, so ``auto`` reads
    it instead of mapping it; with extra buffer types off nothing is repacked and it maps."""
    repacked = "Q4_0" in cpu.repacked_types()
    path = str(tiny_synthetic_path)
    with EngineClient() as client:
        assert client.load(LoadParams(path=path, n_ctx=256, extra_bufts=True)).use_mmap is (
            not repacked
        )
        assert client.load(LoadParams(path=path, n_ctx=256, extra_bufts=False)).use_mmap is True
        forced = client.load(LoadParams(path=path, n_ctx=256, use_mmap=True, extra_bufts=True))
        assert forced.use_mmap is True
        assert answer(client).stats.completion_tokens > 0


def test_tuned_threads_are_used_unless_the_setting_names_a_count(
    tiny_synthetic_path: Path,
) -> None:
    path = str(tiny_synthetic_path)
    with EngineClient() as client:
        untuned = client.load(LoadParams(path=path, n_ctx=256))
        assert untuned.n_threads == cpu.performance_cores()
        prefs.remember_tuned_threads(path, 1, 2)
        tuned = client.load(LoadParams(path=path, n_ctx=256))
        assert (tuned.n_threads, tuned.n_threads_batch) == (1, 2)
        named = client.load(LoadParams(path=path, n_ctx=256, n_threads=3))
        assert (named.n_threads, named.n_threads_batch) == (3, 3)
    prefs.remember_tuned_threads(path, 2, 2, device="another-phone")
    assert prefs.tuned_threads(path) == (1, 2)  # tuned on this device, kept per device
    assert prefs.tuned_threads(path, device="another-phone") == (2, 2)
