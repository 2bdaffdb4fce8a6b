"""``burrow models``: the models Burrow can find, as a table or JSON."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list the GGUF models Burrow finds",
        description=(
            "List GGUF models in Burrow's models folder, the folders in the config "
            "(model_dirs), ~/models, the Hugging Face hub cache and the bundled model."
        ),
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--ctx", type=int, default=None, metavar="N", help="context size for the RAM estimate"
    )
    parser.set_defaults(func=run)


def configured_model_dirs() -> tuple[list[str], int]:
    """``model_dirs`` and ``n_ctx`` from the config (defaults when it cannot be read)."""
    try:
        from tui.settings import load_settings

        settings, _problems = load_settings()
    except Exception:  # a broken config must not hide the models
        return [], 2048
    return list(settings.model_dirs), int(settings.n_ctx)


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
