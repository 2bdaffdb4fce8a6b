"""The model catalog: where .gguf files are found, what their headers say, RAM estimates."""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import pytest

from tui import paths
from tui.engine import catalog, gguf, memory
from tui.engine.catalog import ModelNotFoundError


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def _value(value: Any) -> bytes:
    if isinstance(value, bool):
        return struct.pack("<I?", 7, value)
    if isinstance(value, int):
        return struct.pack("<Iq", 11, value)
    if isinstance(value, float):
        return struct.pack("<Id", 12, value)
    if isinstance(value, str):
        return struct.pack("<I", 8) + _string(value)
    if isinstance(value, list):
        body = b"".join(_string(v) for v in value)
        return struct.pack("<IIQ", 9, 8, len(value)) + body
    raise TypeError(value)


def write_gguf(path: Path, metadata: dict[str, Any], tensors: int = 2, elements: int = 64) -> Path:
    """A small but complete GGUF v3 file with F32 tensors."""
    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, tensors, len(metadata)))
    for key, value in metadata.items():
        out += _string(key) + _value(value)
    for i in range(tensors):
        out += _string(f"t{i}") + struct.pack("<IQIQ", 1, elements, 0, i * elements * 4)
    out += b"\0" * (-len(out) % 32)
    out += b"\0" * (tensors * elements * 4)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(out))
    return path


TINY = {
    "general.architecture": "llama",
    "general.name": "Tiny Test",
    "general.file_type": 15,
    "llama.context_length": 4096,
    "llama.block_count": 4,
    "llama.embedding_length": 256,
    "llama.attention.head_count": 8,
    "llama.attention.head_count_kv": 2,
    "tokenizer.ggml.tokens": ["a", "b", "c"],
    "tokenizer.chat_template": "{{ messages }}",
}


def test_header_of_the_bundled_model(smollm2_path: Path) -> None:
    header = gguf.read_header(smollm2_path)
    assert header.architecture == "llama"
    assert header.quantization == "Q4_1"
    assert header.size_label == "135M"
    assert header.arch_int("context_length") == 8192
    assert header.n_vocab == 49152
    assert header.chat_template is not None
    assert header.data_end == smollm2_path.stat().st_size


def test_header_of_a_small_file(tmp_path: Path) -> None:
    header = gguf.read_header(write_gguf(tmp_path / "tiny.gguf", TINY))
    assert header.quantization == "Q4_K_M"
    assert header.n_params == 128
    assert header.size_label == "128"
    assert header.metadata["tokenizer.ggml.tokens"] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"PK\x03\x04zipfile", "not a GGUF model file"),
        (b"GGUF" + struct.pack("<I", 1), "unsupported GGUF version 1"),
        (b"GGUF" + struct.pack("<IQQ", 3, 1, 5), "truncated GGUF file"),
    ],
)
def test_bad_headers(tmp_path: Path, data: bytes, reason: str) -> None:
    path = tmp_path / "bad.gguf"
    path.write_bytes(data)
    with pytest.raises(gguf.GgufError, match=reason):
        gguf.read_header(path)


def test_truncated_tensor_data(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "tiny.gguf", TINY)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(gguf.GgufError, match="the tensors need"):
        gguf.read_header(path)


def test_param_count_labels() -> None:
    assert gguf.format_param_count(134_515_008) == "135M"
    assert gguf.format_param_count(1_700_000_000) == "1.7B"
    assert gguf.format_param_count(7_240_000_000) == "7.2B"
    assert gguf.format_param_count(70_000_000_000) == "70B"


def test_ram_estimate(smollm2_path: Path) -> None:
    header = gguf.read_header(smollm2_path)
    shape = memory.ModelShape.from_header(header)
    # 30 layers x 3 KV heads x (64 + 64) dims x 2 bytes per position.
    assert shape.kv_cache_bytes(2048) == 30 * 2048 * 3 * 128 * 2
    small, large = shape.estimate(1024).total_bytes, shape.estimate(8192).total_bytes
    assert header.file_size < small < large


def test_meminfo_is_read() -> None:
    available = memory.available_bytes()
    total = memory.total_bytes()
    if not Path("/proc/meminfo").exists():
        pytest.skip("no /proc/meminfo here")
    assert available is not None and total is not None and 0 < available <= total


def test_scan_finds_every_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smollm2_path: Path
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    hub = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    write_gguf(paths.models_dir() / "own.gguf", TINY)
    write_gguf(tmp_path / "configured" / "sub" / "cfg-model.gguf", TINY)
    write_gguf(home / "models" / "in-home.gguf", TINY)
    snapshot = hub / "models--acme--tiny-GGUF" / "snapshots" / "abc123"
    write_gguf(snapshot / "tiny-q4.gguf", TINY)
    write_gguf(tmp_path / "configured" / "big-00002-of-00002.gguf", TINY)  # not a first part
    (tmp_path / "configured" / "broken.gguf").write_text("not a model")

    entries = catalog.scan([tmp_path / "configured"])
    by_name = {e.name: e for e in entries}
    assert by_name["own"].source == "burrow"
    assert by_name["cfg-model"].source == "config"
    assert by_name["in-home"].source == "home"
    assert by_name["acme/tiny-GGUF:tiny-q4"].source == "hf-cache"
    assert any(e.source == "bundled" and Path(e.path) == smollm2_path for e in entries)
    assert "big-00002-of-00002" not in by_name
    assert "not a GGUF model file" in (by_name["broken"].error or "")

    own = by_name["own"]
    assert own.quantization == "Q4_K_M"
    assert own.n_ctx_train == 4096
    assert own.has_chat_template
    assert own.chat_template() == "{{ messages }}"
    assert own.size_bytes == (paths.models_dir() / "own.gguf").stat().st_size
    estimate = own.ram_estimate(2048)
    assert estimate is not None and estimate > own.ram_estimate(512)  # type: ignore[operator]
    assert own.to_dict(2048)["ram_estimate_bytes"] == estimate

    # The second scan comes from the cache; a changed file is read again.
    assert catalog.scan([tmp_path / "configured"]) == entries
    meta = dict(TINY, **{"general.file_type": 7})
    target = paths.models_dir() / "own.gguf"
    write_gguf(target, meta)
    os.utime(target, ns=(1, 1))
    again = {e.name: e for e in catalog.scan([tmp_path / "configured"])}
    assert again["own"].quantization == "Q8_0"


def test_same_file_is_listed_once(tmp_path: Path, smollm2_path: Path) -> None:
    (paths.models_dir() / "link.gguf").symlink_to(smollm2_path)
    entries = catalog.scan()
    matching = [e for e in entries if Path(e.path).resolve() == smollm2_path.resolve()]
    assert len(matching) == 1 and matching[0].source == "burrow"


def test_read_metadata_isolates_bad_files(tmp_path: Path) -> None:
    good = write_gguf(tmp_path / "good.gguf", TINY)
    result = catalog.read_metadata([good, tmp_path / "missing.gguf"])
    assert result[str(good)]["architecture"] == "llama"
    assert "error" in result[str(tmp_path / "missing.gguf")]


def test_resolve_model(tmp_path: Path, smollm2_path: Path) -> None:
    one = write_gguf(paths.models_dir() / "Qwen-Tiny-Q4_K_M.gguf", TINY)
    write_gguf(paths.models_dir() / "Qwen-Tiny-Q8_0.gguf", TINY)
    assert catalog.resolve_model(str(one)) == one.resolve()
    assert catalog.resolve_model("qwen-tiny-q4_k_m") == one.resolve()
    assert catalog.resolve_model("Qwen-Tiny-Q4_K_M.gguf") == one.resolve()
    assert catalog.resolve_model("tiny-q4") == one.resolve()
    assert catalog.resolve_model("bundled") == smollm2_path
    assert catalog.resolve_model("smollm2") == smollm2_path.resolve()
    with pytest.raises(ModelNotFoundError, match="several models"):
        catalog.resolve_model("qwen")
    with pytest.raises(ModelNotFoundError, match="no model matches"):
        catalog.resolve_model("llama-70b")
    with pytest.raises(ModelNotFoundError, match="file not found"):
        catalog.resolve_model(str(tmp_path / "nope.gguf"))
