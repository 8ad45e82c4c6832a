"""Where the shipped data lives: ``conf/``, ``lexicons/``, ``checkpoints/`` and ``demo/``.

In a checkout (and an editable install, which reads the checkout) they are the top-level folders next to
``pipeline/``. A wheel carries them as package data in ``pipeline/_data/`` (``setup.py`` maps the top-level
folders there at build time), found through ``importlib.resources``. ``DUIHUA_ROOT`` overrides both: a folder
holding ``conf/`` (and whatever its ``paths`` config points at).
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

DATA_DIRS = ("conf", "lexicons", "checkpoints", "demo")   # setup.py ships these; keep the two in step
PACKAGED = "_data"                                         # their folder inside the installed ``pipeline`` package
MARKER = Path("conf") / "pipeline.yaml"                    # a data root has this file


def packaged_root() -> Path | None:
    """``pipeline/_data`` of an installed wheel, or None (a checkout, or a package not unpacked on disk)."""
    root = files("pipeline").joinpath(PACKAGED)
    return root if isinstance(root, Path) and (root / MARKER).is_file() else None


def checkout_root() -> Path:
    """The folder above ``pipeline/``: the checkout's root when running from one."""
    return Path(__file__).resolve().parents[1]


def data_root() -> Path:
    """The folder holding ``conf/``, ``lexicons/``, ``checkpoints/`` and ``demo/``: ``DUIHUA_ROOT`` when set,
    else the installed package data, else the checkout. ``pipeline.config.ROOT`` is this, taken at import."""
    env = os.environ.get("DUIHUA_ROOT")
    if env:
        return Path(env).expanduser()
    return packaged_root() or checkout_root()


def data_path(name: str) -> Path:
    """One of the shipped folders, e.g. ``data_path("demo")`` for the web page ``duihua serve`` serves."""
    return data_root() / name
