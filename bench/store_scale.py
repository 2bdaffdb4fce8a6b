"""Scale benchmark of the history store, plain and locked: open, list, search and insert.

    python bench/store_scale.py                      # 10,000 conversations / 200,000 messages
    python bench/store_scale.py --conversations 100 --messages 2000   # quick look

Builds the database once (kept in --db, default a temporary folder), a locked (SQLCipher)
copy of it beside it when the ``locked`` extra is installed, and prints a table of median
timings for both with their ratio. Nothing is asserted: speed is measured here, never in
tests.
"""

from __future__ import annotations

import argparse
import functools
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tui.store import Store
from tui.store.scale import generate

Row = tuple[str, float, str]
PASSPHRASE = "bench passphrase"


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median wall time in milliseconds over ``repeat`` runs, and the last result."""
    times = []
    result: Any = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


def measure(db: Path, key: bytes | None, repeat: int) -> tuple[list[Row], int]:
    """Every figure for one database file (plain, or locked with ``key``)."""
    rows: list[Row] = []
    open_ms, store = timed(lambda: Store.open(db, key=key), 1)
    rows.append(("open (migrate check + recovery)", open_ms, ""))
    with store:
        n_conv = store.count_conversations()
        ms, page = timed(lambda: store.list_conversations(limit=50), repeat)
        rows.append(("list first page (50)", ms, f"{len(page)} rows"))
        ms, page = timed(lambda: store.list_conversations(limit=50, offset=5000), repeat)
        rows.append(("list page at offset 5000", ms, f"{len(page)} rows"))
        first = store.list_conversations(limit=1)
        if first:
            cid = first[0].id
            ms, path = timed(lambda: store.active_path(cid), repeat)
            rows.append(("open conversation (active path)", ms, f"{len(path)} messages"))
        queries = [
            ("common word", "sky"),
            ("rare word", "journalist"),
            ("prefix", "ka*"),
            ("phrase", '"sky blue"'),
            ("two words AND", "river source"),
            ("hostile (fallback)", 'sky" (NEAR -'),
        ]
        for label, query in queries:
            ms, hits = timed(functools.partial(store.search, query, limit=20), repeat)
            rows.append((f"search {label}: {query}", ms, f"{len(hits)} hits"))

        def insert() -> None:
            conversation = store.create_conversation(title="bench insert")
            store.add_message(conversation.id, "user", "a question about the sky " * 5)
            store.add_message(conversation.id, "assistant", "an answer about rivers " * 20)

        ms, _ = timed(insert, repeat)
        rows.append(("insert (conversation + 2 messages)", ms, "3 commits"))
    return rows, n_conv


def locked_copy(plain: Path, folder: Path) -> tuple[Path, bytes, float] | None:
    """The same history locked (None when the ``locked`` extra is not installed)."""
    from tui.store import driver, keys, locking

    if not driver.cipher_available():
        return None
    locked = folder / "locked.sqlite3"
    if not locked.exists():
        shutil.copyfile(plain, locked)
        locking.enable(locked, PASSPHRASE)
    start = time.perf_counter()
    key = keys.unlock(locked, PASSPHRASE)[0]
    return locked, key, (time.perf_counter() - start) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--db", type=Path, help="database file (reused if it exists)")
    parser.add_argument("--repeat", type=int, default=9, help="runs per figure (median)")
    args = parser.parse_args(argv)

    tmp = None
    if args.db is None:
        tmp = tempfile.TemporaryDirectory(prefix="burrow-scale-")
        args.db = Path(tmp.name) / "history.sqlite3"
    try:
        build_s = None
        if not args.db.exists():
            start = time.perf_counter()
            generate(args.db, conversations=args.conversations, messages=args.messages)
            build_s = time.perf_counter() - start
        # The locked copy is made before the plain figures, whose inserts change the file.
        locked = locked_copy(args.db, args.db.parent)
        plain_rows, n_conv = measure(args.db, None, args.repeat)
        locked_rows = measure(locked[0], locked[1], args.repeat)[0] if locked else None
        n_msgs = args.messages
        size_mb = args.db.stat().st_size / 1e6
    finally:
        if tmp is not None:
            tmp.cleanup()

    print(f"history: {n_conv} conversations, ~{n_msgs} messages, file {size_mb:.1f} MB")
    if build_s is not None:
        print(f"generated in {build_s:.1f} s")
    if locked is None:
        print("locked: not measured (the locked extra is not installed)")
    else:
        print(f"locked: unlock (key derivation from the passphrase) {locked[2]:.0f} ms")
    width = max(len(r[0]) for r in plain_rows)
    print(f"{'operation'.ljust(width)}  {'plain ms':>9}  {'locked ms':>9}  {'ratio':>5}  result")
    print(f"{'-' * width}  {'-' * 9}  {'-' * 9}  {'-' * 5}  ------")
    for index, (name, ms, note) in enumerate(plain_rows):
        if locked_rows is None:
            other = ratio = "-"
        else:
            locked_ms = locked_rows[index][1]
            other = f"{locked_ms:.2f}"
            ratio = f"{locked_ms / ms:.2f}" if ms > 0 else "-"
        print(f"{name.ljust(width)}  {ms:>9.2f}  {other:>9}  {ratio:>5}  {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
