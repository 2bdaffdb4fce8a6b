"""Every path Burrow reads or writes, decided in one place.

Nothing else in the code base builds a path by hand. ``BURROW_HOME`` (tests, portable
installs) puts everything under one folder; otherwise platformdirs picks the usual places
(on Termux that is ``~/.config/burrow`` and ``~/.local/share/burrow``).

Every directory Burrow creates is made 0700, and every file it writes should be 0600
(use :func:`private_file` / :func:`write_private_text`): what is stored is the user's.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

APP_NAME = "burrow"
PACKAGE_DIR = Path(__file__).resolve().parent


def burrow_home() -> Path | None:
    """The folder named by ``BURROW_HOME``, or None when it is not set."""
    value = os.environ.get("BURROW_HOME", "").strip()
    return Path(value).expanduser().resolve() if value else None


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) with mode 0700 and return it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(OSError):  # a folder on shared storage may refuse chmod
        os.chmod(path, 0o700)
    return path


def _base(kind: str) -> Path:
    home = burrow_home()
    if home is not None:
        return home / kind
    import platformdirs  # imported lazily: start-up time matters on a phone

    getter = {
        "config": platformdirs.user_config_dir,
        "data": platformdirs.user_data_dir,
        "cache": platformdirs.user_cache_dir,
    }[kind]
    return Path(getter(APP_NAME, appauthor=False))


def config_dir() -> Path:
    """Settings, user templates, presets and themes."""
    return ensure_private_dir(_base("config"))


def data_dir() -> Path:
    """History database, saved model states, models folder, engine preferences."""
    return ensure_private_dir(_base("data"))


def cache_dir() -> Path:
    """Things that can be thrown away at any time."""
    return ensure_private_dir(_base("cache"))


def config_file() -> Path:
    return config_dir() / "config.toml"


def user_templates_dir() -> Path:
    return ensure_private_dir(config_dir() / "templates")


def user_presets_dir() -> Path:
    return ensure_private_dir(config_dir() / "presets")


def user_themes_dir() -> Path:
    return ensure_private_dir(config_dir() / "themes")


def models_dir() -> Path:
    """Burrow's own models folder: drop a ``.gguf`` file here."""
    return ensure_private_dir(data_dir() / "models")


def database_path() -> Path:
    return data_dir() / "history.sqlite3"


def engine_prefs_file() -> Path:
    """Per-model-file engine choices learned at run time (e.g. extra buffer types off)."""
    return data_dir() / "engine.json"


def states_dir() -> Path:
    """Saved KV-cache states of conversations (same privacy as the history)."""
    return ensure_private_dir(data_dir() / "states")


def bench_dir() -> Path:
    """Saved benchmark results."""
    return ensure_private_dir(data_dir() / "bench")


def exports_dir() -> Path:
    """Default export folder when the user names none."""
    return ensure_private_dir(data_dir() / "exports")


def log_dir() -> Path:
    """Engine stderr (llama.cpp's own output) goes here, never to the screen."""
    return ensure_private_dir(cache_dir() / "logs")


def _data_root(name: str) -> Path:
    # Installed wheel: the data files live in tui/_data/<name> (hatch force-include).
    # Source checkout: they live at the repository's top level.
    shipped = PACKAGE_DIR / "_data" / name
    if shipped.is_dir():
        return shipped
    return PACKAGE_DIR.parent / name


def builtin_prompts_dir() -> Path:
    """Built-in prompt templates (``templates/``) and presets (``presets/``)."""
    return _data_root("prompts")


def builtin_themes_dir() -> Path:
    return _data_root("themes")


def home_models_dir() -> Path:
    """``~/models``: a folder users often keep GGUF files in."""
    return Path.home() / "models"


def hf_hub_cache_dir() -> Path:
    """The Hugging Face hub cache, read only (never downloaded into by Burrow)."""
    explicit = os.environ.get("HF_HUB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    hf_home = os.environ.get("HF_HOME")
    if hf_home:
        return Path(hf_home).expanduser() / "hub"
    return Path.home() / ".cache" / "huggingface" / "hub"


def private_file(path: Path) -> Path:
    """Make an existing file readable by the user only."""
    with contextlib.suppress(OSError):
        os.chmod(path, 0o600)
    return path


def write_private_text(path: Path, text: str, *, private_dir: bool = True) -> Path:
    """Write ``text`` atomically to ``path`` with mode 0600. With ``private_dir`` the folder
    is created 0700 too; without, an existing folder's mode is left alone."""
    if private_dir:
        ensure_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return private_file(path)
