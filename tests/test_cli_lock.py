"""``burrow lock``, ``burrow wipe --now`` and the passphrase prompts of ``ask``/``history``:
the real command line on a real (encrypted) history in the per-test BURROW_HOME."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tui import paths
from tui.cli import main
from tui.store import Store, db, keys, locking

REPO = Path(__file__).resolve().parent.parent
FAST = keys.KdfParams(memory_kib=1024, iterations=1, lanes=1)


@pytest.fixture(autouse=True)
def fast_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keys, "DEFAULT_PARAMS", FAST)


def fd_with(*lines: str) -> str:
    """A pipe's read end holding ``lines``, as ``--passphrase-fd`` reads it."""
    read, write = os.pipe()
    os.write(write, "".join(f"{line}\n" for line in lines).encode())
    os.close(write)
    return str(read)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def seed() -> int:
    with Store.open() as store:
        conversation = store.create_conversation(title="harbour plans")
        store.add_message(conversation.id, "user", "where is the lighthousekeeper")
        return conversation.id


def test_enable_use_change_disable_from_the_command_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    conversation_id = seed()
    code, out, _ = run(capsys, "lock", "status")
    assert code == 0 and "history: plain" in out
    code, out, _ = run(capsys, "lock", "enable", "--passphrase-fd", fd_with("tide table"))
    assert code == 0 and "History locked" in out
    assert db.is_encrypted(paths.database_path())
    code, out, _ = run(capsys, "lock", "status", "--json")
    status = json.loads(out)
    assert status["locked"] and status["kdf"].startswith("Argon2id")

    code, out, _ = run(capsys, "history", "list", "--passphrase-fd", fd_with("tide table"))
    assert code == 0 and "harbour plans" in out
    code, out, _ = run(
        capsys, "history", "search", "lighthousekeeper", "--passphrase-fd", fd_with("tide table")
    )
    assert code == 0 and f"{conversation_id}" in out

    code, _, err = run(capsys, "history", "list", "--passphrase-fd", fd_with("wrong"))
    assert code == 1 and "wrong passphrase" in err

    code, out, _ = run(
        capsys, "lock", "passphrase", "--passphrase-fd", fd_with("tide table", "neap tide")
    )
    assert code == 0 and "Passphrase changed" in out
    code, _, err = run(capsys, "history", "list", "--passphrase-fd", fd_with("tide table"))
    assert code == 1 and "wrong passphrase" in err
    code, out, _ = run(capsys, "lock", "disable", "--passphrase-fd", fd_with("neap tide"))
    assert code == 0 and "plain file again" in out
    code, out, _ = run(capsys, "history", "list")
    assert code == 0 and "harbour plans" in out


def test_refusals_say_why(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "lock", "disable", "--passphrase-fd", fd_with("x"))
    assert code == 1 and "not locked" in err
    code, _, err = run(capsys, "lock", "enable", "--passphrase-fd", fd_with(""))
    assert code == 1 and "empty" in err
    assert not db.is_encrypted(paths.database_path())
    code, _, err = run(capsys, "lock", "enable", "--passphrase-fd", fd_with())
    assert code == 2 and "no passphrase to read" in err
    with pytest.raises(SystemExit):  # never from an argument
        main(["lock", "enable", "--passphrase", "secret"])


def test_a_locked_history_asks_for_the_passphrase_or_says_how(tmp_path: Path) -> None:
    seed()
    locking.enable(paths.database_path(), "pw")
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    # No controlling terminal (a new session) and no --passphrase-fd: told what to do.
    done = subprocess.run(
        [sys.executable, "-m", "tui", "history", "list"],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "no terminal to ask for the passphrase: use --passphrase-fd N" in done.stderr
    assert "Traceback" not in done.stderr


def test_missing_extra_says_what_to_install(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tui.cli import doctor
    from tui.store import driver

    seed()
    monkeypatch.setattr(driver, "_cipher", None)
    monkeypatch.setitem(sys.modules, "sqlcipher3", None)
    code, _, err = run(capsys, "lock", "enable", "--passphrase-fd", fd_with("pw"))
    assert code == 1 and 'pip install "burrow-chat[locked]"' in err
    code, out, _ = run(capsys, "lock", "status")
    assert "locked-mode extra: not installed" in out and "pkg install sqlcipher" in out
    report = doctor._locked_report()
    assert report["extra_installed"] is False and "burrow-chat[locked]" in report["hint"]
    monkeypatch.undo()
    assert doctor._locked_report()["extra_installed"] is True


def test_wipe_now(capsys: pytest.CaptureFixture[str]) -> None:
    seed()
    locking.enable(paths.database_path(), "pw")
    (paths.exports_dir() / "old.md").write_text("lighthousekeeper")
    code, _, err = run(capsys, "wipe")
    assert code == 2 and "--now" in err
    assert paths.database_path().exists()
    code, out, _ = run(capsys, "wipe", "--now")
    assert code == 0 and "History wiped" in out
    assert not paths.database_path().exists()
    assert not keys.header_path(paths.database_path()).exists()
    assert list(paths.exports_dir().iterdir()) == []
    code, out, _ = run(capsys, "history", "list")  # a fresh, plain, empty history
    assert code == 0 and "No saved conversations." in out


@pytest.mark.slow
def test_ask_in_locked_mode_leaves_no_text_anywhere(smollm2_path: Path, burrow_home: Path) -> None:
    """A real answer from the real model through ``burrow ask``: neither the history folder
    nor the engine log holds the question or the answer (and the log never does, plain
    mode too)."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))

    def ask(question: str, *extra: str, stdin: str = "") -> str:
        flags = ["--temperature", "0", "--seed", "1", "--max-tokens", "24", *extra]
        done = subprocess.run(
            [sys.executable, "-m", "tui", "ask", question, "--model", str(smollm2_path), *flags],
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    plain_answer = ask("Describe the zorblattwidget please")
    log = paths.log_dir()
    assert list(log.iterdir())
    locking.enable(paths.database_path(), "pw")
    answer = ask("Describe the quaggafrobnicator please", "--passphrase-fd", "0", stdin="pw\n")
    assert len(answer) > 10
    with locking.open_locked(paths.database_path(), "pw") as store:
        assert store.search("quaggafrobnicator")
        assert store.search("zorblattwidget")
    found = []
    for file in burrow_home.rglob("*"):
        if file.is_file():
            data = file.read_bytes()
            for text in ("quaggafrobnicator", "zorblattwidget", answer, plain_answer):
                if text.encode() in data:
                    found.append((file.name, text))
    assert found == []
