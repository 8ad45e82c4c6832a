"""One Aho-Corasick automaton over every selected lexicon, cached on disk by content hash.

Why one automaton: matching cost is linear in the text whatever the number of entries, so all domains are
searched in a single pass (``bench/slots.py`` measures it). Keys are normalized surfaces
(``models.normalization.normalize``), which is length-preserving, so match offsets are offsets in the original text.

Why a disk cache: building from ~100k entries takes a noticeable fraction of a second; the pickled automaton
is keyed by a SHA-256 over the manifests, entry files and normalization version, so any edit to a lexicon
invalidates it and a stale automaton can never be served.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import select
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import ahocorasick

from models.common.errors import LexiconError
from models.lexicon.manifest import MANIFEST_NAME, LexiconDomain, load_domain, read_manifest
from models.normalization import NORMALIZATION_VERSION, normalize

log = logging.getLogger(__name__)
_CACHE_FORMAT = "gazetteer-v1"
CACHE_KEEP = 16  # newest automata kept in the cache folder (~5 MB each); a server reloading edits writes one each


@dataclass(frozen=True)
class SlotSource:
    """Where an entry came from; one per (domain, slot type, file)."""

    domain: str
    slot: str
    file: str
    priority: int


@dataclass(frozen=True)
class GazetteerHit:
    start: int
    end: int
    value: str
    source: SlotSource


class Gazetteer:
    """Immutable matcher: ``find(text)`` returns every lexicon match with spans in ``text``."""

    def __init__(self, automaton: ahocorasick.Automaton | None, sources: list[SlotSource],
                 domains: list[str], content_hash: str, size: int) -> None:
        self._automaton = automaton
        self.sources = sources
        self.domains = domains
        self.content_hash = content_hash
        self.size = size  # number of distinct (surface, source, value) entries

    def find(self, text: str, domains: frozenset[str] | None = None) -> list[GazetteerHit]:
        """All matches, overlaps kept, ordered by (start, end). ``domains`` restricts to those lexicons."""
        if self._automaton is None or not text:
            return []
        hits: list[GazetteerHit] = []
        sources = self.sources
        for end_idx, (length, payload) in self._automaton.iter(normalize(text)):
            start = end_idx - length + 1
            for src_idx, value in payload:
                src = sources[src_idx]
                if domains is None or src.domain in domains:
                    hits.append(GazetteerHit(start, end_idx + 1, value, src))
        hits.sort(key=lambda h: (h.start, h.end))
        return hits

    def counts(self) -> tuple[dict[SlotSource, int], int]:
        """Entries per source, and the number of distinct normalized surfaces (for ``lexicon stats``)."""
        per_source = dict.fromkeys(self.sources, 0)
        surfaces = 0
        if self._automaton is not None:
            for _key, (_length, payload) in self._automaton.items():
                surfaces += 1
                for src_idx, _value in payload:
                    per_source[self.sources[src_idx]] += 1
        return per_source, surfaces

    def surfaces_by_slot(self) -> dict[str, list[str]]:
        """Every (normalized) surface per slot type, sorted: the entity pool of the intent trainer's
        entity-swap augmentation."""
        pool: dict[str, set[str]] = {}
        if self._automaton is not None:
            for key, (_length, payload) in self._automaton.items():
                for src_idx, _value in payload:
                    pool.setdefault(self.sources[src_idx].slot, set()).add(key)
        return {slot: sorted(surfaces) for slot, surfaces in sorted(pool.items())}

    def lookup(self, surface: str) -> list[GazetteerHit]:
        """Exact lookup of one surface form (for ``duihua lexicon lookup``)."""
        if self._automaton is None:
            return []
        found = self._automaton.get(normalize(surface), None)
        if found is None:
            return []
        _, payload = found
        return [GazetteerHit(0, len(surface), value, self.sources[i]) for i, value in payload]


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


def build_gazetteer(domains: Sequence[LexiconDomain], digest: str = "") -> Gazetteer:
    sources: list[SlotSource] = []
    source_index: dict[tuple[str, str, str], int] = {}
    table: dict[str, dict[tuple[int, str], None]] = {}  # key -> ordered set of (source, value)
    for dom in domains:
        priorities = {s.type: s.priority for s in dom.manifest.slots}
        for slot_type, entries in dom.entries.items():
            for fname, entry in entries:
                skey = (dom.name, slot_type, fname)
                idx = source_index.get(skey)
                if idx is None:
                    idx = source_index[skey] = len(sources)
                    sources.append(SlotSource(dom.name, slot_type, fname, priorities[slot_type]))
                key = normalize(entry.surface)
                table.setdefault(key, {})[(idx, entry.value)] = None
    automaton = None
    size = 0
    if table:
        automaton = ahocorasick.Automaton()
        for key, payload in table.items():
            automaton.add_word(key, (len(key), tuple(payload)))
            size += len(payload)
        automaton.make_automaton()
    return Gazetteer(automaton, sources, [d.name for d in domains], digest, size)


def load_gazetteer(dirs: Sequence[tuple[str, str | Path]], cache_dir: str | Path | None = None,
                   write_cache: bool = True, parsed: dict[str, LexiconDomain] | None = None) -> Gazetteer:
    """Load the named lexicon folders into one gazetteer, via the on-disk cache when ``cache_dir`` is set.

    ``dirs`` is ``[(domain name, folder)]``; a folder whose manifest names another domain is an error.
    ``write_cache=False`` reads the cache but never writes it: pickling an automaton leaks the whole dump in
    native memory (pyahocorasick 2.3.1, WojciechMula/pyahocorasick#219), about 15 MB for the shipped lexicons,
    so a long-lived server that rebuilds on every lexicon edit must not pickle each version.
    ``parsed`` keeps parsed domains by their content hash across calls (the reload helper process): an edit to
    one lexicon then re-parses only that one (parsing is 2/3 of a build), and the dict keeps only current ones.
    """
    resolved = [(name, Path(p).expanduser()) for name, p in dirs]
    names = [n for n, _ in resolved]
    if len(set(names)) != len(names):
        raise LexiconError(f"lexicon domain selected twice: {sorted({n for n in names if names.count(n) > 1})}")
    digest = content_hash(resolved)
    cache_file = Path(cache_dir).expanduser() / f"{digest[:32]}.pkl" if cache_dir else None
    if cache_file is not None and cache_file.is_file():
        try:
            with cache_file.open("rb") as fh:
                cached = pickle.load(fh)
            if isinstance(cached, Gazetteer) and cached.content_hash == digest:
                return cached
        except Exception as exc:  # a corrupt cache is rebuilt, never fatal
            log.warning("ignoring unreadable gazetteer cache %s (%s)", cache_file, exc)
    if parsed is None:
        domains = [load_domain(path, name) for name, path in resolved]
    else:
        keys = [content_hash([(name, path)]) for name, path in resolved]
        domains = [parsed.get(key) or load_domain(path, name) for key, (name, path) in zip(keys, resolved, strict=True)]
        parsed.clear()
        parsed.update(zip(keys, domains, strict=True))
    gazetteer = build_gazetteer(domains, digest)
    if cache_file is not None and write_cache:
        _atomic_pickle(gazetteer, cache_file)
    return gazetteer


class _Builder:
    """A long-lived helper process that builds and caches gazetteers: one JSON job per line on its stdin, one
    ``ok`` / ``error ...`` line back. A plain ``python -c`` child rather than multiprocessing, whose spawned
    children re-import the caller's main script (an unguarded user script would run again)."""

    MAX_JOBS = 16  # then a fresh process: pickling leaks native memory (see ``load_gazetteer``)

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.jobs = 0
        self.lock = threading.Lock()

    def build(self, dirs: list[tuple[str, str]], cache_dir: str, timeout_s: float) -> bool:
        with self.lock:
            if self.proc is None or self.proc.poll() is not None or self.jobs >= self.MAX_JOBS:
                self._start()
            assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
            self.jobs += 1
            try:
                self.proc.stdin.write(json.dumps({"dirs": dirs, "cache_dir": cache_dir}) + "\n")
                self.proc.stdin.flush()
                ready, _, _ = select.select([self.proc.stdout], [], [], timeout_s)
                answer = self.proc.stdout.readline() if ready else ""
            except OSError:
                answer = ""
            if not answer:  # dead or hung: the next build starts a fresh one
                self._stop()
                log.warning("gazetteer helper process gave no answer; building in-process")
            return answer.startswith("ok")

    def _start(self) -> None:
        self._stop()
        self.proc = subprocess.Popen([sys.executable, "-c", "from models.lexicon.gazetteer import serve_builds; "
                                      "serve_builds()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, encoding="utf-8")
        self.jobs = 0

    def _stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


_builder = _Builder()


def build_cache_in_subprocess(dirs: Sequence[tuple[str, str | Path]], cache_dir: str | Path,
                              timeout_s: float = 300.0) -> bool:
    """Build and cache the gazetteer in a helper process; True when the cache now holds it.

    Why: a build is ~0.4 s of pure Python. Run on a thread of a serving process it holds the GIL between the
    model thread's torch calls, and every batch then waits at each call for its turn. ``bench/load.py`` with an
    edit + reload every second, each time against the same run without reloads: 102 -> 17 qps with builds on a
    server thread, 78 -> 30 qps with this helper (what remains is the build's CPU on a shared 2-core machine).
    In the helper a build costs CPU but no GIL; the server only unpickles (~50 ms). The helper lives on
    between builds, so its start-up is paid once.
    A failure (a broken lexicon) returns False: the caller's own load then raises the readable error.
    """
    try:
        digest = content_hash([(name, Path(p).expanduser()) for name, p in dirs])
    except (OSError, LexiconError):
        return False
    if (Path(cache_dir).expanduser() / f"{digest[:32]}.pkl").is_file():
        return True  # unchanged lexicons: nothing to build
    return _builder.build([(n, str(p)) for n, p in dirs], str(cache_dir), timeout_s)


def serve_builds() -> None:
    """The helper process's loop (see ``_Builder``); unchanged domains are not parsed again."""
    parsed: dict[str, LexiconDomain] = {}
    for line in sys.stdin:
        job = json.loads(line)
        try:
            load_gazetteer([tuple(d) for d in job["dirs"]], job["cache_dir"], parsed=parsed)
            print("ok", flush=True)
        except Exception as exc:  # reported back; the caller's own load names the error to the user
            print(f"error {exc!r}".replace("\n", " "), flush=True)


def _atomic_pickle(obj: object, target: Path) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, target)
        _prune(target.parent, keep=CACHE_KEEP)
    except OSError as exc:  # read-only home etc.: run without a cache
        log.warning("could not write gazetteer cache %s (%s)", target, exc)


def _prune(cache_dir: Path, keep: int) -> None:
    """Delete all but the ``keep`` most recently written automata (each lexicon edit makes a new one)."""
    files = sorted(cache_dir.glob("*.pkl"), key=lambda f: f.stat().st_mtime, reverse=True)
    for old in files[keep:]:
        old.unlink(missing_ok=True)
