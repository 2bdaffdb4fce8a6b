"""A footer that shows whole keys only: the keys that do not fit are hidden, never cut."""

from __future__ import annotations

from textual.events import Resize
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

#: Keys kept first when the footer is short.
KEEP = ("escape",)


class FittingFooter(Footer):
    """Textual's footer lays its keys out in one row and clips the row, so at 40 columns
    the last key reads ``esc Sto``. This one hides, from the right, every key that does not
    end inside the footer (the command palette's key, docked right, stays; Esc is kept
    first)."""

    def __init__(self, *, show_command_palette: bool = True, compact: bool = False) -> None:
        super().__init__(show_command_palette=show_command_palette, compact=compact)
        # Textual's footer composes no keys until the screen announces its bindings, a
        # refresh or more after the screen is shown: a blank row. The screen's bindings
        # are known when the footer is composed, so compose the keys at once (the
        # announcement composes them again if they changed).
        self.set_reactive(Footer._bindings_ready, True)

    def on_mount(self) -> None:
        self._fit()

    async def recompose(self) -> None:
        # Fit inside the same batch as the new keys, so no frame shows them before the fit.
        with self.app.batch_update():
            await super().recompose()
            self._fit()

    def on_resize(self, event: Resize) -> None:
        self._fit()

    def _width(self, key: FooterKey) -> int:
        # From the key's own text and styles, not from a layout (which a recompose or a
        # resize has not done yet when this runs).
        content = key.get_content_width(self.size, self.app.size)
        return content + key.styles.gutter.width + key.styles.margin.width

    def _fit(self) -> None:
        if not self.is_attached:
            return
        keys = [k for k in self.query(FooterKey) if not k.has_class("-command-palette")]
        palette = [k for k in self.query(FooterKey) if k.has_class("-command-palette")]
        # Before the first layout the footer has no size yet; it spans the screen.
        width = self.size.width or self.screen.size.width or self.app.size.width
        room = width - sum(self._width(k) for k in palette)
        # Keys that must stay when the row is short (Stop while an answer streams) first,
        # then the others in their order; once one does not fit, the later ones go too.
        first = [k for k in keys if k.key in KEEP]
        overflow = False
        for key in first + [k for k in keys if k.key not in KEEP]:
            room -= self._width(key)
            overflow = overflow or room < 0
            key.display = not overflow
