"""Errors a user can cause. Each carries a one-line message; the CLI prints it and exits 2.

Anything that is not a ``tokprobe.Error`` is a bug in tokprobe.
"""

from __future__ import annotations


class Error(Exception):
    """Base class of every error a user can cause (bad file, bad option, bad data)."""

    def __init__(self, message: str) -> None:
        # Keep messages to one line: the CLI prints them verbatim.
        super().__init__(" ".join(str(message).split()))


class InputError(Error, ValueError):
    """Bad arguments: wrong dtype, shape, option value, unknown name."""


class FileFormatError(Error):
    """A file that is missing, truncated, or not in the format expected (e.g. not GGUF)."""


class VocabMismatchError(Error):
    """Two models that must share a vocabulary do not."""


class EmptyInputError(Error):
    """A corpus, problem set or token stream with nothing in it."""


class ConfigError(Error):
    """A study configuration that is invalid; the message names the key."""
