"""Fill a history database with synthetic conversations, for the scale benchmark.

``bench/store_scale.py`` times listing and search on what this writes. Text is drawn from a
Zipf-distributed vocabulary of made-up words (deterministic for a seed), plus a few real
words, so common, rare and prefix queries all have something to find.
"""

from __future__ import annotations

import itertools
import json
import random
import sqlite3
import time
import uuid
from pathlib import Path

from tui.store.store import Store

# Real words at chosen frequency ranks: "sky" is very common, "journalist" rare.
REAL_WORDS = {
    "sky": 0, "blue": 1, "river": 40, "source": 60, "phone": 300, "privacy": 2000,
    "burrow": 8000, "journalist": 15000,
}  # fmt: skip
_SYLLABLES = (
    "ka", "lo", "mi", "ra", "tu", "ne", "so", "vi", "da", "pe", "zu", "bo", "fi", "ga", "hu",
    "ji", "ly", "qu", "we", "xo",
)  # fmt: skip


def vocabulary(size: int, rng: random.Random) -> list[str]:
    words: list[str] = []
    seen = set(REAL_WORDS)
    while len(words) < size - len(REAL_WORDS):
        word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    for word, rank in sorted(REAL_WORDS.items(), key=lambda item: item[1]):
        words.insert(min(rank, len(words)), word)
    return words


def generate(
    path: Path,
    *,
    conversations: int = 10_000,
    messages: int = 200_000,
    seed: int = 7,
    vocab_size: int = 20_000,
    words_per_message: tuple[int, int] = (15, 60),
    batch: int = 20_000,
) -> None:
    """Write ``conversations`` conversations holding ``messages`` messages in all into a new
    database at ``path`` (alternating user/assistant turns, one linear path each)."""
    if path.exists():
        raise FileExistsError(path)
    rng = random.Random(seed)
    vocab = vocabulary(vocab_size, rng)
    cumulative = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(len(vocab))))
    texts = _Texts(rng, vocab, cumulative, words_per_message)
    per = max(1, messages // max(1, conversations))
    now = time.time()
    with Store.open(path) as store:
        index = made = 0
        # Bulk load: one long transaction per ``batch`` messages, not one per row.
        while True:
            with store.bulk_transaction() as conn:
                pending = 0
                while index < conversations and pending < batch:
                    count = per if index < conversations - 1 else max(1, messages - made)
                    made += count
                    pending += _write_conversation(conn, texts, now, count)
                    index += 1
                if index >= conversations:
                    conn.execute("INSERT INTO messages_fts(messages_fts) VALUES ('optimize')")
                    break
        # Closing the store folds the WAL into the database file.


class _Texts:
    """Titles and message texts drawn from the Zipf-weighted vocabulary."""

    def __init__(
        self,
        rng: random.Random,
        vocab: list[str],
        cumulative: list[float],
        words_per_message: tuple[int, int],
    ) -> None:
        self.rng = rng
        self._vocab = vocab
        self._cumulative = cumulative
        self._words_per_message = words_per_message

    def words(self, low: int, high: int) -> list[str]:
        count = self.rng.randint(low, high)
        return self.rng.choices(self._vocab, cum_weights=self._cumulative, k=count)

    def message(self) -> str:
        return " ".join(self.words(*self._words_per_message))


def _write_conversation(conn: sqlite3.Connection, texts: _Texts, now: float, count: int) -> int:
    """One conversation of ``count`` messages on a single path; returns ``count``."""
    rng = texts.rng
    updated = now - rng.random() * 365 * 86400
    title_words = texts.words(3, 7)
    cur = conn.execute(
        "INSERT INTO conversations (uid, title, created_at, updated_at, pinned, "
        "model_path, template, settings) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            uuid.uuid4().hex,
            " ".join(title_words).capitalize(),
            updated - 3600,
            updated,
            int(rng.random() < 0.01),
            "/models/smollm2.gguf",
            "chatml",
            json.dumps({"temperature": 0.7}),
        ),
    )
    conversation_id = int(cur.lastrowid or 0)
    parent: int | None = None
    for turn in range(count):
        text = texts.message()
        role = "user" if turn % 2 == 0 else "assistant"
        cur = conn.execute(
            "INSERT INTO messages (uid, conversation_id, parent_id, role, content, "
            "created_at, status, model, stats) VALUES (?, ?, ?, ?, ?, ?, 'done', ?, ?)",
            (
                uuid.uuid4().hex,
                conversation_id,
                parent,
                role,
                text,
                updated - 3600 + turn,
                "smollm2" if role == "assistant" else None,
                "{}",
            ),
        )
        parent = int(cur.lastrowid or 0)
    conn.execute(
        "UPDATE conversations SET active_leaf_id = ? WHERE id = ?", (parent, conversation_id)
    )
    return count
