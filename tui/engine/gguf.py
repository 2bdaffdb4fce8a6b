"""A small, defensive, pure-Python reader of GGUF headers.

It reads the metadata and the tensor table (never the weights) with bounds checks on every
read, so a truncated or crafted file raises :class:`GgufError` instead of crashing.
The catalog runs it in a child process anyway (cheap insurance: a pathological file could
still make it use a lot of memory), and the worker runs it before handing a file to
llama.cpp, which turns "not a GGUF" or "truncated" into a clear message.
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAGIC = b"GGUF"

# GGUF metadata value types.
_UINT8, _INT8, _UINT16, _INT16, _UINT32, _INT32, _FLOAT32, _BOOL = range(8)
_STRING, _ARRAY, _UINT64, _INT64, _FLOAT64 = 8, 9, 10, 11, 12
_SCALAR_FORMATS = {
    _UINT8: "<B",
    _INT8: "<b",
    _UINT16: "<H",
    _INT16: "<h",
    _UINT32: "<I",
    _INT32: "<i",
    _FLOAT32: "<f",
    _BOOL: "<?",
    _UINT64: "<Q",
    _INT64: "<q",
    _FLOAT64: "<d",
}

# ggml tensor types: (elements per block, bytes per block).
GGML_TYPE_SIZES: dict[int, tuple[int, int]] = {
    0: (1, 4),  # F32
    1: (1, 2),  # F16
    2: (32, 18),  # Q4_0
    3: (32, 20),  # Q4_1
    6: (32, 22),  # Q5_0
    7: (32, 24),  # Q5_1
    8: (32, 34),  # Q8_0
    9: (32, 36),  # Q8_1
    10: (256, 84),  # Q2_K
    11: (256, 110),  # Q3_K
    12: (256, 144),  # Q4_K
    13: (256, 176),  # Q5_K
    14: (256, 210),  # Q6_K
    15: (256, 292),  # Q8_K
    16: (256, 66),  # IQ2_XXS
    17: (256, 74),  # IQ2_XS
    18: (256, 98),  # IQ3_XXS
    19: (256, 50),  # IQ1_S
    20: (32, 18),  # IQ4_NL
    21: (256, 110),  # IQ3_S
    22: (256, 82),  # IQ2_S
    23: (256, 136),  # IQ4_XS
    24: (1, 1),  # I8
    25: (1, 2),  # I16
    26: (1, 4),  # I32
    27: (1, 8),  # I64
    28: (1, 8),  # F64
    29: (256, 56),  # IQ1_M
    30: (1, 2),  # BF16
    34: (256, 54),  # TQ1_0
    35: (256, 66),  # TQ2_0
    39: (32, 17),  # MXFP4
}

GGML_TYPE_NAMES: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1",
    10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 16: "IQ2_XXS",
    17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S",
    23: "IQ4_XS", 24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64", 29: "IQ1_M",
    30: "BF16", 34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4",
}  # fmt: skip

# llama_ftype (general.file_type) -> the name users know from file names.
FILE_TYPES: dict[int, str] = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
    36: "TQ1_0",
    37: "TQ2_0",
    38: "MXFP4_MOE",
}

# Arrays longer than this (token lists, merges, scores) are skipped, not kept.
_KEEP_ARRAY_MAX = 64
_MAX_COUNT = 10_000_000


class GgufError(ValueError):
    """The file is not a usable GGUF file; the message says why (without the path)."""


@dataclass
class GgufHeader:
    version: int
    file_size: int
    metadata: dict[str, Any]
    n_tensors: int
    n_params: int
    data_end: int | None
    """Smallest file size that holds every tensor; None if a tensor type is unknown."""
    array_lengths: dict[str, int] = field(default_factory=dict)
    weight_bytes: dict[str, int] = field(default_factory=dict)
    """Bytes of tensor data by ggml type name (``{"Q4_0": ..., "F32": ...}``)."""
    matmul_bytes: dict[str, int] = field(default_factory=dict)
    """The part of :attr:`weight_bytes` in matrices llama.cpp may repack for the CPU: 2-D
    weights other than the token embedding (read by row lookup, never repacked) whose row
    count is a multiple of 8."""

    def get(self, key: str, default: Any = None) -> Any:
        return self.metadata.get(key, default)

    @property
    def architecture(self) -> str | None:
        value = self.metadata.get("general.architecture")
        return value if isinstance(value, str) else None

    def arch_int(self, suffix: str) -> int | None:
        arch = self.architecture
        if arch is None:
            return None
        value = self.metadata.get(f"{arch}.{suffix}")
        if isinstance(value, list):  # per-layer values (some hybrid models)
            ints = [v for v in value if isinstance(v, int)]
            return max(ints) if ints else None
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def quantization(self) -> str | None:
        ftype = self.metadata.get("general.file_type")
        if isinstance(ftype, int):
            return FILE_TYPES.get(ftype, f"type {ftype}")
        return None

    @property
    def chat_template(self) -> str | None:
        value = self.metadata.get("tokenizer.chat_template")
        return value if isinstance(value, str) and value.strip() else None

    @property
    def size_label(self) -> str | None:
        label = self.metadata.get("general.size_label")
        if isinstance(label, str) and label:
            return label
        return format_param_count(self.n_params) if self.n_params else None

    @property
    def n_vocab(self) -> int | None:
        return self.array_lengths.get("tokenizer.ggml.tokens")


def format_param_count(n: int) -> str:
    """135_000_000 -> "135M", 1_700_000_000 -> "1.7B"."""
    for unit, scale in (("T", 10**12), ("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if n >= scale:
            value = n / scale
            text = f"{value:.1f}" if value < 10 else f"{value:.0f}"
            return text.removesuffix(".0") + unit
    return str(n)


class _Reader:
    def __init__(self, buf: mmap.mmap | bytes, size: int) -> None:
        self.buf = buf
        self.size = size
        self.pos = 0

    def need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.size:
            raise GgufError(
                f"truncated GGUF file: {what} at byte {self.pos} runs past the end "
                f"of the file ({self.size} bytes)"
            )

    def scalar(self, vtype: int, what: str) -> Any:
        fmt = _SCALAR_FORMATS[vtype]
        n = struct.calcsize(fmt)
        self.need(n, what)
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += n
        return value

    def u32(self, what: str) -> int:
        return int(self.scalar(_UINT32, what))

    def u64(self, what: str) -> int:
        return int(self.scalar(_UINT64, what))

    def string(self, what: str, keep: bool = True) -> str:
        length = self.u64(what)
        self.need(length, what)
        start = self.pos
        self.pos += length
        if not keep:
            return ""
        return bytes(self.buf[start : self.pos]).decode("utf-8", errors="replace")

    def value(self, vtype: int, key: str, lengths: dict[str, int]) -> Any:
        if vtype in _SCALAR_FORMATS:
            return self.scalar(vtype, f"value of {key!r}")
        if vtype == _STRING:
            return self.string(f"value of {key!r}")
        if vtype == _ARRAY:
            itype = self.u32(f"array type of {key!r}")
            count = self.u64(f"array length of {key!r}")
            if count > _MAX_COUNT or count > self.size:
                raise GgufError(f"implausible array length {count} for {key!r}")
            lengths[key] = count
            keep = count <= _KEEP_ARRAY_MAX
            if itype in _SCALAR_FORMATS:
                width = struct.calcsize(_SCALAR_FORMATS[itype])
                if not keep:
                    self.need(width * count, f"array {key!r}")
                    self.pos += width * count
                    return None
                return [self.scalar(itype, f"array {key!r}") for _ in range(count)]
            if itype == _STRING:
                items = [self.string(f"array {key!r}", keep) for _ in range(count)]
                return items if keep else None
            raise GgufError(f"unsupported array element type {itype} for {key!r}")
        raise GgufError(f"unknown metadata value type {vtype} for {key!r}")


def read_header(path: str | os.PathLike[str]) -> GgufHeader:
    """Parse the GGUF header and tensor table of ``path``.

    Raises :class:`GgufError` for anything that is not a complete GGUF file, and
    ``OSError`` when the file cannot be read.
    """
    file = Path(path)
    with open(file, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            raise GgufError("empty file (0 bytes)")
        head = handle.read(4)
        if head != MAGIC:
            raise GgufError(f"not a GGUF model file (starts with {head!r}, expected b'GGUF')")
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            return _parse(_Reader(buf, size))


def _parse(reader: _Reader) -> GgufHeader:
    reader.pos = 4
    version = reader.u32("version")
    if version not in (2, 3):
        raise GgufError(f"unsupported GGUF version {version}")
    n_tensors = reader.u64("tensor count")
    n_kv = reader.u64("metadata count")
    if n_tensors > _MAX_COUNT or n_kv > _MAX_COUNT:
        raise GgufError("implausible tensor or metadata count (corrupt header)")
    metadata: dict[str, Any] = {}
    lengths: dict[str, int] = {}
    for _ in range(n_kv):
        key = reader.string("metadata key")
        vtype = reader.u32(f"type of {key!r}")
        metadata[key] = reader.value(vtype, key, lengths)

    tensors: list[tuple[int, int, int]] = []  # (offset, n_elements, type)
    weight_bytes: dict[str, int] = {}
    matmul_bytes: dict[str, int] = {}
    for _ in range(n_tensors):
        name = reader.string("tensor name")
        n_dims = reader.u32(f"dimensions of tensor {name!r}")
        if n_dims > 8:
            raise GgufError(f"tensor {name!r} has {n_dims} dimensions (corrupt header)")
        dims = [reader.u64(f"shape of tensor {name!r}") for _ in range(n_dims)]
        n_elements = 1
        for dim in dims:
            n_elements *= dim
        ttype = reader.u32(f"type of tensor {name!r}")
        offset = reader.u64(f"offset of tensor {name!r}")
        tensors.append((offset, n_elements, ttype))
        if ttype in GGML_TYPE_SIZES:
            block, nbytes = GGML_TYPE_SIZES[ttype]
            size = (n_elements + block - 1) // block * nbytes
            type_name = GGML_TYPE_NAMES.get(ttype, str(ttype))
            weight_bytes[type_name] = weight_bytes.get(type_name, 0) + size
            if n_dims == 2 and dims[1] % 8 == 0 and not name.startswith("token_embd"):
                matmul_bytes[type_name] = matmul_bytes.get(type_name, 0) + size

    alignment = metadata.get("general.alignment", 32)
    if not isinstance(alignment, int) or alignment <= 0:
        alignment = 32
    data_start = (reader.pos + alignment - 1) // alignment * alignment
    data_end: int | None = data_start
    n_params = 0
    for offset, n_elements, ttype in tensors:
        n_params += n_elements
        if ttype not in GGML_TYPE_SIZES:
            data_end = None
            continue
        block, nbytes = GGML_TYPE_SIZES[ttype]
        end = data_start + offset + (n_elements + block - 1) // block * nbytes
        if data_end is not None:
            data_end = max(data_end, end)
    if data_end is not None and data_end > reader.size:
        raise GgufError(
            f"truncated GGUF file: the tensors need {data_end} bytes, the file has {reader.size}"
        )
    return GgufHeader(
        version=version,
        file_size=reader.size,
        metadata=metadata,
        n_tensors=n_tensors,
        n_params=n_params,
        data_end=data_end,
        array_lengths=lengths,
        weight_bytes=weight_bytes,
        matmul_bytes=matmul_bytes,
    )
