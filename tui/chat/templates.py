"""Prompt templates: turn a conversation into the exact text a model was trained on.

Two kinds of template:

* **Named formats** (``prompts/templates/*.toml`` plus the user's ``templates/`` folder): a
  few strings with a ``{content}`` hole for each role. Everything outside the hole is markup.
* **auto**: the Jinja chat template embedded in the GGUF (``tokenizer.chat_template``). A GGUF
  is untrusted input (CVE-2024-34359), so it is rendered in Jinja's
  ``ImmutableSandboxedEnvironment``; if it fails, a named format chosen from the model's
  metadata is used instead and :attr:`RenderedPrompt.notice` says so.

Either way :func:`render` returns :class:`RenderedPrompt` whose ``parts`` keep markup
(``special=True``: tokenized with control tokens on) apart from message text
(``special=False``), so a user who pastes ``<|im_end|>`` sends text, not a control token.
For a Jinja template the split is found by rendering with placeholder sentinels in place of
the messages and cutting the output at them (see :func:`_render_jinja`).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tui import paths

ROLES = ("system", "user", "assistant")
AUTO = "auto"
FALLBACK_FORMAT = "chatml"

_TEXT_KEYS = (
    "system",
    "system_in_first_user",
    "user",
    "first_user",
    "assistant",
    "generation_prompt",
    "prefix",
)
_KNOWN_KEYS = frozenset(
    {"name", "description", "add_bos", "stop", "default_system", "trim_content", *_TEXT_KEYS}
)
_HOLE = "{content}"


class TemplateError(Exception):
    """A chat template could not be rendered."""


@dataclass(frozen=True)
class Message:
    """One message of a conversation: ``role`` is system, user or assistant."""

    role: str
    content: str


class _HasRoleContent(Protocol):
    @property
    def role(self) -> str: ...

    @property
    def content(self) -> str: ...


MessageLike = tuple[str, str] | _HasRoleContent


def as_messages(messages: Iterable[MessageLike]) -> list[Message]:
    """Accept ``(role, content)`` pairs or objects with ``role``/``content`` attributes."""
    result: list[Message] = []
    for item in messages:
        if isinstance(item, tuple):
            role, content = item
        else:
            role, content = item.role, item.content
        if role not in ROLES:
            raise TemplateError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
        result.append(Message(role, content))
    return result


@dataclass(frozen=True)
class Template:
    """A prompt format. ``{content}`` in each turn string marks where the message text goes."""

    name: str
    description: str = ""
    user: str = _HOLE
    assistant: str = _HOLE
    system: str = ""
    """A system turn of its own. Empty when the format folds it into the first user turn."""
    system_in_first_user: str = ""
    """How the system prompt is written at the start of the first user turn (llama-2, gemma)."""
    first_user: str = ""
    """The first user turn when it differs from later ones (llama-2: no ``<s>``)."""
    generation_prompt: str = ""
    """Markup that opens the answer the model writes."""
    prefix: str = ""
    """Markup written once before everything (after the BOS token the tokenizer adds)."""
    stop: tuple[str, ...] = ()
    add_bos: bool = True
    """Whether the tokenizer adds the BOS token in front of the rendered text."""
    default_system: str = ""
    trim_content: bool = False
    """Strip whitespace around each message, as the format's reference template does."""
    source: str = "builtin"
    """``builtin``, ``user`` or ``gguf``; ``path`` is the file it came from."""
    path: Path | None = None

    @property
    def is_auto(self) -> bool:
        return self.name == AUTO


AUTO_TEMPLATE = Template(
    name=AUTO,
    description="The chat template embedded in the model file (sandboxed Jinja), "
    "or a format guessed from the model when it has none.",
    source="gguf",
)


@dataclass(frozen=True)
class TemplateProblem:
    """A user template file that could not be used. ``line`` is 1-based, None if unknown."""

    file: Path | None
    line: int | None
    message: str

    def __str__(self) -> str:
        where = str(self.file) if self.file else "<template>"
        if self.line is not None:
            where += f":{self.line}"
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class RenderedPrompt:
    """The exact prompt. ``text`` never includes the BOS token; ``add_bos`` says to add it."""

    parts: list[tuple[str, bool]]
    """``(text, special)``: markup is special, message text never is."""
    stop: list[str]
    add_bos: bool
    template_name: str
    notice: str | None = None
    """Something the user should see, e.g. that ``auto`` fell back to a named format."""

    @property
    def text(self) -> str:
        return "".join(text for text, _ in self.parts)


# --------------------------------------------------------------------------- parsing


TOML_LINE_RE = re.compile(r"\(at line (\d+), column \d+\)")


def toml_error(exc: tomllib.TOMLDecodeError, text: str) -> tuple[int | None, str]:
    """Line (1-based) and message of a TOML syntax error."""
    message = str(exc)
    match = TOML_LINE_RE.search(message)
    if match:
        line: int | None = int(match.group(1))
    elif "end of document" in message:
        line = max(1, len(text.splitlines()))
    else:
        line = None
    return line, TOML_LINE_RE.sub("", message).replace("(at end of document)", "").strip()


def line_of_key(text: str, key: str) -> int | None:
    pattern = re.compile(rf"^[ \t]*\"?{re.escape(key)}\"?[ \t]*=", re.MULTILINE)
    match = pattern.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else None


def parse_template_text(
    text: str, source_name: str, *, source: str = "user", path: Path | None = None
) -> tuple[Template | None, list[TemplateProblem]]:
    """Validate template TOML (as typed in the editor or read from a file).

    Returns the template, or None and at least one problem with a line number where one can
    be found. Unknown keys are reported but do not make the template unusable.
    """
    file = path if path is not None else Path(source_name)
    problems: list[TemplateProblem] = []
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, clean = toml_error(exc, text)
        return None, [TemplateProblem(file, line, f"not valid TOML: {clean}")]

    def problem(key: str | None, message: str) -> None:
        problems.append(TemplateProblem(file, line_of_key(text, key) if key else None, message))

    fatal = False
    for key in data:
        if key not in _KNOWN_KEYS:
            problem(key, f"unknown key {key!r} (known: {', '.join(sorted(_KNOWN_KEYS))})")
    values: dict[str, Any] = {}
    for key in (*_TEXT_KEYS, "description", "default_system", "name"):
        if key in data:
            if not isinstance(data[key], str):
                problem(key, f"{key} must be a string, got {type(data[key]).__name__}")
                fatal = True
            else:
                values[key] = data[key]
    for key in ("add_bos", "trim_content"):
        if key in data:
            if not isinstance(data[key], bool):
                problem(key, f"{key} must be true or false")
                fatal = True
            else:
                values[key] = data[key]
    if "stop" in data:
        stop = data["stop"]
        if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
            problem("stop", "stop must be a list of non-empty strings")
            fatal = True
        else:
            values["stop"] = tuple(stop)
    name = values.get("name") or Path(source_name).stem
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        problem("name", f"name {name!r} may use only letters, digits, '.', '_' and '-'")
        fatal = True
    if name == AUTO:
        problem("name", "'auto' is reserved for the model's own chat template")
        fatal = True
    for key in ("user", "assistant"):
        if key not in data:
            problem(None, f"missing required key {key!r}")
            fatal = True
    for key in ("system", "system_in_first_user", "user", "first_user", "assistant"):
        value = values.get(key)
        if value and value.count(_HOLE) != 1:
            problem(key, f"{key} must contain {_HOLE} exactly once")
            fatal = True
    for key in ("generation_prompt", "prefix"):
        value = values.get(key)
        if value and _HOLE in value:
            problem(key, f"{key} is markup only and cannot contain {_HOLE}")
            fatal = True
    if values.get("system") and values.get("system_in_first_user"):
        problem("system_in_first_user", "set either system or system_in_first_user, not both")
        fatal = True
    if fatal:
        return None, problems
    values["name"] = name
    return Template(**values, source=source, path=path), problems


def load_templates(
    *, builtin_dir: Path | None = None, user_dir: Path | None = None
) -> tuple[dict[str, Template], list[TemplateProblem]]:
    """Built-in templates, then the user's (same name overrides), plus ``auto`` first.

    Never raises on a bad user file: it is left out and described in the problems.
    """
    return paths.load_toml_dirs(
        [
            (builtin_dir or paths.builtin_prompts_dir() / "templates", "builtin"),
            (user_dir or paths.user_templates_dir(), "user"),
        ],
        lambda text, file, source: parse_template_text(text, file.name, source=source, path=file),
        TemplateProblem,
        lambda template: template.name,
        into={AUTO: AUTO_TEMPLATE},
    )


# --------------------------------------------------------------------------- named formats


def _split(fmt: str) -> tuple[str, str]:
    before, _, after = fmt.partition(_HOLE)
    return before, after


class _Parts:
    def __init__(self) -> None:
        self.items: list[tuple[str, bool]] = []

    def add(self, text: str, special: bool) -> None:
        if not text:
            return
        if self.items and self.items[-1][1] == special:
            self.items[-1] = (self.items[-1][0] + text, special)
        else:
            self.items.append((text, special))


def _render_named(
    template: Template, messages: Sequence[Message], add_generation_prompt: bool
) -> list[tuple[str, bool]]:
    out = _Parts()
    out.add(template.prefix, True)
    pending_system: list[str] = []
    seen_user = False

    def text(content: str) -> str:
        return content.strip() if template.trim_content else content

    for message in messages:
        if message.role == "system":
            if template.system:
                before, after = _split(template.system)
                out.add(before, True)
                out.add(text(message.content), False)
                out.add(after, True)
            else:
                pending_system.append(message.content)
            continue
        if message.role == "user":
            fmt = template.first_user if (template.first_user and not seen_user) else template.user
            seen_user = True
            before, after = _split(fmt)
            out.add(before, True)
            if pending_system:
                sys_before, sys_after = _split(template.system_in_first_user or _HOLE + "\n\n")
                out.add(sys_before, True)
                out.add(text("\n\n".join(pending_system)), False)
                out.add(sys_after, True)
                pending_system = []
            out.add(text(message.content), False)
            out.add(after, True)
        else:
            before, after = _split(template.assistant)
            out.add(before, True)
            out.add(text(message.content), False)
            out.add(after, True)
    if pending_system:  # a system prompt with no question after it
        sys_before, sys_after = _split(template.system_in_first_user or _HOLE)
        out.add(sys_before, True)
        out.add(text("\n\n".join(pending_system)), False)
        out.add(sys_after, True)
    if add_generation_prompt:
        out.add(template.generation_prompt, True)
    return out.items


# --------------------------------------------------------------------------- auto (Jinja)

_SENTINEL = "\ue000burrow-message-{}\ue001"
_SENTINEL_RE = re.compile("\ue000burrow-message-(\\d+)\ue001")
_END_MARKERS = (
    "<|im_end|>",
    "<|eot_id|>",
    "<end_of_turn>",
    "<|end|>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "</s>",
)


def _raise_exception(message: str) -> None:
    raise TemplateError(f"the chat template refused the conversation: {message}")


def _strftime_now(fmt: str) -> str:
    from datetime import datetime

    return datetime.now().strftime(str(fmt))


_MAX_REPEAT = 10_000
"""Longest string/list a template may build with ``*`` (``'a' * 10**9`` would eat the RAM)."""


_RENDER_SECONDS = 2.0
"""Time budget of one render of a GGUF template: a hostile one may loop (nearly) forever."""
_MAX_OUTPUT = 2_000_000
"""Longest text a template may write (characters)."""


def _jinja_environment(deadline: float | None = None) -> Any:
    import time

    from jinja2.exceptions import SecurityError
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range

    end = deadline if deadline is not None else time.monotonic() + _RENDER_SECONDS

    def check_time() -> None:
        if time.monotonic() > end:
            raise SecurityError("the template took too long to render")

    class Sandbox(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**"})

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
            check_time()
            return super().call(__context, __obj, *args, **kwargs)

        def getattr(self, obj: Any, attribute: str) -> Any:
            check_time()
            return super().getattr(obj, attribute)

        def getitem(self, obj: Any, argument: Any) -> Any:
            check_time()
            return super().getitem(obj, argument)

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "**" and isinstance(right, int) and abs(right) > 64:
                raise SecurityError("exponent too large")
            if operator == "*":
                sizes = [
                    len(a) * b
                    for a, b in ((left, right), (right, left))
                    if isinstance(a, str | list | tuple) and isinstance(b, int)
                ]
                if any(size > _MAX_REPEAT for size in sizes):
                    raise SecurityError("repetition too large")
            return super().call_binop(context, operator, left, right)

    env = Sandbox(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols], autoescape=False)

    def tojson(value: Any, indent: int | None = None) -> str:
        import json

        return json.dumps(value, ensure_ascii=False, indent=indent)

    def budget_range(*args: int) -> Any:
        # Loops that write nothing and call nothing still pass through here on every step.
        for value in safe_range(*args):
            check_time()
            yield value

    env.filters["tojson"] = tojson
    env.globals["range"] = budget_range
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    return env


def _jinja_render(
    source: str,
    messages: Sequence[Message],
    contents: Sequence[str],
    add_generation_prompt: bool,
    bos_token: str,
    eos_token: str,
) -> str:
    import time

    import jinja2

    deadline = time.monotonic() + _RENDER_SECONDS
    try:
        compiled = _jinja_environment(deadline).from_string(source)
        pieces: list[str] = []
        size = 0
        # generate() yields as it writes, so a runaway loop is stopped by time or size.
        for piece in compiled.generate(
            messages=[
                {"role": m.role, "content": c} for m, c in zip(messages, contents, strict=True)
            ],
            add_generation_prompt=add_generation_prompt,
            bos_token=bos_token,
            eos_token=eos_token,
        ):
            size += len(piece)
            if size > _MAX_OUTPUT:
                raise jinja2.exceptions.SecurityError("the template wrote too much text")
            if time.monotonic() > deadline:
                raise jinja2.exceptions.SecurityError("the template took too long to render")
            pieces.append(piece)
        result = "".join(pieces)
    except TemplateError:
        raise
    except jinja2.exceptions.SecurityError as exc:
        raise TemplateError(f"the chat template tried something unsafe: {exc}") from exc
    except Exception as exc:  # any failure of untrusted code is a failed template
        raise TemplateError(f"the chat template failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(result, str):
        raise TemplateError("the chat template did not produce text")
    return result


def _render_jinja(
    source: str,
    messages: Sequence[Message],
    add_generation_prompt: bool,
    bos_token: str,
    eos_token: str,
) -> tuple[list[tuple[str, bool]], bool]:
    """Render with sentinels for the message texts, then cut the output at them.

    Markup is whatever the template wrote around the sentinels. The cut is trusted only if
    putting the real texts back gives exactly what the template renders with the real texts;
    templates that ``trim`` their messages are handled by trying stripped texts too. A
    template that rewrites message text in any other way cannot be split safely and fails.

    ``bos_token`` is a sentinel too, so a BOS the template writes first can be told apart
    from markup that merely looks like it (SmolLM2's BOS *is* ``<|im_start|>``). Returns the
    parts without that leading BOS, and whether the template wrote it.
    """
    sentinels = [_SENTINEL.format(i) for i in range(len(messages))]
    bos_sentinel = _SENTINEL.format("bos")
    skeleton = _jinja_render(
        source, messages, sentinels, add_generation_prompt, bos_sentinel, eos_token
    )
    real = _jinja_render(
        source,
        messages,
        [m.content for m in messages],
        add_generation_prompt,
        bos_token,
        eos_token,
    )
    wrote_bos = skeleton.startswith(bos_sentinel)
    body = skeleton[len(bos_sentinel) :] if wrote_bos else skeleton
    body = body.replace(bos_sentinel, bos_token)
    expected_prefix = bos_token if wrote_bos else ""
    for contents in ([m.content for m in messages], [m.content.strip() for m in messages]):
        out = _Parts()
        pos = 0
        for match in _SENTINEL_RE.finditer(body):
            out.add(body[pos : match.start()], True)
            out.add(contents[int(match.group(1))], False)
            pos = match.end()
        out.add(body[pos:], True)
        if expected_prefix + "".join(t for t, _ in out.items) == real:
            return out.items, wrote_bos
    raise TemplateError(
        "the chat template changes message text in a way Burrow cannot follow, "
        "so markup and text cannot be told apart"
    )


_GUESSES: tuple[tuple[str, str], ...] = (
    ("<|im_start|>", "chatml"),
    ("<|start_header_id|>", "llama-3"),
    ("<start_of_turn>", "gemma"),
    ("<|assistant|>\n", "phi-3"),
    ("<<SYS>>", "llama-2"),
    ("[INST]", "mistral-instruct"),
    ("### Response:", "alpaca"),
)


def guess_format(
    *,
    architecture: str | None = None,
    model_name: str | None = None,
    chat_template_source: str | None = None,
) -> str:
    """Pick a named format from GGUF metadata (``general.architecture``/``general.name``)."""
    name = (model_name or "").lower()
    arch = (architecture or "").lower()
    for needle, fmt in (
        ("orca", "orca-mini"),
        ("vicuna", "vicuna"),
        ("zephyr", "zephyr"),
        ("alpaca", "alpaca"),
        ("llama-3", "llama-3"),
        ("llama 3", "llama-3"),
        ("llama3", "llama-3"),
        ("llama-2", "llama-2"),
        ("llama 2", "llama-2"),
        ("mistral", "mistral-instruct"),
        ("phi-3", "phi-3"),
        ("phi 3", "phi-3"),
    ):
        if needle in name:
            return fmt
    if arch.startswith("gemma"):
        return "gemma"
    if arch in {"phi3", "phi4"}:
        return "phi-3"
    if chat_template_source:
        for marker, fmt in _GUESSES:
            if marker in chat_template_source:
                return fmt
    if arch == "llama" and "instruct" in name and "smol" not in name:
        return "llama-3"
    return FALLBACK_FORMAT


def render(
    template: Template,
    messages: Iterable[MessageLike],
    *,
    add_generation_prompt: bool = True,
    chat_template_source: str | None = None,
    bos_token: str = "",
    eos_token: str = "",
    add_bos: bool | None = None,
    architecture: str | None = None,
    model_name: str | None = None,
    templates: Mapping[str, Template] | None = None,
) -> RenderedPrompt:
    """Render ``messages`` with ``template`` into the exact prompt.

    For ``auto``: ``chat_template_source`` is the GGUF's ``tokenizer.chat_template``;
    ``bos_token``/``eos_token`` the texts of those tokens; ``add_bos`` the model's
    ``tokenizer.ggml.add_bos_token`` (None: unknown). ``architecture``/``model_name``
    choose the fallback format; ``templates`` is where it is looked up (default: built-ins
    and the user's). Named templates ignore these arguments.
    """
    items = as_messages(messages)
    if not template.is_auto:
        return RenderedPrompt(
            parts=_render_named(template, items, add_generation_prompt),
            stop=list(template.stop),
            add_bos=template.add_bos,
            template_name=template.name,
        )
    reason = "the model file has no chat template"
    if chat_template_source:
        try:
            parts, wrote_bos = _render_jinja(
                chat_template_source, items, add_generation_prompt, bos_token, eos_token
            )
        except TemplateError as exc:
            reason = str(exc)
        else:
            # A BOS the template writes is left to the tokenizer, so it is never added twice.
            model_bos = wrote_bos or bool(add_bos)
            stop = [m for m in _END_MARKERS if m in chat_template_source]
            if eos_token and eos_token not in stop:
                stop.append(eos_token)
            return RenderedPrompt(parts=parts, stop=stop, add_bos=model_bos, template_name=AUTO)
    fallback_name = guess_format(
        architecture=architecture,
        model_name=model_name,
        chat_template_source=chat_template_source,
    )
    available = templates if templates is not None else load_templates()[0]
    fallback = available.get(fallback_name) or available.get(FALLBACK_FORMAT)
    if fallback is None or fallback.is_auto:
        raise TemplateError(f"{reason}, and no fallback format is installed")
    rendered = render(fallback, items, add_generation_prompt=add_generation_prompt)
    notice = f"auto: {reason}; using the {fallback.name} format instead"
    return RenderedPrompt(
        parts=rendered.parts,
        stop=rendered.stop,
        add_bos=rendered.add_bos,
        template_name=fallback.name,
        notice=notice,
    )


def template_to_toml(template: Template) -> str:
    """The TOML text of a template (for ``templates show`` and copying a built-in)."""
    import tomli_w

    data: dict[str, Any] = {"name": template.name, "description": template.description}
    data["add_bos"] = template.add_bos
    data["stop"] = list(template.stop)
    if template.trim_content:
        data["trim_content"] = True
    data["default_system"] = template.default_system
    for key in _TEXT_KEYS:
        value = getattr(template, key)
        if value or key in ("user", "assistant", "generation_prompt"):
            data[key] = value
    return tomli_w.dumps(data, multiline_strings=False)


@dataclass
class TokenCounter:
    """Counts a rendered prompt's tokens the way the engine will feed it.

    ``tokenize(text, special=..., add_bos=...)`` is the engine client's method (or a
    ``llama_cpp.Llama`` adapter): each part is tokenized on its own with its own ``special``
    flag, exactly as the engine does, and BOS is counted once when the prompt asks for it.
    """

    tokenize: Callable[..., list[int]]
    cache: dict[tuple[str, bool], int] = field(default_factory=dict)

    def __call__(self, prompt: RenderedPrompt) -> int:
        total = 1 if prompt.add_bos else 0
        for text, special in prompt.parts:
            key = (text, special)
            if key not in self.cache:
                self.cache[key] = len(self.tokenize(text, special=special, add_bos=False))
            total += self.cache[key]
        return total


def chat_kwargs_from_metadata(
    metadata: Mapping[str, str], token_text: Callable[[int], str] | None = None
) -> dict[str, Any]:
    """``render`` keyword arguments for ``auto`` from GGUF metadata (string values, as
    ``llama_cpp.Llama.metadata`` gives them). ``token_text`` turns a token id into its text,
    for ``bos_token``/``eos_token``; without it they stay empty."""

    def token(key: str) -> str:
        raw = metadata.get(key)
        if token_text is None or raw is None:
            return ""
        try:
            return token_text(int(raw))
        except (ValueError, TypeError):
            return ""

    add_bos_raw = metadata.get("tokenizer.ggml.add_bos_token")
    add_bos = None if add_bos_raw is None else str(add_bos_raw).lower() in {"true", "1"}
    return {
        "chat_template_source": metadata.get("tokenizer.chat_template") or None,
        "bos_token": token("tokenizer.ggml.bos_token_id"),
        "eos_token": token("tokenizer.ggml.eos_token_id"),
        "add_bos": add_bos,
        "architecture": metadata.get("general.architecture"),
        "model_name": metadata.get("general.name"),
    }
