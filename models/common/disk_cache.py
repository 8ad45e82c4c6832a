"""The parts every data-only disk cache shares: atomic writes, checksums and pruning.

Why one place: a cache folder is somewhere other processes can write, so each cache here follows the same rules.
A data file is written under a temporary name and renamed into place, its SHA-256 goes into a JSON file written
(and renamed) after it, and a reader checks that checksum before parsing the data. Pruning keeps the newest
pairs, since each edit of the inputs makes a new key and the folder would otherwise grow without bound.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from pathlib import Path


def temp_path(folder: Path, suffix: str) -> Path:
    """A fresh, empty file in ``folder`` to write into before renaming it into place."""
    fd, name = tempfile.mkstemp(dir=folder, suffix=suffix)
    os.close(fd)
    return Path(name)


def file_sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def prune(cache_dir: Path, keep: int, data_suffix: str) -> None:
    """Delete all but the ``keep`` most recently written ``<key>.json`` files with their ``<key><data_suffix>``,
    and leftovers older than an hour that a writer killed between its two files leaves behind."""
    stale = time.time() - 3600
    for orphan in [*cache_dir.glob("*.tmp"), *cache_dir.glob(f"*{data_suffix}")]:
        if orphan.suffix == ".tmp" or not orphan.with_suffix(".json").exists():
            with contextlib.suppress(OSError):
                if orphan.stat().st_mtime < stale:
                    orphan.unlink()
    metas = sorted(cache_dir.glob("*.json"), key=lambda f: f.stat().st_mtime, reverse=True)
    for old in metas[keep:]:
        old.unlink(missing_ok=True)
        old.with_suffix(data_suffix).unlink(missing_ok=True)


def default_cache_dir() -> Path:
    """``$DUIHUA_CACHE_DIR`` or ``~/.cache/duihua``, read at call time (the pipeline config's ``paths.cache``
    default is the same), so that a process that sets the variable later, as the test suite does, is heard."""
    return Path(os.environ.get("DUIHUA_CACHE_DIR") or "~/.cache/duihua").expanduser()
