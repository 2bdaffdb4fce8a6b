"""The local llama-server's command line: the phone knobs (context cache type, flash
attention, memory map, mlock) reach it in the syntax its ``--help`` shows, decided as the
embedded engine decides them, and the local engine weighs memory as the embedded one does.

Binaries here are small scripts that print a ``--help`` text (of today's llama-server, whose
``--flash-attn`` takes a value and ``--load-mode`` replaced ``--no-mmap``/``--mlock``, and of
an older one); the real binary's command line is checked in ``test_llama_server.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tui.engine import memory
from tui.engine.client import ModelLoadError
from tui.engine.gguf import read_header
from tui.engine.http import ServerError
from tui.engine.loading import LoadChoices
from tui.engine.protocol import LoadParams
from tui.engine.server_client import LocalServerClient
from tui.engine.server_process import server_argv

# As llama-server prints them (llama.cpp of llama-cpp-python 0.3.36), abridged.
HELP_NOW = """
-t,    --threads N                      number of CPU threads to use during generation
-fa,   --flash-attn [on|off|auto]       set Flash Attention use ('on', 'off', or 'auto',
                                        default: 'auto')
-ctk,  --cache-type-k TYPE              KV cache data type for K
                                        allowed values: f32, f16, bf16, q8_0, q4_0, q4_1,
                                        iq4_nl, q5_0, q5_1
-ctv,  --cache-type-v TYPE              KV cache data type for V
--repack, -nr, --no-repack              whether to enable weight repacking (default: enabled)
-lm,   --load-mode MODE                 model loading mode (default: auto)
                                        - mmap: memory-map model
                                        - mlock: force system to keep model in RAM
                                        - mmap+mlock: mmap + force system to keep model in RAM
"""
# Before mid-2025: flash attention a bare switch, the memory map and mlock two flags.
HELP_OLD = """
-fa,   --flash-attn                     enable Flash Attention (default: disabled)
-ctk,  --cache-type-k TYPE              KV cache data type for K (default: f16)
-ctv,  --cache-type-v TYPE              KV cache data type for V (default: f16)
--mlock                                 force system to keep model in RAM
--no-mmap                               do not memory-map model (slower load)
"""
# Older still: no cache types at all (and "--no-mmap-x" must not read as --no-mmap).
HELP_ANCIENT = """
-fa,   --flash-attn                     enable Flash Attention (default: disabled)
--no-mmap-x                             not a real flag
"""


def binary_printing(tmp_path: Path, text: str, name: str = "llama-server") -> str:
    help_file = tmp_path / f"{name}.help"
    help_file.write_text(text)
    script = tmp_path / name
    script.write_text(f'#!/bin/sh\ncat "{help_file}"\n')
    script.chmod(0o755)
    return str(script)


def argv_for(binary: str, choices: LoadChoices, **params: object) -> list[str]:
    load = LoadParams(path="/m.gguf", n_ctx=1024, n_threads=2, **params)  # type: ignore[arg-type]
    return server_argv(binary, load, Path("/run/s.sock"), Path("/run/slots"), choices)


def value_of(argv: list[str], flag: str) -> str | None:
    at = argv.index(flag) + 1 if flag in argv else len(argv)
    return argv[at] if at < len(argv) else None


def test_a_q8_0_cache_with_flash_attention_on_today_s_server(tmp_path: Path) -> None:
    binary = binary_printing(tmp_path, HELP_NOW)
    argv = argv_for(binary, LoadChoices(use_mmap=True, flash_attn=True, kv_cache_type="q8_0"))
    assert value_of(argv, "--cache-type-k") == value_of(argv, "--cache-type-v") == "q8_0"
    assert value_of(argv, "--flash-attn") == "on"
    assert value_of(argv, "--load-mode") == "mmap"


def test_f16_says_flash_attention_off_because_the_server_s_own_auto_is_on(
    tmp_path: Path,
) -> None:
    binary = binary_printing(tmp_path, HELP_NOW)
    argv = argv_for(binary, LoadChoices(use_mmap=False, flash_attn=False, kv_cache_type="f16"))
    assert value_of(argv, "--flash-attn") == "off"
    assert value_of(argv, "--cache-type-k") == "f16"
    assert value_of(argv, "--load-mode") == "none"
    assert "--no-mmap" not in argv and "--mlock" not in argv  # not in this --help


def test_mlock_becomes_a_load_mode(tmp_path: Path) -> None:
    binary = binary_printing(tmp_path, HELP_NOW)
    mapped = LoadChoices(use_mmap=True, flash_attn=False, kv_cache_type="f16")
    assert value_of(argv_for(binary, mapped, use_mlock=True), "--load-mode") == "mmap+mlock"
    read = LoadChoices(use_mmap=False, flash_attn=False, kv_cache_type="f16")
    assert value_of(argv_for(binary, read, use_mlock=True), "--load-mode") == "mlock"


def test_an_older_server_gets_its_own_syntax(tmp_path: Path) -> None:
    binary = binary_printing(tmp_path, HELP_OLD)
    on = argv_for(binary, LoadChoices(use_mmap=False, flash_attn=True, kv_cache_type="q4_0"))
    assert "--flash-attn" in on and value_of(on, "--flash-attn") != "on"  # a bare switch
    assert value_of(on, "--cache-type-v") == "q4_0"
    assert "--no-mmap" in on and "--load-mode" not in on
    off = argv_for(
        binary, LoadChoices(use_mmap=True, flash_attn=False, kv_cache_type="f16"), use_mlock=True
    )
    assert "--flash-attn" not in off and "--no-mmap" not in off and "--mlock" in off


def test_a_server_without_cache_types_refuses_a_quantized_cache_by_name(tmp_path: Path) -> None:
    binary = binary_printing(tmp_path, HELP_ANCIENT)
    f16 = argv_for(binary, LoadChoices(use_mmap=False, flash_attn=False, kv_cache_type="f16"))
    assert "--cache-type-k" not in f16
    assert "--no-mmap" not in f16  # only "--no-mmap-x" is listed
    with pytest.raises(ServerError, match=r"cannot store a q8_0 context cache.*kv_cache_type"):
        argv_for(binary, LoadChoices(use_mmap=True, flash_attn=True, kv_cache_type="q8_0"))


# -- the local engine decides as the embedded one (with tests/fake_llama_server.py) ---------


def test_auto_flash_attention_follows_the_cache_type(
    fake_binary: str, tmp_path: Path, smollm2_path: Path
) -> None:
    engine = LocalServerClient(binary=fake_binary, log_path=tmp_path / "engine.log")
    try:
        info = engine.load(LoadParams(path=str(smollm2_path), n_ctx=512, kv_cache_type="q8_0"))
        assert engine._server is not None
        argv = engine._server.argv
        assert value_of(argv, "--cache-type-k") == "q8_0" and value_of(argv, "--flash-attn") == "on"
        assert (info.kv_cache_type, info.flash_attn) == ("q8_0", True)
        info = engine.load(LoadParams(path=str(smollm2_path), n_ctx=512))
        assert engine._server is not None
        assert value_of(engine._server.argv, "--flash-attn") == "off"
        assert (info.kv_cache_type, info.flash_attn) == ("f16", False)
    finally:
        engine.shutdown()


def test_a_quantized_cache_without_flash_attention_is_refused_as_embedded_refuses_it(
    fake_binary: str, tmp_path: Path, smollm2_path: Path
) -> None:
    engine = LocalServerClient(binary=fake_binary, log_path=tmp_path / "engine.log")
    params = LoadParams(path=str(smollm2_path), n_ctx=512, kv_cache_type="q4_0", flash_attn=False)
    with pytest.raises(ModelLoadError, match="needs flash attention"):
        engine.load(params)
    assert engine._server is None  # refused before a server was started


def test_the_memory_check_weighs_the_cache_type_the_server_gets(
    fake_binary: str, tmp_path: Path, smollm2_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    header = read_header(smollm2_path)

    def need(kv_type: str) -> int:
        flash = kv_type != "f16"
        estimate = memory.estimate(
            header, 4096, 512, kv_type=kv_type, use_mmap=True, flash_attn=flash
        )
        return estimate.total_bytes

    assert need("q4_0") < need("f16")
    free = (need("q4_0") + need("f16")) // 2  # the q4_0 cache fits, the f16 one does not
    monkeypatch.setattr(memory, "available_bytes", lambda: free)
    engine = LocalServerClient(binary=fake_binary, log_path=tmp_path / "engine.log")
    try:
        with pytest.raises(ModelLoadError, match="too large for the free memory"):
            engine.load(LoadParams(path=str(smollm2_path), n_ctx=4096, use_mmap=True))
        info = engine.load(
            LoadParams(path=str(smollm2_path), n_ctx=4096, use_mmap=True, kv_cache_type="q4_0")
        )
        assert info.kv_cache_type == "q4_0"
    finally:
        engine.shutdown()
