"""The model picker's engine choice: the Engine button cycles through the engines this
device has (embedded, local llama-server, the configured remote server), and the remote
server's entry in the list; the first use of a remote host asks, naming it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import work
from textual.widgets import Button

if TYPE_CHECKING:
    from tui.ui.services import Services

REMOTE_OPTION = "remote-server"


def confirm_host_question(host: str) -> str:
    return (
        f"Send your conversations to {host}?\n\n"
        f"The remote engine sends each question, with the conversation so far, to the "
        f"llama-server at {host}. Nothing is sent before you tap Use it; Burrow remembers "
        "your answer for this host."
    )


class EngineChoice:
    """Mixed into :class:`tui.ui.screens.models.ModelsScreen` (which provides ``services``,
    ``loaded_path``, ``_load_now`` and ``action_rescan``)."""

    services: Services
    app: Any
    query_one: Any
    notify: Any

    def loaded_path(self) -> str | None:
        raise NotImplementedError

    def _load_now(self, path: str) -> None:
        raise NotImplementedError

    def action_rescan(self) -> None:
        raise NotImplementedError

    def _engine_label(self) -> str:
        marker = self.services.remote_marker()
        return marker or self.services.engine_kind

    def action_engine(self) -> None:
        """The next engine this device has (embedded, local llama-server, remote)."""
        choices = self.services.engine_choices()
        if len(choices) < 2:
            self.notify(
                f"Only the {choices[0]} engine is available here: install llama-server "
                "(Termux: pkg install llama-cpp) or set server_url for a remote one.",
                title="Engine",
            )
            return
        current = self.services.engine_kind
        following = choices[(choices.index(current) + 1) % len(choices)]
        self.use_engine(following)

    def use_engine(self, kind: str) -> None:
        """Switch to ``kind``; a remote host used for the first time is confirmed first."""
        from tui.engine.engines import host_confirmed

        host = self.services.remote_host() if kind == "remote" else None
        if host is None or host_confirmed(host):
            # The model moves along; a remote server's model is not a file here (None: the
            # start-up choice loads).
            local = self.services.engine_kind != "remote"
            self._switch(kind, False, self.loaded_path() if local else None)
            return
        from tui.ui.screens.dialogs import ConfirmSheet

        question = confirm_host_question(host)

        def answered(yes: bool | None) -> None:
            if yes:
                self._switch(kind, True, None)

        self.app.push_screen(ConfirmSheet(question, yes="Use it"), answered)

    @work(thread=True, group="engine", exclusive=True, exit_on_error=False)
    def _switch(self, kind: str, trusted: bool, path: str | None) -> None:
        try:
            self.services.switch_engine(kind, trusted=trusted)
        except Exception as exc:  # a refused URL, no binary: shown, never raised
            self.app.call_from_thread(self.notify, str(exc), title="Engine", severity="error")
            return
        from tui.settings import SettingsError, set_config_value

        try:  # the choice stays for the next start
            set_config_value("engine", kind)
            self.services.set_settings(self.services.settings.replace(engine=kind))
        except (SettingsError, OSError) as exc:
            self.app.call_from_thread(self.notify, f"Used now but not saved: {exc}")
        self.app.call_from_thread(self._switched, path)

    def _switched(self, path: str | None) -> None:
        self.query_one("#models-engine", Button).label = self._engine_label()
        if self.services.engine_kind == "remote":
            self._load_now("remote")
        elif path is not None:
            self._load_now(path)
        else:
            self.app.load_model()  # type: ignore[attr-defined]
        self.action_rescan()
