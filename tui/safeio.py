"""Reading files the user (or an attacker) controls without hanging, exhausting or crashing.

Why each guard exists:

- **Regular files only, opened non-blocking.** ``open()`` on a FIFO blocks until a writer
  appears, and reading ``/dev/zero`` never ends. The file is opened with ``O_NONBLOCK`` (a
  FIFO opens at once) and then checked with ``fstat`` on the open descriptor (no race with a
  rename between a check and the open): anything but a regular file is refused.
- **Bounded size.** A config or a template is small; a file larger than the caller's limit is
  refused with the file and the limit in the message instead of being read into memory. The
  read itself stops at the limit too (``/proc`` files report size 0).
- **UTF-8 with a message naming the file** instead of a bare ``UnicodeDecodeError``.
- **Bounded nesting.** ``tomllib`` and ``json`` recurse once per ``[`` / ``{``: 50,000 levels
  raise ``RecursionError`` (or worse, exhaust the C stack). :func:`nesting_problem` scans the
  text first, outside strings and comments, and reports the file and line.
- **A directory walk that survives loops.** ``os.walk(followlinks=True)`` and
  ``Path.resolve()`` fail on symlink loops (``RuntimeError`` before Python 3.13) and
  unreadable folders; :func:`walk_files` follows links but visits each real folder once.

Errors are :class:`UnsafeFileError`, a subclass of ``OSError`` so code that already treats
"cannot read" as ``OSError`` handles them unchanged. No Textual, Rich or UI import.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

TEXT_LIMIT = 1024 * 1024
"""Default size limit of a config, template, preset or theme file (bytes)."""
IMPORT_LIMIT = 512 * 1024 * 1024
"""Size limit of a history import file (bytes)."""
NESTING_LIMIT = 100
"""Deepest ``[`` / ``{`` nesting accepted in TOML or JSON (real files need fewer than 10)."""


class UnsafeFileError(OSError):
    """A file that is not a regular file, too large, not UTF-8, or nested too deeply."""

    def __init__(self, path: os.PathLike[str] | str, why: str) -> None:
        super().__init__(f"{path}: {why}")
        self.path = str(path)
        self.why = why

    def __str__(self) -> str:
        return f"{self.path}: {self.why}"


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _limit_text(limit: int) -> str:
    return f"{limit / 1024 / 1024:g} MiB" if limit >= 1024 * 1024 else f"{limit:,} bytes"


def read_bytes(path: os.PathLike[str] | str, limit: int = TEXT_LIMIT) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes.

    Raises :class:`UnsafeFileError` (refused) or another ``OSError`` (missing, no permission).
    A symlink is followed: what it points at must be a regular file.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except IsADirectoryError as exc:
        raise UnsafeFileError(path, "is a folder, not a file") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFileError(path, f"is {_kind(info.st_mode)}, not a regular file")
        if info.st_size > limit:
            raise UnsafeFileError(
                path, f"is {info.st_size:,} bytes, larger than the {_limit_text(limit)} allowed"
            )
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, min(1024 * 1024, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise UnsafeFileError(path, f"grew larger than the {_limit_text(limit)} allowed")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text(path: os.PathLike[str] | str, limit: int = TEXT_LIMIT) -> str:
    """:func:`read_bytes` decoded as UTF-8 (a leading BOM is dropped)."""
    data = read_bytes(path, limit)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UnsafeFileError(path, f"is not UTF-8 text (line {line}, byte {exc.start})") from exc


# -- nesting ------------------------------------------------------------------------------

Syntax = Literal["toml", "json"]

# Tokens that matter for nesting; strings and comments are skipped whole so a "[" inside
# them does not count. TOML multi-line strings come first so '"""' is not read as '""'.
_TOML_TOKENS = re.compile(
    r'"""(?:[^"\\]|\\.|"(?!""))*"""'
    r"|'''(?:[^']|'(?!''))*'''"
    r'|"(?:[^"\\\n]|\\.)*"'
    r"|'[^'\n]*'"
    r"|#[^\n]*"
    r"|[\[\]{}\n]",
    re.DOTALL,
)
_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}\n]', re.DOTALL)


def max_nesting(text: str, syntax: Syntax = "toml") -> tuple[int, int]:
    """(deepest nesting of ``[`` and ``{`` outside strings and comments, its 1-based line).

    Linear time, no recursion. Unbalanced brackets are left for the parser to report.
    """
    pattern = _TOML_TOKENS if syntax == "toml" else _JSON_TOKENS
    depth = deepest = 0
    line = deepest_line = 1
    for match in pattern.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > deepest:
                deepest, deepest_line = depth, line
        elif token in "]}":
            depth = max(0, depth - 1)
        elif token == "\n":
            line += 1
        else:
            line += token.count("\n")
    return deepest, deepest_line


def nesting_problem(
    text: str, syntax: Syntax = "toml", limit: int = NESTING_LIMIT
) -> tuple[int, str] | None:
    """``(line, message)`` when ``text`` nests deeper than ``limit``, else None.

    For loaders that report problems with a line number (templates, presets, themes).
    """
    deepest, line = max_nesting(text, syntax)
    if deepest <= limit:
        return None
    return line, f"nested more than {limit} levels deep (brackets or braces); refused"


def check_nesting(
    text: str,
    path: os.PathLike[str] | str,
    syntax: Syntax = "toml",
    limit: int = NESTING_LIMIT,
) -> None:
    """Raise :class:`UnsafeFileError` naming ``path`` and the line when nesting is too deep.

    Call before ``tomllib.loads`` / ``json.loads`` on text from a file.
    """
    found = nesting_problem(text, syntax, limit)
    if found is not None:
        line, message = found
        raise UnsafeFileError(f"{path}:{line}", message)


# -- directory walk -----------------------------------------------------------------------


def real_path(path: os.PathLike[str] | str) -> Path | None:
    """``Path(path).resolve()``, or None for a symlink loop or an unreachable path.

    ``Path.resolve`` raises ``RuntimeError`` on a loop before Python 3.13 and ``OSError``
    after; callers want "skip it" either way.
    """
    try:
        return Path(path).resolve(strict=True)
    except (OSError, RuntimeError):
        return None


def walk_files(
    root: os.PathLike[str] | str,
    *,
    max_depth: int = 6,
    want: Callable[[str], bool] = lambda name: True,
    skip_dir: Callable[[str], bool] = lambda name: name.startswith("."),
) -> Iterator[Path]:
    """Regular files under ``root`` (symlinks followed) whose name passes ``want``.

    Each real folder is visited once (by device and inode), so symlink loops end; folders
    deeper than ``max_depth`` below ``root``, names ``skip_dir`` rejects, unreadable folders
    and dangling or looping links are skipped silently. Sorted by name within each folder.
    """
    seen: set[tuple[int, int]] = set()
    stack: list[tuple[Path, int]] = [(Path(root), 0)]
    while stack:
        folder, depth = stack.pop()
        try:
            info = os.stat(folder)
            if not stat.S_ISDIR(info.st_mode) or (info.st_dev, info.st_ino) in seen:
                continue
            seen.add((info.st_dev, info.st_ino))
            with os.scandir(folder) as entries:
                listed = sorted(entries, key=lambda entry: entry.name)
        except OSError:
            continue
        subfolders: list[Path] = []
        for entry in listed:
            try:
                is_dir = entry.is_dir()
                is_file = not is_dir and entry.is_file()
            except OSError:
                continue
            if is_dir:
                if depth < max_depth and not skip_dir(entry.name):
                    subfolders.append(Path(entry.path))
            elif is_file and want(entry.name):
                yield Path(entry.path)
        stack.extend((sub, depth + 1) for sub in reversed(subfolders))
