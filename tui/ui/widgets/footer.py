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
        self.call_after_refresh(self._fit)

    def on_resize(self, event: Resize) -> None:
        for key in self._keys():
            key.display = True
        self.call_after_refresh(self._fit)

    def _keys(self) -> list[FooterKey]:
        return [k for k in self.query(FooterKey) if not k.has_class("-command-palette")]

    def _fit(self) -> None:
        if not self.is_attached:
            return
        right = self.scrollable_content_region.right
        overflow = False
        for key in self._keys():
            # Once one key does not fit, the keys after it go too (order is kept).
            overflow = overflow or key.region.right > right or not key.region.width
            if overflow:
                key.display = False
