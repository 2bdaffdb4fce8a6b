"""``burrow templates list|show|render``: see and check prompt formats."""

from __future__ import annotations

import argparse
from typing import Any


class _Turn(argparse.Action):
    """``--system/--user/--assistant`` append ``(role, text)`` in command-line order."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        turns = list(getattr(namespace, "turns", None) or [])
        role = self.metavar.lower() if isinstance(self.metavar, str) else "user"
        turns.append((role, str(values)))
        namespace.turns = turns


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "templates",
        help="list, show and try prompt templates",
        description="Prompt templates turn a conversation into the exact text the model reads.",
    )
    sub = parser.add_subparsers(dest="templates_command", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="list built-in and user templates")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=run)
    show = sub.add_parser("show", help="print a template as TOML")
    show.add_argument("name")
    show.set_defaults(func=run)
    rend = sub.add_parser(
        "render",
        help="print the exact prompt a template makes of a conversation",
        description="Turns are rendered in the order given, e.g. "
        "--system S --user Q1 --assistant A1 --user Q2.",
    )
    rend.add_argument("name", help="template name (auto: the model's own chat template)")
    for role in ("system", "user", "assistant"):
        rend.add_argument(
            f"--{role}", action=_Turn, metavar=role.upper(), dest="turns", help=f"a {role} turn"
        )
    rend.add_argument(
        "--model", help="GGUF file: its chat template (for auto) and tokenizer (for --tokens)"
    )
    rend.add_argument(
        "--no-generation-prompt",
        action="store_true",
        help="do not open an answer after the last turn",
    )
    rend.add_argument("--tokens", action="store_true", help="count tokens with the model's vocab")
    rend.add_argument("--json", action="store_true", help="print parts, stop strings and notices")
    rend.set_defaults(func=run, turns=None)


def _load_vocab(model: str | None) -> Any:
    from pathlib import Path

    from tui.cli.common import CliError

    if model is None:
        from tui.engine.bundled import bundled_model_path

        found = bundled_model_path()
        if found is None:
            raise CliError("no --model given and the bundled model is not installed")
        path = found
    else:
        path = Path(model).expanduser()
        if not path.is_file():
            raise CliError(f"no such model file: {path}")
    try:
        import llama_cpp
    except ImportError as exc:
        raise CliError(f"llama-cpp-python is not installed: {exc}") from exc
    import os

    # llama.cpp prints from C even with verbose=False: keep the terminal clean.
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        # vocab_only reads the tokenizer and metadata, not the weights: fast and small.
        return llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    except Exception as exc:
        raise CliError(f"cannot read {path}: {exc}") from exc
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _run_list(args: argparse.Namespace) -> int:
    import sys

    from tui.chat.templates import load_templates
    from tui.cli.common import print_json

    templates, problems = load_templates()
    for problem in problems:
        print(f"burrow: {problem}", file=sys.stderr)
    if args.json:
        print_json(
            [
                {"name": t.name, "description": t.description, "source": t.source}
                for t in templates.values()
            ]
        )
        return 0
    width = max(len(name) for name in templates)
    for template in templates.values():
        print(f"{template.name:<{width}}  {template.source:<7}  {template.description}")
    return 0


def _run_show(args: argparse.Namespace) -> int:
    from tui.chat.templates import load_templates, template_to_toml
    from tui.cli.common import CliError

    templates, _ = load_templates()
    template = templates.get(args.name)
    if template is None:
        raise CliError(f"no template named {args.name!r} (see: burrow templates list)")
    if template.is_auto:
        print(f"# {template.description}")
        return 0
    if template.path is not None:
        from tui.tomlfiles import read_file, read_problem

        try:
            print(read_file(template.path), end="")
        except OSError as exc:  # replaced since it was loaded: by a FIFO, a folder...
            raise CliError(f"{template.path}: {read_problem(exc)}") from exc
    else:
        print(template_to_toml(template), end="")
    return 0


def _run_render(args: argparse.Namespace) -> int:
    import sys

    from tui.chat.templates import TemplateError, TokenCounter, load_templates, render
    from tui.cli.common import CliError, UsageError, print_json

    templates, _ = load_templates()
    template = templates.get(args.name)
    if template is None:
        raise CliError(f"no template named {args.name!r} (see: burrow templates list)")
    turns = args.turns or []
    if not turns:
        raise UsageError("give at least one turn, e.g. --user 'Hello'")
    vocab = _load_vocab(args.model) if (template.is_auto or args.tokens) else None
    kwargs: dict[str, Any] = {}
    if template.is_auto and vocab is not None:
        kwargs = chat_kwargs_from_llama(vocab)
    try:
        prompt = render(
            template, turns, add_generation_prompt=not args.no_generation_prompt, **kwargs
        )
    except TemplateError as exc:
        raise CliError(str(exc)) from exc
    count = None
    if args.tokens and vocab is not None:

        def tokenize(text: str, *, special: bool, add_bos: bool) -> list[int]:
            return list(vocab.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special))

        count = TokenCounter(tokenize)(prompt)
    if prompt.notice:
        print(f"burrow: {prompt.notice}", file=sys.stderr)
    if args.json:
        print_json(
            {
                "template": prompt.template_name,
                "text": prompt.text,
                "parts": [{"text": t, "special": s} for t, s in prompt.parts],
                "stop": prompt.stop,
                "add_bos": prompt.add_bos,
                "notice": prompt.notice,
                "tokens": count,
            }
        )
        return 0
    sys.stdout.write(prompt.text)
    if not prompt.text.endswith("\n"):
        sys.stdout.write("\n")
    if prompt.add_bos:
        print("burrow: the tokenizer adds the BOS token before this text", file=sys.stderr)
    if count is not None:
        print(f"burrow: {count} tokens", file=sys.stderr)
    return 0


def chat_kwargs_from_llama(llama: Any) -> dict[str, Any]:
    """``render`` keyword arguments for ``auto`` from a ``llama_cpp.Llama`` (vocab_only)."""
    from tui.chat.templates import chat_kwargs_from_metadata

    def token_text(token_id: int) -> str:
        data: bytes = llama.detokenize([token_id], special=True)
        return data.decode("utf-8", errors="replace")

    return chat_kwargs_from_metadata(dict(llama.metadata), token_text)


def run(args: argparse.Namespace) -> int:
    command = args.templates_command
    if command == "list":
        return _run_list(args)
    if command == "show":
        return _run_show(args)
    return _run_render(args)
