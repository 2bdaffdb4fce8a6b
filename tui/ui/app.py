"""The Burrow app: wiring only. Owns the services, loads the model, routes the sheets.

Screens live in :mod:`tui.ui.screens` and widgets in :mod:`tui.ui.widgets`; this module
creates them and connects them to the headless core (:class:`tui.ui.services.Services`).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from textual import events, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from tui.ui.lock import IDLE_CHECK_SECONDS, AppLock
from tui.ui.messages import ModelStateChanged
from tui.ui.screens.chat import ChatScreen
from tui.ui.services import NoModelError, Services

#: What counts as the user being there, for auto-lock.
ACTIVITY = (events.Key, events.MouseDown, events.MouseScrollDown, events.MouseScrollUp)

#: The app's action that opens each sheet -> the sheet's name in the command palette.
SHEETS: dict[str, str] = {
    "open_settings": "Settings",
    "open_models": "Models",
    "open_get_models": "Get models",
    "open_templates": "Templates",
    "open_system_prompt": "System prompt",
    "open_history": "History",
    "pick_theme": "Themes",
    "open_security": "Security",
}


class BurrowApp(App[int]):
    """Private, offline chat with a local model."""

    TITLE = "Burrow"
    ENABLE_COMMAND_PALETTE = True

    # Toasts at the top, under every screen's 3-row bar: at the bottom (Textual's default)
    # they cover the composer, Send/Stop and the sheets' action rows, and a tap on them
    # only dismisses them. Up here they cover the top of the transcript or of a sheet's body.
    CSS = """
    ToastRack {
        dock: top;
        align: right top;
        margin: 3 0 0 0;
    }
    Toast {
        max-width: 70%;
        max-height: 6;
    }
    Screen.-compact Toast {
        max-width: 100%;
        padding: 0 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("ctrl+s", "open_settings", "Settings"),
        Binding("ctrl+o", "open_models", "Models"),
        Binding("ctrl+f", "open_history", "History", show=False),
    ]

    def __init__(
        self,
        services: Services | None = None,
        *,
        incognito: bool = False,
        load_model: bool = True,
    ) -> None:
        super().__init__()
        self.services = services or Services()
        self._incognito = incognito
        self._load_model_at_start = load_model
        self.model_state = ModelStateChanged("none")
        self.chat: ChatScreen | None = None
        self.app_lock = AppLock(self)
        self._started = False

    def on_mount(self) -> None:
        from tui.ui.themes import install_themes

        install_themes(self, self.services)  # built-in + user themes; falls back, never raises
        for problem in self.services.settings_problems:
            self.notify(problem, title="Settings", severity="warning", timeout=10)
        if self.app_lock.history_locked:
            self.app_lock.show_unlock(self.start_chat)  # nothing of the history is loaded before
        else:
            self.start_chat()
        if not self.is_headless:
            self._quit_on_signals()
        self.set_interval(IDLE_CHECK_SECONDS, self.app_lock.check_idle)
        self.call_after_refresh(self._freeze_startup_heap)

    def start_chat(self) -> None:
        """The chat screen on the open history (at start, or after an unlock)."""
        self.chat = ChatScreen(self.services, incognito=self._incognito)
        self.push_screen(self.chat)
        self.services.store  # noqa: B018 - opens the history now, so a problem is known
        if self.services.store_problem:
            self.notify(self.services.store_problem, title="History", severity="error", timeout=30)
        if not self._started:  # once, not after each unlock
            self.services.engine  # noqa: B018 - made here, not in two threads; a host to confirm
            if self._load_model_at_start:
                self.load_model()
            if self.services.host_to_confirm:
                self._confirm_host(self.services.host_to_confirm)
            if self.services.engine_problem:
                problem = self.services.engine_problem
                self.notify(problem, title="Engine", severity="error", timeout=15)
        self._started = True

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, ACTIVITY):
            self.app_lock.touch()  # what counts as activity for auto-lock
        await super().on_event(event)

    def _quit_on_signals(self) -> None:
        """SIGTERM and SIGHUP (the terminal closed) quit as the user would, keeping a streaming
        answer (saved as it is, marked cancelled) instead of leaving it ``streaming``."""
        import asyncio
        import contextlib
        import signal

        loop = asyncio.get_running_loop()
        for name in ("SIGTERM", "SIGHUP"):
            signum = getattr(signal, name, None)
            if signum is None:
                continue
            # Not the main thread, or no signals here: the default stays.
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, self._signalled, signum)

    def _signalled(self, signum: int) -> None:
        self.run_worker(self._quit_saving(128 + signum), group="quit", exclusive=True)

    async def _quit_saving(self, code: int) -> None:
        chat = self.chat
        if chat is not None and chat.streaming:
            chat.session.cancel()
            await chat.wait_for_answer()
        self.exit(code)

    def _freeze_startup_heap(self) -> None:
        """Take what start-up built (modules, styles, the first screen) out of the garbage
        collector's way. Each full collection scanned all of it: ~50 ms of the UI thread,
        about twice per answer, taken from the model while it writes. Objects made later are
        collected as usual."""
        gc.collect()
        gc.freeze()

    def _configured_theme(self) -> str | None:
        name = str(self.services.settings.theme)
        return name if name in self.available_themes else None

    # the model ------------------------------------------------------------------

    @work(thread=True, group="model", exclusive=True, exit_on_error=False)
    def load_model(self, path: str | None = None) -> None:
        """Load ``path`` (default: the start-up choice) in the engine worker, off the UI."""
        try:
            if path is None:
                path = self.services.choose_model().path
        except NoModelError as exc:
            self.post_message(ModelStateChanged("failed", "", str(exc), missing=True))
            return
        name = path.rsplit("/", 1)[-1]
        self.post_message(ModelStateChanged("loading", name))
        try:
            info = self.services.engine.load(self.services.load_params(path))
        except Exception as exc:  # ModelLoadError, WorkerCrashed: shown, never raised
            self.post_message(ModelStateChanged("failed", name, str(exc) or type(exc).__name__))
            return
        # The file name says more than general.name: it carries the quantization.
        label = name.removesuffix(".gguf") or info.name or name
        if self.services.engine_kind == "remote":
            label = info.path.rsplit("/", 1)[-1].removesuffix(".gguf") or label
        self.post_message(ModelStateChanged("ready", label, path))

    def on_model_state_changed(self, message: ModelStateChanged) -> None:
        self.model_state = message
        if self.chat is not None and self.chat.is_mounted:
            self.chat.set_model_state(message)
        if message.state == "failed":
            self.notify(message.detail, title="Model not loaded", severity="error", timeout=10)
        if message.missing:
            self.show_welcome()

    @work(thread=True, group="model", exclusive=True, exit_on_error=False)
    def action_restart_engine(self) -> None:
        """Restart the worker process (after a crash) and load the model again."""
        self.post_message(ModelStateChanged("loading", "engine restart"))
        try:
            self.services.engine.restart()
        except Exception as exc:
            self.post_message(ModelStateChanged("failed", "", f"restart failed: {exc}"))
            return
        self.call_from_thread(self.load_model)

    def _confirm_host(self, host: str) -> None:
        """The settings name a remote server never used before: ask, naming it; until then
        (and after a No) the local engine answers."""
        from tui.ui.screens.dialogs import ConfirmSheet
        from tui.ui.screens.models_engine import confirm_host_question

        def answered(yes: bool | None) -> None:
            if yes:
                self._use_remote()
            else:
                self.notify(f"Not using {host}: answers stay on this device.", title="Engine")

        self.push_screen(ConfirmSheet(confirm_host_question(host), yes="Use it"), answered)

    @work(thread=True, group="model", exclusive=True, exit_on_error=False)
    def _use_remote(self) -> None:
        try:
            self.services.switch_engine("remote", trusted=True)
        except Exception as exc:
            self.post_message(ModelStateChanged("failed", "", str(exc)))
            return
        self.call_from_thread(self.load_model, "remote")

    # sheets ------------------------------------------------------------------------

    def show_welcome(self) -> None:
        """No model anywhere: say where to put one (tui/ui/screens/welcome.py)."""
        from tui.ui.screens.welcome import WelcomeScreen

        self.push_screen(WelcomeScreen(self.services), self._welcome_closed)

    def _welcome_closed(self, result: Any) -> None:
        if isinstance(result, str) and result == "open_models":
            self.action_open_models()
        elif isinstance(result, str) and result:
            self.load_model(result)

    # The sheets are imported when first opened, not before the app's first frame.

    def _open_sheet(self, screen_class: Callable[[Services], Screen[Any]]) -> None:
        """Show a sheet; whatever it dismisses with goes to :meth:`sheet_closed`."""
        self.push_screen(screen_class(self.services), self.sheet_closed)

    def sheet_closed(self, result: Any) -> None:
        """A sheet was dismissed: settings, template or history may have changed."""
        if self.chat is not None:
            self.chat.sheet_closed(result)

    def action_open_settings(self) -> None:
        from tui.ui.screens.settings import SettingsScreen

        self._open_sheet(SettingsScreen)

    def action_open_models(self) -> None:
        from tui.ui.screens.models import ModelsScreen

        self._open_sheet(ModelsScreen)

    def action_open_get_models(self) -> None:
        from tui.ui.screens.get_models import GetModelsScreen

        self._open_sheet(GetModelsScreen)

    def action_open_templates(self) -> None:
        from tui.ui.screens.templates import TemplatesScreen

        self._open_sheet(TemplatesScreen)

    def action_open_system_prompt(self) -> None:
        from tui.ui.screens.system_prompt import SystemPromptScreen

        self._open_sheet(SystemPromptScreen)

    def action_open_history(self) -> None:
        from tui.ui.screens.history import HistoryScreen

        self._open_sheet(HistoryScreen)

    def action_pick_theme(self) -> None:
        from tui.ui.screens.themes import ThemeScreen

        self._open_sheet(ThemeScreen)

    def action_open_security(self) -> None:
        from tui.ui.screens.security import SecuritySheet

        self._open_sheet(SecuritySheet)

    # locked history (tui/ui/lock.py) -------------------------------------------------

    def action_lock_now(self) -> None:
        """Lock the screen now (a streaming answer stops and is kept as it is)."""
        self.run_worker(
            self.app_lock.lock_now(cancel=True, note="Locked."), group="lock", exclusive=True
        )

    def action_panic_wipe(self) -> None:
        """Ask for the typed word, then destroy the history (tui/ui/lock.py)."""
        self.app_lock.ask_panic_wipe()

    # command palette ---------------------------------------------------------------

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        chat = self.chat
        if chat is not None and screen is chat:
            yield from chat.commands()
        elif callable(getattr(screen, "commands", None)):
            yield from screen.commands()  # type: ignore[attr-defined]  # a sheet's own actions
        for action, label in SHEETS.items():
            yield SystemCommand(label, f"Open {label.lower()}", getattr(self, f"action_{action}"))
        yield SystemCommand(
            "Restart engine",
            "Restart the model worker and reload the model",
            self.action_restart_engine,
        )
        yield from super().get_system_commands(screen)

    # quitting ---------------------------------------------------------------------

    async def action_quit(self) -> None:
        chat = self.chat
        if chat is None or not chat.streaming:
            self.exit(0)
            return
        from tui.ui.screens.dialogs import ConfirmSheet

        async def answered(yes: bool | None) -> None:
            if yes and chat is not None:
                chat.session.cancel()
                await chat.wait_for_answer()
                self.exit(0)

        self.push_screen(
            ConfirmSheet(
                "An answer is still streaming. Quit? The partial answer is kept.", yes="Quit"
            ),
            answered,
        )

    def on_unmount(self) -> None:
        self.services.close()
