"""How many real chat templates Burrow's sandbox renders exactly.

    pip download --no-deps --no-binary :all: llama-cpp-python==0.3.36 -d /tmp/x
    tar xzf /tmp/x/llama_cpp_python-0.3.36.tar.gz -C /tmp/x
    python bench/template_coverage.py /tmp/x/llama_cpp_python-0.3.36/vendor/llama.cpp

Part 1, the model templates (``models/templates/*.jinja``, 70 in llama-cpp-python 0.3.36):
each renders the conversation of llama.cpp's ``tests/test-chat-template.cpp`` (a system
prompt, three questions, two answers, one of them padded with spaces; BOS ``<s>``, EOS
``</s>``, generation prompt on) twice:

* the reference: Hugging Face's ``apply_chat_template`` environment (Jinja2 sandbox,
  ``trim_blocks``/``lstrip_blocks``, ``loopcontrols``, the ``{% generation %}`` tag,
  ``tojson`` with its keyword arguments, ``raise_exception``, ``strftime_now``), with
  llama.cpp's system fold applied first when the template refuses or drops a system message
  (the system text joined to the first user message by a newline);
* Burrow: ``render(auto)`` with the same conversation and tokens.

The same again with llama.cpp's ``--with-tools`` tools list passed as ``tools`` (Burrow
sends no tools itself; this exercises the templates' tool branches, where most of their
``tojson`` calls are).

A template counts as exact when Burrow uses it without falling back and BOS (when Burrow
leaves it to the tokenizer) plus Burrow's text equals the reference character for
character. Anything else is listed with the reason.

Part 2, the inline cases of ``tests/test-chat-template.cpp``: Burrow's output against the
expected output of llama.cpp's own Jinja engine (``expected_output_jinja``, else
``expected_output``). llama.cpp's engine differs from Jinja2 in a few places, so the
reference render is shown beside it.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tui.chat.templates import AUTO_TEMPLATE, Template, TemplateError, render  # noqa: E402

CONVERSATION = [
    ("system", "You are a helpful assistant"),
    ("user", "Hello"),
    ("assistant", "Hi there"),
    ("user", "Who are you"),
    ("assistant", "   I am an assistant   "),
    ("user", "Another question"),
]
"""The conversation of llama.cpp's tests/test-chat-template.cpp."""

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "test",
            "description": "Test",
            "parameters": {"type": "object", "properties": {"arg": {"type": "string"}}},
            "required": ["arg"],
        },
    }
]
"""The tools list of llama.cpp's ``--with-tools`` input, for the templates' tool branches."""

CHATML = Template(
    name="chatml",
    system="<|im_start|>system\n{content}<|im_end|>\n",
    user="<|im_start|>user\n{content}<|im_end|>\n",
    assistant="<|im_start|>assistant\n{content}<|im_end|>\n",
    generation_prompt="<|im_start|>assistant\n",
    add_bos=False,
)


def reference_environment() -> Any:
    """Hugging Face's chat template environment (transformers' ``_compile_jinja_template``)."""
    from datetime import datetime

    import jinja2
    from jinja2.ext import Extension, loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Generation(Extension):
        tags = {"generation"}  # noqa: RUF012 - jinja2 declares it so

        def parse(self, parser: Any) -> Any:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return jinja2.nodes.Scope(body, lineno=lineno)

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    def tojson(
        x: Any,
        ensure_ascii: bool = False,
        indent: Any = None,
        separators: Any = None,
        sort_keys: bool = False,
    ) -> str:
        return json.dumps(
            x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
        )

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[Generation, loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env


def reference_render(
    source: str,
    messages: Sequence[tuple[str, str]],
    bos: str,
    eos: str,
    variables: dict[str, Any] | None = None,
) -> str:
    env = reference_environment()
    template = env.from_string(source)

    def run(msgs: Sequence[tuple[str, str]]) -> str:
        return template.render(
            **(variables or {}),
            messages=[{"role": r, "content": c} for r, c in msgs],
            add_generation_prompt=True,
            bos_token=bos,
            eos_token=eos,
        )

    if messages and messages[0][0] == "system":
        # llama.cpp's capability probe: a template that fails on, or drops, a system message
        # gets it folded into the next message.
        try:
            probe = run([("system", "System message"), ("user", "User message")])
            supports_system = "System message" in probe
        except Exception:
            supports_system = False
        if not supports_system:
            rest = list(messages[1:])
            if rest:
                rest[0] = (rest[0][0], messages[0][1] + "\n" + rest[0][1])
            messages = rest
    return run(messages)


def burrow_render(
    source: str,
    messages: Sequence[tuple[str, str]],
    bos: str,
    eos: str,
    variables: dict[str, Any] | None = None,
) -> str:
    prompt = render(
        AUTO_TEMPLATE,
        messages,
        chat_template_source=source,
        bos_token=bos,
        eos_token=eos,
        add_bos=False,
        templates={"chatml": CHATML},
        variables=variables,
    )
    if prompt.notice:
        raise TemplateError(prompt.notice)
    return (bos if prompt.add_bos else "") + prompt.text


def first_difference(a: str, b: str) -> str:
    i = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    return f"at {i}: burrow {a[i : i + 30]!r} vs reference {b[i : i + 30]!r}"


def check(
    source: str,
    messages: Sequence[tuple[str, str]],
    bos: str,
    eos: str,
    variables: dict[str, Any] | None = None,
) -> tuple[str, str]:
    """("exact" | "differs" | "fallback" | "reference-fails", detail)."""
    try:
        expected = reference_render(source, messages, bos, eos, variables)
    except Exception as exc:
        return "reference-fails", f"{type(exc).__name__}: {exc}"[:160]
    try:
        got = burrow_render(source, messages, bos, eos, variables)
    except TemplateError as exc:
        return "fallback", str(exc)[:200]
    if got == expected:
        return "exact", ""
    return "differs", first_difference(got, expected)


_LITERAL_RE = re.compile(r'\s*(?:U8C\()?(?:u8)?("(?:[^"\\]|\\.)*")')


def c_string(chunk: str, marker: str) -> str | None:
    """The C++ string literal after ``/* .marker= */`` in one test case, or None."""
    at = re.search(r"/\* \." + marker + r"=? \*/", chunk)
    if at is None:
        return None
    m = _LITERAL_RE.match(chunk, at.end())
    if m is None:
        return None
    value: str = ast.literal_eval(m.group(1))
    return value


def inline_cases(cpp: Path) -> list[dict[str, Any]]:
    text = cpp.read_text(encoding="utf-8")
    body = text[text.index("std::vector<TestCase> test_cases") :]
    cases = []
    for chunk in body.split("/* .name= */")[1:]:
        if "extra_conversation= */ {{" in chunk or "supported_with_jinja= */ false" in chunk:
            continue  # tool-call roles Burrow has no use for, or cases llama.cpp skips
        name = c_string("/* .name= */" + chunk, "name")
        template = c_string(chunk, "template_str")
        if name is None or template is None:
            continue
        expected = c_string(chunk, "expected_output_jinja") or c_string(chunk, "expected_output")
        cases.append(
            {
                "name": name,
                "template": template,
                "expected": expected or "",
                "bos": c_string(chunk, "bos_token") or "",
                "eos": c_string(chunk, "eos_token") or "",
            }
        )
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("llama_cpp", type=Path, help="llama.cpp source folder (vendor/llama.cpp)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    files = sorted((args.llama_cpp / "models" / "templates").glob("*.jinja"))
    results = {}
    with_tools = {}
    for path in files:
        text = path.read_text(encoding="utf-8")
        status, detail = check(text, CONVERSATION, "<s>", "</s>")
        results[path.name] = {"status": status, "detail": detail}
        status, detail = check(text, CONVERSATION, "<s>", "</s>", {"tools": TOOLS})
        with_tools[path.name] = {"status": status, "detail": detail}

    cases = []
    cpp = args.llama_cpp / "tests" / "test-chat-template.cpp"
    if cpp.is_file():
        for case in inline_cases(cpp):
            try:
                got = burrow_render(case["template"], CONVERSATION, case["bos"], case["eos"])
            except TemplateError as exc:
                cases.append({"name": case["name"], "status": "fallback", "detail": str(exc)})
                continue
            if got == case["expected"]:
                cases.append({"name": case["name"], "status": "exact", "detail": ""})
            else:
                detail = first_difference(got, case["expected"])
                cases.append({"name": case["name"], "status": "differs", "detail": detail})

    exact = sum(r["status"] == "exact" for r in results.values())
    exact_tools = sum(r["status"] == "exact" for r in with_tools.values())
    if args.json:
        report = {
            "templates": results,
            "exact": exact,
            "with_tools": with_tools,
            "exact_with_tools": exact_tools,
            "inline": cases,
        }
        print(json.dumps(report, indent=1))
        return
    for title, found, count in (
        ("models/templates", results, exact),
        ("models/templates with a tools list", with_tools, exact_tools),
    ):
        print(f"{title}: {count} of {len(files)} render exactly")
        for name, r in found.items():
            if r["status"] != "exact":
                print(f"  {r['status']:<16} {name}: {r['detail']}")
    if cases:
        n = sum(c["status"] == "exact" for c in cases)
        print(f"test-chat-template.cpp inline cases: {n} of {len(cases)} match llama.cpp's output")
        for c in cases:
            if c["status"] != "exact":
                print(f"  {c['status']:<16} {c['name']}: {c['detail']}")


if __name__ == "__main__":
    main()
