"""The store's base error, in a module of its own so the drivers and keys can raise it
without importing the schema."""

from __future__ import annotations


class StoreError(Exception):
    """The history database cannot be used (newer schema, no FTS5, incognito misuse...)."""
