"""Passphrases for a locked history: read from the terminal, or from a file descriptor for
scripts (``--passphrase-fd N``, as gpg does). Never from an argument or the environment,
which other processes on the device can read."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from tui.cli.common import CliError, UsageError

if TYPE_CHECKING:
    from tui.store import Store

MAX_PASSPHRASE_BYTES = 4096


def add_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--passphrase-fd",
        type=int,
        metavar="N",
        help="read the passphrase (one line; a second line for a new one) from file "
        "descriptor N instead of the terminal",
    )


class PassphraseSource:
    """Where passphrases come from for one command: lines of ``--passphrase-fd`` in order,
    or the terminal (a new passphrase is typed twice there)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.fd: int | None = getattr(args, "passphrase_fd", None)
        self._pending = b""

    def read(self, prompt: str, *, new: bool = False) -> str:
        if self.fd is not None:
            return self._line()
        return _from_terminal(prompt, confirm=new)

    def _line(self) -> str:
        assert self.fd is not None
        end = False
        while b"\n" not in self._pending and not end:
            try:
                chunk = os.read(self.fd, 512)
            except OSError as exc:
                raise UsageError(
                    f"--passphrase-fd {self.fd}: cannot read it ({exc.strerror})"
                ) from exc
            end = not chunk
            self._pending += chunk
            if len(self._pending) > MAX_PASSPHRASE_BYTES:
                raise UsageError(f"--passphrase-fd {self.fd}: the line is too long")
        if not self._pending:
            raise UsageError(f"--passphrase-fd {self.fd}: no passphrase to read")
        line, _, self._pending = self._pending.partition(b"\n")
        try:
            return line.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError:
            raise UsageError(f"--passphrase-fd {self.fd}: the passphrase is not UTF-8") from None


def _from_terminal(prompt: str, *, confirm: bool) -> str:
    import getpass

    try:
        with open("/dev/tty", "rb"):
            pass
    except OSError:
        raise UsageError(
            "the history is locked and there is no terminal to ask for the passphrase: "
            "use --passphrase-fd N"
        ) from None
    try:
        first = getpass.getpass(prompt)
        if confirm and getpass.getpass("Again: ") != first:
            raise CliError("the two passphrases differ; nothing was changed")
    except EOFError:
        raise CliError("no passphrase typed; nothing was changed") from None
    return first


def open_store(args: argparse.Namespace) -> Store:
    """The user's history, asking for its passphrase when it is locked."""
    from tui import paths
    from tui.store import Store, db, locking

    path = paths.database_path()
    if not db.is_encrypted(path):
        return Store.open(path)
    passphrase = PassphraseSource(args).read("Passphrase of the history: ")
    return locking.open_locked(path, passphrase)
