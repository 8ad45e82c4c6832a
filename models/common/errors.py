"""Errors a user can fix in a training config or its data; the CLI prints them as one line (exit 2)."""


class TrainConfigError(ValueError):
    """A training option or input file is wrong (unknown view, missing data file, bad checkpoint path)."""
