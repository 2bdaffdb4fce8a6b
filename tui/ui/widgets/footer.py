"""A footer that shows whole keys only: the keys that do not fit are hidden, never cut."""

from __future__ import annotations

from textual.events import Resize
from textual.widgets import Footer
from textual.widgets._footer import FooterKey


class FittingFooter(Footer):
    """Textual's footer lays its keys out in one row and clips the row, so at 40 columns
    the last key reads ``esc Sto``. This one hides, from the right, every key that does not
    end inside the footer (the command palette's key, docked right, stays)."""

    async def recompose(self) -> None:
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
        keys = list(self.query(FooterKey))
        room = self.size.width - sum(
            self._width(k) for k in keys if k.has_class("-command-palette")
        )
        overflow = False
        for key in keys:
            if key.has_class("-command-palette"):
                continue
            room -= self._width(key)
            # Once one key does not fit, the keys after it go too (their order is kept).
            overflow = overflow or room < 0
            key.display = not overflow
