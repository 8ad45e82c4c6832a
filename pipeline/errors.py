"""User-facing errors.

A ``DuihuaError`` is a mistake the user can fix (a missing file, a bad config key, an over-long input).
The CLI prints its message as one line and exits with code 2; everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from models.common.errors import DuihuaError, LexiconError

__all__ = ["ConfigError", "DuihuaError", "InputError", "InputTooLongError", "LexiconError", "first_message"]


def first_message(exc: BaseException) -> str:
    """The first non-empty message along the exception chain (Hydra wraps the useful one)."""
    seen: BaseException | None = exc
    while seen is not None:
        text = str(seen).strip()
        if text:
            return text.splitlines()[0]
        seen = seen.__cause__ or seen.__context__
    return exc.__class__.__name__


class InputError(DuihuaError):
    """An input text or input file cannot be processed as given."""


class InputTooLongError(InputError):
    """Text over ``runtime.max_chars``; its own type so callers (HTTP: 413) need not parse the message."""


class ConfigError(DuihuaError):
    """A config key, override or stage definition is invalid."""
