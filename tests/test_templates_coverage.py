"""The Jinja sandbox against the chat templates of real models.

Every template here is the published chat template of the model named in the test, as
llama.cpp keeps it in ``models/templates/`` (``tests/chat_templates/SOURCES.md``). The
expected texts were written from what each template says it writes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tui.chat.templates import AUTO, RenderedPrompt, Template, render
from tui.chat.templates.jinja import fold_system, render_jinja
from tui.chat.templates.model import Message
from tui.chat.templates.sandbox import tojson

TEMPLATES = Path(__file__).resolve().parent / "chat_templates"

CONVERSATION = [
    ("system", "Be brief."),
    ("user", "  Hi there"),
    ("assistant", "  Hello!  "),
    ("user", "Who are you?"),
]
"""Whitespace around two texts, so stripping templates show what they strip."""


def source(name: str) -> str:
    return (TEMPLATES / f"{name}.jinja").read_text(encoding="utf-8")


def auto(
    name: str, messages: list[tuple[str, str]] = CONVERSATION, **kwargs: Any
) -> RenderedPrompt:
    prompt = render(
        Template(AUTO),
        messages,
        chat_template_source=source(name),
        bos_token="<s>",
        eos_token="</s>",
        add_bos=False,
        **kwargs,
    )
    assert prompt.notice is None, prompt.notice
    assert prompt.template_name == AUTO
    return prompt


def texts(prompt: RenderedPrompt) -> list[str]:
    return [t for t, special in prompt.parts if not special]


def test_generation_tag_writes_its_body_lfm2_5() -> None:
    """LiquidAI LFM2.5-8B-A1B wraps assistant turns in ``{% generation %}``."""
    prompt = auto("LFM2.5-8B-A1B")
    assert prompt.add_bos is True  # the template writes bos_token first
    assert prompt.text == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\n  Hi there<|im_end|>\n"
        "<|im_start|>assistant\n  Hello!  <|im_end|>\n"
        "<|im_start|>user\nWho are you?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert texts(prompt) == ["Be brief.", "  Hi there", "  Hello!  ", "Who are you?"]


def test_lstrip_of_one_role_bielik() -> None:
    """speakleash Bielik-11B-v3.0-Instruct writes assistant text ``lstrip()``ed, user text
    as it is: the texts are still found, each as that template writes it."""
    prompt = auto("Bielik-11B-v3.0-Instruct")
    assert prompt.text == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\n  Hi there<|im_end|>\n"
        "<|im_start|>assistant\nHello!  <|im_end|>\n"
        "<|im_start|>user\nWho are you?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert texts(prompt) == ["Be brief.", "  Hi there", "Hello!  ", "Who are you?"]


def test_assistant_only_trim_nemotron() -> None:
    """NVIDIA Nemotron-3-Nano-30B-A3B trims past assistant turns only (and keeps an empty
    think block before them); its generation prompt opens a think block."""
    prompt = auto("NVIDIA-Nemotron-3-Nano-30B-A3B-BF16")
    assert prompt.text == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\n  Hi there<|im_end|>\n"
        "<|im_start|>assistant\n<think></think>  Hello!<|im_end|>\n"
        "<|im_start|>user\nWho are you?<|im_end|>\n"
        "<|im_start|>assistant\n<think>\n"
    )
    assert texts(prompt) == ["Be brief.", "  Hi there", "  Hello!", "Who are you?"]
    assert prompt.parts[-1] == ("<|im_end|>\n<|im_start|>assistant\n<think>\n", True)


def test_system_fold_gemma_2() -> None:
    """google/gemma-2-2b-it raises on a system message: its text joins the first question
    with a newline, as llama.cpp does, and no fallback notice is shown."""
    prompt = auto("google-gemma-2-2b-it")
    assert prompt.add_bos is True
    assert prompt.text == (
        "<start_of_turn>user\nBe brief.\n  Hi there<end_of_turn>\n"
        "<start_of_turn>model\nHello!<end_of_turn>\n"
        "<start_of_turn>user\nWho are you?<end_of_turn>\n"
        "<start_of_turn>model\n"
    )
    # The folded text is one message text: user text, never markup.
    assert texts(prompt) == ["Be brief.\n  Hi there", "Hello!", "Who are you?"]


def test_system_fold_alone_drops_the_system_prompt() -> None:
    assert fold_system([Message("system", "S")]) == []
    assert fold_system([Message("user", "Q")]) == [Message("user", "Q")]


def test_a_template_that_refuses_more_than_the_system_role_still_falls_back() -> None:
    """Folding is tried once: a template that refuses the folded conversation too falls
    back with its reason (google/gemma-2-2b-it refuses two questions in a row)."""
    prompt = render(
        Template(AUTO),
        [("system", "S"), ("user", "Q1"), ("user", "Q2")],
        chat_template_source=source("google-gemma-2-2b-it"),
        architecture="gemma2",
    )
    assert prompt.notice is not None and "must alternate" in prompt.notice
    assert prompt.template_name == "gemma"


def test_tojson_keyword_arguments_glm_4_6() -> None:
    """zai-org/GLM-4.6 writes each tool with ``tojson(ensure_ascii=False)``."""
    tools = [
        {
            "type": "function",
            "function": {"name": "météo", "description": "Prévisions", "parameters": {}},
        }
    ]
    parts, wrote_bos = render_jinja(
        source("GLM-4.6"), [Message("user", "Salut")], True, "<s>", "</s>", {"tools": tools}
    )
    assert wrote_bos is False
    markup = parts[0][0]
    assert markup.startswith("[gMASK]<sop><|system|>\n# Tools")
    assert json.dumps(tools[0], ensure_ascii=False) + "\n</tools>" in markup
    assert parts[1:] == [("Salut", False), ("<|assistant|>", True)]


def test_tojson_accepts_hugging_faces_keyword_arguments() -> None:
    value = {"b": "é", "a": [1, 2]}
    assert tojson(value) == '{"b": "é", "a": [1, 2]}'
    assert tojson(value, ensure_ascii=True) == '{"b": "\\u00e9", "a": [1, 2]}'
    assert tojson(value, separators=(",", ":"), sort_keys=True) == '{"a":[1,2],"b":"é"}'
    assert tojson([1], indent=2) == "[\n  1\n]"


@pytest.mark.parametrize(
    "call",
    [
        "{{ messages | tojson(indent=1000000000) }}",
        "{{ messages | tojson(indent='" + " " * 100 + "') }}",
        "{{ messages | tojson(separators=[', ' * 40, ':']) }}",
        "{{ messages | tojson(separators=(1, 2)) }}",
    ],
)
def test_tojson_options_that_would_blow_up_are_refused(call: str) -> None:
    prompt = render(
        Template(AUTO), [("user", "Q")], chat_template_source=call, architecture="llama"
    )
    assert prompt.notice is not None and "unsafe" in prompt.notice


def test_a_template_that_rewrites_text_still_fails_safe() -> None:
    """Only whitespace at either end may change; anything else cannot be split."""
    call = "{% for m in messages %}[{{ m.content | replace('a', 'b') }}]{% endfor %}"
    prompt = render(
        Template(AUTO), [("user", "banana")], chat_template_source=call, architecture="llama"
    )
    assert prompt.notice is not None and "cannot follow" in prompt.notice


@pytest.mark.parametrize("path", sorted(TEMPLATES.glob("*.jinja")), ids=lambda p: p.stem)
def test_every_stored_template_matches_hugging_faces_rendering(path: Path) -> None:
    """bench/template_coverage.py's reference (Hugging Face's environment plus llama.cpp's
    system fold) and Burrow agree on each stored real template, with and without tools."""
    bench = str(Path(__file__).resolve().parent.parent / "bench")
    if bench not in sys.path:
        sys.path.insert(0, bench)
    import template_coverage

    text = path.read_text(encoding="utf-8")
    conversation = template_coverage.CONVERSATION
    assert template_coverage.check(text, conversation, "<s>", "</s>") == ("exact", "")
    tools = {"tools": template_coverage.TOOLS}
    assert template_coverage.check(text, conversation, "<s>", "</s>", tools) == ("exact", "")
