"""Small helpers for the model cards every ``train`` command writes."""

from __future__ import annotations

from pathlib import Path


def relative_path(path: str, root: str | None) -> str:
    """Repository-relative paths in a card, so it reads the same on every machine."""
    if root and Path(path).is_absolute():
        try:
            return str(Path(path).resolve().relative_to(Path(root).resolve()))
        except ValueError:
            return path
    return path
