"""``burrow ask``: one question, the answer streamed to stdout, saved to history."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from tui.cli import secret
from tui.cli.common import whole_number

if TYPE_CHECKING:
    from pathlib import Path

    from tui.chat.session import ChatSession
    from tui.engine.engines import AnyEngine
    from tui.settings import Settings
    from tui.store import Store

# Flags that name a setting, with the Settings field each one sets.
_SETTING_FLAGS = {
    "temperature": "temperature",
    "top_k": "top_k",
    "top_p": "top_p",
    "min_p": "min_p",
    "seed": "seed",
    "max_tokens": "max_tokens",
    "ctx": "n_ctx",
    "threads": "n_threads",
    "thinking": "thinking",
    "kv_type": "kv_cache_type",
}


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "ask",
        help="ask one question; the answer streams to stdout",
        description="Ask one question. The answer streams to stdout and is saved to history "
        "(unless --no-save).",
    )
    p.add_argument("question", help="the question (use quotes)")
    p.add_argument(
        "--model", help="model file path or catalog name (default: configured, else bundled)"
    )
    p.add_argument("--system", help="system prompt (default: from the preset)")
    p.add_argument("--template", help="prompt template name (see: burrow templates list)")
    p.add_argument("--preset", help="system prompt preset name")
    p.add_argument("--temperature", type=float)
    p.add_argument("--top-k", type=int)
    p.add_argument("--top-p", type=float)
    p.add_argument("--min-p", type=float)
    p.add_argument("--seed", type=int, help="fixed seed (same question, same answer)")
    p.add_argument("--max-tokens", type=int)
    p.add_argument("--ctx", type=int, help="context size in tokens")
    p.add_argument("--threads", type=int)
    p.add_argument(
        "--engine",
        metavar="ENGINE",
        help="embedded, local (llama-server started by Burrow) or a server URL "
        "(default: the engine setting)",
    )
    p.add_argument(
        "--trust-host",
        action="store_true",
        help="confirm a remote server not used before (its name is remembered)",
    )
    p.add_argument(
        "--think",
        dest="thinking",
        action="store_const",
        const="on",
        help="let the model think before answering (templates with a thinking switch)",
    )
    p.add_argument(
        "--no-think",
        dest="thinking",
        action="store_const",
        const="off",
        help="ask the model to answer without thinking (templates with a thinking switch)",
    )
    p.add_argument(
        "--kv-type", choices=("f16", "q8_0", "q4_0"), help="KV cache type (q8_0 halves its memory)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")
    p.add_argument("--no-save", action="store_true", help="do not write to history")
    p.add_argument(
        "--continue",
        dest="continue_id",
        type=whole_number,
        metavar="ID",
        help="add to conversation ID",
    )
    secret.add_argument(p)
    p.set_defaults(func=run)


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    flags: dict[str, Any] = {}
    for option, key in _SETTING_FLAGS.items():
        value = getattr(args, option)
        if value is not None:
            flags[key] = value
    if args.seed is not None:
        flags["seed_mode"] = "fixed"
    return flags


def run(args: argparse.Namespace) -> int:
    from tui.cli.common import CliError, UsageError
    from tui.store import StoreError

    flags = _flags(args)
    _validate(flags)
    model_path, settings = _settings(args, flags)
    # Everything that can be refused is checked before the model loads.
    if args.continue_id is not None and args.no_save:
        raise UsageError("--continue and --no-save do not go together")
    templates, presets = _templates_and_presets(args)
    _stop_like_ctrl_c()
    try:
        return _run(args, model_path, settings, (templates, presets), flags)
    except StoreError as exc:  # a damaged, unreachable or full history: one line naming it
        raise CliError(str(exc)) from exc


def _stop_like_ctrl_c() -> None:
    """SIGTERM and SIGHUP stop like Ctrl+C: the answer so far is saved, marked cancelled
    (left to die, the process would leave it ``streaming``)."""
    import signal

    def interrupt(signum: int, frame: object) -> None:
        signal.raise_signal(signal.SIGINT)

    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), interrupt)


def _run(
    args: argparse.Namespace,
    model_path: Path,
    settings: Settings,
    prompts: tuple[Any, Any],
    flags: dict[str, Any],
) -> int:
    import sys

    from tui.cli.common import CliError, UsageError
    from tui.engine.client import EngineError
    from tui.engine.engines import engine_kind, make_engine
    from tui.engine.protocol import LoadParams
    from tui.store import NotFoundError, Store

    try:
        engine = make_engine(args.engine, settings, trusted=args.trust_host)
    except EngineError as exc:
        raise CliError(str(exc)) from exc
    if engine_kind(engine) == "remote":
        print(f"burrow: answering with {engine.label}", file=sys.stderr)
    store = Store.open_incognito() if args.no_save else secret.open_store(args)
    try:
        if args.continue_id is not None:
            try:
                store.get_conversation(args.continue_id)
            except NotFoundError as exc:
                raise UsageError(f"no conversation {args.continue_id}") from exc
        if engine_kind(engine) != "remote":  # a remote model is in the server's memory
            check_fit(model_path, settings)
        try:
            engine.load(LoadParams(path=str(model_path), **settings.load_params()))
        except EngineError as exc:
            raise CliError(str(exc)) from exc
        session = _session(args, engine, store, settings, *prompts, flags)
        result = _ask(args, session)
        if "error" in result:
            if not args.json:
                sys.stdout.write("\n")  # the text shown so far stays, on its own line
            raise CliError(result["error"])
        _print_result(args, result, session, str(model_path))
        return 0
    finally:
        engine.shutdown()
        store.close()


def check_fit(model_path: Path, settings: Settings) -> None:
    """Refuse, before loading, a context above the model's trained one or a load that would
    not fit in free memory, naming the largest context (and cache type) that fits."""
    from tui.cli.common import CliError
    from tui.engine import fit, memory
    from tui.engine.catalog import read_metadata

    summary = read_metadata([model_path]).get(str(model_path), {})
    shape_data, trained = summary.get("shape"), summary.get("n_ctx_train")
    if not isinstance(shape_data, dict) or settings.n_ctx == 0:
        return  # unreadable: the load says why; automatic: the engine picks what fits
    shape = memory.ModelShape(**shape_data)
    choices = settings.memory_choices()

    def need(size: int, kv: str) -> int:
        estimate = shape.estimate(size, settings.n_batch, **{**choices, "kv_type": kv})
        return estimate.total_bytes

    kv_type = settings.kv_cache_type
    offer = fit.fit_offer(
        model_path.name,
        need,
        memory.available_bytes(),
        settings.n_ctx,
        kv_type,
        trained if isinstance(trained, int) and trained > 0 else None,
        smaller_kv=settings.flash_attn != "off",  # a smaller cache type needs flash attention
    )
    if offer is None:
        return
    text, options = offer
    flags = [
        f"--ctx {o.n_ctx}" + (f" --kv-type {o.kv_type}" if o.kv_type != kv_type else "")
        for o in options
    ]
    if flags:
        text += f" Run again with {' or '.join(flags)}."
    raise CliError(text)


def _validate(flags: dict[str, Any]) -> None:
    """Refuse a bad setting flag by its option's name."""
    from tui.cli.common import UsageError
    from tui.settings import SettingsError, validate_value

    for key, value in flags.items():
        try:
            validate_value(key, value)
        except SettingsError as exc:
            option = next((o for o, k in _SETTING_FLAGS.items() if k == key), key)
            raise UsageError(f"--{option.replace('_', '-')}: {exc}") from exc


def _settings(args: argparse.Namespace, flags: dict[str, Any]) -> tuple[Path, Settings]:
    """The model to load and the settings for it (config, the model's own, the flags);
    problems in the layers are warnings on stderr."""
    import contextlib
    import sys
    from pathlib import Path

    from tui.cli.common import CliError
    from tui.engine import prefs
    from tui.engine.catalog import ModelNotFoundError, choose_model
    from tui.settings import layered_settings, load_settings

    base, _ = load_settings()
    try:
        model_path: Path | None = choose_model(args.model, base.default_model, base.model_dirs)
    except ModelNotFoundError as exc:
        if not _remote(args.engine, base) or args.model:
            raise CliError(str(exc)) from exc
        model_path = None  # a remote server decides the model
    if model_path is not None:
        with contextlib.suppress(OSError):  # named, configured or bundled: the user's choice
            prefs.remember_chosen(model_path)
    settings, problems = layered_settings(model=model_path, flags=flags)
    for problem in problems:
        print(f"burrow: warning: {problem}", file=sys.stderr)
    return model_path or Path("remote"), settings


def _remote(choice: str | None, settings: Settings) -> bool:
    from tui.engine.client import EngineError
    from tui.engine.engines import resolve_kind

    try:
        return resolve_kind(choice, settings) == "remote"
    except EngineError:
        return False


def _templates_and_presets(args: argparse.Namespace) -> tuple[Any, Any]:
    """Every template and preset, refusing a ``--template`` or ``--preset`` name not among
    them. A file that could not be used is a warning (the others still load)."""
    import sys

    from tui.chat.presets import load_presets
    from tui.chat.templates import load_templates
    from tui.cli.common import UsageError

    templates, template_problems = load_templates()
    presets, preset_problems = load_presets()
    for problem in [*template_problems, *preset_problems]:
        print(f"burrow: warning: {problem}", file=sys.stderr)
    if args.template and args.template not in templates:
        raise UsageError(f"no template named {args.template!r} (burrow templates list)")
    if args.preset and args.preset not in presets:
        raise UsageError(f"no preset named {args.preset!r}")
    return templates, presets


def _session(
    args: argparse.Namespace,
    engine: AnyEngine,
    store: Store,
    settings: Settings,
    templates: Any,
    presets: Any,
    flags: dict[str, Any],
) -> ChatSession:
    """A session on the conversation ``--continue`` names, else on a new one."""
    from tui.chat.session import ChatSession

    session = ChatSession(
        engine, store, settings, templates=templates, presets=presets, flags=flags
    )
    if args.continue_id is not None:
        session.open_conversation(args.continue_id)
        if args.template:
            session.set_template(args.template)
        if args.system is not None:
            session.set_system_prompt(args.system)
    else:
        session.new_conversation(
            template=args.template, system_prompt=args.system, preset=args.preset
        )
    if args.thinking is not None and not session.thinking_switch():
        import sys

        option = "--think" if args.thinking == "on" else "--no-think"
        print(
            f"burrow: warning: {option} ignored: the model's chat template has no thinking switch",
            file=sys.stderr,
        )
    return session


def _ask(args: argparse.Namespace, session: ChatSession) -> dict[str, Any]:
    """Ask the question, streaming the answer to stdout (unless ``--json``); what the
    answer's events said: context, answer, status, stats, or error."""
    import asyncio
    import sys

    from tui.chat.events import AnswerChunk, AnswerFailed, AnswerFinished, AnswerStarted
    from tui.textsafe import terminal_text

    result: dict[str, Any] = {}

    async def stream() -> None:
        async for event in session.ask(args.question):
            if isinstance(event, AnswerStarted):
                if event.notice:
                    print(f"burrow: {event.notice}", file=sys.stderr)
                result["context"] = {
                    "tokens_used": event.context.tokens_used,
                    "n_ctx": event.context.n_ctx,
                    "dropped_messages": event.context.dropped_messages,
                }
            elif isinstance(event, AnswerChunk):
                if not args.json:
                    sys.stdout.write(terminal_text(event.text))  # model text: no raw ESC
                    sys.stdout.flush()
            elif isinstance(event, AnswerFinished):
                result["answer"] = event.text
                if event.reasoning:
                    # Thinking is not the answer: kept apart, summed up on stderr.
                    result["reasoning"] = event.reasoning
                    if not args.json:
                        print(
                            f"\nburrow: thought for {event.reasoning_seconds:.0f} s, "
                            f"{event.reasoning_tokens} tokens",
                            file=sys.stderr,
                        )
                result["status"] = event.status
                result["stats"] = event.stats.to_dict()
            elif isinstance(event, AnswerFailed):
                result["error"] = event.message

    asyncio.run(stream())
    return result


def _print_result(
    args: argparse.Namespace, result: dict[str, Any], session: ChatSession, model_path: str
) -> None:
    """With ``--json`` the one JSON object; else end the streamed answer's line."""
    import sys

    from tui.cli.common import print_json

    if not args.json:
        sys.stdout.write("\n")
        return
    model = session.engine.model
    print_json(
        {
            "answer": result.get("answer", ""),
            "reasoning": result.get("reasoning", ""),
            "status": result.get("status"),
            "stats": result.get("stats"),
            "context": result.get("context"),
            "model": model.path if model else model_path,
            "template": session.template_name,
            "conversation_id": None if args.no_save else session.conversation_id,
        }
    )
