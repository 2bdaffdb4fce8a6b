"""What a llama-server says about its model (``/props``, ``/v1/models``) as a
:class:`ModelInfo`; a payload that is not what llama-server sends is a :class:`ServerError`
naming the field, never a KeyError."""

from __future__ import annotations

import os
from typing import Any

from tui.engine.gguf import GgufHeader
from tui.engine.http import ServerError
from tui.engine.protocol import LoadParams, ModelInfo


def _dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ServerError(f"llama-server sent an unexpected {what} (not an object)", "payload")
    return value


def _first_model(models: Any) -> dict[str, Any]:
    data = _dict(models, "/v1/models answer").get("data")
    if not isinstance(data, list) or not data or not isinstance(data[0], dict):
        raise ServerError("llama-server's /v1/models lists no model", "payload")
    return data[0]


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def served_model_id(models: Any) -> str:
    return str(_first_model(models).get("id") or "model")


def model_info(
    props: Any,
    models: Any,
    path: str,
    file_size: int,
    seconds: float,
    params: LoadParams,
    add_bos: bool,
    header: GgufHeader | None = None,
) -> ModelInfo:
    """``path`` is the local file (local mode) or a name for the served model (remote)."""
    props = _dict(props, "/props answer")
    settings = props.get("default_generation_settings")
    n_ctx = _int_or_none(_dict(settings, "/props default_generation_settings").get("n_ctx"))
    if n_ctx is None:
        raise ServerError("llama-server's /props gives no context size (n_ctx)", "payload")
    first = _first_model(models)
    found = first.get("meta")
    meta: dict[str, Any] = found if isinstance(found, dict) else {}
    template = (
        header.chat_template if header is not None else _str_or_none(props.get("chat_template"))
    )
    name = _str_or_none(header.get("general.name")) if header is not None else None
    if name is None:
        served = _str_or_none(props.get("model_path")) or _str_or_none(first.get("id"))
        name = os.path.basename(served) if served else None
    threads = params.n_threads or 0
    return ModelInfo(
        path=path,
        file_size=file_size or (_int_or_none(meta.get("size")) or 0),
        load_seconds=seconds,
        n_ctx=n_ctx,
        n_ctx_train=_int_or_none(meta.get("n_ctx_train")),
        architecture=header.architecture if header is not None else None,
        name=name,
        parameter_count=_int_or_none(meta.get("n_params")),
        size_label=header.size_label if header is not None else None,
        quantization=header.quantization if header is not None else None,
        has_chat_template=template is not None,
        chat_template=template,
        n_vocab=_int_or_none(meta.get("n_vocab")) or 0,
        bos_token=_str_or_none(props.get("bos_token")),
        eos_token=_str_or_none(props.get("eos_token")),
        add_bos=add_bos,
        extra_bufts=params.extra_bufts is not False,
        n_threads=threads,
        n_threads_batch=params.n_threads_batch or threads,
    )
