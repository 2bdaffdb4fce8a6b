"""Download a model file from the hub, only when the user asks, in three steps a UI can
show one by one:

1. :func:`target_for` (no connection): which host and file, and the curated size if known,
   for a confirmation that names the host before anything is sent;
2. :func:`plan` (one ``HEAD`` to that host): the exact size and the SHA-256 the hub
   publishes, how much a ``.part`` file already holds, for a confirmation with the real
   size and the storage host the bytes will come from;
3. :func:`download`: the transfer, resumed from the ``.part`` file with an HTTP ``Range``,
   with progress (bytes, speed, time left) and cancel; the SHA-256 is checked before the
   file is renamed into the models folder, and a mismatch deletes the part file.

A cancel or a broken connection keeps the part file, so running the download again resumes.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui import paths
from tui.engine import hub
from tui.engine import model_store as store
from tui.engine.curated import CuratedModel, find_curated
from tui.engine.hub import DownloadError
from tui.engine.model_store import Cancelled, Meter, ProgressCallback

_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


@dataclass(frozen=True)
class DownloadTarget:
    repo: str
    file: str
    url: str
    host: str
    """The host named in the confirmation (the hub or the ``HF_ENDPOINT`` mirror)."""
    dest: Path
    size_bytes: int | None = None
    """From the curated list (approximate), before the hub is asked."""
    sha256: str | None = None
    """From the curated list, when a published source states it."""
    curated: CuratedModel | None = None


@dataclass(frozen=True)
class DownloadPlan:
    target: DownloadTarget
    size_bytes: int
    sha256: str | None
    hash_source: str | None
    """``"curated"``, ``"hub"``, or None when nothing can check the file."""
    data_host: str
    """Where the bytes come from after the hub's redirect (its storage host)."""
    resume_from: int
    """Bytes already in the ``.part`` file that will be kept."""


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    sha256: str
    size_bytes: int
    resumed_from: int
    bytes_received: int


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _part_meta(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part.json")


def _discard(dest: Path) -> None:
    """Delete a part file (and its note) whose data must not be kept."""
    part_path(dest).unlink(missing_ok=True)
    _part_meta(dest).unlink(missing_ok=True)


def target_for(spec: str) -> DownloadTarget:
    """What ``spec`` (a curated name, or ``REPO/FILE``) would download. Opens no connection."""
    curated = find_curated(spec)
    if curated is not None:
        repo, file = curated.repo, curated.file
    else:
        parts = spec.strip().strip("/").split("/")
        if len(parts) < 3 or not parts[-1].lower().endswith(".gguf") or "" in parts:
            raise DownloadError(
                f"{spec!r}: name a model from the curated list, or a file as OWNER/REPO/FILE.gguf"
            )
        repo, file = "/".join(parts[:2]), "/".join(parts[2:])
    if ".." in file.split("/"):
        raise DownloadError(f"{spec!r}: bad file name")
    url = hub.resolve_url(repo, file)
    hub.check_url(url)
    return DownloadTarget(
        repo=repo,
        file=file,
        url=url,
        host=hub.host_of(url),
        dest=paths.models_dir() / Path(file).name,
        size_bytes=curated.size_bytes if curated else None,
        sha256=curated.sha256 if curated else None,
        curated=curated,
    )


def refuse_present(target: DownloadTarget) -> None:
    """DownloadError when the file is already in the models folder (checked before asking
    the user, and again before connecting)."""
    if target.dest.exists():
        raise DownloadError(f"{target.file}: already in Burrow's models folder ({target.dest})")


def _kept_bytes(dest: Path, size: int, sha256: str | None) -> int:
    """Bytes of the part file worth resuming from (0 after removing a stale one)."""
    part, meta = part_path(dest), _part_meta(dest)
    try:
        have = part.stat().st_size
        saved = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        have, saved = 0, None
    if have and saved == {"size": size, "sha256": sha256} and have <= size:
        return have
    _discard(dest)
    return 0


def plan(target: DownloadTarget, *, timeout: float = 30) -> DownloadPlan:
    """Ask the hub (one ``HEAD`` to the named host, see :func:`hub.probe`) for the size and
    the published hash. Refuses a file that is already in the models folder."""
    what = target.file
    refuse_present(target)
    answer = hub.probe(target.url, what, timeout=timeout)
    size, data_host = answer.size, hub.host_of(answer.data_url)
    if size is None:
        raise DownloadError(f"{what}: {target.host} did not say how big the file is")
    sha256, source = target.sha256, "curated"
    if sha256 is None:
        sha256, source = hub.published_sha256(answer.headers), "hub"
    if sha256 is not None:
        existing = store.find_by_hash(sha256, target.dest.parent)
        if existing is not None:
            raise DownloadError(store.duplicate_message(what, existing))
    resume = _kept_bytes(target.dest, size, sha256)
    return DownloadPlan(target, size, sha256, source if sha256 else None, data_host, resume)


def _open_transfer(plan_: DownloadPlan, have: int, timeout: float) -> tuple[Any, int]:
    """Start the GET (with ``Range`` when resuming). Returns the response and the offset
    the server really starts from (0 when it ignored the range)."""
    headers = {"Range": f"bytes={have}-"} if have else {}
    response, _first = hub.open_url(
        plan_.target.url, plan_.target.file, headers=headers, timeout=timeout
    )
    if have and response.status == 206:
        match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
        if match and int(match.group(1)) == have:
            return response, have
        response.close()
        raise DownloadError(f"{plan_.target.file}: the server resumed at the wrong place")
    return response, 0


def _receive(
    plan_: DownloadPlan,
    progress: ProgressCallback | None,
    cancel: threading.Event | None,
    timeout: float,
) -> tuple[str, int]:
    """Complete the part file. Returns its SHA-256 and the bytes received this time."""
    dest, what = plan_.target.dest, plan_.target.file
    part = part_path(dest)
    have = part.stat().st_size if part.exists() else 0
    digest = hashlib.sha256()
    if have:
        store.sha256_of(part, progress, cancel, digest)
    if have >= plan_.size_bytes:
        return digest.hexdigest(), 0
    response, start = _open_transfer(plan_, have, timeout)
    if start != have:  # the server ignored the range and sends the whole file
        digest = hashlib.sha256()
    meter = Meter("download", plan_.size_bytes, progress, start)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if start else os.O_TRUNC)
    try:
        with response, os.fdopen(os.open(part, flags, 0o600), "wb") as out:
            store.copy_stream(response, out, digest, meter, cancel, what, response.read1)
    except Cancelled:
        raise Cancelled(f"{what}: cancelled; run the download again to resume") from None
    except (OSError, http.client.HTTPException) as exc:
        raise DownloadError(
            hub.network_message(exc, what, plan_.data_host, timeout)
            + f" after {meter.done} of {plan_.size_bytes} bytes; run the download again to resume"
        ) from exc
    if meter.done != plan_.size_bytes:
        raise DownloadError(
            f"{what}: the connection closed after {meter.done} of {plan_.size_bytes} bytes; "
            "run the download again to resume"
        )
    return digest.hexdigest(), meter.done - start


def _verify(plan_: DownloadPlan, actual: str) -> None:
    dest = plan_.target.dest
    if plan_.sha256 is not None and actual != plan_.sha256:
        _discard(dest)
        raise DownloadError(
            f"{plan_.target.file}: SHA-256 mismatch (expected {plan_.sha256} from the "
            f"{plan_.hash_source}, got {actual}); the downloaded data was deleted"
        )
    existing = store.find_by_hash(actual, dest.parent)
    if existing is not None:
        _discard(dest)
        raise DownloadError(store.duplicate_message(plan_.target.file, existing))


def download(
    plan_: DownloadPlan,
    *,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    timeout: float = 30,
    allow_unverified: bool = False,
) -> DownloadResult:
    """Fetch the planned file into the models folder. Raises DownloadError (a
    ModelFileError) with a message for people, or Cancelled (the part file is kept)."""
    target = plan_.target
    if plan_.sha256 is None and not allow_unverified:
        raise DownloadError(
            f"{target.file}: {target.host} published no SHA-256 for it, so it could not be "
            "checked; refusing"
        )
    refuse_present(target)
    have = _kept_bytes(target.dest, plan_.size_bytes, plan_.sha256)
    store.check_free_space(target.dest.parent, plan_.size_bytes - have, target.file, DownloadError)
    meta = {"size": plan_.size_bytes, "sha256": plan_.sha256}
    paths.write_private_text(_part_meta(target.dest), json.dumps(meta))
    actual, received = _receive(plan_, progress, cancel, timeout)
    _verify(plan_, actual)
    part = part_path(target.dest)
    from tui.engine.importer import ImportFailed, validate_gguf

    try:
        validate_gguf(part)
    except ImportFailed as exc:
        _discard(target.dest)
        raise DownloadError(f"{target.file}: {exc}; the download was deleted") from exc
    store.place_file(part, target.dest)
    _part_meta(target.dest).unlink(missing_ok=True)
    origin = f"hf:{target.repo}/{target.file}"
    record = store.Record(
        target.dest.name, actual, plan_.size_bytes, origin, "download", time.time()
    )
    store.remember(record)
    return DownloadResult(target.dest, actual, plan_.size_bytes, have, received)
