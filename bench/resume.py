"""Instant resume: time to first token when reopening a ~1,500-token conversation, with and
without its saved model state.

    python bench/resume.py                    # ~1,500 tokens, 3 runs of each (interleaved)
    python bench/resume.py --tokens 400 --runs 1 --json     # quick look

A conversation of about ``--tokens`` tokens is written to a throwaway history. One answer
is generated in it and the app's "leave" (``ChatSession.close``) saves its state. Then,
``--runs`` times, interleaved and each on a freshly restarted engine worker (empty cache,
as after quitting the app):

- with state: open the conversation and ask a new question (an edit of the last question, so
  every run asks the same thing at the same place); the session restores the saved state
  first (the restore is inside the measured time) and evaluates only the new question;
- without state: the same, with instant resume off, so the whole prompt is evaluated.

TTFT is from the request to the first text as the caller sees it. Reported: both medians,
with ÷ without, the tokens evaluated, the state file's size and the restore time.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from _common import emit, median, model_path, private_home, progress

PARAGRAPH = (
    "The {topic} of the valley changed with every season. In spring the farmers walked the "
    "terraces, checked the stone walls and talked about the rain; in summer the children "
    "carried water from the river while the old mill turned slowly beside the bridge. "
)
TOPICS = ("orchards", "rivers", "markets", "festivals", "roads", "forests", "bridges", "songs")


def build_history(session: Any, target_tokens: int) -> int:
    """Write turns into a new conversation until its prompt has ~``target_tokens``."""
    store = session.store
    conversation = store.create_conversation(
        model_path=session.engine.model.path,
        template=session.template_name,
        system_prompt=session.system_prompt,
    )
    session.open_conversation(conversation.id)
    i = 0
    while True:
        topic = TOPICS[i % len(TOPICS)]
        store.add_message(conversation.id, "user", f"Tell me about the {topic} of the valley.")
        store.add_message(conversation.id, "assistant", PARAGRAPH.format(topic=topic) * 2)
        i += 1
        info = session.measure()
        if info is not None and info.tokens_used >= target_tokens:
            return conversation.id


NEW_QUESTION = "Which season did the farmers like best, and why?"


async def new_question_ttft(session: Any, message_id: int) -> dict[str, Any]:
    from tui.chat.events import AnswerChunk, AnswerFailed, AnswerFinished

    started = time.perf_counter()
    first: float | None = None
    out: dict[str, Any] = {}
    async for event in session.edit(message_id, NEW_QUESTION):
        if isinstance(event, AnswerChunk) and first is None:
            first = time.perf_counter()
        elif isinstance(event, AnswerFinished):
            out = {
                "ttft_seconds": (first - started) if first else event.stats.ttft_seconds,
                "worker_ttft_seconds": event.stats.ttft_seconds,
                "prompt_tokens": event.stats.prompt_tokens,
                "prompt_tokens_evaluated": event.stats.prompt_tokens_evaluated,
                "text": event.text,
            }
        elif isinstance(event, AnswerFailed):
            raise RuntimeError(event.message)
    return out


async def measure(model: str, tokens: int, runs: int, threads: int) -> dict[str, Any]:
    from tui.chat.session import ChatSession
    from tui.engine.client import EngineClient
    from tui.engine.protocol import LoadParams
    from tui.settings import Settings
    from tui.store import Store

    settings = Settings(
        temperature=0.0, seed_mode="fixed", seed=1, repeat_penalty=1.0, max_tokens=24
    )
    engine = EngineClient()
    engine.load(LoadParams(path=model, n_ctx=2048, n_threads=threads))
    store = Store.open()
    with_state: list[dict[str, Any]] = []
    without: list[dict[str, Any]] = []
    try:
        session = ChatSession(engine, store, settings)
        conversation_id = build_history(session, tokens)
        progress("first answer in the conversation (then leave it: the state is saved)")
        from tui.chat.events import AnswerFinished

        last: Any = None
        async for event in session.ask("And what about the old mill?"):
            last = event
        assert isinstance(last, AnswerFinished), last
        question_id = store.get_message(last.assistant_message_id).parent_id
        session.close()
        (record,) = store.states_for(conversation_id)
        for i in range(runs):
            for mode in ("with", "without") if i % 2 == 0 else ("without", "with"):
                progress(f"run {i + 1}/{runs}: {mode} the saved state (fresh worker)")
                engine.restart()  # an empty cache, as after quitting and starting again
                resumed = ChatSession(engine, store, settings)
                if mode == "without":
                    resumed.states = None
                resumed.open_conversation(conversation_id)
                started = time.perf_counter()
                if mode == "with":
                    restored = await asyncio.to_thread(resumed.sync_state)
                    restore_seconds = time.perf_counter() - started
                row = await new_question_ttft(resumed, question_id)
                if mode == "with":
                    row["ttft_seconds"] += restore_seconds  # the restore is part of the wait
                    row["restore_seconds"] = restore_seconds
                    row["restored_tokens"] = restored
                    with_state.append(row)
                else:
                    without.append(row)
                # No close(): every "with" run restores the state saved after the first
                # answer, so each evaluates only the new question, never a cached copy of it.
    finally:
        engine.shutdown()
        store.close()
    w = median([r["ttft_seconds"] for r in with_state])
    wo = median([r["ttft_seconds"] for r in without])
    return {
        "benchmark": "resume",
        "model": model,
        "conversation_tokens": without[0]["prompt_tokens"],
        "state_file_bytes": record.size_bytes,
        "state_tokens": record.n_tokens,
        "ttft_with_state_seconds": w,
        "ttft_without_state_seconds": wo,
        "ttft_with_without_ratio": w / wo if wo else None,
        "restore_seconds": median([r["restore_seconds"] for r in with_state]),
        "evaluated_with_state": median([r["prompt_tokens_evaluated"] for r in with_state]),
        "evaluated_without_state": median([r["prompt_tokens_evaluated"] for r in without]),
        "same_answer": all(r["text"] == without[0]["text"] for r in with_state + without),
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--tokens", type=int, default=1500, help="conversation length")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with private_home():
        result = asyncio.run(measure(model_path(args.model), args.tokens, args.runs, args.threads))
    ratio = result["ttft_with_without_ratio"]
    rows = [
        ("conversation, tokens", str(result["conversation_tokens"])),
        (
            "saved state",
            f"{result['state_tokens']} tokens, {result['state_file_bytes'] / 1048576:.1f} MiB",
        ),
        ("TTFT without state, s", f"{result['ttft_without_state_seconds']:.3f}"),
        ("TTFT with state (restore included), s", f"{result['ttft_with_state_seconds']:.3f}"),
        ("  of which the restore, s", f"{result['restore_seconds']:.3f}"),
        ("with ÷ without", "-" if ratio is None else f"{ratio:.3f}"),
        (
            "tokens evaluated with / without",
            f"{result['evaluated_with_state']:.0f} / {result['evaluated_without_state']:.0f}",
        ),
        ("same answer both ways", str(result["same_answer"])),
    ]
    emit(result, rows, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
