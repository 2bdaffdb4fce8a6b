"""Turn after turn: time to first token over a 12-turn conversation, and after trimming starts.

    python bench/turns.py                       # 12 turns, then the trimming run
    python bench/turns.py --turns 4 --json      # quick look

Part 1 (prefix reuse): one conversation, ``--turns`` same-length questions, greedy answers of
up to ``--answer-tokens``. For every turn it reports TTFT (from ``ask`` to the first text,
as the caller sees it), the prompt's tokens and how many of them were evaluated; the
baseline is the raw llama-cpp-python loop evaluating the same full prompt from an empty
cache, measured right after each turn. Reported: last-turn TTFT ÷ first-turn TTFT (close to
1 means TTFT does not grow), and each turn's TTFT ÷ the raw cold TTFT.

Part 2 (trimming): a small context (``--n-ctx``) so the context policy starts leaving
out old turns; it reports TTFT and evaluated tokens of the first answer after trimming
starts and of the turns after it. With ``--compare-shift`` it runs twice, with the context
shift (old turns cut from the KV cache in place) and without it (``BURROW_ENGINE_NO_SHIFT``,
the kept turns decoded again), one after the other in the same run, and reports the ratio
and whether the first trimmed answer is the same text both ways.

    python bench/turns.py --model /tmp/orca3b.gguf --no-reuse --n-ctx 512 --compare-shift
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from _common import emit, median, model_path, private_home, progress

TOPICS = (
    "apples",
    "rivers",
    "clouds",
    "violins",
    "bridges",
    "owls",
    "deserts",
    "trains",
    "coffee",
    "glaciers",
    "kites",
    "lanterns",
    "tigers",
    "maps",
    "bees",
    "castles",
    "comets",
    "gardens",
    "ships",
    "forests",
)


NOTES = (
    "I read that {topic} appear in old stories from many places, that people have drawn "
    "them for centuries, and that a few books argue about where the word first came from. "
)


def question(i: int, notes: int = 0) -> str:
    """The i-th question; ``notes`` sentences of the user's notes before it make long turns
    (a trim at a large context is reached by prompt tokens, cheap, not by generated ones)."""
    topic = TOPICS[i % len(TOPICS)]
    pasted = NOTES.format(topic=topic) * notes
    return f"{pasted}In two sentences, what is interesting about {topic}?"


async def timed_answer(session: Any, text: str) -> dict[str, Any]:
    from tui.chat.events import AnswerChunk, AnswerFailed, AnswerFinished

    started = time.perf_counter()
    first: float | None = None
    result: dict[str, Any] = {}
    async for event in session.ask(text):
        if isinstance(event, AnswerChunk) and first is None:
            first = time.perf_counter()
        elif isinstance(event, AnswerFinished):
            stats = event.stats
            result = {
                "ttft_seconds": (first - started) if first else stats.ttft_seconds,
                "worker_ttft_seconds": stats.ttft_seconds,
                "prompt_tokens": stats.prompt_tokens,
                "prompt_tokens_evaluated": stats.prompt_tokens_evaluated,
                "completion_tokens": stats.completion_tokens,
                "shifted_tokens": stats.shifted_tokens,
                "text": event.text,
                "dropped_messages": session.last_context.dropped_messages
                if session.last_context
                else 0,
            }
        elif isinstance(event, AnswerFailed):
            raise RuntimeError(event.message)
    return result


def new_session(
    model: str, n_ctx: int, answer_tokens: int, threads: int, shift: bool = True
) -> tuple[Any, Any]:
    from tui.chat.session import ChatSession
    from tui.engine.client import EngineClient
    from tui.engine.protocol import LoadParams
    from tui.engine.shift import OFF_ENV
    from tui.settings import Settings
    from tui.store import Store

    engine = EngineClient(env={} if shift else {OFF_ENV: "1"})
    engine.load(LoadParams(path=model, n_ctx=n_ctx, n_threads=threads))
    settings = Settings(
        temperature=0.0, seed_mode="fixed", seed=1, repeat_penalty=1.0, max_tokens=answer_tokens
    )
    return engine, ChatSession(engine, Store.open(), settings)


async def prefix_reuse(
    model: str, turns: int, answer_tokens: int, threads: int, baseline: bool
) -> dict[str, Any]:
    from tui.bench.baseline import RawBaseline

    engine, session = new_session(model, 2048, answer_tokens, threads)
    raw: RawBaseline | None = None
    rows: list[dict[str, Any]] = []
    try:
        await timed_answer(session, "Say hello.")  # warm-up (and the AMX fallback, if any)
        session.new_conversation()
        for i in range(turns):
            progress(f"turn {i + 1}/{turns}")
            row = await timed_answer(session, question(i))
            if baseline:
                if raw is None:
                    info = engine.model
                    raw = RawBaseline(
                        model, n_ctx=2048, n_threads=threads, extra_bufts=bool(info.extra_bufts)
                    )
                path = session.path()
                prompt = session.fit(path[:-1]).prompt.text
                cold = await asyncio.to_thread(raw.prompt, prompt)
                row["raw_cold_ttft_seconds"] = cold["ttft_seconds"]
                row["ttft_ratio_vs_raw_cold"] = row["ttft_seconds"] / cold["ttft_seconds"]
            rows.append(row)
    finally:
        if raw is not None:
            raw.close()
        engine.shutdown()
    first, last = rows[0], rows[-1]
    return {
        "turns": rows,
        "first_ttft_seconds": first["ttft_seconds"],
        "last_ttft_seconds": last["ttft_seconds"],
        "last_first_ttft_ratio": last["ttft_seconds"] / first["ttft_seconds"],
        "last_prompt_tokens": last["prompt_tokens"],
        "last_prompt_tokens_evaluated": last["prompt_tokens_evaluated"],
        "last_ttft_ratio_vs_raw_cold": last.get("ttft_ratio_vs_raw_cold"),
    }


async def trimming(
    model: str,
    n_ctx: int,
    answer_tokens: int,
    threads: int,
    after: int,
    notes: int = 0,
    shift: bool = True,
) -> dict[str, Any]:
    engine, session = new_session(model, n_ctx, answer_tokens, threads, shift)
    rows: list[dict[str, Any]] = []
    try:
        await timed_answer(session, "Say hello.")
        session.new_conversation()
        first_trim: int | None = None
        for i in range(60):
            progress(f"trimming run ({'shift' if shift else 'no shift'}), turn {i + 1}")
            row = await timed_answer(session, question(i, notes))
            rows.append(row)
            if row["dropped_messages"] and first_trim is None:
                first_trim = i
            if first_trim is not None and i >= first_trim + after:
                break
    finally:
        engine.shutdown()
    if first_trim is None:
        return {"n_ctx": n_ctx, "shift": shift, "turns": rows, "first_trimmed_turn": None}
    before = rows[first_trim - 1]
    at = rows[first_trim]
    later = rows[first_trim + 1 :]
    return {
        "n_ctx": n_ctx,
        "shift": shift,
        "notes": notes,
        "turns": rows,
        "first_trimmed_turn": first_trim + 1,
        "first_trimmed_shifted": at["shifted_tokens"],
        "first_trimmed_text": at["text"],
        "ttft_before_trim_seconds": before["ttft_seconds"],
        "ttft_first_trimmed_seconds": at["ttft_seconds"],
        "first_trimmed_ttft_ratio": at["ttft_seconds"] / before["ttft_seconds"],
        "first_trimmed_evaluated": at["prompt_tokens_evaluated"],
        "first_trimmed_prompt_tokens": at["prompt_tokens"],
        "later_median_ttft_seconds": median([r["ttft_seconds"] for r in later]),
        "later_median_evaluated": median([r["prompt_tokens_evaluated"] for r in later]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--turns", type=int, default=12)
    parser.add_argument("--answer-tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n-ctx", "--trim-ctx", dest="trim_ctx", type=int, default=512)
    parser.add_argument("--after-trim", type=int, default=3, help="turns after the first trim")
    parser.add_argument(
        "--notes",
        type=int,
        default=0,
        help="trimming: sentences of notes pasted before each question (~35 tokens each), "
        "so a large context fills in a few turns",
    )
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--no-trim", action="store_true")
    parser.add_argument("--no-reuse", action="store_true", help="skip part 1")
    parser.add_argument(
        "--compare-shift", action="store_true", help="trimming with and without the shift"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    model = model_path(args.model)
    trim_args = (
        model,
        args.trim_ctx,
        args.answer_tokens,
        args.threads,
        args.after_trim,
        args.notes,
    )
    with private_home():
        reuse = (
            None
            if args.no_reuse
            else asyncio.run(
                prefix_reuse(
                    model, args.turns, args.answer_tokens, args.threads, not args.no_baseline
                )
            )
        )
        trim = None if args.no_trim else asyncio.run(trimming(*trim_args))
        unshifted = (
            asyncio.run(trimming(*trim_args, shift=False))
            if args.compare_shift and not args.no_trim
            else None
        )
    result = {
        "benchmark": "turns",
        "model": model,
        "prefix_reuse": reuse,
        "trimming": trim,
        "trimming_without_shift": unshifted,
    }
    rows: list[tuple[str, str]] = []
    if reuse:
        rows += reuse_rows(reuse)
    for run in (trim, unshifted):
        if run and run.get("first_trimmed_turn"):
            rows += trim_rows(run)
    if (
        trim
        and unshifted
        and trim.get("first_trimmed_turn")
        and unshifted.get("first_trimmed_turn")
    ):
        ratio = trim["ttft_first_trimmed_seconds"] / unshifted["ttft_first_trimmed_seconds"]
        same = trim["first_trimmed_text"] == unshifted["first_trimmed_text"]
        result["shift_vs_no_shift_ttft_ratio"] = ratio
        result["first_trimmed_same_text"] = same
        rows += [
            ("first trimmed TTFT, shift ÷ no shift", f"{ratio:.3f}"),
            ("first trimmed answer same text both ways", str(same)),
        ]
    emit(result, rows, args.json)
    return 0


def reuse_rows(reuse: dict[str, Any]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = [("turn", "TTFT s · prompt tok · evaluated · vs raw cold")]
    for i, r in enumerate(reuse["turns"], 1):
        vs = r.get("ttft_ratio_vs_raw_cold")
        rows.append(
            (
                f"  {i}",
                f"{r['ttft_seconds']:.3f} · {r['prompt_tokens']} · "
                f"{r['prompt_tokens_evaluated']} · {'-' if vs is None else f'{vs:.2f}'}",
            )
        )
    rows.append(("last ÷ first TTFT", f"{reuse['last_first_ttft_ratio']:.3f}"))
    return rows


def trim_rows(trim: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (f"trimming ({'shift' if trim['shift'] else 'no shift'}): context", str(trim["n_ctx"])),
        ("  first trimmed turn", str(trim["first_trimmed_turn"])),
        (
            "  TTFT turn before / first trimmed",
            f"{trim['ttft_before_trim_seconds']:.3f} / {trim['ttft_first_trimmed_seconds']:.3f} s",
        ),
        ("  first trimmed ÷ before", f"{trim['first_trimmed_ttft_ratio']:.2f}"),
        (
            "  evaluated / prompt / cut by shift (first trimmed)",
            f"{trim['first_trimmed_evaluated']} / {trim['first_trimmed_prompt_tokens']} / "
            f"{trim['first_trimmed_shifted']}",
        ),
        (
            "  later turns: median TTFT, evaluated",
            f"{trim['later_median_ttft_seconds']:.3f} s, {trim['later_median_evaluated']:.0f}",
        ),
    ]


if __name__ == "__main__":
    raise SystemExit(main())
