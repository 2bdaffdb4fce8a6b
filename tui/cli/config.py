"""``burrow config path|show|set|unset``: read and change ``config.toml``."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "config",
        help="show or change settings (config.toml)",
        description="Settings live in config.toml; values are checked before they are written.",
    )
    sub = parser.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    path = sub.add_parser("path", help="print where config.toml is")
    path.set_defaults(func=run)
    show = sub.add_parser("show", help="print the settings in effect and any problems")
    show.add_argument("--model", help="include the overrides for this model file")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.add_argument("--help-text", action="store_true", help="with each key's help and range")
    show.set_defaults(func=run)
    setp = sub.add_parser("set", help="check and write one setting")
    setp.add_argument("key")
    setp.add_argument("value", help="lists: comma-separated; booleans: true/false")
    setp.add_argument("--model", help='write into [models."<file name>"] instead')
    setp.set_defaults(func=run)
    unset = sub.add_parser("unset", help="remove one setting (back to its default)")
    unset.add_argument("key")
    unset.add_argument("--model", help='remove from [models."<file name>"]')
    unset.set_defaults(func=run)


def _run_show(args: argparse.Namespace) -> int:
    import sys

    import tomli_w

    from tui.cli.common import print_json
    from tui.settings import layered_settings, setting_specs

    settings, problems = layered_settings(model=args.model)
    for problem in problems:
        print(f"burrow: {problem}", file=sys.stderr)
    values = settings.to_dict()
    if args.json:
        print_json(values)
        return 0
    if not args.help_text:
        sys.stdout.write(tomli_w.dumps(values))
        return 0
    for spec in setting_specs().values():
        line = tomli_w.dumps({spec.name: values[spec.name]}).rstrip("\n")
        print(f"# {spec.help}\n# {spec.describe_range()}; default {spec.default!r}\n{line}\n")
    return 0


def _check_with_the_rest(key: str, value: Any) -> None:
    """A value valid alone but not with the saved settings (max_tokens >= n_ctx) is refused."""
    from tui.settings import SettingsError, cross_check, load_settings

    settings, _ = load_settings()
    problems = cross_check({**settings.to_dict(), key: value})
    if key in ("max_tokens", "n_ctx") and problems:
        raise SettingsError(next(iter(problems.values())))


def run(args: argparse.Namespace) -> int:
    from tui import paths
    from tui.cli.common import CliError, UsageError
    from tui.settings import SettingsError, parse_cli_value, set_config_value, unset_config_value

    command = args.config_command
    if command == "path":
        print(paths.config_file())
        return 0
    if command == "show":
        return _run_show(args)
    if command == "set":
        try:
            value = parse_cli_value(args.key, args.value)
            _check_with_the_rest(args.key, value)
            path = set_config_value(args.key, value, model=args.model)
        except SettingsError as exc:
            raise UsageError(f"{args.key}: {exc}") from exc
        shown = list(value) if isinstance(value, tuple) else value
        where = f' [models."{args.model}"]' if args.model else ""
        print(f"{args.key} = {shown!r}{where} written to {path}")
        return 0
    try:
        removed = unset_config_value(args.key, model=args.model)
    except SettingsError as exc:
        raise CliError(str(exc)) from exc
    if not removed:
        print(f"{args.key} was not set")
    return 0
