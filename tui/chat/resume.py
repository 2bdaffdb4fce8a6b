"""Instant resume: the model's state (KV cache) of a conversation, saved when the user leaves
it and restored when they come back, so the next answer only evaluates the new question.

A state file holds the conversation's tokens, so it gets the history's privacy:

- written only into :func:`tui.paths.states_dir` (0700), as 0600 files;
- recorded in the store with its SHA-256, size, model, template and context size; a file
  whose hash or size does not match is deleted and never handed to llama.cpp (which parses
  it in C): Burrow only loads state files it wrote;
- deleted with its conversation and by wipe (the store does that);
- never for incognito conversations, and never under a conversation's name unless the
  engine's cache really holds that conversation (see :attr:`StateCache.owner`);
- a size cap over all files, least recently used evicted first.

The engine calls are blocking; the session makes them off the event loop (before an answer)
or at close.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import stat
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tui.engine.memory import format_bytes
from tui.engine.protocol import ModelInfo
from tui.store import StateRecord, Store

log = logging.getLogger(__name__)

#: Default cap over all saved states. A SmolLM2-135M state is ~23 KB per token (a full
#: 2,048-token context is ~46 MiB); bigger models need more per token.
DEFAULT_MAX_BYTES = 512 * 1024 * 1024


class StateEngine(Protocol):
    """What the cache needs of :class:`tui.engine.client.EngineClient`."""

    @property
    def model(self) -> ModelInfo | None: ...

    def save_state(self, path: str | Path) -> int: ...

    def load_state(self, path: str | Path) -> int: ...


@dataclass(frozen=True)
class StateKey:
    """Which engine cache a saved state fits: same model file, template and context size."""

    conversation_id: int
    model_path: str
    template: str
    n_ctx: int


def state_model_key(engine: Any, model: ModelInfo) -> str:
    """The model a state belongs to, with the engine's state format when it is not the
    embedded one (llama-server's slot files and llama-cpp-python's differ)."""
    fmt = getattr(engine, "state_format", None)
    return f"{model.path}#{fmt}" if isinstance(fmt, str) and fmt else model.path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def state_file_name(key: StateKey) -> str:
    """One file per conversation + model + template + context size."""
    what = f"{key.model_path}\0{key.template}\0{key.n_ctx}".encode()
    return f"conv{key.conversation_id}-{hashlib.sha256(what).hexdigest()[:16]}.kvstate"


@dataclass(frozen=True)
class _Owner:
    key: StateKey
    store: str
    worker_pid: int | None
    dirty: bool
    n_tokens: int = 0
    """Tokens the cache holds (0: not known)."""


#: engine object -> the conversation its cache holds. Kept per engine, not per session: two
#: sessions may share one engine, and only the one that answered last owns its cache.
_OWNERS: weakref.WeakKeyDictionary[Any, _Owner] = weakref.WeakKeyDictionary()

#: (model, n_ctx, cache type) -> bytes a state file took per token when last written in this
#: run: a state is mostly its tokens' keys and values, so the next one's size is known before
#: it is written. Not kept across runs: the store does not record the cache type.
_BYTES_PER_TOKEN: dict[tuple[str, int, str], float] = {}


def _pid(engine: Any) -> int | None:
    pid = getattr(engine, "worker_pid", None)
    return pid if isinstance(pid, int) else None


def engine_used(
    engine: Any, key: StateKey | None, store: Store | None = None, n_tokens: int = 0
) -> None:
    """Record what the engine's cache holds after an answer: ``key`` of a saved
    conversation of ``store``, or None (incognito, anything never to be saved), and how
    many tokens (prompt and answer; 0 when not known)."""
    try:
        if key is None or store is None or store.incognito:
            _OWNERS.pop(engine, None)
        else:
            _OWNERS[engine] = _Owner(key, str(store.path), _pid(engine), True, n_tokens)
    except TypeError:  # an engine object that cannot be weakly referenced: no resume
        pass


def engine_owner(engine: Any, store: Store) -> StateKey | None:
    """The conversation of ``store`` the engine's cache holds now, if any."""
    owner = _OWNERS.get(engine)
    if owner is None or owner.store != str(store.path) or owner.worker_pid != _pid(engine):
        return None  # another store's, or the worker restarted (its cache is empty)
    return owner.key


class StateRejected(Exception):
    """A recorded state file failed its checks (missing, replaced, changed); it was deleted."""


class StateCache:
    """Saves and restores engine states for the conversations of one (on-disk) store."""

    def __init__(
        self, engine: StateEngine, store: Store, *, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        if store.incognito:
            raise ValueError("an incognito store never keeps model states")
        self.engine = engine
        self.store = store
        self.max_bytes = max_bytes
        self.last_problem: str | None = None
        """Why the last save or restore did not happen (for a log or a notice)."""

    @property
    def owner(self) -> StateKey | None:
        """The conversation the engine's cache holds right now (see :func:`engine_used`).
        Only the owner's cache is ever written to disk, under the owner's name."""
        return engine_owner(self.engine, self.store)

    @property
    def dirty(self) -> bool:
        """The owner's cache changed since it was saved or restored."""
        owner = _OWNERS.get(self.engine)
        return bool(owner and owner.dirty)

    def _set_owner(self, key: StateKey, *, dirty: bool, n_tokens: int = 0) -> None:
        with contextlib.suppress(TypeError):
            _OWNERS[self.engine] = _Owner(
                key, str(self.store.path), _pid(self.engine), dirty, n_tokens
            )

    def key(self, conversation_id: int, template: str) -> StateKey | None:
        model = self.engine.model
        if model is None:
            return None
        return StateKey(
            conversation_id, state_model_key(self.engine, model), template, int(model.n_ctx)
        )

    def prepare(self, key: StateKey | None) -> int:
        """Before an answer for ``key`` (None: a conversation never saved): write the state of
        the conversation the engine holds if it is another one, then restore ``key``'s.
        Returns the tokens restored."""
        owner = self.owner
        if owner is not None and owner != key:
            self.save(owner)
        return self.restore(key) if key is not None else 0

    def save_owner(self) -> StateRecord | None:
        """Write the state of whichever conversation of this store the engine holds."""
        owner = self.owner
        return self.save(owner) if owner is not None else None

    # -- save ------------------------------------------------------------------------------

    def save(self, key: StateKey) -> StateRecord | None:
        """Write the engine's cache for ``key`` if the engine holds that conversation.

        Returns the record, or None when nothing was written (not the owner, unchanged,
        no model, an engine or store error).
        """
        if self.owner != key:
            return None
        model = self.engine.model
        if model is None or model.n_ctx != key.n_ctx:
            return None
        if state_model_key(self.engine, model) != key.model_path:
            return None
        if not self.dirty:
            self._touch(key)
            return None
        if self._over_cap(key):
            return None
        from tui import paths

        path = paths.states_dir() / state_file_name(key)
        try:
            n_tokens = self.engine.save_state(path)
            if n_tokens <= 0:
                path.unlink(missing_ok=True)
                return None
            os.chmod(path, 0o600)
            info = path.lstat()
            record = self.store.record_state(
                key.conversation_id,
                path,
                sha256=file_sha256(path),
                model_path=key.model_path,
                template=key.template,
                n_ctx=key.n_ctx,
                n_tokens=n_tokens,
                size_bytes=info.st_size,
            )
        except Exception as exc:  # engine gone, conversation deleted, disk full: no state
            self.last_problem = f"could not save the model state: {exc}"
            log.info("%s", self.last_problem)
            path.unlink(missing_ok=True)
            return None
        _BYTES_PER_TOKEN[self._rate_key(key)] = info.st_size / n_tokens
        self._set_owner(key, dirty=False, n_tokens=n_tokens)
        self.evict(keep=record.path)
        return record

    def _rate_key(self, key: StateKey) -> tuple[str, int, str]:
        model = self.engine.model
        return key.model_path, key.n_ctx, model.kv_cache_type if model is not None else ""

    def _over_cap(self, key: StateKey) -> bool:
        """Would the owner's state alone be over the cap? Then writing it (hundreds of MiB
        for a long conversation of a model without grouped-query attention) is flash worn
        for nothing: the eviction would delete it at once."""
        owner = _OWNERS.get(self.engine)
        rate = _BYTES_PER_TOKEN.get(self._rate_key(key))
        if owner is None or not owner.n_tokens or rate is None:
            return False
        need = int(owner.n_tokens * rate)
        if need <= self.max_bytes:
            return False
        self.last_problem = (
            f"the model state of this conversation would take {format_bytes(need)}, over the "
            f"{format_bytes(self.max_bytes)} kept for instant resume: not saved (reopening "
            "it reads the conversation again)"
        )
        log.info("%s", self.last_problem)
        return True

    def _touch(self, key: StateKey) -> None:
        record = self.store.find_state(
            key.conversation_id, model_path=key.model_path, template=key.template, n_ctx=key.n_ctx
        )
        if record is not None:
            with contextlib.suppress(Exception):
                self.store.touch_state(record.path)

    def evict(self, keep: Path | None = None) -> list[Path]:
        """Delete least recently used states until the total is within the cap.

        ``keep`` (the state just written) goes last: only when it alone is over the cap."""
        removed: list[Path] = []
        total = self.store.states_total_bytes()
        if total <= self.max_bytes:
            return removed
        records = self.store.states_lru()
        if keep is not None:
            records.sort(key=lambda r: r.path == keep)  # stable: LRU order, ``keep`` last
        for record in records:
            if total <= self.max_bytes:
                break
            self.store.delete_state(record.path)
            total -= record.size_bytes
            removed.append(record.path)
        return removed

    # -- restore ---------------------------------------------------------------------------

    def verified(self, key: StateKey) -> StateRecord | None:
        """The recorded state for ``key`` if its file is the one Burrow wrote.

        Raises :class:`StateRejected` (after deleting file and record) when it is not."""
        record = self.store.find_state(
            key.conversation_id, model_path=key.model_path, template=key.template, n_ctx=key.n_ctx
        )
        if record is None:
            return None
        problem = _check_file(record)
        if problem is not None:
            with contextlib.suppress(OSError):
                record.path.unlink()  # first: the store resolves links, this must not follow
            with contextlib.suppress(Exception):
                self.store.delete_state(record.path)
            raise StateRejected(f"{record.path.name}: {problem}; not loaded, deleted")
        return record

    def restore(self, key: StateKey) -> int:
        """Load the saved state for ``key`` into the engine; returns the tokens restored
        (0: nothing saved, rejected, or the engine refused it)."""
        if self.owner == key:
            return 0  # the engine already holds this conversation
        try:
            record = self.verified(key)
        except StateRejected as exc:
            self.last_problem = str(exc)
            log.info("%s", exc)
            return 0
        if record is None:
            return 0
        try:
            n_tokens = self.engine.load_state(record.path)
        except Exception as exc:  # a file of another llama.cpp build, a dead worker
            self.last_problem = f"could not restore {record.path.name}: {exc}"
            log.info("%s", self.last_problem)
            with contextlib.suppress(Exception):
                self.store.delete_state(record.path)
            _OWNERS.pop(self.engine, None)  # a failed load may leave the cache half-written
            return 0
        with contextlib.suppress(Exception):
            self.store.touch_state(record.path)
        self._set_owner(key, dirty=False, n_tokens=n_tokens)
        return n_tokens


def _check_file(record: StateRecord) -> str | None:
    """Why a recorded state file must not be loaded, or None when it is fine."""
    try:
        info = record.path.lstat()
    except OSError:
        return "the file is missing"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    if info.st_uid != os.getuid():
        return "owned by another user"
    if info.st_size != record.size_bytes:
        return f"size {info.st_size} differs from the recorded {record.size_bytes}"
    try:
        digest = file_sha256(record.path)
    except OSError as exc:
        return f"cannot read it ({exc})"
    if digest != record.sha256:
        return "its SHA-256 differs from the one recorded when Burrow wrote it"
    return None
