"""The headless core as the app sees it: engine, store, settings and a session factory.

The app owns one :class:`Services`; screens get it as a constructor argument. Everything
here is a thin call into ``tui.engine`` / ``tui.store`` / ``tui.chat`` / ``tui.settings``:
no SQL, no llama.cpp, no widgets. Heavy modules are imported when first used, so the app's
first frame does not wait for them.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tui.chat.session import ChatSession
    from tui.engine.client import EngineClient
    from tui.engine.protocol import LoadParams
    from tui.settings import Settings
    from tui.store import Conversation
    from tui.store.store import Store


class NoModelError(Exception):
    """No model was given, remembered, configured or bundled."""


@dataclass(frozen=True)
class ModelChoice:
    path: str
    why: str  # "requested" | "last used" | "configured default" | "bundled"


class Services:
    """Owns the engine client, the history store and the settings.

    ``engine`` may be any object with the ``EngineClient`` API: tests pass a scripted double
    (``tests/doubles.py``) so pictures of the screen have fixed text. It is typed as the
    real client, whose API the double copies.
    """

    def __init__(
        self,
        *,
        engine: EngineClient | None = None,
        store: Store | None = None,
        settings: Settings | None = None,
        model: str | None = None,
    ) -> None:
        self._engine = engine
        self._store = store
        self._settings = settings
        self.requested_model = model
        self.settings_problems: list[str] = []
        self.store_problem: str | None = None
        """Why the history could not be opened (the app then chats without saving)."""
        self._sessions: list[ChatSession] = []
        self.host_to_confirm: str | None = None
        """A remote host the settings name that the user has not confirmed yet."""
        self.engine_problem: str | None = None

    @property
    def engine(self) -> EngineClient:
        if self._engine is None:
            self._engine = self._configured_engine()
        return self._engine

    def _configured_engine(self) -> EngineClient:
        """The engine the settings name. A remote host not confirmed yet is not used: the
        app starts on the local engines and asks (``host_to_confirm``)."""
        from tui.engine.client import EngineError
        from tui.engine.engines import HostNotConfirmed, make_engine
        from tui.engine.server_client import LocalServerClient

        try:
            return make_engine(None, self.settings)  # type: ignore[return-value]
        except HostNotConfirmed as exc:
            self.host_to_confirm = exc.host
        except EngineError as exc:  # a refused URL, an engine not installed: said at start
            self.engine_problem = str(exc)
        with contextlib.suppress(EngineError):
            return make_engine("auto", self.settings)  # type: ignore[return-value]
        # Neither llama-cpp-python nor llama-server: loading says what to install.
        return LocalServerClient(binary=self.settings.llama_server or None)  # type: ignore[return-value]

    @property
    def engine_kind(self) -> str:
        """``embedded``, ``local`` or ``remote`` (a test double counts as embedded)."""
        from tui.engine.engines import engine_kind

        return engine_kind(self.engine)

    def remote_marker(self) -> str:
        """What the status line shows while a remote server answers (empty otherwise)."""
        engine: Any = self.engine
        if self.engine_kind != "remote":
            return ""
        endpoint = getattr(engine, "endpoint", None)
        plain = endpoint is not None and endpoint.unencrypted_network
        return str(engine.label) + (" (unencrypted)" if plain else "")

    def engine_choices(self) -> list[str]:
        """The engines the picker offers: embedded (installed), local (llama-server found),
        remote (a server URL the rules allow is configured)."""
        from tui.engine.client import EngineError
        from tui.engine.engines import embedded_available, remote_target
        from tui.engine.server_process import find_llama_server

        choices = []
        if embedded_available():
            choices.append("embedded")
        if find_llama_server(self.settings.llama_server):
            choices.append("local")
        if self.settings.server_url:
            with contextlib.suppress(EngineError):
                remote_target(None, self.settings)
                choices.append("remote")
        current = self.engine_kind
        return choices if current in choices else [current, *choices]

    def remote_host(self) -> str | None:
        """The configured remote server's host, if the rules allow its URL."""
        from tui.engine.client import EngineError
        from tui.engine.engines import remote_target

        try:
            return remote_target(None, self.settings).host
        except EngineError:
            return None

    def switch_engine(self, kind: str, *, trusted: bool = False) -> None:
        """Answer with another engine from now on (blocking: the old one stops). Raises
        ``HostNotConfirmed`` for a remote host the user has not confirmed (``trusted``
        confirms it) and ``EngineError`` for one that cannot be used."""
        from tui.engine.engines import make_engine

        engine: Any = make_engine(kind, self.settings, trusted=trusted)
        old, self._engine = self._engine, engine
        for session in self._sessions:
            session.use_engine(engine)
        if old is not None:
            old.shutdown()
        self.host_to_confirm = None

    @property
    def store(self) -> Store:
        if self._store is None:
            from tui.store import Store, StoreError

            try:
                self._store = Store.open()
            except StoreError as exc:
                # A damaged or unreachable history must not stop the app, nor be touched:
                # chat in memory (marked incognito) and say why nothing is saved.
                self.store_problem = f"{exc}. Chatting without saving (incognito)."
                self._store = Store.open_incognito()
            if self._store.read_only:
                self.store_problem = (
                    f"history file {self._store.path}: it cannot be written (read-only); "
                    "you can browse it, but new answers cannot be saved"
                )
        return self._store

    @property
    def open_store(self) -> Store | None:
        """The history if it is open now (None: not yet, or locked away)."""
        return self._store

    @property
    def database_path(self) -> Path:
        from tui import paths

        return paths.database_path()

    def set_store(self, store: Store) -> None:
        """The history opened elsewhere (a locked one, by the unlock screen)."""
        self._store = store
        self.store_problem = None

    def forget_store(self) -> None:
        """Open the history afresh when next used (after a wipe)."""
        self._store = None

    def lock(self) -> None:
        """Close every session and the history: a locked history's key is dropped with it.
        The engine stays loaded (it never held the key)."""
        for session in self._sessions:
            session.close()
        self._sessions.clear()
        if self._store is not None:
            self._store.close()
            self._store = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from tui.settings import load_settings

            self._settings, problems = load_settings()
            self.settings_problems = [str(p) for p in problems]
        return self._settings

    def reload_settings(self) -> Settings:
        """Re-read ``config.toml`` (after the settings sheet saved it)."""
        self._settings = None
        return self.settings

    def set_settings(self, settings: Settings) -> None:
        """Replace the app-wide settings in memory (settings sheet, theme picker)."""
        self._settings = settings

    def new_session(self) -> ChatSession:
        from tui.chat.session import ChatSession

        session = ChatSession(self.engine, self.store, self.settings)
        self._sessions.append(session)
        return session

    # conversations -------------------------------------------------------------

    def list_conversations(self, limit: int = 200) -> list[Conversation]:
        return list(self.store.list_conversations(limit=limit))

    def conversation_title(self, session: ChatSession) -> str:
        conversation = self.conversation(session)
        return conversation.title if conversation is not None else ""

    def conversation(self, session: ChatSession) -> Conversation | None:
        conversation_id = session.conversation_id
        if conversation_id is None:
            return None
        try:
            return session.store.get_conversation(conversation_id)
        except LookupError:
            return None

    def branches(self, session: ChatSession, message_id: int) -> tuple[int, int]:
        """(1-based position, count) of a message among its sibling branches."""
        try:
            found = session.store.siblings(message_id)
        except LookupError:
            return (1, 1)
        return (found.index + 1, found.count)

    def template_name(self, session: ChatSession) -> str:
        return str(session.template_name)

    def delete_message(self, session: ChatSession, message_id: int) -> None:
        """Delete a message and everything under it, leaving nothing of it on disk
        (blocking: see :meth:`ChatSession.delete_message`)."""
        session.delete_message(message_id)

    # models --------------------------------------------------------------------

    def choose_model(self) -> ModelChoice:
        """The model to load at start: requested → last used → configured default → bundled.

        "Last used" is the model of a recent conversation, but only one the user loaded on
        this device: an imported conversation's ``model_path`` is information, not a choice.
        """
        from tui.engine import prefs

        if self.requested_model:
            return ModelChoice(self._resolve(self.requested_model), "requested")
        for conversation in self.store.list_conversations(limit=20):
            path = conversation.model_path
            if path and Path(path).is_file() and prefs.was_chosen(path):
                return ModelChoice(path, "last used")
        default = self.settings.default_model
        why = "configured default" if default else "bundled"
        return ModelChoice(self._resolve(default), why)

    def _resolve(self, name: str) -> str:
        """A model name or path (empty: the bundled model) to a file."""
        from tui.engine.catalog import choose_model
        from tui.engine.client import EngineError

        try:
            return str(choose_model(name, "", self.settings.model_dirs))
        except EngineError as exc:
            raise NoModelError(str(exc)) from exc

    def load_params(self, path: str) -> LoadParams:
        """What the app loads ``path`` with. Every model the app loads is the user's choice
        (the picker, ``--model``, the configured default, the bundled one) or one chosen
        before, so it is remembered as chosen here (see :meth:`choose_model`)."""
        from tui.engine import prefs
        from tui.engine.protocol import LoadParams

        if self.engine_kind != "remote":  # a remote server's model is not a file here
            with contextlib.suppress(OSError):  # unwritable: it is simply not remembered
                prefs.remember_chosen(path)

        values = dict(self.settings.load_params())
        values["path"] = path
        return LoadParams.from_dict(values)

    def close(self) -> None:
        for session in self._sessions:  # instant resume: save the open conversation's state
            session.close()
        self._sessions.clear()
        if self._engine is not None:
            self._engine.shutdown()
        if self._store is not None:
            self._store.close()
