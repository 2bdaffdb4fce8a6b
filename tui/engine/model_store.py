"""Burrow's record of the model files it put in its models folder, and the byte copying
that imports and downloads share (hashing as they go, with progress and cancel).

The record (``models.json`` in the data folder, mode 0600) maps a file name in the models
folder to its SHA-256, size and where it came from. It is what lets an import or a download
refuse a file Burrow already has, whatever its name.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

from tui import paths

CHUNK = 1024 * 1024
_INDEX_VERSION = 1


class ModelFileError(Exception):
    """Getting a model file failed; the message names the file and says why."""


class Cancelled(ModelFileError):
    """The user cancelled; what was written so far is kept or removed as documented."""


@dataclass(frozen=True)
class Progress:
    phase: str
    """``"download"``, ``"copy"``, ``"hash"`` or ``"move"``."""
    done: int
    total: int | None
    bytes_per_second: float
    seconds_left: float | None

    @property
    def fraction(self) -> float | None:
        """Done as a share of the total (0..1), None when the total is unknown."""
        if not self.total:
            return None
        return min(self.done / self.total, 1.0)

    def text(self) -> str:
        """``45% · 120.0 MiB of 400.0 MiB · 3.2 MiB/s · 1 min 10 s left``: one line the CLI
        and the app both show."""
        from tui.engine.memory import format_bytes

        verb = {"hash": "checked", "copy": "copied", "move": "moved"}.get(self.phase, "")
        parts = []
        if self.fraction is not None:
            parts.append(f"{self.fraction * 100:.0f}%")
        amount = format_bytes(self.done)
        if self.total is not None:
            amount += f" of {format_bytes(self.total)}"
        parts.append(f"{amount} {verb}".rstrip())
        parts.append(f"{format_bytes(self.bytes_per_second)}/s")
        if self.seconds_left is not None:
            parts.append(f"{format_duration(self.seconds_left)} left")
        return " · ".join(parts)


def format_duration(seconds: float) -> str:
    """``1 h 05 min``, ``3 min 07 s`` or ``12 s``."""
    whole = max(int(seconds + 0.5), 0)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


ProgressCallback = Callable[[Progress], None]


class Meter:
    """Turns byte counts into :class:`Progress` (speed over this run, not counting bytes
    that were already there, e.g. a resumed part file)."""

    def __init__(
        self, phase: str, total: int | None, callback: ProgressCallback | None, start: int = 0
    ) -> None:
        self.phase = phase
        self.total = total
        self.callback = callback
        self.start = start
        self.done = start
        self.began = time.monotonic()

    def add(self, n: int) -> None:
        self.done += n
        if self.callback is None:
            return
        elapsed = max(time.monotonic() - self.began, 1e-6)
        speed = (self.done - self.start) / elapsed
        left = None
        if self.total is not None and speed > 0:
            left = max(self.total - self.done, 0) / speed
        self.callback(Progress(self.phase, self.done, self.total, speed, left))


def check_cancel(cancel: threading.Event | None, what: str) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled(f"{what}: cancelled")


def copy_stream(
    source: BinaryIO,
    target: BinaryIO | None,
    digest: Any,
    meter: Meter,
    cancel: threading.Event | None,
    what: str,
    read: Callable[[int], bytes] | None = None,
) -> None:
    """Copy ``source`` to ``target`` (None: only hash), updating ``digest`` and ``meter``."""
    reader = read or source.read
    while True:
        check_cancel(cancel, what)
        block = reader(CHUNK)
        if not block:
            return
        digest.update(block)
        if target is not None:
            target.write(block)
        meter.add(len(block))


def sha256_of(
    path: Path,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    digest: Any = None,
) -> str:
    """SHA-256 of a file (``digest``: a hash object to continue, e.g. over a part file)."""
    digest = digest if digest is not None else hashlib.sha256()
    size = path.stat().st_size
    with open(path, "rb") as handle:
        copy_stream(handle, None, digest, Meter("hash", size, progress), cancel, str(path))
    return str(digest.hexdigest())


def free_bytes(folder: Path) -> int:
    import shutil

    return shutil.disk_usage(folder).free


def check_free_space(
    folder: Path, needed: int, what: str, error: type[ModelFileError] = ModelFileError
) -> None:
    """Refuse (raise ``error``) before writing when ``needed`` bytes (plus a little room)
    do not fit."""
    from tui.engine.memory import format_bytes

    free = free_bytes(folder)
    margin = 64 * 1024 * 1024
    if needed + margin > free:
        raise error(
            f"{what}: needs {format_bytes(needed)} but {folder} has only "
            f"{format_bytes(free)} free; free some space first"
        )


# ---------------------------------------------------------------- the record
@dataclass(frozen=True)
class Record:
    file: str
    """File name inside the models folder."""
    sha256: str
    size_bytes: int
    origin: str
    """Where it came from: a path, or ``hf:REPO/FILE``."""
    mode: str
    """``copy``, ``move``, ``link`` or ``download``."""
    added: float


def index_file() -> Path:
    return paths.data_dir() / "models.json"


def load_index() -> dict[str, Record]:
    try:
        data = json.loads(index_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != _INDEX_VERSION:
        return {}
    records: dict[str, Record] = {}
    for item in data.get("models", []):
        with contextlib.suppress(TypeError):
            record = Record(**item)
            records[record.file] = record
    return records


def _save_index(records: dict[str, Record]) -> None:
    items = [asdict(r) for r in sorted(records.values(), key=lambda r: r.file)]
    text = json.dumps({"version": _INDEX_VERSION, "models": items}, indent=1)
    paths.write_private_text(index_file(), text)


def remember(record: Record) -> None:
    records = load_index()
    records[record.file] = record
    _save_index(records)


def find_by_hash(sha256: str, models_dir: Path | None = None) -> Path | None:
    """The models-folder file recorded with this hash, if it is still there (a record
    whose file was deleted is forgotten)."""
    folder = models_dir or paths.models_dir()
    records = load_index()
    stale = [name for name, r in records.items() if not (folder / name).exists()]
    if stale:
        for name in stale:
            records.pop(name)
        with contextlib.suppress(OSError):
            _save_index(records)
    for record in records.values():
        if record.sha256 == sha256.lower():
            return folder / record.file
    return None


def duplicate_message(what: str, existing: Path) -> str:
    return f"{what}: already in Burrow's models folder as {existing.name} (same SHA-256)"


def place_file(part: Path, final: Path) -> Path:
    """Rename a finished part file into place, readable by the user only."""
    os.replace(part, final)
    return paths.private_file(final)
