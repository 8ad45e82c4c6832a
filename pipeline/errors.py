"""User-facing errors.

A ``DuihuaError`` is a mistake the user can fix (a missing file, a bad config key, an over-long input).
The CLI prints its message as one line and exits with code 2; everything else is a bug and keeps its traceback.
"""

from __future__ import annotations


def first_message(exc: BaseException) -> str:
    """The first non-empty message along the exception chain (Hydra wraps the useful one)."""
    seen: BaseException | None = exc
    while seen is not None:
        text = str(seen).strip()
        if text:
            return text.splitlines()[0]
        seen = seen.__cause__ or seen.__context__
    return exc.__class__.__name__


class DuihuaError(Exception):
    """An error caused by user input or configuration; its message names the offending file/key/value."""


class LexiconError(DuihuaError):
    """A lexicon folder, manifest or entry file is missing or malformed."""


class InputError(DuihuaError):
    """An input text or input file cannot be processed as given."""


class InputTooLongError(InputError):
    """Text over ``runtime.max_chars``; its own type so callers (HTTP: 413) need not parse the message."""


class ConfigError(DuihuaError):
    """A config key, override or stage definition is invalid."""
