"""The folders a browser saves downloads in, searched (read only) for models.

On Android a GGUF downloaded in the browser lands in the shared ``Download`` folder. Termux
reaches it through ``~/storage/downloads`` (made by ``termux-setup-storage``),
``~/storage/shared/Download`` or ``/sdcard/Download``; until storage access is granted those
are missing or not readable, and the report says how to grant it. On a desktop the folder
is ``~/Downloads``. Burrow never writes to any of them.

``~`` is ``Path.home()`` (``HOME``), so tests point these folders elsewhere by setting
``HOME``; :data:`SDCARD_DOWNLOAD` is a module constant they can replace.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SDCARD_DOWNLOAD = Path("/sdcard/Download")
SOURCE = "downloads"
MAX_DEPTH = 1
"""The folder and its direct subfolders: browsers save at the top, and a deep walk of
shared storage is slow."""
GRANT_HINT = (
    "run termux-setup-storage (and allow storage access) so Burrow can see the "
    "Download folder, then open Burrow again"
)


@dataclass(frozen=True)
class SharedFolder:
    path: Path
    state: str
    """``"readable"``, ``"missing"``, ``"not readable"`` or ``"same as <path>"``."""
    reason: str | None = None

    @property
    def readable(self) -> bool:
        return self.state == "readable"


@dataclass(frozen=True)
class StorageReport:
    folders: list[SharedFolder]
    hint: str | None
    """How to grant access (``termux-setup-storage``), when a phone folder is not reachable."""

    def lines(self) -> list[str]:
        out = [f"{f.path}  ({f.state}{': ' + f.reason if f.reason else ''})" for f in self.folders]
        if self.hint:
            out.append(self.hint)
        return out


def candidate_dirs(home: Path | None = None) -> list[Path]:
    """Every download folder Burrow looks for, phone ones first."""
    base = Path.home() if home is None else home
    return [
        base / "storage" / "downloads",
        base / "storage" / "shared" / "Download",
        SDCARD_DOWNLOAD,
        base / "Downloads",
    ]


def is_termux() -> bool:
    return bool(os.environ.get("TERMUX_VERSION")) or "com.termux" in os.environ.get("PREFIX", "")


def _probe(path: Path) -> str | None:
    """None when ``path`` is a folder that can be listed, else why not (a test seam)."""
    try:
        with os.scandir(path) as entries:
            next(entries, None)
    except PermissionError as exc:
        return exc.strerror or "permission denied"
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _android_folder(path: Path, home: Path) -> bool:
    return path == SDCARD_DOWNLOAD or path.is_relative_to(home / "storage")


def report(home: Path | None = None) -> StorageReport:
    """Which download folders exist and can be read (one real folder counted once)."""
    base = Path.home() if home is None else home
    folders: list[SharedFolder] = []
    seen: dict[Path, Path] = {}
    blocked_phone = False
    for path in candidate_dirs(base):
        if not os.path.lexists(path):
            folders.append(SharedFolder(path, "missing"))
            continue
        why = _probe(path)
        if why is not None:
            folders.append(SharedFolder(path, "not readable", why))
            blocked_phone = blocked_phone or _android_folder(path, base)
            continue
        real = path.resolve()
        if real in seen:
            folders.append(SharedFolder(path, f"same as {seen[real]}"))
            continue
        seen[real] = path
        folders.append(SharedFolder(path, "readable"))
    no_storage_link = is_termux() and not os.path.lexists(base / "storage")
    hint = GRANT_HINT if blocked_phone or no_storage_link else None
    return StorageReport(folders, hint)


def download_dirs(home: Path | None = None) -> list[Path]:
    """The download folders to search: existing, readable, each real folder once."""
    return [f.path for f in report(home).folders if f.readable]
