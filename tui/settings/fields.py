"""The settings themselves: each field of :class:`Settings` with its default, group, range
and help text (the text the settings sheet and ``burrow config show --help-text`` print),
all written once, in the field's declaration.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any

SEED_MAX = 2**31 - 1
_TRI_STATE: dict[str, bool | None] = {"auto": None, "on": True, "off": False}

LEGACY_VALUES: dict[str, dict[Any, str]] = {
    # use_mmap was true/false before it had "auto": those files and stored conversations
    # still load, as the forced choice they meant.
    "use_mmap": {True: "on", False: "off", "true": "on", "false": "off"},
}
"""Old values still accepted for a setting, mapped to today's."""


def _setting(
    default: Any,
    group: str,
    help: str,
    *,
    min: float | None = None,
    max: float | None = None,
    choices: tuple[Any, ...] | None = None,
    per_model: bool = True,
) -> Any:
    """A field of :class:`Settings`; ``per_model``: may be set in a ``[models."..."]`` table."""
    metadata = {
        "group": group,
        "help": help,
        "min": min,
        "max": max,
        "choices": choices,
        "per_model": per_model,
    }
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Settings:
    """Every user setting. Immutable: make a changed copy with :meth:`replace`."""

    # ---- sampling
    temperature: float = _setting(
        0.7,
        "sampling",
        "Randomness of the answer. 0 always picks the most likely word; 0.7 is a good start; above "
        "1.2 small models ramble.",
        min=0.0,
        max=5.0,
    )
    top_k: int = _setting(
        40,
        "sampling",
        "Choose only among the K most likely next tokens (0 = no limit).",
        min=0,
        max=1000,
    )
    top_p: float = _setting(
        0.95,
        "sampling",
        "Nucleus sampling: choose among the most likely tokens that together reach this "
        "probability (1 = off).",
        min=0.0,
        max=1.0,
    )
    min_p: float = _setting(
        0.05,
        "sampling",
        "Drop tokens less likely than this fraction of the most likely one (0 = off).",
        min=0.0,
        max=1.0,
    )
    typical_p: float = _setting(
        1.0,
        "sampling",
        "Locally typical sampling (1 = off).",
        min=0.0,
        max=1.0,
    )
    repeat_penalty: float = _setting(
        1.1,
        "sampling",
        "Penalise tokens used recently (1 = off; 1.1 curbs the loops small models fall into).",
        min=0.0,
        max=5.0,
    )
    repeat_last_n: int = _setting(
        64,
        "sampling",
        "How many recent tokens the repeat penalty looks at (0 = off).",
        min=0,
        max=4096,
    )
    presence_penalty: float = _setting(
        0.0,
        "sampling",
        "Penalise any token already present in the text (0 = off).",
        min=-2.0,
        max=2.0,
    )
    frequency_penalty: float = _setting(
        0.0,
        "sampling",
        "Penalise tokens by how often they appeared (0 = off).",
        min=-2.0,
        max=2.0,
    )
    mirostat_mode: int = _setting(
        0,
        "sampling",
        "Mirostat adaptive sampling: 0 = off, 1 = Mirostat, 2 = Mirostat 2.0 (replaces "
        "top-k/top-p).",
        choices=(0, 1, 2),
    )
    mirostat_tau: float = _setting(
        5.0,
        "sampling",
        "Mirostat target surprise: lower is more focused.",
        min=0.0,
        max=10.0,
    )
    mirostat_eta: float = _setting(0.1, "sampling", "Mirostat learning rate.", min=0.0, max=1.0)
    seed_mode: str = _setting(
        "random",
        "sampling",
        "random: a new seed for every answer, so regenerate gives a different answer. fixed: "
        "always use the seed below, so the same prompt gives the same answer.",
        choices=("random", "fixed"),
    )
    seed: int = _setting(
        42,
        "sampling",
        "The seed used when the seed mode is fixed.",
        min=0,
        max=SEED_MAX,
    )
    max_tokens: int = _setting(
        512,
        "sampling",
        "Longest answer, in tokens. This much room is kept free in the context window.",
        min=1,
        max=32768,
    )
    stop: tuple[str, ...] = _setting(
        (),
        "sampling",
        "Extra stop strings, added to the ones the prompt template defines.",
    )
    thinking: str = _setting(
        "auto",
        "sampling",
        "For models whose chat template has a thinking switch (enable_thinking): on lets the "
        "model think before it answers, off asks for the answer at once, auto keeps the "
        "template's own default.",
        choices=("auto", "on", "off"),
    )

    # ---- runtime (used when a model is loaded)
    n_ctx: int = _setting(
        0,
        "runtime",
        "Context size in tokens: how much of the conversation the model sees. More needs more "
        "memory. 0 = automatic: the model's trained context, at most 4096, less when free "
        "memory is short.",
        min=0,
        max=131072,
    )
    n_threads: int = _setting(
        0,
        "runtime",
        "CPU threads for generation (0 = automatic: the fastest count `burrow bench --tune` "
        "found for this model, else one per performance core).",
        min=0,
        max=64,
    )
    n_batch: int = _setting(
        256,
        "runtime",
        "Tokens processed per step while reading the prompt.",
        min=8,
        max=4096,
    )
    kv_cache_type: str = _setting(
        "f16",
        "runtime",
        "How the context cache stores what the model has read: f16 is exact; q8_0 needs about "
        "half the memory with hardly any change to answers; q4_0 about a quarter, and answers "
        "can change. A quantized cache needs flash attention (auto turns it on) and a model "
        "whose head size is a multiple of 32 (most are; OpenLLaMA-3B's is 100).",
        choices=("f16", "q8_0", "q4_0"),
    )
    flash_attn: str = _setting(
        "auto",
        "runtime",
        "Flash attention: a leaner way to compute attention. auto = on when the context cache "
        "is quantized (which needs it), off otherwise; on or off forces it.",
        choices=("auto", "on", "off"),
    )
    use_mmap: str = _setting(
        "auto",
        "runtime",
        "Map the model file into memory instead of reading it. auto maps it unless llama.cpp "
        "rearranges (repacks) the weights for this CPU, which would keep the file's pages in "
        "memory beside the rearranged copy. off helps phones that crash mapping models of 4 GB "
        "or more.",
        choices=("auto", "on", "off"),
    )
    use_mlock: bool = _setting(
        False,
        "runtime",
        "Lock the model in RAM so Android cannot swap it out (may fail without permission).",
    )

    # ---- chat
    default_template: str = _setting(
        "auto",
        "chat",
        "Prompt format for new conversations; auto uses the one inside the model file.",
    )
    default_preset: str = _setting(
        "assistant",
        "chat",
        "System prompt preset for new conversations.",
    )
    context_policy: str = _setting(
        "trim",
        "chat",
        "When the conversation outgrows the context: trim leaves out the oldest turns (the system "
        "prompt and latest question stay); stop asks you to start a new conversation or raise the "
        "context size.",
        choices=("trim", "stop"),
    )

    # ---- app
    theme: str = _setting("textual-dark", "app", "Colour theme of the app.", per_model=False)
    default_model: str = _setting(
        "",
        "app",
        "Model to load at start: a file path or catalog name (empty = the bundled model).",
        per_model=False,
    )
    model_dirs: tuple[str, ...] = _setting(
        (),
        "app",
        "Extra folders searched for .gguf files.",
        per_model=False,
    )
    reopen_last: bool = _setting(
        True,
        "app",
        "At start, reopen the conversation used last, scrolled to its end (off = a new chat; "
        "--incognito always starts a new, unsaved chat).",
        per_model=False,
    )
    auto_lock_minutes: float = _setting(
        5.0,
        "app",
        "Locked history only: after this many idle minutes the screen locks and the key is "
        "dropped; an answer being written is saved first (0 = never).",
        min=0.0,
        max=1440.0,
        per_model=False,
    )

    # ---- engines
    engine: str = _setting(
        "auto",
        "engines",
        "Which engine answers: embedded (llama.cpp inside Burrow), local (llama-server started "
        "by Burrow, no network), remote (the server_url below); auto = embedded when installed, "
        "else local.",
        choices=("auto", "embedded", "local", "remote"),
        per_model=False,
    )
    llama_server: str = _setting(
        "",
        "engines",
        "The llama-server binary for the local engine (empty = found on PATH).",
        per_model=False,
    )
    server_url: str = _setting(
        "",
        "engines",
        "A llama-server of your own for the remote engine: https://HOST[:PORT], or http:// on "
        "this device.",
        per_model=False,
    )
    server_api_key: str = _setting(
        "",
        "engines",
        "API key the remote server asks for (llama-server --api-key), if any.",
        per_model=False,
    )
    allow_plain_http: bool = _setting(
        False,
        "engines",
        "Allow http:// (unencrypted) to a server on your own network, not only on this device.",
        per_model=False,
    )

    def replace(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    def sampling(self) -> dict[str, Any]:
        """Keyword arguments for ``tui.engine.protocol.SamplingParams``."""
        return {
            "temperature": self.temperature,
            "top_k": self.top_k,
            "top_p": self.top_p,
            "min_p": self.min_p,
            "typical_p": self.typical_p,
            "repeat_penalty": self.repeat_penalty,
            "repeat_last_n": self.repeat_last_n,
            "presence_penalty": self.presence_penalty,
            "frequency_penalty": self.frequency_penalty,
            "mirostat_mode": self.mirostat_mode,
            "mirostat_tau": self.mirostat_tau,
            "mirostat_eta": self.mirostat_eta,
            "seed": self.seed if self.seed_mode == "fixed" else None,
            "max_tokens": self.max_tokens,
            "stop": tuple(self.stop),
        }

    def load_params(self) -> dict[str, Any]:
        """Keyword arguments for ``tui.engine.protocol.LoadParams`` (without ``path``).

        ``n_threads``, ``use_mmap`` and ``flash_attn`` are None when the engine should choose.
        """
        return {
            "n_ctx": self.n_ctx,
            "n_threads": self.n_threads or None,
            "n_batch": self.n_batch,
            "use_mmap": _TRI_STATE[self.use_mmap],
            "use_mlock": self.use_mlock,
            "kv_cache_type": self.kv_cache_type,
            "flash_attn": _TRI_STATE[self.flash_attn],
        }

    def memory_choices(self) -> dict[str, Any]:
        """The settings that change a model's memory need, as keyword arguments for
        ``tui.engine.memory.ModelShape.estimate`` (and ``CatalogEntry.ram_estimate``)."""
        return {
            "kv_type": self.kv_cache_type,
            "use_mmap": _TRI_STATE[self.use_mmap],
            "flash_attn": _TRI_STATE[self.flash_attn],
        }

    def to_dict(self, *, only_changed: bool = False) -> dict[str, Any]:
        """Plain TOML/JSON-able values (tuples become lists)."""
        result: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if only_changed and value == f.default:
                continue
            result[f.name] = list(value) if isinstance(value, tuple) else value
        return result

    def diff(self, base: Settings) -> dict[str, Any]:
        """Values that differ from ``base`` (what a conversation stores as its own)."""
        mine, theirs = self.to_dict(), base.to_dict()
        return {k: v for k, v in mine.items() if theirs[k] != v}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base: Settings | None = None) -> Settings:
        """``base`` (default: defaults) with the valid values of ``data``; bad ones ignored."""
        # Checking values needs the table of fields this module defines: import it late.
        from tui.settings.checks import apply_layer

        settings, _ = apply_layer(base or cls(), data, source=None)
        return settings


@dataclass(frozen=True)
class SettingSpec:
    """What the settings sheet needs about one field: type, default, range and help."""

    name: str
    type: str
    """``float``, ``int``, ``bool``, ``str`` or ``list`` (a list of strings)."""
    default: Any
    group: str
    """``sampling``, ``runtime``, ``chat`` or ``app``."""
    help: str
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] | None = None
    per_model: bool = True
    """May be overridden per model (``[models."file.gguf"]``)."""

    def describe_range(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(format_value(c) for c in self.choices)
        if self.type == "bool":
            return "true or false"
        if self.type == "list":
            return "a list of strings"
        if self.type == "str":
            return "a string"
        kind = "an integer" if self.type == "int" else "a number"
        if self.min is not None and self.max is not None:
            return f"{kind} from {format_value(self.min)} to {format_value(self.max)}"
        return kind


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return f"{value:.1f}"
    return str(value)


@functools.cache
def setting_specs() -> dict[str, SettingSpec]:
    """Every setting in declaration order, with its range and help text."""
    specs: dict[str, SettingSpec] = {}
    hints = {"float": "float", "int": "int", "bool": "bool", "str": "str"}
    for f in fields(Settings):
        annotation = str(f.type)
        kind = "list" if annotation.startswith("tuple") else hints.get(annotation, "str")
        default = f.default if f.default is not MISSING else None
        specs[f.name] = SettingSpec(
            name=f.name,
            type=kind,
            default=default,
            group=f.metadata["group"],
            help=f.metadata["help"],
            min=f.metadata["min"],
            max=f.metadata["max"],
            choices=f.metadata["choices"],
            per_model=f.metadata["per_model"],
        )
    return specs
