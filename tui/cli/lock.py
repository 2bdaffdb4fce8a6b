"""``burrow lock``: turn locked (encrypted) history on or off, change its passphrase, see it."""

from __future__ import annotations

import argparse
from typing import Any

from tui.cli import secret


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "lock",
        help="encrypt the history with a passphrase (locked mode)",
        description="Locked mode keeps the history in an encrypted SQLCipher file; see "
        "docs/security.md for what it protects against and what it does not.",
    )
    actions = parser.add_subparsers(dest="lock_command", metavar="ACTION", required=True)
    for name, text in (
        ("enable", "encrypt the history (asks for a new passphrase twice)"),
        ("disable", "decrypt the history back to a plain file (asks for the passphrase)"),
        ("passphrase", "change the passphrase (re-keys the file in place)"),
        ("status", "locked or not, the key derivation, whether the extra is installed"),
    ):
        p = actions.add_parser(name, help=text)
        if name != "status":
            secret.add_argument(p)
        p.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
        p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tui import paths
    from tui.cli.common import CliError
    from tui.store import StoreError, locking

    database = paths.database_path()
    if args.lock_command == "status":
        return _status(locking.status(database), args)
    source = secret.PassphraseSource(args)
    try:
        if args.lock_command == "enable":
            from tui.store import driver

            driver.cipher_module()  # before asking anything: say what to install
            passphrase = source.read("New passphrase: ", new=True)
            locking.enable(database, passphrase)
            print("History locked. Keep the passphrase safe: without it nothing can be read.")
        elif args.lock_command == "disable":
            locking.disable(database, source.read("Passphrase: "))
            print("History unlocked: it is a plain file again.")
        else:
            old = source.read("Current passphrase: ")
            new = source.read("New passphrase: ", new=True)
            locking.change_passphrase(database, old, new)
            print("Passphrase changed.")
    except StoreError as exc:
        raise CliError(str(exc)) from exc
    return 0


def _status(status: Any, args: argparse.Namespace) -> int:
    from tui.store import driver

    if args.json:
        from tui.cli.common import print_json

        print_json(
            {
                "locked": status.locked,
                "extra_installed": status.extra_installed,
                "kdf": status.kdf,
                "header": str(status.header),
                "problem": status.problem,
            }
        )
        return 0
    print("history: " + ("locked (encrypted)" if status.locked else "plain (not encrypted)"))
    if status.locked:
        print(f"key derivation: {status.kdf or '-'}")
        print(f"lock header: {status.header}")
    if status.problem:
        print(f"problem: {status.problem}")
    if status.extra_installed:
        print("locked-mode extra: installed")
    else:
        print(f"locked-mode extra: not installed; {driver.EXTRA_HINT}")
    return 0
