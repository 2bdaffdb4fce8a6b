"""Burrow: a private, offline chat with a local LLM in the terminal."""

__version__ = "0.1.0"
