"""Import a GGUF file into Burrow's models folder: checked, copied (or moved, or linked),
hashed and recorded.

The header is read in a child process by the catalog's reader (a crafted file must not take
the app down), so a file that is not a usable model is refused before anything is written.
The SHA-256 is computed while copying (one pass over the file: phones read slowly) and a
file Burrow already has, under any name, is refused.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tui import paths
from tui.engine import model_store as store
from tui.engine.model_store import Meter, ModelFileError, ProgressCallback

ImportMode = Literal["copy", "move", "link"]
MODES: tuple[ImportMode, ...] = ("copy", "move", "link")


class ImportFailed(ModelFileError):
    """The file was not imported; the message names it and says why."""


@dataclass(frozen=True)
class ImportResult:
    path: Path
    """The file (or link) now in the models folder."""
    sha256: str
    size_bytes: int
    mode: ImportMode
    summary: dict[str, Any]
    """The header summary the catalog's reader returned (quantization, size label...)."""


def validate_gguf(path: Path) -> dict[str, Any]:
    """The header summary of ``path``, read in a child process; ImportFailed naming the
    file when it is not a usable GGUF model."""
    from tui.engine.catalog import read_metadata

    summary = read_metadata([path]).get(str(path), {"error": "not read"})
    error = summary.get("error")
    if error:
        raise ImportFailed(f"{path}: not a usable GGUF model: {error}")
    return summary


def _same_device(a: Path, b: Path) -> bool:
    """Whether a rename from ``a`` into folder ``b`` can work (a seam for tests)."""
    return os.stat(a).st_dev == os.stat(b).st_dev


def _refuse_duplicate(source: Path, sha256: str, folder: Path) -> None:
    existing = store.find_by_hash(sha256, folder)
    if existing is not None:
        raise ImportFailed(store.duplicate_message(str(source), existing))


def _refuse_name_taken(source: Path, dest: Path) -> None:
    if dest.exists() or dest.is_symlink():
        raise ImportFailed(
            f"{source}: a different file named {dest.name} is already in {dest.parent}; "
            "rename one of them first"
        )


def _copy_in(
    source: Path,
    dest: Path,
    progress: ProgressCallback | None,
    cancel: threading.Event | None,
) -> str:
    """Copy ``source`` to ``dest`` through a part file, hashing as it goes. Refuses (and
    removes the part) on a duplicate or a cancel."""
    size = source.stat().st_size
    store.check_free_space(dest.parent, size, str(source), ImportFailed)
    part = dest.with_name(dest.name + ".part")
    digest = hashlib.sha256()
    try:
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(source, "rb") as reader, os.fdopen(fd, "wb") as writer:
            meter = Meter("copy", size, progress)
            store.copy_stream(reader, writer, digest, meter, cancel, str(source))
            writer.flush()
            os.fsync(writer.fileno())
        sha256 = digest.hexdigest()
        _refuse_duplicate(source, sha256, dest.parent)
        _refuse_name_taken(source, dest)
        store.place_file(part, dest)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return sha256


def _hash_then(
    source: Path,
    dest: Path,
    progress: ProgressCallback | None,
    cancel: threading.Event | None,
) -> str:
    """Hash ``source`` in place (for a link or a same-device move) and refuse duplicates."""
    sha256 = store.sha256_of(source, progress, cancel)
    _refuse_duplicate(source, sha256, dest.parent)
    _refuse_name_taken(source, dest)
    return sha256


def import_model(
    source: str | os.PathLike[str],
    *,
    mode: ImportMode = "copy",
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> ImportResult:
    """Put ``source`` in Burrow's models folder.

    ``copy`` leaves the original alone; ``move`` renames it when it is on the same file
    system and otherwise copies then deletes it; ``link`` makes a symlink (the file stays
    where it is, e.g. in the phone's Download folder). Raises :class:`ImportFailed` (a
    :class:`ModelFileError`) naming the file, or :class:`~tui.engine.model_store.Cancelled`.
    """
    if mode not in MODES:
        raise ImportFailed(f"unknown import mode {mode!r} (use copy, move or link)")
    path = Path(source).expanduser()
    if not path.is_file():
        raise ImportFailed(f"{path}: no such file")
    if not path.name.lower().endswith(".gguf"):
        raise ImportFailed(f"{path}: not a .gguf file")
    folder = paths.models_dir()
    if path.resolve().parent == folder.resolve():
        raise ImportFailed(f"{path}: already in Burrow's models folder")
    summary = validate_gguf(path)
    dest = folder / path.name
    size = path.stat().st_size
    try:
        if mode == "link":
            sha256 = _hash_then(path, dest, progress, cancel)
            dest.symlink_to(path.resolve())
        elif mode == "move" and _same_device(path, folder):
            sha256 = _hash_then(path, dest, progress, cancel)
            os.rename(path, dest)
            paths.private_file(dest)
        else:
            sha256 = _copy_in(path, dest, progress, cancel)
            if mode == "move":
                path.unlink()
    except OSError as exc:
        raise ImportFailed(f"{path}: could not {mode} it into {folder}: {exc}") from exc
    store.remember(store.Record(dest.name, sha256, size, str(path.resolve()), mode, time.time()))
    return ImportResult(dest, sha256, size, mode, summary)
