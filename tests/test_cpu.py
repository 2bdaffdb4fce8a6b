"""What the CPU means for llama.cpp, read from fake ``/proc/cpuinfo`` and sysfs folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tui.engine import cpu

X86 = "processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse2 avx avx2 fma\n\n" * 2
ARM = (
    "processor\t: 0\nFeatures\t: fp asimd evtstrm aes crc32 atomics asimddp i8mm\n"
    "CPU implementer\t: 0x41\nCPU part\t: 0xd44\n\n"
)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="ascii")
    return path


def fake_sysfs(root: Path, freqs: list[int | None]) -> Path:
    for number, freq in enumerate(freqs):
        folder = root / f"cpu{number}"
        folder.mkdir(parents=True)
        if freq is not None:
            (folder / "cpufreq").mkdir()
            (folder / "cpufreq" / "cpuinfo_max_freq").write_text(f"{freq}\n")
    (root / "cpufreq").mkdir(exist_ok=True)  # not a cpuN folder: ignored
    return root


def test_flags_of_x86_and_arm(tmp_path: Path) -> None:
    assert {"avx2", "fma"} <= cpu.cpu_flags(write(tmp_path / "x86", X86))
    assert {"asimddp", "i8mm"} <= cpu.cpu_flags(write(tmp_path / "arm", ARM))
    assert cpu.cpu_flags(tmp_path / "missing") == frozenset()


def test_repacked_types_follow_the_features() -> None:
    avx2 = cpu.repacked_types(frozenset({"avx", "avx2"}))
    assert "Q4_0" in avx2 and "Q4_K" in avx2
    assert "Q5_0" not in avx2 and "Q8_0" not in avx2
    assert "Q8_0" in cpu.repacked_types(frozenset({"asimd", "asimddp", "i8mm"}))
    assert "Q8_0" in cpu.repacked_types(frozenset({"avx2", "amx_int8", "avx512_vnni"}))
    assert cpu.repacked_types(frozenset({"sse2"})) == frozenset()
    assert cpu.repacked_types(frozenset({"asimd"})) == frozenset()  # no dot product: none


def test_performance_cores_on_a_big_little_phone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cpu, "_allowed_cores", lambda: None)
    # Snapdragon 888: 4 little cores, 3 big, 1 prime.
    phone = fake_sysfs(tmp_path / "phone", [1_804_800] * 4 + [2_419_200] * 3 + [2_841_600])
    assert cpu.performance_cores(phone) == 4
    same = fake_sysfs(tmp_path / "same", [2_000_000] * 6)
    assert cpu.performance_cores(same) == 6
    # No cpufreq (a VM, a container): every core.
    bare = fake_sysfs(tmp_path / "bare", [None, None])
    assert cpu.performance_cores(bare) == (os.cpu_count() or 1)


def test_performance_cores_counts_only_cores_we_may_run_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    phone = fake_sysfs(tmp_path / "phone", [1_000_000] * 4 + [2_000_000] * 4)
    monkeypatch.setattr(cpu, "_allowed_cores", lambda: {0, 1, 2, 3, 4, 5})
    assert cpu.performance_cores(phone) == 2
    monkeypatch.setattr(cpu, "_allowed_cores", lambda: {0, 1, 2})
    assert cpu.performance_cores(fake_sysfs(tmp_path / "bare", [None] * 8)) == 3


def test_device_id_is_stable_and_names_the_cpu(tmp_path: Path) -> None:
    x86 = write(tmp_path / "x86", X86)
    assert cpu.device_id(x86) == cpu.device_id(x86)
    assert cpu.device_id(x86) != cpu.device_id(write(tmp_path / "arm", ARM))
    assert cpu.device_id(x86).startswith(f"{os.cpu_count() or 1}cpu-")
