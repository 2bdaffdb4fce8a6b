"""A real model with another chat template: a copy of a GGUF file whose
``tokenizer.chat_template`` is replaced (weights, tokenizer and every other key kept).

Lets tests drive the real engine with the published template of a model family that is too
big to ship (Qwen3's thinking switch, Nemotron's opened think block) on the bundled SmolLM2.
"""

from __future__ import annotations

from pathlib import Path

_VIRTUAL = ("GGUF.version", "GGUF.tensor_count", "GGUF.kv_count")


def with_chat_template(source: Path, out: Path, template: str) -> Path:
    import gguf

    reader = gguf.GGUFReader(str(source))
    arch = reader.fields["general.architecture"].contents()
    writer = gguf.GGUFWriter(str(out), arch)
    for field in reader.fields.values():
        if field.name in _VIRTUAL or field.name in ("general.architecture", "general.alignment"):
            continue
        if field.name == "tokenizer.chat_template":
            continue
        value_type = field.types[0]
        if value_type == gguf.GGUFValueType.ARRAY:
            writer.add_key_value(field.name, field.contents(), value_type, sub_type=field.types[-1])
        else:
            writer.add_key_value(field.name, field.contents(), value_type)
    writer.add_chat_template(template)
    for tensor in reader.tensors:
        writer.add_tensor_info(
            tensor.name,
            tensor.data.shape,
            tensor.data.dtype,
            tensor.data.nbytes,
            tensor.tensor_type,
        )
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for tensor in reader.tensors:
            writer.write_tensor_data(tensor.data)
    finally:
        writer.close()
    return out
