"""A damaged or unreachable history file (defect 2): one clear message, nothing touched.

Truncated file, garbage header, a folder or a FIFO where the file should be, a schema from a
newer Burrow, a read-only folder, a full disk. Every command says what is wrong with which
file, exits non-zero without a traceback (or, read-only, still lists), and never modifies
what is already stored. The read-only folder and the full disk are made for real with a
user namespace (``unshare -rm``: a read-only bind mount, a small tmpfs); the test skips where
user namespaces are not available.
"""

from __future__ import annotations

import os
import shlex
import sqlite3
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from hostile_helpers import (
    assert_clear_failure,
    burrow,
    child_env,
    database,
    digest,
    have_user_namespaces,
    text,
)

from tui.store import SCHEMA_VERSION, Store

COMMANDS: tuple[tuple[str, ...], ...] = (
    ("history", "list"),
    ("history", "search", "scattering"),
    ("history", "show", "1"),
    ("ask", "Say hi.", "--max-tokens", "4", "--threads", "2"),
)


def seed(db: Path) -> None:
    with Store.open(db) as store:
        conversation = store.create_conversation(title="Sky talk")
        store.add_message(conversation.id, "user", "Why is the sky blue?")
        store.add_message(conversation.id, "assistant", "Rayleigh scattering." * 200)


def truncate(db: Path) -> None:
    seed(db)
    size = db.stat().st_size
    with open(db, "r+b") as handle:
        handle.truncate(size // 2)


def garbage_header(db: Path) -> None:
    seed(db)
    with open(db, "r+b") as handle:
        handle.write(b"this is no SQLite file, only junk " * 8)


def folder(db: Path) -> None:
    db.parent.mkdir(parents=True, exist_ok=True)
    db.mkdir()


def fifo(db: Path) -> None:
    db.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(db, 0o600)


def future_schema(db: Path) -> None:
    seed(db)
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 7}")
    conn.close()


DAMAGE: dict[str, Callable[[Path], None]] = {
    "truncated": truncate,
    "garbage-header": garbage_header,
    "folder": folder,
    "fifo": fifo,
    "future-schema": future_schema,
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_history_gives_one_clear_message(burrow_home: Path, damage: str) -> None:
    """Defect 2: a damaged history gave tracebacks (or hung) in history list/search/show and
    ask; each must name the history file, exit non-zero, and leave the file as it was."""
    db = database(burrow_home)
    DAMAGE[damage](db)
    before = digest(db) if db.is_file() else None
    for command in COMMANDS:
        result = burrow(burrow_home, *command, timeout=90)
        assert_clear_failure(result, str(db))
        assert "\n" not in text(result.stderr).strip(), text(result.stderr)  # one line
        if before is not None:
            assert digest(db) == before, f"{command} modified the damaged file"


def test_ask_without_saving_answers_beside_a_damaged_history(burrow_home: Path) -> None:
    """Defect 2: `burrow ask --no-save` must not need (nor trip over) the history file."""
    garbage_header(database(burrow_home))
    result = burrow(
        burrow_home, "ask", "Say hi.", "--no-save", "--max-tokens", "4", "--threads", "2"
    )
    assert result.returncode == 0, text(result.stderr)
    assert "Traceback" not in text(result.stderr)
    assert result.stdout.strip()


def test_newer_schema_is_refused_naming_the_file_and_unchanged(tmp_path: Path) -> None:
    """Defect 2: a schema version from the future is refused without modification, by name."""
    db = tmp_path / "future.sqlite3"
    future_schema(db)
    before = digest(db)
    with pytest.raises(Exception) as caught:
        Store.open(db)
    assert str(db) in str(caught.value)
    assert digest(db) == before


async def test_app_starts_and_says_what_is_wrong_with_a_damaged_history(
    burrow_home: Path, smollm2_path: Path
) -> None:
    """Defect 2: the app printed a traceback and exited 0 on a damaged history; it must start
    and show a message naming the history file."""
    from ui_helpers import make_app

    db = database(burrow_home)
    garbage_header(db)
    before = digest(db)
    app = make_app(smollm2_path)
    async with app.run_test(size=(80, 30)) as pilot:
        await pilot.pause(1.0)
        assert app.is_running
        shown = " ".join(str(n.message) for n in app._notifications)
        assert str(db) in shown or db.name in shown, shown
    assert digest(db) == before


# -- a read-only folder and a full disk, made for real in a user namespace ----------------

needs_namespaces = pytest.mark.skipif(
    not have_user_namespaces(), reason="user namespaces (unshare -rm) are not available"
)


def in_namespace(home: Path, script: str) -> tuple[int, str, str]:
    """Run a shell script as root of a fresh user + mount namespace (mounts vanish after)."""
    import subprocess

    result = subprocess.run(
        ["unshare", "-rm", "sh", "-c", textwrap.dedent(script)],
        capture_output=True,
        env=child_env(home, PY=sys.executable),
        timeout=240,
        stdin=subprocess.DEVNULL,
    )
    return result.returncode, text(result.stdout), text(result.stderr)


@needs_namespaces
def test_read_only_folder_still_lists_or_says_why(burrow_home: Path) -> None:
    """Defect 2: a read-only history folder gave tracebacks; browsing should still work (or
    one message names the file), and nothing is written."""
    db = database(burrow_home)
    seed(db)
    before = digest(db)
    data = shlex.quote(str(db.parent))
    for command in ("history list", "history search scattering", "history show 1"):
        code, out, err = in_namespace(
            burrow_home,
            f"""
            mount --bind {data} {data} && mount -o remount,bind,ro {data} || exit 99
            exec "$PY" -m tui {command}
            """,
        )
        assert code != 99, err
        assert "Traceback" not in err, err
        if code == 0:
            assert "Sky talk" in out or "scattering" in out, out
        else:
            assert str(db) in err, err
    assert digest(db) == before


FILL = """
import os, sys
folder, free = sys.argv[1], int(sys.argv[2])
filler = os.path.join(folder, "filler")
fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
block = b"x" * 4096
while True:
    try:
        if os.write(fd, block) < len(block):
            break
    except OSError:
        break
os.close(fd)
size = os.path.getsize(filler)
os.truncate(filler, max(0, size - free))
"""


@needs_namespaces
@pytest.mark.parametrize("free_kb", [0, 48, 160])
def test_full_disk_during_ask_keeps_the_answer_and_says_so(
    burrow_home: Path, tmp_path: Path, free_kb: int
) -> None:
    """Defect 2: on a full disk `burrow ask` saved a cut answer then a traceback, or blamed the
    model file; it must name the history file and the lack of space, and the answer shown is
    never saved cut."""
    seed_db = tmp_path / "seed" / "history.sqlite3"
    seed(seed_db)
    with Store.open(seed_db) as store:
        before = [(m.content, m.status) for m in store.messages(1)]
    db = database(burrow_home)
    db.parent.mkdir(parents=True, exist_ok=True)
    out = tmp_path / "after"
    out.mkdir()
    fill = tmp_path / "fill.py"
    fill.write_text(FILL)
    q = shlex.quote
    code, stdout, err = in_namespace(
        burrow_home,
        f"""
        mount -t tmpfs -o size=1m,mode=0700 none {q(str(db.parent))} || exit 99
        cp {q(str(seed_db))} {q(str(db))}
        "$PY" {q(str(fill))} {q(str(db.parent))} {free_kb * 1024}
        "$PY" -m tui ask "Tell me about the sea." --max-tokens 48 --temperature 0 --threads 2
        code=$?
        rm -f {q(str(db.parent))}/filler
        cp {q(str(db))}* {q(str(out))}/
        exit $code
        """,
    )
    assert code != 99, err
    assert "Traceback" not in err, err
    saved = out / db.name
    with Store.open(saved) as store:
        assert store.integrity_check() == "ok"
        assert [(m.content, m.status) for m in store.messages(1)] == before
        later = [c for c in store.list_conversations() if c.id != 1]
        answers = [m for c in later for m in store.messages(c.id) if m.role == "assistant"]
    if code == 0:
        assert answers and answers[-1].content.strip() == stdout.strip()
        assert answers[-1].status == "done"
    else:
        assert str(db) in err, err
        assert "space" in err.lower() or "full" in err.lower(), err
        assert "model" not in err.lower(), err  # the model file is not to blame
