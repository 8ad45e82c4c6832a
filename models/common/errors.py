"""Errors a user can fix; the CLI prints them as one line (exit 2).

``DuihuaError`` is defined here, at the bottom of the import graph, so that code under ``models/`` (the lexicon
matcher, the trainers) raises the same user-facing errors the pipeline catches; ``pipeline.errors`` re-exports it.
"""


class DuihuaError(Exception):
    """An error caused by user input or configuration; its message names the offending file/key/value."""


class LexiconError(DuihuaError):
    """A lexicon folder, manifest or entry file is missing or malformed."""


class TrainConfigError(ValueError):
    """A training option or input file is wrong (unknown view, missing data file, bad checkpoint path)."""
