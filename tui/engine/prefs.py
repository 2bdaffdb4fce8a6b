"""Engine choices Burrow learned at run time, remembered per model file.

Today there is one: "CPU extra buffer types crash with this file on this machine" (llama.cpp
built with native flags segfaults at the first decode on some x86 CPUs with AMX). The file is
``paths.engine_prefs_file()`` (0600), so the next start does not crash first.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tui import paths


def _key(model_path: str | Path) -> str:
    return str(Path(model_path).expanduser().resolve())


def load() -> dict[str, Any]:
    """The whole preferences document (``{"models": {path: {...}}}``); empty if unreadable."""
    try:
        data = json.loads(paths.engine_prefs_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"models": {}}
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        return {"models": {}}
    return data


def _save(data: dict[str, Any]) -> None:
    paths.write_private_text(paths.engine_prefs_file(), json.dumps(data, indent=2) + "\n")


def model_prefs(model_path: str | Path) -> dict[str, Any]:
    entry = load()["models"].get(_key(model_path))
    return entry if isinstance(entry, dict) else {}


def extra_bufts_disabled(model_path: str | Path) -> bool:
    """True when Burrow remembered that extra buffer types crash with this file."""
    return model_prefs(model_path).get("extra_bufts") is False


def remember_extra_bufts_off(model_path: str | Path, reason: str) -> None:
    data = load()
    entry = dict(data["models"].get(_key(model_path)) or {})
    entry.update(
        {
            "extra_bufts": False,
            "reason": reason,
            "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
    )
    data["models"][_key(model_path)] = entry
    _save(data)


def forget(model_path: str | Path) -> None:
    data = load()
    if data["models"].pop(_key(model_path), None) is not None:
        _save(data)


# -- models the user chose on this device ---------------------------------------------------

_CHOSEN_KEPT = 100


def remember_chosen(model_path: str | Path) -> None:
    """The user loaded this model here (the picker, ``--model``, the configured default or
    the bundled one). Only such models are loaded again at start without being named: a
    conversation's ``model_path`` may come from an imported file, which could name any GGUF
    on the device for llama.cpp to parse."""
    data = load()
    key = _key(model_path)
    kept = data.get("chosen")
    earlier = [p for p in kept if isinstance(p, str) and p != key] if isinstance(kept, list) else []
    data["chosen"] = [key, *earlier][:_CHOSEN_KEPT]
    _save(data)


def was_chosen(model_path: str | Path) -> bool:
    """Whether :func:`remember_chosen` recorded this file (symlinks resolved)."""
    kept = load().get("chosen")
    return isinstance(kept, list) and _key(model_path) in kept


# -- thread counts measured by ``burrow bench --tune`` ---------------------------------------


def tuned_threads(model_path: str | Path, device: str | None = None) -> tuple[int, int] | None:
    """(generation, prompt) threads ``burrow bench --tune`` found fastest for this model on
    this device, or None when it was never tuned here."""
    from tui.engine import cpu

    tuned = model_prefs(model_path).get("tuned_threads")
    if not isinstance(tuned, dict):
        return None
    entry = tuned.get(device or cpu.device_id())
    if not isinstance(entry, dict):
        return None
    gen, batch = entry.get("n_threads"), entry.get("n_threads_batch")
    if not (isinstance(gen, int) and isinstance(batch, int) and gen > 0 and batch > 0):
        return None
    return gen, batch


def remember_tuned_threads(
    model_path: str | Path, n_threads: int, n_threads_batch: int, device: str | None = None
) -> None:
    from tui.engine import cpu

    data = load()
    entry = dict(data["models"].get(_key(model_path)) or {})
    tuned = entry.get("tuned_threads")
    tuned = dict(tuned) if isinstance(tuned, dict) else {}
    tuned[device or cpu.device_id()] = {
        "n_threads": n_threads,
        "n_threads_batch": n_threads_batch,
        "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    entry["tuned_threads"] = tuned
    data["models"][_key(model_path)] = entry
    _save(data)
