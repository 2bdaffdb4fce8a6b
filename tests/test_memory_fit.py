"""The memory estimate's parts (weights by type, repacked weights held twice when mapped, KV
cache by type) and what is offered when a load would not fit. The estimate against real
workers at phone-class sizes is ``bench/memory_fit.py``; here one real worker on the tiny
synthetic model checks that the measuring works."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui.bench.memfit import FitCase, format_rows, measure
from tui.engine import fit, gguf, memory

MIB = 1024 * 1024
Q4 = frozenset({"Q4_0"})


def shape(**changes: object) -> memory.ModelShape:
    values: dict[str, object] = {
        "file_size": 700 * MIB,
        "n_layer": 16,
        "n_embd": 2048,
        "n_head": 32,
        "n_head_kv": 8,
        "key_length": 64,
        "value_length": 64,
        "n_vocab": 49152,
        "n_ff": 8192,
        "weight_bytes": 690 * MIB,
        "matmul_bytes": {"Q4_0": 550 * MIB},
    }
    values.update(changes)
    return memory.ModelShape(**values)  # type: ignore[arg-type]


def test_repacked_weights_count_twice_only_when_mapped() -> None:
    model = shape()
    auto = model.estimate(2048, repacked=Q4)
    assert not auto.use_mmap and auto.mapped_twice_bytes == 0  # auto reads the file
    mapped = model.estimate(2048, use_mmap=True, repacked=Q4)
    assert mapped.use_mmap and mapped.mapped_twice_bytes == 550 * MIB
    assert mapped.total_bytes - auto.total_bytes == 550 * MIB
    plain = model.estimate(2048, repacked=frozenset())  # nothing repacked: auto maps
    assert plain.use_mmap and plain.mapped_twice_bytes == 0
    assert auto.model_bytes == 690 * MIB  # tensor data, not the whole file


def test_kv_cache_by_type_and_rounded_like_llama_cpp() -> None:
    model = shape()
    f16 = model.kv_cache_bytes(2048)
    assert f16 == 16 * 2048 * 8 * 128 * 2
    assert model.kv_cache_bytes(2048, "q8_0") == f16 * 34 // 64
    assert model.kv_cache_bytes(2048, "q4_0") == f16 * 18 // 64
    assert model.estimate(2000, repacked=Q4).kv_cache_bytes == f16  # padded to 2048
    # Flash attention (auto-on for a quantized cache) drops the attention scores.
    assert (
        model.estimate(8192, kv_type="q8_0", repacked=Q4).compute_bytes
        < model.estimate(8192, repacked=Q4).compute_bytes
    )


def test_attention_scores_cost_six_bytes_each_without_flash_attention() -> None:
    """An f32 score in the compute buffer and its f16 copy in ggml's work buffer; measured
    against real workers in docs/performance.md ("Phone-class memory")."""
    model = shape()
    off = model.estimate(8192, 256, repacked=Q4).compute_bytes
    on = model.estimate(8192, 256, flash_attn=True, repacked=Q4).compute_bytes
    assert off - on == 6 * 256 * 32 * 8192  # n_ubatch x n_head x n_kv scores


def test_header_sums_weight_bytes_by_type(tiny_synthetic_path: Path) -> None:
    header = gguf.read_header(tiny_synthetic_path)
    assert set(header.weight_bytes) == {"Q4_0", "F32"}
    assert header.data_end is not None
    assert sum(header.weight_bytes.values()) <= header.data_end <= header.file_size
    # The token embedding is looked up by row, never repacked; every other matrix may be.
    n_vocab, n_embd = header.n_vocab or 0, 256
    embedding = n_vocab * n_embd // 32 * 18
    assert header.matmul_bytes["Q4_0"] == header.weight_bytes["Q4_0"] - embedding
    assert "F32" not in header.matmul_bytes  # norms are vectors


def linear_need(n_ctx: int, kv_type: str) -> int:
    per_token = {"f16": 1000, "q8_0": 531, "q4_0": 281}[kv_type]
    return 1_000_000 + n_ctx * per_token


def test_the_largest_context_that_fits_is_offered_and_a_smaller_cache_when_it_gives_more() -> None:
    free = 5_000_000  # 90% = 4.5 MB: f16 fits 3500 tokens, q8_0 6591
    options = fit.fit_options(linear_need, free, 8192, "f16")
    assert [(o.n_ctx, o.kv_type) for o in options] == [(6400, "q8_0"), (3328, "f16")]
    assert all(o.need <= free * fit.FIT_SHARE for o in options)
    assert fit.fit_options(linear_need, 1_000_000, 8192, "f16") == []  # not even 512


def test_offer_names_the_numbers_and_the_trained_context() -> None:
    assert fit.fit_offer("m", linear_need, 50_000_000, 4096, "f16", 8192) is None
    offer = fit.fit_offer("m", linear_need, 5_000_000, 8192, "f16", 32768)
    assert offer is not None
    text, options = offer
    assert "m needs about 8.8 MiB at context 8192 with a f16 cache; 4.8 MiB is free" in text
    assert "context 6400 with a q8_0 cache" in text and len(options) == 2
    text, options = fit.fit_offer("m", linear_need, 50_000_000, 4096, "f16", 2048) or ("", [])
    assert "context 4096 is more than the 2048 tokens it was trained on" in text
    assert [(o.n_ctx, o.kv_type) for o in options] == [(2048, "f16")]
    kept = fit.fit_offer("m", linear_need, 5_000_000, 8192, "f16", None, smaller_kv=False)
    assert kept is not None and [o.kv_type for o in kept[1]] == ["f16"]


def test_default_context_from_trained_context_and_free_memory() -> None:
    assert fit.default_context(linear_need, None, "f16", 131072) == 4096
    assert fit.default_context(linear_need, 10**9, "f16", 2048) == 2048
    assert fit.default_context(linear_need, 4_000_000, "f16", 131072) == 2560
    assert fit.default_context(linear_need, 10, "f16", 131072) == 512


@pytest.mark.slow
def test_a_real_worker_is_measured_with_its_context_full(tiny_synthetic_path: Path) -> None:
    row = measure(FitCase(str(tiny_synthetic_path), 512, "q8_0", label="tiny"))
    assert 512 - 32 <= row.tokens_in_context <= 512
    assert row.kv_type == "q8_0" and row.flash_attn
    assert row.measured_bytes > row.weights_bytes
    assert row.estimate_bytes == (
        row.weights_bytes
        + row.mapped_twice_bytes
        + row.kv_bytes
        + row.compute_bytes
        + memory.RUNTIME_OVERHEAD
    )
    table = format_rows([row])
    assert "tiny" in table and "q8_0" in table and "%" in table
