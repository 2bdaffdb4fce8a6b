"""``tui.safeio``: only regular files of bounded size, bounded nesting, loop-proof walks."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import pytest

from tui.safeio import (
    UnsafeFileError,
    check_nesting,
    max_nesting,
    nesting_problem,
    read_bytes,
    read_text,
    real_path,
    walk_files,
)


def test_reads_a_regular_file(tmp_path: Path) -> None:
    file = tmp_path / "a.toml"
    file.write_bytes("\ufeffname = 'café'\n".encode())
    assert read_text(file) == "name = 'café'\n"
    link = tmp_path / "link.toml"
    link.symlink_to(file)
    assert read_bytes(link) == file.read_bytes()


def test_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "trap.toml"
    os.mkfifo(fifo)
    with pytest.raises(UnsafeFileError, match="FIFO") as caught:
        read_text(fifo)
    assert str(fifo) in str(caught.value)
    assert isinstance(caught.value, OSError)


def test_refuses_devices_folders_and_large_files(tmp_path: Path) -> None:
    link = tmp_path / "zero.toml"
    link.symlink_to("/dev/zero")
    with pytest.raises(UnsafeFileError, match="character device"):
        read_text(link)
    with pytest.raises(UnsafeFileError, match="folder"):
        read_text(tmp_path)
    big = tmp_path / "big.toml"
    big.write_bytes(b"x" * 2000)
    with pytest.raises(UnsafeFileError, match="2,000 bytes, larger than the 1,000 bytes"):
        read_text(big, limit=1000)
    assert read_text(big, limit=2000) == "x" * 2000
    with pytest.raises(FileNotFoundError):
        read_text(tmp_path / "missing.toml")


def test_proc_files_are_bounded_by_the_read() -> None:
    # /proc files report size 0 but may hold more: the read itself stops at the limit.
    with pytest.raises(UnsafeFileError, match="grew larger"):
        read_bytes("/proc/self/maps", limit=10)


def test_invalid_utf8_names_the_file_and_line(tmp_path: Path) -> None:
    file = tmp_path / "bad.toml"
    file.write_bytes(b"a = 1\nb = '\xff'\n")
    with pytest.raises(UnsafeFileError, match=r"bad.toml: is not UTF-8 text \(line 2"):
        read_text(file)


def test_nesting_counts_brackets_outside_strings_and_comments() -> None:
    assert max_nesting("a = [[1], {b = [2]}]\n") == (3, 1)
    assert max_nesting('a = "[[[[["\n# [[[[[[\nb = \'[[[\'\nc = """\n[[[[\n"""\n')[0] == 0
    assert max_nesting("x = 1\ny = [\n[\n[1]]]\n") == (3, 4)
    assert max_nesting('{"a": "[[[\\"[[", "b": [[1]]}', "json") == (3, 1)
    assert nesting_problem("a = [1]\n") is None


def test_deep_nesting_is_refused_before_the_parser_recurses(tmp_path: Path) -> None:
    deep = "x = " + "[" * 50_000 + "]" * 50_000
    found = nesting_problem(deep)
    assert found is not None and found[0] == 1 and "100 levels" in found[1]
    with pytest.raises(UnsafeFileError) as caught:
        check_nesting(deep, tmp_path / "config.toml")
    assert "config.toml:1" in str(caught.value)
    deep_json = "[" * 100_000 + "]" * 100_000
    with pytest.raises(UnsafeFileError):
        check_nesting(deep_json, "import.json", "json")
    ok = "x = " + "[" * 100 + "]" * 100
    check_nesting(ok, "fine.toml")
    tomllib.loads(ok)
    json.loads("[" * 100 + "]" * 100)


def test_walk_survives_symlink_loops_and_unreadable_links(tmp_path: Path) -> None:
    (tmp_path / "a.gguf").write_bytes(b"GGUF")
    (tmp_path / "loop.gguf").symlink_to(tmp_path / "loop.gguf")
    (tmp_path / "dangling.gguf").symlink_to(tmp_path / "nowhere")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "b.gguf").write_bytes(b"GGUF")
    (sub / "up").symlink_to(tmp_path)  # a directory cycle
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "c.gguf").write_bytes(b"GGUF")
    found = list(walk_files(tmp_path, want=lambda name: name.endswith(".gguf")))
    assert found == [tmp_path / "a.gguf", sub / "b.gguf"]
    assert real_path(tmp_path / "loop.gguf") is None
    assert real_path(tmp_path / "a.gguf") == (tmp_path / "a.gguf").resolve()
    assert list(walk_files(tmp_path / "missing")) == []


def test_walk_depth_is_bounded(tmp_path: Path) -> None:
    folder = tmp_path
    for i in range(5):
        folder = folder / f"d{i}"
        folder.mkdir()
        (folder / f"m{i}.gguf").write_bytes(b"GGUF")
    names = [p.name for p in walk_files(tmp_path, max_depth=2)]
    assert names == ["m0.gguf", "m1.gguf"]
