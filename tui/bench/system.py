"""What a benchmark records about the device, and a process's memory read from ``/proc``."""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any


def peak_rss_bytes(pid: int | None = None) -> int | None:
    """``VmHWM`` (peak resident set) of a process from ``/proc``; None when unknown."""
    return _proc_status_kib("VmHWM", pid)


def rss_bytes(pid: int | None = None) -> int | None:
    return _proc_status_kib("VmRSS", pid)


def _proc_status_kib(field: str, pid: int | None) -> int | None:
    path = Path(f"/proc/{pid if pid is not None else 'self'}/status")
    try:
        for line in path.read_text(encoding="ascii", errors="replace").splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Hardware", "Processor") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@dataclass(frozen=True)
class DeviceInfo:
    """The device a result was measured on. Every field may be None in a result read back
    from a file another version wrote; the field order is the JSON key order."""

    cpu: str | None = None
    machine: str | None = None
    cores: int | None = None
    system: str | None = None
    python: str | None = None
    memory_total_bytes: int | None = None
    android: bool | None = None
    llama_cpp_python: str | None = None
    llama_cpp_system_info: str | None = None

    @classmethod
    def measure(cls, system_info: Mapping[str, Any]) -> DeviceInfo:
        """This device, with the engine worker's ``system_info()`` (llama.cpp's view)."""
        # Imported here: the raw loop's child process imports this module and needs no more.
        from tui.engine import memory

        return cls(
            cpu=cpu_name(),
            machine=platform.machine(),
            cores=os.cpu_count(),
            system=f"{platform.system()} {platform.release()}",
            python=platform.python_version(),
            memory_total_bytes=memory.total_bytes(),
            android="ANDROID_ROOT" in os.environ or "com.termux" in os.environ.get("PREFIX", ""),
            llama_cpp_python=system_info.get("llama_cpp_python"),
            llama_cpp_system_info=system_info.get("system_info"),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeviceInfo:
        return cls(**{f.name: data.get(f.name) for f in fields(cls)})
