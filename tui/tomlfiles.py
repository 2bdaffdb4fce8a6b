"""The TOML data folders: templates, presets and themes are each a folder of ``*.toml`` files.

Built-ins ship with Burrow and the user's own folder overrides them by name. Everything here
reports a bad file as a :class:`FileProblem` (file, line when it can be found, what is wrong)
and never raises on one: a broken file a user wrote must not stop the app.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tui import safeio

T = TypeVar("T")

TOML_LINE_RE = re.compile(r"\(at line (\d+), column \d+\)")


@dataclass(frozen=True)
class FileProblem:
    """A data file that could not be used, or a part of it that was ignored.

    ``line`` is 1-based, None if unknown. ``str()`` names the whole path (for the command
    line); :attr:`short` only the file name (for a notification that has little room).
    """

    file: Path | None
    line: int | None
    message: str

    def _where(self, name: str) -> str:
        return name if self.line is None else f"{name}:{self.line}"

    def __str__(self) -> str:
        return f"{self._where(str(self.file) if self.file else '<file>')}: {self.message}"

    @property
    def short(self) -> str:
        return f"{self._where(self.file.name if self.file else '<file>')}: {self.message}"


def toml_error(exc: tomllib.TOMLDecodeError, text: str) -> tuple[int | None, str]:
    """Line (1-based) and message of a TOML syntax error."""
    message = str(exc)
    match = TOML_LINE_RE.search(message)
    if match:
        line: int | None = int(match.group(1))
    elif "end of document" in message:
        line = max(1, len(text.splitlines()))
    else:
        line = None
    return line, TOML_LINE_RE.sub("", message).replace("(at end of document)", "").strip()


def line_of_key(text: str, key: str) -> int | None:
    """The line (1-based) where top-level ``key = ...`` is written, None if it is not."""
    pattern = re.compile(rf"^[ \t]*\"?{re.escape(key)}\"?[ \t]*=", re.MULTILINE)
    match = pattern.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else None


class FileProblems(list[FileProblem]):
    """The problems found in one file's ``text`` as it is checked key by key."""

    def __init__(self, file: Path | None, text: str) -> None:
        super().__init__()
        self.file = file
        self.text = text

    def add(self, key: str | None, message: str) -> None:
        """A problem with ``key``, on the key's line when it is written there."""
        self.append(FileProblem(self.file, line_of_key(self.text, key) if key else None, message))


def read_toml(text: str, file: Path | None) -> tuple[dict[str, Any] | None, FileProblems]:
    """The table ``text`` holds, and the list for the problems found while checking it.

    When ``text`` is not valid TOML the table is None and the list holds the syntax error
    (with its line when TOML names one). Nesting is measured first: ``tomllib`` recurses
    once per bracket, and a 50,000-deep array would raise ``RecursionError``.
    """
    problems = FileProblems(file, text)
    too_deep = safeio.nesting_problem(text, "toml")
    if too_deep is not None:
        problems.append(FileProblem(file, *too_deep))
        return None, problems
    try:
        return tomllib.loads(text), problems
    except tomllib.TOMLDecodeError as exc:
        line, clean = toml_error(exc, text)
        problems.append(FileProblem(file, line, f"not valid TOML: {clean}"))
    except RecursionError:  # the scan above should have caught it: a last resort
        problems.append(FileProblem(file, None, "nested too deeply; refused"))
    return None, problems


def read_file(file: Path) -> str:
    """The text of a data file: a regular file of bounded size in UTF-8 (a FIFO would
    block for ever, ``/dev/zero`` never ends). Raises ``OSError`` with a short reason."""
    return safeio.read_text(file, safeio.TEXT_LIMIT)


def read_problem(exc: OSError) -> str:
    """Why a data file could not be read, without repeating its path."""
    if isinstance(exc, safeio.UnsafeFileError):
        return exc.why
    return exc.strerror or str(exc)


def load_toml_dirs(
    folders: Iterable[tuple[Path, str]],
    parse: Callable[[str, Path, str], tuple[T | None, list[FileProblem]]],
    name: Callable[[T], str],
    into: dict[str, T] | None = None,
) -> tuple[dict[str, T], list[FileProblem]]:
    """The one loop behind templates, presets and themes: every ``*.toml`` of each
    ``(folder, source)`` in order (files sorted), parsed by ``parse(text, file, source)``.

    Returns the items by ``name(item)`` (a later folder overrides an earlier one; ``into``
    gives items that come first) and every problem found. A missing folder is skipped; a file
    that cannot be read becomes a problem without a line. Never raises for a bad file.
    """
    items: dict[str, T] = {} if into is None else into
    problems: list[FileProblem] = []
    for directory, source in folders:
        if not directory.is_dir():
            continue
        for file in sorted(directory.glob("*.toml")):
            try:
                text = read_file(file)
            except OSError as exc:
                problems.append(FileProblem(file, None, f"cannot read: {read_problem(exc)}"))
                continue
            item, found = parse(text, file, source)
            problems.extend(found)
            if item is not None:
                items[name(item)] = item
    return items, problems
