"""ChatSession: one conversation driven through the engine, saved to the store as it streams.

Both ``burrow ask`` and the app use this class; the UI only presents its events. The session
does not load models: the caller loads one into the engine (the app in the background, the
CLI before asking) and the session reads ``engine.model`` for the template and context size.

Every answer is an async iterator of :data:`SessionEvent`: one :class:`AnswerStarted`, any
number of :class:`AnswerChunk`, then exactly one :class:`AnswerFinished` or
:class:`AnswerFailed`; a conversation that does not fit the context is
:class:`AnswerRefused` (an AnswerFailed) before anything is saved.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import fields
from typing import Any

from tui.chat.answering import UNSAVED_ID, AnswerRun, NewQuestion
from tui.chat.context import ContextFit, ContextFull, fit_messages, reserve_for
from tui.chat.events import (
    AnswerFailed,
    ContextInfo,
    Engine,
    SessionError,
    SessionEvent,
)
from tui.chat.presets import Preset, load_presets
from tui.chat.resume import StateCache, StateKey, engine_used
from tui.chat.templates import (
    AUTO,
    RenderedPrompt,
    Template,
    TemplateError,
    TokenCounter,
    load_templates,
)
from tui.chat.templates import Message as PromptMessage
from tui.engine.protocol import (
    ModelInfo,
)
from tui.settings import Settings
from tui.store import Conversation, Message, Store

THINKING_VARIABLE = "enable_thinking"
"""The template variable of the thinking switch (Qwen3, SmolLM3, DeepSeek, Gemma 4...)."""

#: Settings a conversation keeps as its own, so it reopens with them.
CONVERSATION_KEYS: tuple[str, ...] = tuple(
    f.name
    for f in fields(Settings)
    if f.metadata.get("group") == "sampling" or f.name == "context_policy"
)


class ChatSession:
    """One open conversation: its settings, template and system prompt, and its answers."""

    def __init__(
        self,
        engine: Engine,
        store: Store,
        settings: Settings | None = None,
        *,
        templates: Mapping[str, Template] | None = None,
        presets: Mapping[str, Preset] | None = None,
        flags: Mapping[str, Any] | None = None,
    ) -> None:
        self.engine = engine
        self.disk_store = store
        self.store = store
        self.base_settings = settings or Settings()
        self.flags = {k: v for k, v in (flags or {}).items() if v is not None}
        """Values that beat the conversation's own (command-line flags)."""
        self.templates = dict(templates) if templates is not None else load_templates()[0]
        self.presets = dict(presets) if presets is not None else load_presets()[0]
        self.conversation: Conversation | None = None
        self.template_name = self.base_settings.default_template
        self.system_prompt = self._preset_prompt(self.base_settings.default_preset)
        self.conversation_settings: dict[str, Any] = {}
        self.last_context: ContextInfo | None = None
        self.last_notice: str | None = None
        self._counter: TokenCounter | None = None
        self._counter_model: str | None = None
        self._answering = False
        self.states: StateCache | None = None
        """Instant resume: model states saved on leaving a conversation."""
        # A locked history saves no model states: they hold the conversation's tokens in
        # plain text.
        if (
            hasattr(engine, "save_state")
            and getattr(engine, "supports_state", True)
            and not store.incognito
            and not store.locked
        ):
            self.states = StateCache(engine, store)  # type: ignore[arg-type]
        self.delivery_interval: float | Callable[[], float] = 0.0
        """Deliver answer text at most this often (seconds, or a function asked each time):
        a screen passes its redraw interval so it wakes once per redraw, not once per token
        (0: every token as it comes)."""
        self.restored_tokens = 0
        """Tokens the last answer found restored from a saved state (0: none)."""
        self._trim_from: int | None = None
        """Id of the first message kept after the context was last trimmed."""

    # -- conversation ----------------------------------------------------------------------

    @property
    def conversation_id(self) -> int | None:
        return self.conversation.id if self.conversation else None

    @property
    def incognito(self) -> bool:
        return self.store.incognito

    @property
    def busy(self) -> bool:
        """An answer is streaming."""
        return self._answering

    @property
    def settings(self) -> Settings:
        """Base settings < the conversation's own < flags."""
        merged = {**self.conversation_settings, **self.flags}
        return Settings.from_dict(merged, self.base_settings) if merged else self.base_settings

    def _preset_prompt(self, name: str) -> str:
        preset = self.presets.get(name)
        return preset.system_prompt() if preset else ""

    def new_conversation(
        self,
        *,
        incognito: bool = False,
        template: str | None = None,
        system_prompt: str | None = None,
        preset: str | None = None,
    ) -> None:
        """Start a fresh conversation; it is written to the store with its first question.

        The state of the conversation left is saved before the next answer (or at close)."""
        self.conversation = None
        self.store = Store.open_incognito() if incognito else self.disk_store
        self.template_name = template or self.base_settings.default_template
        if system_prompt is not None:
            self.system_prompt = system_prompt
        else:
            self.system_prompt = self._preset_prompt(preset or self.base_settings.default_preset)
        self.conversation_settings = {}
        self.last_context = None
        self._trim_from = None

    def open_conversation(self, conversation_id: int) -> Conversation:
        """Open a saved conversation with its own template, system prompt and settings."""
        self.store = self.disk_store
        conversation = self.store.get_conversation(conversation_id)
        self.conversation = conversation
        self._trim_from = None
        self.template_name = conversation.template or self.base_settings.default_template
        self.system_prompt = conversation.system_prompt or ""
        self.conversation_settings = {
            k: v for k, v in conversation.settings.items() if k in CONVERSATION_KEYS
        }
        self.last_context = None
        return conversation

    def set_template(self, name: str) -> None:
        if name not in self.templates:
            raise SessionError(f"no template named {name!r}")
        self.template_name = name
        self._save_conversation_fields(template=name)

    def set_system_prompt(self, text: str) -> None:
        self.system_prompt = text
        self._save_conversation_fields(system_prompt=text)

    def apply_settings(self, values: Mapping[str, Any]) -> None:
        """Make ``values`` this conversation's own (the settings sheet's "apply")."""
        if (
            values.get("context_policy", self.settings.context_policy)
            != self.settings.context_policy
        ):
            self._trim_from = None  # a trim remembered under "trim" must not outlive it
        self.conversation_settings.update(
            {k: v for k, v in values.items() if k in CONVERSATION_KEYS}
        )
        self._save_conversation_fields(settings=self._settings_record())

    def _settings_record(self) -> dict[str, Any]:
        current = self.settings.to_dict()
        return {k: current[k] for k in CONVERSATION_KEYS}

    def _save_conversation_fields(self, **values: Any) -> None:
        if self.conversation is not None:
            self.conversation = self.store.update_conversation(self.conversation.id, **values)

    def path(self) -> list[Message]:
        """The messages the conversation shows (root to active leaf)."""
        if self.conversation is None:
            return []
        return self.store.active_path(self.conversation.id)

    def switch_branch(self, message_id: int, step: int) -> list[Message]:
        """Show the previous (``step=-1``) or next (``+1``) alternative of a message."""
        branches = self.store.siblings(message_id)
        target = branches.messages[(branches.index + step) % branches.count]
        return self.store.switch_branch(target.id)

    def delete_message(self, message_id: int) -> None:
        """Delete a message and its replies, leaving nothing of them on disk (blocking:
        seconds on a very big history).

        The store deletes the conversation's saved model states and scrubs the search index.
        The engine's cache still holds the deleted text, so it is never saved under this
        conversation's name again until an answer replaces it.
        """
        conversation_id = self.store.delete_message(message_id)
        if self.states is not None:
            owner = self.states.owner
            if owner is not None and owner.conversation_id == conversation_id:
                engine_used(self.engine, None)
        self.store.scrub()

    def state_key(self) -> StateKey | None:
        if self.states is None or self.conversation is None or self.store.incognito:
            return None
        return self.states.key(self.conversation.id, self.template_name)

    def sync_state(self) -> int:
        """Blocking: save the state of the conversation the engine holds if the user left
        it, and restore this conversation's saved state. Returns the tokens restored.
        Called before every answer (off the event loop); the app may call it early."""
        if self.states is None:
            return 0
        try:
            return self.states.prepare(self.state_key())
        except Exception as exc:  # resume is an optimisation: never fail an answer for it
            self.states.last_problem = f"instant resume: {exc}"
            return 0

    def use_engine(self, engine: Engine) -> None:
        """Answer with another engine from now on (the app's engine choice): the old one's
        state is saved first, tokens are counted by the new one."""
        self.close()
        self.engine = engine
        self._counter = None
        self.states = None
        stateful = hasattr(engine, "save_state") and getattr(engine, "supports_state", True)
        if stateful and not self.store.incognito:
            self.states = StateCache(engine, self.store)  # type: ignore[arg-type]

    def close(self) -> None:
        """Leaving for good (quit): save the state of the conversation the engine holds."""
        if self.states is not None and not self._answering:
            try:
                self.states.save_owner()
            except Exception as exc:
                self.states.last_problem = f"instant resume: {exc}"

    # -- prompts ---------------------------------------------------------------------------

    def model_info(self) -> ModelInfo:
        model = self.engine.model
        if model is None:
            raise SessionError("no model is loaded")
        return model

    def _template(self) -> Template:
        template = self.templates.get(self.template_name)
        if template is None:
            self.last_notice = f"template {self.template_name!r} not found; using auto"
            return self.templates.get(AUTO) or next(iter(self.templates.values()))
        return template

    def _prompt_messages(self, path: list[Message]) -> list[PromptMessage]:
        items: list[PromptMessage] = []
        if self.system_prompt.strip():
            items.append(PromptMessage("system", self.system_prompt))
        for message in path:
            if message.role == "assistant" and not message.content:
                continue  # an answer that failed before writing anything
            items.append(PromptMessage(message.role, message.content))
        return items

    def thinking_switch(self) -> bool:
        """Whether the conversation's template takes ``enable_thinking`` (the model's own
        template, when it mentions the switch); the settings sheet hides the row otherwise."""
        model = self.engine.model
        template = self.templates.get(self.template_name)
        if model is None or template is None or not template.is_auto:
            return False
        return THINKING_VARIABLE in (model.chat_template or "")

    def template_variables(self) -> dict[str, Any]:
        """Extra Jinja variables: ``enable_thinking`` unless the setting is ``auto``."""
        thinking = self.settings.thinking
        if thinking == "auto":
            return {}
        return {THINKING_VARIABLE: thinking == "on"}

    def _render_kwargs(self, model: ModelInfo) -> dict[str, Any]:
        return {
            "variables": self.template_variables(),
            "chat_template_source": model.chat_template,
            "bos_token": model.bos_token or "",
            "eos_token": model.eos_token or "",
            "add_bos": model.add_bos,
            "architecture": model.architecture,
            "model_name": model.name,
            "templates": self.templates,
        }

    def _token_counter(self, model: ModelInfo) -> TokenCounter:
        if self._counter is None or self._counter_model != model.path:
            self._counter = TokenCounter(self.engine.tokenize)
            self._counter_model = model.path
        return self._counter

    def fit(self, path: list[Message], *, extra_reserve: int = 0) -> ContextFit:
        """Render ``path`` for the loaded model, trimmed to its context (blocking: it asks
        the engine to count tokens). Raises ContextFull, SessionError, TemplateError."""
        model = self.model_info()
        settings = self.settings
        reserve = reserve_for(settings.max_tokens, model.n_ctx) + extra_reserve
        return fit_messages(
            self._template(),
            self._prompt_messages(path),
            self._token_counter(model),
            model.n_ctx,
            reserve,
            settings.context_policy,
            **self._render_kwargs(model),
        )

    def fit_for_answer(self, path: list[Message], *, remember: bool = True) -> ContextFit:
        """:meth:`fit` for an answer, trimming so the engine can reuse its cache.

        Trimming the minimum on every turn would shift the prompt's start each turn, and the
        engine (which reuses the longest common prefix) would read the whole conversation
        again for every answer. Instead a trim is sticky (the next turns leave out the same
        old messages, so their prompts extend the previous one) and generous (a quarter of
        the context more than needed is freed, so several turns fit before the next trim).
        """
        kept = path
        if self._trim_from is not None and self.settings.context_policy == "trim":
            ids = [m.id for m in path]
            if self._trim_from in ids:
                kept = path[ids.index(self._trim_from) :]
        fit = self.fit(kept)
        if fit.dropped_messages and self.settings.context_policy == "trim":
            with contextlib.suppress(ContextFull):
                fit = self.fit(kept, extra_reserve=fit.n_ctx // 4)
            if remember:
                self._remember_trim(kept, fit.dropped_messages)
        dropped = fit.dropped_messages + self._shown_count(path[: len(path) - len(kept)])
        return dataclasses.replace(fit, dropped_messages=dropped)

    def _shown_count(self, messages: list[Message]) -> int:
        """How many of ``messages`` go into a prompt (answers that failed empty do not)."""
        return len(self._prompt_messages(messages)) - (1 if self.system_prompt.strip() else 0)

    def _remember_trim(self, kept: list[Message], dropped: int) -> None:
        for index in range(len(kept)):
            if self._shown_count(kept[:index]) >= dropped:
                self._trim_from = kept[index].id
                return

    def measure(self) -> ContextInfo | None:
        """Context numbers of the conversation as it stands (blocking; for the meter)."""
        try:
            fit = self.fit_for_answer(self.path(), remember=False)
        except ContextFull as exc:
            model = self.model_info()
            return ContextInfo(exc.tokens_needed, model.n_ctx, 0)
        except (SessionError, TemplateError):
            return None
        self.last_context = ContextInfo(fit.tokens_used, fit.n_ctx, fit.dropped_messages)
        return self.last_context

    def render_preview(self) -> RenderedPrompt:
        """The exact prompt of the conversation so far (template editor preview)."""
        return self.fit(self.path()).prompt

    # -- answers ---------------------------------------------------------------------------

    def ensure_conversation(self) -> Conversation:
        if self.conversation is None:
            model = self.engine.model
            self.conversation = self.store.create_conversation(
                model_path=model.path if model else None,
                template=self.template_name,
                system_prompt=self.system_prompt,
                settings=self._settings_record(),
            )
        return self.conversation

    def ask(self, text: str) -> AsyncIterator[SessionEvent]:
        """Add a question to the shown path and stream the answer (the question is saved
        only if the conversation with it fits; else the answer is ``AnswerRefused``)."""

        def save() -> Message:
            conversation = self.ensure_conversation()
            return self.store.add_message(conversation.id, "user", text)

        return self._answer(None, question=NewQuestion(text, self.path(), save))

    def save_question(self, question: NewQuestion) -> int:
        """Save a question that fits; returns its id."""
        saved = question.save()
        if self._trim_from == UNSAVED_ID:  # the trim starts at this question
            self._trim_from = saved.id
        return saved.id

    def regenerate(self, assistant_message_id: int) -> AsyncIterator[SessionEvent]:
        """A new answer beside an old one (a new branch; the old one stays reachable)."""
        old = self.store.get_message(assistant_message_id)
        if old.role != "assistant" or old.parent_id is None:
            raise SessionError(f"message {assistant_message_id} is not an answer")
        return self._answer(old.parent_id)

    def edit(self, user_message_id: int, text: str) -> AsyncIterator[SessionEvent]:
        """Ask an edited question beside the original (a new branch) and answer it."""
        old = self.store.get_message(user_message_id)
        if old.role != "user":
            raise SessionError(f"message {user_message_id} is not a question")
        before = self.store.path_to(old.parent_id) if old.parent_id is not None else []

        def save() -> Message:
            return self.store.add_message(
                old.conversation_id, "user", text, parent_id=old.parent_id
            )

        return self._answer(None, question=NewQuestion(text, before, save))

    def continue_answer(self, assistant_message_id: int) -> AsyncIterator[SessionEvent]:
        """Write more of an answer that stopped (max tokens, cancelled, interrupted)."""
        old = self.store.get_message(assistant_message_id)
        if old.role != "assistant" or old.parent_id is None:
            raise SessionError(f"message {assistant_message_id} is not an answer")
        return self._answer(old.parent_id, continuing=old)

    def cancel(self) -> None:
        """Stop the running answer; it is kept and marked cancelled."""
        if self._answering:
            self.engine.cancel()

    async def _answer(
        self,
        parent_id: int | None,
        *,
        continuing: Message | None = None,
        question: NewQuestion | None = None,
    ) -> AsyncIterator[SessionEvent]:
        if self._answering:
            yield AnswerFailed(None, "an answer is already being written", crashed=False)
            return
        self._answering = True
        try:
            async for event in AnswerRun(self, parent_id, continuing, question).events():
                yield event
        finally:
            self._answering = False
