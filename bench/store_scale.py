"""Scale benchmark of the history store: list-first-page and search on a big history.

    python bench/store_scale.py                      # 10,000 conversations / 200,000 messages
    python bench/store_scale.py --conversations 100 --messages 2000   # quick look

Builds the database once (kept in --db, default a temporary folder) and prints a table of
median timings. Nothing is asserted: speed is measured here, never in tests.
"""

from __future__ import annotations

import argparse
import functools
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


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median wall time in milliseconds over ``repeat`` runs, and the last result."""
    times = []
    result: Any = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


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

        rows: list[tuple[str, float, str]] = []
        open_ms, store = timed(lambda: Store.open(args.db), 1)
        rows.append(("open (migrate check + recovery)", open_ms, ""))
        with store:
            n_conv = store.count_conversations()
            ms, page = timed(lambda: store.list_conversations(limit=50), args.repeat)
            rows.append(("list first page (50)", ms, f"{len(page)} rows"))
            ms, page = timed(lambda: store.list_conversations(limit=50, offset=5000), args.repeat)
            rows.append(("list page at offset 5000", ms, f"{len(page)} rows"))
            first = store.list_conversations(limit=1)
            if first:
                cid = first[0].id
                ms, path = timed(lambda: store.active_path(cid), args.repeat)
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
                ms, hits = timed(functools.partial(store.search, query, limit=20), args.repeat)
                rows.append((f"search {label}: {query}", ms, f"{len(hits)} hits"))
        n_msgs = args.messages
        size_mb = args.db.stat().st_size / 1e6
    finally:
        if tmp is not None:
            tmp.cleanup()

    print(f"history: {n_conv} conversations, ~{n_msgs} messages, file {size_mb:.1f} MB")
    if build_s is not None:
        print(f"generated in {build_s:.1f} s")
    width = max(len(r[0]) for r in rows)
    print(f"{'operation'.ljust(width)}  {'median ms':>10}  result")
    print(f"{'-' * width}  {'-' * 10}  ------")
    for name, ms, note in rows:
        print(f"{name.ljust(width)}  {ms:>10.2f}  {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
