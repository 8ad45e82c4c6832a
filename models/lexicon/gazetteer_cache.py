"""The gazetteer's on-disk cache, keyed by content hash and data only.

Why a disk cache: building from ~100k entries takes a noticeable fraction of a second. The cache is keyed by a
SHA-256 over the manifests, entry files and normalization version, so any edit to a lexicon invalidates it and a
stale automaton can never be served.

Why this cache format: the cache folder is a place other processes can write, and its file names follow from
public lexicon content, so reading the cache must never run code. It is data only: the automaton maps each
surface to an integer (pyahocorasick's ``STORE_INTS``, saved and loaded by its own binary format with no Python
objects inside), and a JSON file holds the entries those integers index plus the SHA-256 of the automaton file,
checked before the automaton is parsed. A file that fails any check is ignored and the gazetteer rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import ahocorasick

from models.common.disk_cache import file_sha256, temp_path
from models.common.disk_cache import prune as prune_pairs
from models.common.errors import LexiconError
from models.lexicon.gazetteer import Entries, Gazetteer, SlotSource
from models.lexicon.manifest import MANIFEST_NAME, read_manifest
from models.normalization import NORMALIZATION_VERSION

log = logging.getLogger(__name__)
_CACHE_FORMAT = "gazetteer-v2"
CACHE_KEEP = 16  # newest automata kept in the cache folder (~5 MB each); a server reloading edits writes one each


def content_hash(dirs: Sequence[tuple[str, Path]]) -> str:
    """Hash manifests and entry files (bytes) plus the normalization version, without parsing entries."""
    h = hashlib.sha256(f"{_CACHE_FORMAT}|norm{NORMALIZATION_VERSION}".encode())
    for name, path in dirs:
        manifest = read_manifest(path)
        h.update(f"|{name}|".encode())
        h.update((path / MANIFEST_NAME).read_bytes())
        for slot in manifest.slots:
            for fname in slot.files:
                file = path / fname
                if not file.is_file():
                    raise LexiconError(f"lexicon file not found: {file} (listed in {path / MANIFEST_NAME})")
                h.update(f"|{slot.type}/{fname}|".encode())
                h.update(file.read_bytes())
    return h.hexdigest()


def read_meta(cache: Path, digest: str) -> dict | None:
    """The cache's JSON part when it is this version of these lexicons and its automaton file is intact."""
    meta_file, automaton_file = cache.with_suffix(".json"), cache.with_suffix(".aho")
    if not meta_file.is_file():
        return None
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        if meta.get("format") != _CACHE_FORMAT or meta.get("content_hash") != digest:
            return None
        if meta["automaton_sha256"] is not None and file_sha256(automaton_file) != meta["automaton_sha256"]:
            raise ValueError(f"{automaton_file.name} does not match its checksum")
        return meta
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("ignoring unreadable gazetteer cache %s (%s)", meta_file, exc)
        return None


def read_cache(cache: Path, digest: str) -> Gazetteer | None:
    """The cached gazetteer, or None (missing, stale or corrupt: the caller rebuilds). Parses data only:
    JSON, then the automaton file, and that only once its SHA-256 matches the one recorded next to it."""
    meta = read_meta(cache, digest)
    if meta is None:
        return None
    try:
        entries = Entries.from_json(meta["entries"])
        sources = [SlotSource(str(d), str(s), str(f), int(p)) for d, s, f, p in meta["sources"]]
        automaton = None
        if meta["automaton_sha256"] is not None:
            automaton = ahocorasick.load(str(cache.with_suffix(".aho")), _no_values)
            if automaton.store != ahocorasick.STORE_INTS or len(automaton) != len(entries.lengths):
                raise ValueError("automaton does not match its entries")
        return Gazetteer(automaton, entries, sources, [str(d) for d in meta["domains"]], digest)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring unreadable gazetteer cache %s (%s)", cache, exc)
        return None


def _no_values(_: bytes) -> None:
    """``ahocorasick.load`` insists on a deserializer; an integer automaton stores no objects to deserialize."""
    raise ValueError("an integer automaton holds no serialized values")


def save_cache(gazetteer: Gazetteer, cache: Path) -> None:
    """Automaton first, then the JSON that records its checksum: a reader that finds the JSON finds a complete
    pair, and each file appears by rename, so parallel writers never expose a partial file."""
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        checksum = None
        if gazetteer.automaton is not None:
            tmp = temp_path(cache.parent, ".aho.tmp")
            gazetteer.automaton.save(str(tmp))
            checksum = file_sha256(tmp)
            os.replace(tmp, cache.with_suffix(".aho"))
        meta = {"format": _CACHE_FORMAT, "content_hash": gazetteer.content_hash, "automaton_sha256": checksum,
                "domains": gazetteer.domains, "entries": gazetteer.entries.to_json(),
                "sources": [[s.domain, s.slot, s.file, s.priority] for s in gazetteer.sources]}
        tmp = temp_path(cache.parent, ".json.tmp")
        tmp.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, cache.with_suffix(".json"))
        prune(cache.parent, keep=CACHE_KEEP)
    except OSError as exc:  # read-only home etc.: run without a cache
        log.warning("could not write gazetteer cache %s (%s)", cache, exc)


def prune(cache_dir: Path, keep: int) -> None:
    """Delete all but the ``keep`` most recently written automata (each lexicon edit makes a new one), and the
    pickles of earlier versions, which are never read."""
    for legacy in cache_dir.glob("*.pkl"):
        legacy.unlink(missing_ok=True)
    prune_pairs(cache_dir, keep, ".aho")
