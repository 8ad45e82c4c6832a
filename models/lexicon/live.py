"""A gazetteer that can be swapped for a fresh one while other threads keep matching against it.

Why its own object: the slot tagger and the joint splitter both match against the lexicons, and a hot reload
must refresh every such reader, not only the slot stage. Each holds one ``LiveGazetteer`` (over the same
immutable gazetteer when they select the same lexicons: ``load_gazetteer`` shares it). The slot stage takes
``current`` once per batch, so its batch never mixes two lexicon versions; the splitter's evidence reads it per
text, so during a reload its pieces may see either version, each a complete one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from models.common.errors import LexiconError
from models.lexicon.gazetteer import Gazetteer, GazetteerHit
from models.lexicon.gazetteer_cache import content_hash
from models.lexicon.gazetteer_load import build_cache_in_subprocess, load_gazetteer, resolved_dirs

Dirs = Sequence[tuple[str, str | Path]]


class LiveGazetteer:
    """The gazetteer of ``dirs()`` (re-read at each reload, so an extra folder's manifest may rename its domain)."""

    def __init__(self, dirs: Callable[[], Dirs], cache_dir: str | Path | None = None) -> None:
        self._dirs = dirs
        self.cache_dir = cache_dir
        self._lock = threading.Lock()  # serialises reloads; readers never take it
        self.current: Gazetteer = load_gazetteer(dirs(), cache_dir)

    def find(self, text: str, domains: frozenset[str] | None = None) -> list[GazetteerHit]:
        return self.current.find(text, domains)

    def reload(self) -> bool:
        """Rebuild from disk and swap with one attribute store; True when the lexicons changed."""
        fresh = self.prepare()
        if fresh is not None:
            self.commit(fresh)
        return fresh is not None

    def prepare(self) -> Gazetteer | None:
        """The gazetteer the files on disk give now, or None when they are what ``current`` was built from;
        nothing is swapped, so a caller reloading several readers (or replicas) can swap all or none.

        Unchanged lexicons (the same content hash) cost one hash of the files. With a cache folder an edit is
        built in a helper process and only read back here (``build_cache_in_subprocess``: a build on a server
        thread would stall its model thread on the GIL).
        """
        with self._lock:
            dirs = self._dirs()
            try:
                digest = content_hash(resolved_dirs(dirs))
            except (OSError, LexiconError):
                digest = None  # the load below names the error
            if digest == self.current.content_hash:
                return None
            if self.cache_dir is not None:  # on failure the load below names the error
                build_cache_in_subprocess(dirs, self.cache_dir, digest=digest)
            return load_gazetteer(dirs, self.cache_dir, write_cache=False, digest=digest)

    def commit(self, fresh: Gazetteer) -> None:
        """Swap in what ``prepare`` built: one attribute store, so a batch in flight keeps the old one."""
        self.current = fresh
