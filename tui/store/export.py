"""Export conversations to Markdown (to read) or JSON (complete, re-importable), and import.

JSON keeps every branch of every conversation with stable ``uid`` s, so importing the same
file twice adds nothing the second time. Files are written atomically with mode 0600; a
folder the user names is created 0700 if missing and otherwise left as it is (it may be
shared storage on Android, where chmod is refused anyway).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tui import safeio
from tui.store import driver, importing
from tui.store.db import StoreError
from tui.store.importing import ImportedConversation
from tui.store.models import Conversation, ImportResult, Message
from tui.store.store import Store
from tui.textsafe import json_escape_c1, one_line, terminal_text

FORMAT_NAME = "burrow-history"
FORMAT_VERSION = 1
FORMATS = ("md", "json")


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat(timespec="seconds")


def _message_dict(m: Message, parent_uid: str | None, reasoning: bool) -> dict[str, Any]:
    item: dict[str, Any] = {
        "uid": m.uid,
        "parent_uid": parent_uid,
        "role": m.role,
        "content": m.content,
        "created_at": m.created_at,
        "status": m.status,
        "model": m.model,
        "stats": m.stats,
    }
    if reasoning and m.reasoning:
        item["reasoning"] = m.reasoning
    return item


def conversation_to_dict(
    store: Store, conversation: Conversation, *, reasoning: bool = False
) -> dict[str, Any]:
    """A conversation as JSON data; a model's reasoning only with ``reasoning``."""
    by_id = {m.id: m for m in store.messages(conversation.id)}
    leaf = by_id.get(conversation.active_leaf_id) if conversation.active_leaf_id else None
    return {
        "uid": conversation.uid,
        "title": conversation.title,
        "created_at": conversation.created_at,
        "updated_at": conversation.updated_at,
        "pinned": conversation.pinned,
        "model_path": conversation.model_path,
        "template": conversation.template,
        "system_prompt": conversation.system_prompt,
        "settings": conversation.settings,
        "tag": conversation.tag,
        "active_leaf_uid": leaf.uid if leaf else None,
        "messages": [
            _message_dict(m, by_id[m.parent_id].uid if m.parent_id in by_id else None, reasoning)
            for m in by_id.values()
        ],
    }


def to_json(store: Store, conversation_ids: Iterable[int], *, reasoning: bool = False) -> str:
    document = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "exported_at": time.time(),
        "conversations": [
            conversation_to_dict(store, store.get_conversation(i), reasoning=reasoning)
            for i in conversation_ids
        ],
    }
    # C0 controls are escaped by json; DEL and C1 too, so `cat` of the file is harmless.
    return json_escape_c1(json.dumps(document, ensure_ascii=False, indent=2)) + "\n"


def _stats_line(message: Message) -> str:
    stats = message.stats
    bits = []
    if message.model:
        bits.append(f"model {Path(message.model).name}")
    for key, label in (
        ("tokens", "tokens"),
        ("completion_tokens", "tokens"),
        ("tokens_per_second", "tok/s"),
        ("ttft", "ttft s"),
        ("stop_reason", "stop"),
    ):
        if key in stats:
            value = stats[key]
            if isinstance(value, float):
                value = f"{value:.2f}"
            bits.append(f"{label} {value}")
    if message.status != "done":
        bits.append(message.status)
    return ", ".join(bits)


def conversation_to_markdown(
    store: Store, conversation: Conversation, *, reasoning: bool = False
) -> str:
    """The shown path of a conversation, with its model and settings in a header (and a
    model's reasoning, quoted above its answer, with ``reasoning``).

    For people: printed by ``burrow history show`` and read with ``cat``, so every control
    character of the stored text is shown visibly (``^[``) instead of acting on the terminal.
    """
    lines = [f"# {one_line(conversation.title or 'Untitled conversation')}", ""]
    lines.append(f"- Created: {_iso(conversation.created_at)}")
    lines.append(f"- Last activity: {_iso(conversation.updated_at)}")
    if conversation.model_path:
        lines.append(f"- Model: `{one_line(conversation.model_path)}`")
    if conversation.template:
        lines.append(f"- Template: {one_line(conversation.template)}")
    if conversation.tag:
        lines.append(f"- Tag: {one_line(conversation.tag)}")
    if conversation.settings:
        settings = ", ".join(f"{k}={v}" for k, v in sorted(conversation.settings.items()))
        lines.append(f"- Settings: {one_line(settings)}")
    lines.append(f"- Burrow id: {conversation.id} ({one_line(conversation.uid)})")
    if conversation.system_prompt:
        lines += ["", "## System", "", terminal_text(conversation.system_prompt)]
    for message in store.active_path(conversation.id):
        heading = {"user": "You", "assistant": "Assistant", "system": "System"}[message.role]
        lines += ["", f"## {heading}", ""]
        stats = _stats_line(message) if message.role == "assistant" else ""
        if stats:
            lines += [f"*{one_line(stats)}*", ""]
        if reasoning and message.reasoning:
            thought = terminal_text(message.reasoning).splitlines() or [""]
            lines += ["> **Thinking**", ">", *[f"> {line}".rstrip() for line in thought], ""]
        lines.append(terminal_text(message.content))
    return "\n".join(lines).rstrip() + "\n"


def to_markdown(store: Store, conversation_ids: Iterable[int], *, reasoning: bool = False) -> str:
    parts = [
        conversation_to_markdown(store, store.get_conversation(i), reasoning=reasoning)
        for i in conversation_ids
    ]
    return "\n---\n\n".join(parts)


def _slug(text: str) -> str:
    slug = re.sub(r"[^\w]+", "-", text.lower(), flags=re.UNICODE).strip("-")
    return slug[:40] or "conversation"


def export(
    store: Store,
    conversation_ids: Sequence[int] | None,
    fmt: str,
    out_dir: Path | None = None,
    *,
    reasoning: bool = False,
) -> Path:
    """Export the given conversations (None: all) into one file in ``out_dir``.

    Default folder: ``paths.exports_dir()``. Returns the file written. A reasoning model's
    thinking is left out unless ``reasoning``.
    """
    if fmt not in FORMATS:
        raise StoreError(f"unknown export format {fmt!r} (use md or json)")
    if store.locked:
        # An export is the history in plain text: writing one would undo the lock.
        raise StoreError(
            "a locked history writes no exports (they would be plain text on this device); "
            "unlock it first with: burrow lock disable"
        )
    from tui import paths

    ids = store.conversation_ids() if conversation_ids is None else list(conversation_ids)
    for conversation_id in ids:
        store.get_conversation(conversation_id)  # NotFoundError before writing anything
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    if conversation_ids is None or len(ids) != 1:
        name = f"burrow-history-{stamp}.{fmt}"
    else:
        conversation = store.get_conversation(ids[0])
        name = f"burrow-{conversation.id}-{_slug(conversation.title)}-{stamp}.{fmt}"
    if fmt == "json":
        text = to_json(store, ids, reasoning=reasoning)
    else:
        text = to_markdown(store, ids, reasoning=reasoning)
    try:
        if out_dir is None:
            out_dir = paths.exports_dir()
        elif not out_dir.exists():
            out_dir.mkdir(parents=True, mode=0o700)
        # The folder is the user's choice (maybe shared storage): its mode is left alone.
        return paths.write_private_text(out_dir / name, text, private_dir=False)
    except OSError as exc:  # /proc, a read-only or full disk, a file where a folder should be
        where = out_dir if out_dir is not None else "the exports folder"
        raise StoreError(f"cannot write into {where}: {exc.strerror or exc}") from exc


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def read_document(file: Path) -> list[ImportedConversation]:
    """The checked conversations of a JSON export; StoreError naming ``file`` otherwise.

    Only a regular file of bounded size is read (a FIFO would block, ``/dev/zero`` never
    ends), and its nesting is measured before ``json`` recurses into it.
    """
    try:
        text = safeio.read_text(file, safeio.IMPORT_LIMIT)
        safeio.check_nesting(text, file, "json")
        document = json.loads(text, parse_constant=_refuse_constant)
    except safeio.UnsafeFileError as exc:
        raise StoreError(str(exc)) from exc
    except OSError as exc:
        raise StoreError(f"cannot read {file}: {exc.strerror or exc}") from exc
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise StoreError(f"{file}: not valid JSON: {exc}") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise StoreError(f"{file} is not a Burrow history export")
    version = document.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise StoreError(f"{file}: bad format version {version!r} (expected a whole number)")
    if version > FORMAT_VERSION:
        raise StoreError(f"{file} was written by a newer Burrow (format {version})")
    try:
        return importing.conversations_from(document.get("conversations"))
    except importing.ImportProblem as exc:
        raise StoreError(f"{file}: {exc}") from exc


def import_json(store: Store, file: Path) -> ImportResult:
    """Import a JSON export, all or nothing; conversations and messages already present
    (same uid) are skipped, so importing a file twice is harmless."""
    conversations = read_document(file)
    try:
        return store.import_conversations(conversations)
    except driver.INTEGRITY as exc:  # checked above: a last resort, nothing written
        raise StoreError(f"{file}: cannot be imported: {exc}") from exc
