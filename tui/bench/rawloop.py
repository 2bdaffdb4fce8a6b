"""The raw loop the baseline measures: ``llama_cpp.Llama`` + ``generate`` + ``detokenize``
per token, nothing else. Run as ``python -m tui.bench.rawloop`` by
:class:`tui.bench.baseline.RawBaseline`: one JSON request per line on stdin, one JSON answer
per line on stdout.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from tui.bench.system import peak_rss_bytes


def main() -> int:
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # llama.cpp's C output goes to the log, not to the answers
    llm: Any = None
    for line in sys.stdin:
        request = json.loads(line)
        op = request["op"]
        if op == "quit":
            out.write(json.dumps({"ok": True}) + "\n")
            break
        try:
            if op == "load":
                llm, answer = _load(request)
            elif op in _OPS:
                answer = _OPS[op](llm, request)
            else:
                answer = {"error": f"unknown op {op}"}
            answer["peak_rss_bytes"] = peak_rss_bytes()
        except Exception as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(answer) + "\n")
    return 0


def _load(request: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    import llama_cpp
    import llama_cpp.llama_cpp as lib

    extra = bool(request.get("extra_bufts", False))
    original = lib.llama_model_default_params

    def defaults(original: Any = original, extra: bool = extra) -> Any:
        params = original()
        # As Burrow chose for this model: it turns them off where they crashed (AMX CPUs).
        params.use_extra_bufts = extra
        return params

    lib.llama_model_default_params = defaults
    started = time.perf_counter()
    llm = llama_cpp.Llama(
        model_path=request["model"],
        n_ctx=request["n_ctx"],
        n_batch=request["n_batch"],
        n_threads=request["n_threads"],
        n_threads_batch=request["n_threads"],
        verbose=True,
    )
    return llm, {"load_seconds": time.perf_counter() - started}


def _count(llm: Any, request: dict[str, Any]) -> dict[str, Any]:
    return {"tokens": len(_tokens(llm, request["text"]))}


def _prompt(llm: Any, request: dict[str, Any]) -> dict[str, Any]:
    tokens = _tokens(llm, request["text"])
    llm.reset()
    started = time.perf_counter()
    for _token in llm.generate(tokens, temp=0.0, repeat_penalty=1.0, reset=True):
        break
    seconds = time.perf_counter() - started
    return {
        "prompt_tokens": len(tokens),
        "prompt_seconds": seconds,
        "prompt_tps": len(tokens) / seconds,
        "ttft_seconds": seconds,
    }


def _generate(llm: Any, request: dict[str, Any]) -> dict[str, Any]:
    tokens = _tokens(llm, request["text"])
    llm.reset()
    limit = int(request["n_tokens"])
    count = 0
    first = last = 0.0
    text = b""
    for token in llm.generate(tokens, temp=0.0, repeat_penalty=1.0, reset=True):
        now = time.perf_counter()
        if count == 0:
            first = now
        last = now
        if token == llm.token_eos():
            break
        count += 1
        text += llm.detokenize([token])
        if count >= limit:
            break
    seconds = last - first
    return {
        "tokens": count,
        "seconds": seconds,
        "tps": (count - 1) / seconds if seconds > 0 else 0.0,
    }


def _tokens(llm: Any, text: str) -> list[int]:
    return list(llm.tokenize(text.encode("utf-8"), add_bos=True, special=True))


_OPS = {"count": _count, "prompt": _prompt, "generate": _generate}

if __name__ == "__main__":
    sys.exit(main())
