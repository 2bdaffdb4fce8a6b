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
the messages and cutting the output at them (see :func:`tui.chat.templates.jinja.render_jinja`).

The package, one job per module: ``model`` (what a template, a message and a rendered prompt
are), ``parse`` (template files: TOML in and out), ``named`` (named formats and guessing one
from a model), ``jinja`` (the sandboxed GGUF template) and ``render`` (any template to the
exact prompt, and its token count). Import from the package itself: the names below are the
public ones.
"""

from tui.chat.templates.model import (
    AUTO,
    AUTO_TEMPLATE,
    FALLBACK_FORMAT,
    ROLES,
    Message,
    MessageLike,
    RenderedPrompt,
    Template,
    TemplateError,
    as_messages,
)
from tui.chat.templates.named import guess_format
from tui.chat.templates.parse import load_templates, parse_template_text, template_to_toml
from tui.chat.templates.render import TokenCounter, chat_kwargs_from_metadata, render

__all__ = [
    "AUTO",
    "AUTO_TEMPLATE",
    "FALLBACK_FORMAT",
    "ROLES",
    "Message",
    "MessageLike",
    "RenderedPrompt",
    "Template",
    "TemplateError",
    "TokenCounter",
    "as_messages",
    "chat_kwargs_from_metadata",
    "guess_format",
    "load_templates",
    "parse_template_text",
    "render",
    "template_to_toml",
]
