"""``burrow models``: the models Burrow can find, as a table or JSON and getting one more:
import a file, download one (only when asked), the curated list with fit labels."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list, import and download GGUF models",
        description=(
            "List GGUF models in Burrow's models folder, the folders in the config "
            "(model_dirs), ~/models, the phone's Download folder, the Hugging Face hub cache "
            "and the bundled model. 'import' and 'pull' add one; 'list-curated' (or "
            "--curated) shows models worth getting and whether they fit this device."
        ),
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--ctx", type=int, default=None, metavar="N", help="context size for the RAM estimate"
    )
    parser.add_argument(
        "--curated", action="store_true", help="show the curated list of models to get"
    )
    parser.set_defaults(func=run)
    _register_actions(parser)


def configured_model_dirs() -> tuple[list[str], int]:
    """``model_dirs`` and ``n_ctx`` from the config (defaults when it cannot be read)."""
    try:
        from tui.settings import load_settings

        settings, _problems = load_settings()
    except Exception:  # a broken config must not hide the models
        return [], 2048
    from tui.engine.curated import AUTO_CONTEXT_ESTIMATE

    # An automatic context (0) is judged at the most it can become.
    return list(settings.model_dirs), int(settings.n_ctx) or AUTO_CONTEXT_ESTIMATE


def _cell(value: object) -> str:
    return "-" if value is None or value == "" else str(value)


def run(args: argparse.Namespace) -> int:
    from tui.cli.common import UsageError, print_json
    from tui.engine import catalog, memory
    from tui.textsafe import one_line

    dirs, default_ctx = configured_model_dirs()
    n_ctx = args.ctx if args.ctx is not None else default_ctx
    if n_ctx < 1:
        raise UsageError("--ctx must be a positive number of tokens")
    if args.curated:
        return show_curated(n_ctx, args.json)
    entries = catalog.scan(dirs)
    available = memory.available_bytes()
    if args.json:
        models: list[dict[str, Any]] = []
        for entry in entries:
            data = entry.to_dict(n_ctx)
            need = data.get("ram_estimate_bytes")
            data["fits_in_free_memory"] = (
                None if need is None or available is None else need <= available
            )
            models.append(data)
        print_json({"n_ctx": n_ctx, "available_memory_bytes": available, "models": models})
        return 0
    if not entries:
        print("No models found. Put a .gguf file in one of these folders:")
        for folder, source in catalog.search_dirs(dirs):
            print(f"  {folder}  ({source})")
        print("Or get one: burrow models list-curated, then burrow models pull NAME")
        return 0
    fmt = memory.format_bytes
    header = ("NAME", "SOURCE", "PARAMS", "QUANT", "SIZE", "CTX", "TEMPLATE", f"RAM@{n_ctx}")
    rows: list[tuple[str, ...]] = []
    for entry in entries:
        need = entry.ram_estimate(n_ctx)
        ram = "-" if need is None else fmt(need)
        if need is not None and available is not None and need > available:
            ram += " (too big)"
        rows.append(
            (
                entry.name,
                entry.source,
                _cell(entry.size_label),
                _cell(entry.quantization),
                fmt(entry.size_bytes),
                _cell(entry.n_ctx_train),
                "yes" if entry.has_chat_template else "no",
                ram if entry.error is None else f"unreadable: {entry.error}",
            )
        )
    # File names and GGUF metadata come from downloaded files: no raw control characters.
    rows = [tuple(one_line(cell) for cell in row) for row in rows]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    print()
    for entry in entries:
        print(one_line(f"{entry.name}: {entry.path}"))
    if available is not None:
        print(f"\nFree memory now: {fmt(available)}")
    return 0


# ---------------------------------------------------------------- getting a model
def _register_actions(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(
        dest="models_action", metavar="ACTION", parser_class=type(parser)
    )
    imp = actions.add_parser(
        "import",
        help="check a GGUF file and copy (or move, or link) it into Burrow's models folder",
        description="Check FILE's GGUF header, put it in Burrow's models folder and record its "
        "SHA-256 (a file Burrow already has, under any name, is refused).",
    )
    imp.add_argument("file", metavar="FILE", help="the .gguf file, e.g. ~/storage/downloads/x.gguf")
    mode = imp.add_mutually_exclusive_group()
    for name, text in (
        ("copy", "copy it, leave the original (default)"),
        ("move", "move it (frees the space it took)"),
        ("link", "leave it where it is and link to it"),
    ):
        mode.add_argument(f"--{name}", dest="mode", action="store_const", const=name, help=text)
    imp.set_defaults(func=run_import, mode="copy")
    pull = actions.add_parser(
        "pull",
        help="download a model from the Hugging Face hub (asks first)",
        description="Download a curated model by NAME (see 'burrow models list-curated') or "
        "any OWNER/REPO/FILE.gguf. Burrow names the host and asks before connecting; "
        "HF_ENDPOINT sets the hub's address, HTTPS_PROXY a proxy, HF_TOKEN a token for gated "
        "repositories. Ctrl-C stops and keeps the part file: run again to resume.",
    )
    pull.add_argument("name", metavar="NAME|OWNER/REPO/FILE.gguf")
    pull.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    pull.set_defaults(func=run_pull)
    cur = actions.add_parser(
        "list-curated",
        help="models worth getting, and whether each fits this device",
        description="The curated list with the memory-fit label at the default context.",
    )
    cur.add_argument("--json", action="store_true", help="print JSON instead of a table")
    cur.add_argument("--ctx", type=int, default=None, metavar="N", help="context size")
    cur.set_defaults(func=run_curated)


def run_curated(args: argparse.Namespace) -> int:
    from tui.cli.common import UsageError

    n_ctx = args.ctx if args.ctx is not None else configured_model_dirs()[1]
    if n_ctx < 1:
        raise UsageError("--ctx must be a positive number of tokens")
    return show_curated(n_ctx, args.json)


def show_curated(n_ctx: int, as_json: bool) -> int:
    from tui.cli.common import CliError, print_json
    from tui.engine import curated, memory

    try:
        rows = curated.with_fit(n_ctx=n_ctx)
    except curated.CuratedListError as exc:
        raise CliError(str(exc)) from exc
    free = memory.available_bytes()
    if as_json:
        items = [
            {
                **{k: getattr(r.model, k) for k in ("name", "title", "repo", "file", "quant")},
                **{k: getattr(r.model, k) for k in ("size_bytes", "params", "license")},
                "n_ctx_train": r.model.n_ctx_train,
                "template": r.model.template,
                "ram_estimate_bytes": r.need_bytes,
                "fit": r.verdict,
            }
            for r in rows
        ]
        print_json({"n_ctx": n_ctx, "available_memory_bytes": free, "models": items})
        return 0
    fmt = memory.format_bytes
    header = ("NAME", "PARAMS", "QUANT", "SIZE", "LICENSE", f"RAM@{n_ctx}", "FIT")
    table = [header] + [
        (
            r.model.name,
            r.model.params,
            r.model.quant,
            fmt(r.model.size_bytes),
            r.model.license,
            fmt(r.need_bytes),
            r.verdict,
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    where = "unknown" if free is None else fmt(free)
    print(f"\nFree memory now: {where}. Sizes are approximate; the hub is asked before a download.")
    print("Get one:  burrow models pull NAME   (asks before connecting)")
    return 0


_WORDS = {"download": "downloading", "copy": "copying", "hash": "checking", "move": "moving"}


class ProgressBar:
    """Progress on stderr: one line redrawn in place on a terminal, a line per quarter
    otherwise (logs stay short)."""

    def __init__(self, stream: Any = None) -> None:
        import sys

        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.phase = ""
        self.last = 0.0
        self.quarter = -1
        self.open_line = False

    def __call__(self, progress: Any) -> None:
        import shutil
        import time

        if progress.phase != self.phase:
            self.finish()
            self.phase, self.quarter = progress.phase, -1
        fraction = progress.fraction
        done = fraction is not None and fraction >= 1
        now = time.monotonic()
        if self.tty:
            if not done and now - self.last < 0.1:
                return
            self.last = now
            columns = shutil.get_terminal_size((80, 24)).columns
            self.stream.write("\r" + _bar_line(progress, columns).ljust(columns - 1))
            self.open_line = True
        else:
            quarter = int((fraction or 0) * 4)
            if quarter <= self.quarter:
                return
            self.quarter = quarter
            self.stream.write(f"{_WORDS.get(progress.phase, progress.phase)} {progress.text()}\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.open_line:
            self.stream.write("\n")
            self.stream.flush()
            self.open_line = False


def _bar_line(progress: Any, columns: int) -> str:
    """The redrawn line, cut to the terminal: a 40-column phone gets the percentage, the
    speed and the time left; a wider one the bar and the bytes too."""
    from tui.engine.memory import format_bytes
    from tui.engine.model_store import format_duration

    fraction = progress.fraction
    if columns < 60:
        parts = [f"{fraction * 100:.0f}%" if fraction is not None else format_bytes(progress.done)]
        parts.append(f"{format_bytes(progress.bytes_per_second)}/s")
        if progress.seconds_left is not None:
            parts.append(f"{format_duration(progress.seconds_left)} left")
        line = " · ".join(parts)
    else:
        filled = int((fraction or 0) * 10)
        line = f"[{'#' * filled}{'.' * (10 - filled)}] {progress.text()}"
    word = f"{_WORDS.get(progress.phase, progress.phase)} "
    line = word + line if len(word + line) < columns else line
    return line[: columns - 1]


def _cancellable(work: Any) -> Any:
    """Run ``work(cancel_event)`` in a thread; Ctrl-C sets the event and waits for the work
    to stop cleanly (a download keeps its part file, an import removes its copy)."""
    import threading

    cancel = threading.Event()
    finished = threading.Event()
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = work(cancel)
        except BaseException as exc:  # handed to the main thread, which reports it
            box["error"] = exc
        finally:
            finished.set()

    threading.Thread(target=target, name="burrow-transfer", daemon=True).start()
    # An Event, not Thread.join: a join interrupted by Ctrl-C can wrongly report the
    # thread as finished.
    try:
        while not finished.wait(0.2):
            pass
    except KeyboardInterrupt:
        cancel.set()
        finished.wait()
    if "error" in box:
        raise box["error"]
    return box["value"]


def _confirm(question: str, assume_yes: bool) -> bool:
    if assume_yes:
        print(f"{question} yes (--yes)")
        return True
    try:
        answer = input(f"{question} [y/N] ")
    except (EOFError, OSError):
        print()
        return False
    return answer.strip().lower() in ("y", "yes")


def run_import(args: argparse.Namespace) -> int:
    from tui.cli.common import CliError
    from tui.engine import importer
    from tui.engine.memory import format_bytes
    from tui.engine.model_store import Cancelled as StoreCancelled
    from tui.engine.model_store import ModelFileError

    bar = ProgressBar()
    try:
        result = _cancellable(
            lambda cancel: importer.import_model(
                args.file, mode=args.mode, progress=bar, cancel=cancel
            )
        )
    except StoreCancelled as exc:
        bar.finish()
        raise _interrupted(f"{exc}; nothing was imported") from None
    except ModelFileError as exc:
        bar.finish()
        raise CliError(str(exc)) from None
    bar.finish()
    verb = {"copy": "Copied", "move": "Moved", "link": "Linked"}[result.mode]
    summary = result.summary
    detail = " ".join(str(v) for v in (summary.get("size_label"), summary.get("quantization")) if v)
    print(
        f"{verb} {args.file} -> {result.path} ({format_bytes(result.size_bytes)} {detail})".rstrip()
    )
    print(f"SHA-256 {result.sha256}")
    print(f"Chat with it:  burrow --model {result.path.stem}")
    return 0


def _interrupted(message: str) -> Exception:
    from tui.cli.common import CliError

    error = CliError(message)
    error.exit_code = 130
    return error


def run_pull(args: argparse.Namespace) -> int:
    import os

    from tui.cli.common import CliError, UsageError
    from tui.engine import download as dl
    from tui.engine.memory import format_bytes
    from tui.engine.model_store import Cancelled as StoreCancelled
    from tui.engine.model_store import ModelFileError

    try:
        target = dl.target_for(args.name)
    except ModelFileError as exc:
        raise UsageError(str(exc)) from None
    try:
        dl.refuse_present(target)
    except ModelFileError as exc:
        raise CliError(str(exc)) from None
    mirror = "  (HF_ENDPOINT)" if os.environ.get("HF_ENDPOINT", "").strip() else ""
    print(f"Model:    {target.repo}/{target.file}")
    print(f"Host:     {target.host}{mirror}")
    if target.size_bytes is not None:
        print(f"Size:     about {format_bytes(target.size_bytes)} (curated list)")
    else:
        print("Size:     not known yet: Burrow asks the host first")
    print(f"Saved as: {target.dest}")
    if not _confirm(f"Connect to {target.host} and download it?", args.yes):
        print("Nothing was sent.")
        return 1
    try:
        the_plan = dl.plan(target)
    except ModelFileError as exc:
        raise CliError(str(exc)) from None
    _print_plan(the_plan)
    if target.size_bytes is None and not _confirm(
        f"Download {format_bytes(the_plan.size_bytes)} from {the_plan.data_host}?", args.yes
    ):
        print("Nothing was downloaded.")
        return 1
    bar = ProgressBar()
    try:
        result = _cancellable(lambda cancel: dl.download(the_plan, progress=bar, cancel=cancel))
    except StoreCancelled:
        bar.finish()
        part = dl.part_path(target.dest)
        kept = part.stat().st_size if part.exists() else 0
        raise _interrupted(
            f"download cancelled; kept {format_bytes(kept)} in {part}: run the same "
            "command again to resume"
        ) from None
    except ModelFileError as exc:
        bar.finish()
        raise CliError(str(exc)) from None
    bar.finish()
    print(f"Saved {result.path} (SHA-256 checked: {result.sha256})")
    print(f"Chat with it:  burrow --model {result.path.stem}")
    return 0


def _print_plan(the_plan: Any) -> None:
    from tui.engine.memory import format_bytes

    size = the_plan.size_bytes
    print(f"Size:     {format_bytes(size)} ({size} bytes), sent by {the_plan.data_host}")
    if the_plan.hash_source == "curated":
        print(f"Checked:  SHA-256 {the_plan.sha256} from Burrow's curated list")
    elif the_plan.hash_source == "hub":
        print(f"Checked:  SHA-256 {the_plan.sha256} published by {the_plan.target.host}")
    else:
        print(f"Checked:  no SHA-256 published by {the_plan.target.host}")
    if the_plan.resume_from:
        print(f"Resuming: {format_bytes(the_plan.resume_from)} already downloaded")
