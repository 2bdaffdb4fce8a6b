"""Saved model states: which KV-cache files exist, for which conversation, model, template and
context size, and when each was last used (the least recently used is evicted first).

The files live in ``paths.states_dir()``; the ``kv_states`` table keeps their names only, so
a record can never point outside that folder. A state holds the tokens of its conversation's
text: deleting a conversation (or any of its messages) deletes its states too.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from tui.store import rows
from tui.store.core import StoreCore
from tui.store.db import StoreError
from tui.store.models import StateRecord


class SavedStates(StoreCore):
    """The bookkeeping of saved model states (the engine writes and reads the files)."""

    def record_state(
        self,
        conversation_id: int,
        path: Path,
        *,
        sha256: str,
        model_path: str,
        template: str,
        n_ctx: int,
        n_tokens: int,
        size_bytes: int,
    ) -> StateRecord:
        """Remember a state file written into ``paths.states_dir()`` (replaces a same-path one).

        Refused for incognito stores: their conversations must leave nothing on disk.
        """
        if self.incognito:
            raise StoreError("incognito conversations never save model states")
        if self.locked:
            raise StoreError("a locked history never saves model states (they are plain text)")
        name = _state_name(path)
        now = time.time()
        row = (conversation_id, name, sha256, model_path, template, n_ctx, n_tokens, size_bytes)
        with self._write() as conn:
            conn.execute(
                f"INSERT OR REPLACE INTO kv_states ({rows.STATE_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*row, now),
            )
        return rows.state_record((*row, now))

    def find_state(
        self, conversation_id: int, *, model_path: str, template: str, n_ctx: int
    ) -> StateRecord | None:
        """The newest state saved for this conversation with this model, template and n_ctx."""
        found = self._rows(
            f"SELECT {rows.STATE_COLUMNS} FROM kv_states WHERE conversation_id = ? "
            "AND model_path = ? AND template = ? AND n_ctx = ? ORDER BY last_used DESC LIMIT 1",
            (conversation_id, model_path, template, n_ctx),
        )
        return rows.state_record(found[0]) if found else None

    def states_for(self, conversation_id: int) -> list[StateRecord]:
        found = self._rows(
            f"SELECT {rows.STATE_COLUMNS} FROM kv_states WHERE conversation_id = ? "
            "ORDER BY last_used DESC",
            (conversation_id,),
        )
        return [rows.state_record(r) for r in found]

    def touch_state(self, path: Path) -> None:
        """Mark a state as just used (LRU eviction keeps it longest)."""
        with self._write() as conn:
            conn.execute(
                "UPDATE kv_states SET last_used = ? WHERE path = ?",
                (time.time(), _state_name(path)),
            )

    def states_lru(self) -> list[StateRecord]:
        """Every recorded state, least recently used first (evict from the front)."""
        found = self._rows(f"SELECT {rows.STATE_COLUMNS} FROM kv_states ORDER BY last_used, path")
        return [rows.state_record(r) for r in found]

    def states_total_bytes(self) -> int:
        return int(self._rows("SELECT coalesce(sum(size_bytes), 0) FROM kv_states")[0][0])

    def delete_state(self, path: Path) -> None:
        """Forget a state and delete its file."""
        name = _state_name(path)
        with self._write() as conn:
            conn.execute("DELETE FROM kv_states WHERE path = ?", (name,))
        self._unlink_states([name])

    def forget_all_states(self) -> None:
        """Delete every saved state, recorded or stray (before locking the history)."""
        with self._write() as conn:
            names = [r[0] for r in conn.execute("SELECT path FROM kv_states")]
            conn.execute("DELETE FROM kv_states")
        self._unlink_states(names)
        self._unlink_stray_states()

    @staticmethod
    def _forget_states(conn: sqlite3.Connection, conversation_id: int) -> list[str]:
        """Delete the records of a conversation's saved model states (in ``conn``'s
        transaction); their file names, to unlink once it commits."""
        files = [
            r[0]
            for r in conn.execute(
                "SELECT path FROM kv_states WHERE conversation_id = ?", (conversation_id,)
            )
        ]
        conn.execute("DELETE FROM kv_states WHERE conversation_id = ?", (conversation_id,))
        return files

    def _unlink_states(self, names: Sequence[str]) -> None:
        if not names or self.path is None:
            return
        from tui import paths

        folder = paths.states_dir()
        for name in names:
            (folder / Path(name).name).unlink(missing_ok=True)

    def _unlink_stray_states(self) -> None:
        """Delete every file in the states folder, recorded or not (after a wipe).

        Every file there is one Burrow wrote, but only the user's own history owns the
        folder: a database opened elsewhere (by a benchmark, say) leaves it alone.
        """
        if self.path is None:
            return
        from tui import paths

        if self.path.resolve() == paths.database_path().resolve():
            for stray in paths.states_dir().iterdir():
                if stray.is_file():
                    stray.unlink(missing_ok=True)


def _state_name(path: Path) -> str:
    """The name of a state file, refusing one outside ``paths.states_dir()``."""
    from tui import paths

    states = paths.states_dir().resolve()
    resolved = path.resolve()
    if resolved.parent != states:
        raise StoreError(f"state files live in {states}, not {resolved.parent}")
    return resolved.name
