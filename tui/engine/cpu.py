"""What this CPU means for llama.cpp: how many cores are fast, and which weight types llama.cpp
rearranges ("repacks") into interleaved layouts for it.

Both are read from the kernel (``/proc/cpuinfo``, ``/sys/devices/system/cpu``), never from
llama.cpp itself, so the app can estimate memory without loading the library. The repack
rules follow ggml-cpu's ``ggml_repack_get_optimal_repack_type`` and its AMX buffer type; a
build made on the device (as ``pip install`` on Termux does) has exactly the CPU's features.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
SYSFS_CPU = Path("/sys/devices/system/cpu")

_X86_AVX2 = frozenset({"Q4_0", "Q4_K", "IQ4_NL", "MXFP4"})
_X86_AVX512 = frozenset({"Q2_K"})
# The AMX buffer type takes these first and converts them into its own tile layout.
_X86_AMX = frozenset({"Q4_0", "Q4_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K", "IQ4_XS"})
_ARM_I8MM = frozenset({"Q4_0", "Q4_K", "Q5_K", "Q6_K", "Q8_0"})
_ARM_DOTPROD = frozenset({"Q4_0", "Q4_K", "Q5_K", "Q6_K", "Q8_0", "IQ4_NL", "MXFP4"})


def cpu_flags(path: Path = CPUINFO) -> frozenset[str]:
    """The feature flags of the CPU (x86 ``flags``, ARM ``Features``); empty if unknown."""
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError:
        return frozenset()
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            flags.update(value.split())
    return frozenset(flags)


def repacked_types(flags: frozenset[str] | None = None) -> frozenset[str]:
    """ggml weight types (``"Q4_0"``...) llama.cpp copies into a repacked buffer here.

    With the file memory-mapped, the original pages of such weights are read once to build
    the copy and stay resident: those weights cost twice their size.
    """
    flags = cpu_flags() if flags is None else flags
    types: set[str] = set()
    if "avx2" in flags:
        types |= _X86_AVX2
    if "avx512f" in flags:
        types |= _X86_AVX512
    if "amx_int8" in flags and "avx512_vnni" in flags:
        types |= _X86_AMX
    if "i8mm" in flags:
        types |= _ARM_I8MM
    if "asimddp" in flags:
        types |= _ARM_DOTPROD
    return frozenset(types)


def performance_cores(sysfs: Path = SYSFS_CPU) -> int:
    """Cores worth giving llama.cpp a thread: all but the slowest cluster on a big.LITTLE
    phone (a thread on a little core holds the others back at every step), else all cores.

    The clusters are told apart by ``cpufreq/cpuinfo_max_freq``; without it, every core the
    process may run on counts.
    """
    allowed = _allowed_cores()
    freqs: dict[int, int] = {}
    try:
        entries = list(sysfs.glob("cpu[0-9]*"))
    except OSError:
        entries = []
    for entry in entries:
        try:
            number = int(entry.name[3:])
            value = int((entry / "cpufreq" / "cpuinfo_max_freq").read_text().strip())
        except (OSError, ValueError):
            continue
        if allowed is None or number in allowed:
            freqs[number] = value
    if not freqs:
        return len(allowed) if allowed else (os.cpu_count() or 1)
    slowest = min(freqs.values())
    fast = [n for n, f in freqs.items() if f > slowest]
    return len(fast) if fast else len(freqs)


def _allowed_cores() -> set[int] | None:
    getter = getattr(os, "sched_getaffinity", None)
    if getter is None:
        return None
    try:
        return set(getter(0))
    except OSError:
        return None


def device_id(path: Path = CPUINFO) -> str:
    """A short name for this device's CPU (model and core count), for per-device choices."""
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError:
        text = ""
    names = sorted(
        {
            value.strip()
            for key, _, value in (line.partition(":") for line in text.splitlines())
            if key.strip().lower() in ("model name", "hardware", "cpu part", "cpu implementer")
        }
    )
    digest = hashlib.sha256("|".join(names).encode()).hexdigest()[:12]
    return f"{os.cpu_count() or 1}cpu-{digest}"
