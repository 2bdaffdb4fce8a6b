"""The curated list of chat models to get (``prompts/models.toml``, shipped in the wheel),
with how each would fit in this device's memory at the default context.

Reading the list opens no connection: sizes, shapes and licences are in the file.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tui import paths
from tui.engine import fit
from tui.engine.memory import ModelShape

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_REQUIRED: dict[str, type] = {
    "name": str,
    "title": str,
    "repo": str,
    "file": str,
    "quant": str,
    "size_bytes": int,
    "params": str,
    "license": str,
    "n_ctx_train": int,
    "template": str,
}
_SHAPE_KEYS = ("n_layer", "n_embd", "n_head", "n_head_kv", "head_dim", "n_vocab")


class CuratedListError(ValueError):
    """The curated list is malformed; the message names the entry and the field."""


@dataclass(frozen=True)
class CuratedModel:
    name: str
    """Short name for ``burrow models pull NAME``."""
    title: str
    repo: str
    """Hugging Face repository, ``owner/name``."""
    file: str
    quant: str
    size_bytes: int
    """Approximate until the hub says (the download asks it first)."""
    params: str
    license: str
    n_ctx_train: int
    template: str
    """Prompt template family (a name in ``prompts/templates``)."""
    shape: ModelShape
    sha256: str | None = None
    """Only where a published source states it; otherwise the hub's own hash is checked."""

    @property
    def spec(self) -> str:
        """``REPO/FILE``, as ``burrow models pull`` takes it."""
        return f"{self.repo}/{self.file}"

    def ram_estimate(self, n_ctx: int, n_batch: int = 512, **choices: Any) -> int:
        return self.shape.estimate(n_ctx, n_batch, **choices).total_bytes


@dataclass(frozen=True)
class CuratedFit:
    model: CuratedModel
    verdict: str
    """``fits``, ``tight``, ``will not fit`` or ``unknown``."""
    sentence: str
    need_bytes: int
    n_ctx: int


def curated_file() -> Path:
    return paths.builtin_prompts_dir() / "models.toml"


def _parse_entry(item: Any, index: int) -> CuratedModel:
    if not isinstance(item, dict):
        raise CuratedListError(f"models entry {index}: not a table")
    label = f"models entry {index} ({item.get('name', '?')})"
    for key, kind in _REQUIRED.items():
        value = item.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise CuratedListError(f"{label}: {key} must be a {kind.__name__}")
    shape = item.get("shape")
    if not isinstance(shape, dict) or any(
        not isinstance(shape.get(k), int) or shape[k] <= 0 for k in _SHAPE_KEYS
    ):
        raise CuratedListError(f"{label}: shape needs positive {', '.join(_SHAPE_KEYS)}")
    sha256 = item.get("sha256")
    if sha256 is not None and (not isinstance(sha256, str) or not _SHA256.match(sha256)):
        raise CuratedListError(f"{label}: sha256 must be 64 lowercase hex digits")
    if item["repo"].count("/") != 1 or not item["file"].endswith(".gguf"):
        raise CuratedListError(f"{label}: repo must be owner/name and file a .gguf name")
    head_dim = shape["head_dim"]
    model_shape = ModelShape(
        file_size=item["size_bytes"],
        n_layer=shape["n_layer"],
        n_embd=shape["n_embd"],
        n_head=shape["n_head"],
        n_head_kv=shape["n_head_kv"],
        key_length=head_dim,
        value_length=head_dim,
        n_vocab=shape["n_vocab"],
    )
    fields = {key: item[key] for key in _REQUIRED}
    return CuratedModel(**fields, shape=model_shape, sha256=sha256)


def load_curated(path: Path | None = None) -> list[CuratedModel]:
    """Every entry of the curated list, in file order. Raises CuratedListError."""
    file = path or curated_file()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CuratedListError(f"{file}: {exc}") from exc
    items = data.get("models")
    if not isinstance(items, list):
        raise CuratedListError(f"{file}: no [[models]] entries")
    models = [_parse_entry(item, i) for i, item in enumerate(items, 1)]
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise CuratedListError(f"{file}: two entries share a name")
    return models


def find_curated(text: str, models: list[CuratedModel] | None = None) -> CuratedModel | None:
    """The entry named ``text`` (its name, title or ``REPO/FILE``, any case), if any."""
    wanted = text.strip().lower()
    for model in load_curated() if models is None else models:
        if wanted in (model.name.lower(), model.title.lower(), model.spec.lower()):
            return model
    return None


AUTO_CONTEXT_ESTIMATE = 4096
"""The context an automatic ``n_ctx`` (0) is judged at in lists: the most it can become."""


def with_fit(
    models: list[CuratedModel] | None = None,
    *,
    n_ctx: int | None = None,
    n_batch: int | None = None,
    free: int | Literal["now"] | None = "now",
) -> list[CuratedFit]:
    """The list with the memory-fit label for this device, what fits first (then smaller
    first). ``n_ctx``/``n_batch`` default to the settings' defaults; ``free`` is the free
    memory in bytes (``"now"``: read from ``/proc/meminfo``; ``None``: unknown)."""
    from tui.engine.memory import available_bytes
    from tui.settings import Settings

    defaults = Settings()
    ctx = n_ctx or defaults.n_ctx or AUTO_CONTEXT_ESTIMATE
    batch = n_batch or defaults.n_batch
    free_bytes = available_bytes() if isinstance(free, str) else free
    rows: list[CuratedFit] = []
    for model in load_curated() if models is None else models:
        need = model.ram_estimate(ctx, batch)
        verdict, sentence = fit.fit_verdict(need, free_bytes, ctx)
        rows.append(CuratedFit(model, verdict, sentence, need, ctx))
    rows.sort(key=lambda r: (fit.ORDER.get(r.verdict, 9), r.model.size_bytes))
    return rows
