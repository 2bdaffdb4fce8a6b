"""Test doubles.

``ScriptedEngine`` is a TEST DOUBLE of :class:`tui.engine.client.EngineClient`: same public
API, no llama.cpp, no child process. It "generates" fixed, scripted answers with fixed
stats, so snapshot pictures of the screen are identical on every run. Tests of behaviour
use the real engine and the bundled model; only the pictures use this double.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.engine.protocol import (
    Failed,
    Finished,
    GenerationEvent,
    GenerationStats,
    LoadParams,
    ModelInfo,
    Prompt,
    SamplingParams,
    TextChunk,
)

if TYPE_CHECKING:
    from tui.chat.events import Engine
    from tui.chat.resume import StateEngine

#: First word of the state files the double writes (the real engine's are llama.cpp's).
STATE_MAGIC = "burrow-scripted-state"

DEFAULT_ANSWER = (
    "The sky looks blue because air scatters **short wavelengths** of sunlight more than "
    "long ones (Rayleigh scattering).\n\n"
    "- Blue light is scattered about 5 times more than red.\n"
    "- At sunset the light crosses more air, so reds remain.\n\n"
    "```python\nprint('blue')\n```\n"
)


class ScriptedEngine:
    """Answers from a script (or ``DEFAULT_ANSWER``), word by word, with fixed stats."""

    def __init__(
        self,
        answers: Sequence[str] = (),
        *,
        delay: float = 0.0,
        model_name: str = "SmolLM2 135M Instruct",
        n_ctx: int = 2048,
    ) -> None:
        self._answers = list(answers)
        self.delay = delay
        self.model_name = model_name
        self.n_ctx = n_ctx
        self.prompts: list[Prompt] = []
        self._cancel = threading.Event()
        self._params: LoadParams | None = None
        self._info: ModelInfo | None = None
        self.last_crash: Any = None
        self.cached_tokens = 0
        """Tokens of the last prompt and answer (what the engine's KV cache would hold)."""
        self.fallbacks: list[str] = []

    # state ----------------------------------------------------------------------

    @property
    def model(self) -> ModelInfo | None:
        return self._info

    @property
    def load_params(self) -> LoadParams | None:
        return self._params

    @property
    def worker_pid(self) -> int | None:
        return None

    @property
    def log_path(self) -> Path:
        return Path("/dev/null")

    def start(self) -> int:
        return 0

    def load(self, params: LoadParams) -> ModelInfo:
        self._params = params
        self._info = ModelInfo(
            path=params.path,
            file_size=98_000_000,
            load_seconds=0.1,
            n_ctx=params.n_ctx or self.n_ctx,  # 0 = automatic: the engine picks; here n_ctx
            n_ctx_train=8192,
            architecture="llama",
            name=self.model_name,
            parameter_count=134_515_008,
            size_label="135M",
            quantization="Q4_1",
            has_chat_template=False,
            n_vocab=49152,
            bos_token="<|im_start|>",
            eos_token="<|im_end|>",
        )
        return self._info

    async def aload(self, params: LoadParams) -> ModelInfo:
        return self.load(params)

    def unload(self) -> None:
        self._params = None
        self._info = None

    def restart(self) -> ModelInfo | None:
        return self._info

    def shutdown(self) -> None:
        self._info = None
        self._params = None

    # tokens: one per whitespace-separated word, so counts are stable -------------

    def tokenize(self, text: str, *, special: bool = False, add_bos: bool = False) -> list[int]:
        return list(range(len(text.split()) + (1 if add_bos else 0)))

    def count_tokens(self, prompt: Prompt, *, add_bos: bool = False) -> int:
        text = prompt if isinstance(prompt, str) else "".join(t for t, _ in prompt)
        return len(text.split()) + (1 if add_bos else 0)

    def detokenize(self, tokens: list[int]) -> str:
        return " ".join("tok" for _ in tokens)

    async def atokenize(
        self, text: str, *, special: bool = False, add_bos: bool = False
    ) -> list[int]:
        return self.tokenize(text, special=special, add_bos=add_bos)

    async def acount_tokens(self, prompt: Prompt, *, add_bos: bool = False) -> int:
        return self.count_tokens(prompt, add_bos=add_bos)

    def save_state(self, path: str | Path) -> int:
        """Write the tokens the double holds (its last prompt and answer) to a small file,
        as the engine writes its KV cache, so the session's save path really runs."""
        target = Path(path).expanduser()
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        target.write_text(f"{STATE_MAGIC} {self.cached_tokens}\n", encoding="utf-8")
        return self.cached_tokens

    def load_state(self, path: str | Path) -> int:
        """Read back a file :meth:`save_state` wrote; refuse anything else, as llama.cpp does."""
        target = Path(path).expanduser()
        if not target.is_file():
            raise ValueError(f"{target}: no such state file")
        magic, _, count = target.read_text(encoding="utf-8").partition(" ")
        if magic != STATE_MAGIC or not count.strip().isdigit():
            raise ValueError(f"{target}: not a state the scripted engine wrote")
        self.cached_tokens = int(count)
        return self.cached_tokens

    def system_info(self) -> dict[str, Any]:
        return {"engine": "scripted test double"}

    # generation -----------------------------------------------------------------

    def cancel(self) -> None:
        self._cancel.set()

    def _next_answer(self) -> str:
        return self._answers.pop(0) if self._answers else DEFAULT_ANSWER

    def _stats(self, prompt: Prompt, tokens: int, reason: str) -> GenerationStats:
        n_prompt = self.count_tokens(prompt)
        return GenerationStats(
            prompt_tokens=n_prompt,
            prompt_tokens_evaluated=n_prompt,
            completion_tokens=tokens,
            prompt_seconds=0.05,
            prompt_tps=1000.0,
            ttft_seconds=0.05,
            generation_seconds=tokens / 42.0,
            generation_tps=42.0,
            stop_reason=reason,  # type: ignore[arg-type]
        )

    def generate(
        self,
        prompt: Prompt,
        params: SamplingParams | None = None,
        *,
        add_bos: bool = True,
        send_every: float = 0.0,  # the double sends piece by piece
    ) -> Iterator[GenerationEvent]:
        if self._info is None:
            yield Failed("no model loaded", "no_model")
            return
        self.prompts.append(prompt)
        self._cancel.clear()
        answer = self._next_answer()
        limit = params.max_tokens if params is not None and params.max_tokens else None
        pieces = [w + " " for w in answer.split(" ")]
        pieces[-1] = pieces[-1][:-1]
        out: list[str] = []
        reason = "eos"
        for piece in pieces:
            if self._cancel.is_set():
                reason = "cancelled"
                break
            if limit is not None and len(out) >= limit:
                reason = "length"
                break
            out.append(piece)
            yield TextChunk(piece)
            if self.delay:
                self._cancel.wait(self.delay)
        self.cached_tokens = self.count_tokens(prompt, add_bos=add_bos) + len(out)
        yield Finished("".join(out), self._stats(prompt, len(out), reason))

    async def agenerate(
        self,
        prompt: Prompt,
        params: SamplingParams | None = None,
        *,
        add_bos: bool = True,
        interval: float | Callable[[], float] = 0.0,  # the double delivers piece by piece
    ) -> AsyncIterator[GenerationEvent]:
        stream = self.generate(prompt, params, add_bos=add_bos)
        for event in stream:
            yield event
            # Give the UI a turn between words, as the real worker's pipe does.
            await asyncio.sleep(self.delay if self.delay else 0)


if TYPE_CHECKING:
    # mypy checks the double against what the session and the state cache need of the
    # real engine, so the two cannot drift apart unnoticed.
    _engine: Engine = ScriptedEngine()
    _state_engine: StateEngine = ScriptedEngine()
