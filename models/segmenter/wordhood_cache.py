"""The wordhood index on disk, keyed by content hash and data only.

Why: folding and indexing the segmenter's ~270k list words is most of a cold start, and the result depends only on
the list files, the user's words and the code that folds and hashes them. All of those go into the key (the code
as the bytes of its modules, so a changed fold can never meet an index built by the old one), and the index
itself is two integer arrays in an ``.npz``, loaded with ``allow_pickle=False`` once its SHA-256, recorded in the
JSON beside it, matches (the rules of ``models.common.disk_cache``). A file that fails a check is ignored and the
index rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from models import charmap, normalization
from models.common.disk_cache import file_sha256, prune, temp_path
from models.segmenter import word_index, wordhood

if TYPE_CHECKING:
    from models.segmenter.wordhood import Wordhood

log = logging.getLogger(__name__)
_FORMAT = "wordhood-v1"
_CODE = (charmap, normalization, word_index, wordhood)  # what turns list lines into the index
KEEP = 4  # indexes kept per cache folder (~6 MB each): one per checkpoint and user word list in use


def content_hash(files: Mapping[str, Path], extra: Iterable[str]) -> str:
    h = hashlib.sha256(_FORMAT.encode())
    for module in _CODE:
        h.update(b"|code|" + Path(module.__file__).read_bytes())
    for name, path in files.items():
        h.update(f"|list|{name}|".encode() + path.read_bytes())
    h.update(b"|extra|" + "\n".join(sorted(extra)).encode())
    return h.hexdigest()


def cached_wordhood(cls: type[Wordhood], files: Mapping[str, Path], extra_words: Iterable[str],
                    cache_dir: Path) -> Wordhood:
    """The wordhood of ``files`` (source name -> list file) and ``extra_words``, from ``cache_dir/wordhood``
    when an intact index for exactly these inputs is there, else built and written there."""
    extra = {w for w in map(wordhood.fold_word, extra_words) if len(w) >= 2}
    digest = content_hash(files, extra)
    cache = cache_dir.expanduser() / "wordhood" / digest[:32]

    def read_sources() -> dict[str, set[str]]:
        return {name: wordhood.read_words([path]) for name, path in files.items()}

    index = _read(cache, digest, list(files))
    if index is not None:
        return cls.from_index(list(files), index, extra, read_sources)
    built = cls(read_sources(), extra)
    _write(built, cache, digest)
    return built


def _read(cache: Path, digest: str, names: list[str]) -> word_index.WordIndex | None:
    meta_file, data_file = cache.with_suffix(".json"), cache.with_suffix(".npz")
    if not meta_file.is_file():
        return None
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        if meta.get("format") != _FORMAT or meta.get("content_hash") != digest or meta.get("names") != names:
            return None
        if file_sha256(data_file) != meta["data_sha256"]:
            raise ValueError(f"{data_file.name} does not match its checksum")
        with np.load(data_file, allow_pickle=False) as arrays:
            return word_index.WordIndex(arrays["table"], arrays["openings"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("ignoring unreadable wordhood cache %s (%s)", meta_file, exc)
        return None


def _write(built: Wordhood, cache: Path, digest: str) -> None:
    """The arrays first, then the JSON that records their checksum, each by rename (``disk_cache``)."""
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_path(cache.parent, ".npz.tmp")
        with tmp.open("wb") as fh:
            np.savez(fh, table=built.index.table, openings=built.index.openings)
        checksum = file_sha256(tmp)
        os.replace(tmp, cache.with_suffix(".npz"))
        meta = {"format": _FORMAT, "content_hash": digest, "data_sha256": checksum, "names": built.names}
        tmp = temp_path(cache.parent, ".json.tmp")
        tmp.write_text(json.dumps(meta), encoding="utf-8")
        os.replace(tmp, cache.with_suffix(".json"))
        prune(cache.parent, keep=KEEP, data_suffix=".npz")
    except OSError as exc:  # read-only home etc.: run without a cache
        log.warning("could not write wordhood cache %s (%s)", cache, exc)
