"""``burrow history``: list, search, show, export, import, delete and wipe saved conversations."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from tui.cli import secret
from tui.cli.common import whole_number

if TYPE_CHECKING:
    from tui.store import Store


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "history",
        help="browse, search, export and erase saved conversations",
        description="Saved conversations live in one SQLite file on this device "
        "(see docs/history.md).",
    )
    sub = parser.add_subparsers(dest="history_command", metavar="ACTION", required=True)

    p = sub.add_parser("list", help="conversations, pinned first, most recent first")
    p.add_argument("--limit", type=whole_number, default=50, help="how many (default 50)")
    p.add_argument("--offset", type=whole_number, default=0, help="skip this many (paging)")
    p.add_argument("--tag", help="only conversations with this tag")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run, action=_list)

    p = sub.add_parser("search", help='full-text search: words, "a phrase", prefix*')
    p.add_argument("query", help="FTS5 query; odd syntax falls back to plain words")
    p.add_argument("--limit", type=whole_number, default=20)
    p.add_argument(
        "--thinking",
        action="store_true",
        help="search reasoning models' thinking instead (all words, any case)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run, action=_search)

    p = sub.add_parser("show", help="print a conversation (the path it shows)")
    p.add_argument("id", type=whole_number)
    p.add_argument("--json", action="store_true", help="every message, all branches")
    p.set_defaults(func=run, action=_show)

    p = sub.add_parser("export", help="write conversations to Markdown or JSON")
    p.add_argument("id", type=whole_number, nargs="?", help="conversation id (or --all)")
    p.add_argument("--all", action="store_true", help="every conversation, one file")
    p.add_argument("--format", choices=("md", "json"), default="md")
    p.add_argument("--out", help="folder to write into (default: Burrow's exports folder)")
    p.add_argument(
        "--with-thinking",
        action="store_true",
        help="keep reasoning models' thinking (left out by default)",
    )
    p.set_defaults(func=run, action=_export)

    p = sub.add_parser("import", help="import a JSON export (nothing is duplicated)")
    p.add_argument("file")
    p.set_defaults(func=run, action=_import)

    p = sub.add_parser("delete", help="delete one conversation and compact the file")
    p.add_argument("id", type=whole_number)
    p.set_defaults(func=run, action=_delete)

    p = sub.add_parser("rename", help="give a conversation a new title")
    p.add_argument("id", type=whole_number)
    p.add_argument("title")
    p.set_defaults(func=run, action=_rename)

    p = sub.add_parser("pin", help="pin (or --off: unpin) a conversation")
    p.add_argument("id", type=whole_number)
    p.add_argument("--off", action="store_true")
    p.set_defaults(func=run, action=_pin)

    p = sub.add_parser("wipe", help="erase every conversation and saved state")
    p.add_argument("--yes", action="store_true", help="required: there is no undo")
    p.set_defaults(func=run, action=_wipe)

    for action in sub.choices.values():
        secret.add_argument(action)


def run(args: argparse.Namespace) -> int:
    from tui import paths
    from tui.cli.common import CliError
    from tui.store import NotFoundError, StoreError, db, driver

    try:
        with secret.open_store(args) as store:
            return int(args.action(store, args) or 0)
    except NotFoundError as exc:
        raise CliError(str(exc).strip("'\"")) from exc
    except StoreError as exc:
        raise CliError(str(exc)) from exc
    except driver.ERRORS as exc:  # last resort: never a traceback
        raise CliError(str(db.unavailable(paths.database_path(), exc))) from exc


def _when(timestamp: float) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def _as_json(record: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(record)


def _list(store: Store, args: argparse.Namespace) -> int:
    from tui.cli.common import print_json

    conversations = store.list_conversations(limit=args.limit, offset=args.offset, tag=args.tag)
    if args.json:
        print_json([_as_json(c) for c in conversations])
        return 0
    if not conversations:
        print("No saved conversations.")
        return 0
    from tui.textsafe import one_line

    for c in conversations:
        pin = "*" if c.pinned else " "
        tag = f" [{one_line(c.tag)}]" if c.tag else ""
        title = one_line(c.title) if c.title else "(untitled)"
        print(f"{c.id:>6} {pin} {_when(c.updated_at)}  {c.message_count:>4} msgs  {title}{tag}")
    total = store.count_conversations()
    if args.offset + len(conversations) < total:
        print(f"… {total} in all; next page: --offset {args.offset + len(conversations)}")
    return 0


# Marks the store puts around matched words: made visible-safe with the rest of the snippet,
# then replaced by bold (terminal) or ** (pipe).
_START, _END = "\x01", "\x02"


def _marked(text: str, start: str, end: str) -> str:
    """A one-line ``text`` with control characters shown visibly and the match marks
    turned into ``start``/``end`` (a stray mark stored in the text only moves the bold)."""
    import re

    from tui.textsafe import one_line

    marks = {_START: start, _END: end}
    pieces = re.split(f"([{_START}{_END}])", " ".join(text.split()))
    return "".join(marks.get(piece) or one_line(piece) for piece in pieces)


def _search(store: Store, args: argparse.Namespace) -> int:
    import sys

    from tui.cli.common import print_json
    from tui.textsafe import one_line

    find = store.search_thoughts if args.thinking else store.search
    if args.json:
        hits = find(args.query, limit=args.limit)
        print_json([_as_json(h) for h in hits])
        return 0
    start, end = ("\x1b[1m", "\x1b[0m") if sys.stdout.isatty() else ("**", "**")
    hits = find(args.query, limit=args.limit, start_mark=_START, end_mark=_END)
    if not hits:
        print("No matches.")
        return 0
    for hit in hits:
        role = "thinking" if hit.in_thinking else hit.role
        where = "title" if hit.message_id is None else f"message {hit.message_id} ({role})"
        print(f"{hit.conversation_id:>6}  {one_line(hit.conversation_title)}  — {where}")
        snippet = _marked(hit.snippet, start, end)
        print("        " + snippet + (end if start.startswith("\x1b") else ""))
    return 0


def _show(store: Store, args: argparse.Namespace) -> int:
    from tui.cli.common import print_json
    from tui.store.export import conversation_to_dict, conversation_to_markdown

    conversation = store.get_conversation(args.id)
    if args.json:
        print_json(conversation_to_dict(store, conversation))
    else:
        print(conversation_to_markdown(store, conversation), end="")
    return 0


def _export(store: Store, args: argparse.Namespace) -> int:
    from pathlib import Path

    from tui.cli.common import UsageError
    from tui.store.export import export

    if args.all == (args.id is not None):
        raise UsageError("name one conversation ID or --all")
    out = Path(args.out).expanduser() if args.out else None
    if out is not None and out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is not a folder")
    ids = None if args.all else [args.id]
    path = export(store, ids, args.format, out, reasoning=args.with_thinking)
    print(path)
    return 0


def _import(store: Store, args: argparse.Namespace) -> int:
    from pathlib import Path

    from tui.store.export import import_json

    result = import_json(store, Path(args.file).expanduser())
    print(
        f"Imported {result.conversations_added} new conversations "
        f"({result.conversations_merged} updated), {result.messages_added} messages; "
        f"{result.messages_skipped} already present."
    )
    return 0


def _delete(store: Store, args: argparse.Namespace) -> int:
    store.delete_conversation(args.id)
    store.compact()
    print(f"Deleted conversation {args.id}.")
    return 0


def _rename(store: Store, args: argparse.Namespace) -> int:
    store.rename_conversation(args.id, args.title)
    return 0


def _pin(store: Store, args: argparse.Namespace) -> int:
    store.set_pinned(args.id, not args.off)
    return 0


def _wipe(store: Store, args: argparse.Namespace) -> int:
    from tui.cli.common import UsageError

    if not args.yes:
        raise UsageError("wipe erases every conversation for good; add --yes to confirm")
    count = store.count_conversations()
    store.wipe()
    print(f"Wiped {count} conversations.")
    return 0
