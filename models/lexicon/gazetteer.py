"""One Aho-Corasick automaton over every selected lexicon, cached on disk by content hash.

Why one automaton: matching cost is linear in the text whatever the number of entries, so all domains are
searched in a single pass (``bench/slots.py`` measures it). Keys are normalized surfaces
(``models.normalization.normalize``), which is length-preserving, so match offsets are offsets in the original text.

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

import contextlib
import hashlib
import json
import logging
import os
import select
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import ahocorasick

from models.common.errors import LexiconError
from models.lexicon.manifest import MANIFEST_NAME, LexiconDomain, load_domain, read_manifest
from models.normalization import NORMALIZATION_VERSION, normalize

log = logging.getLogger(__name__)
# gazetteers alive in this process by (content hash, cache file): ``load_gazetteer`` hands out the same one
_LOADED: weakref.WeakValueDictionary[tuple[str, str], Gazetteer] = weakref.WeakValueDictionary()
_PACKAGE_PARENT = Path(__file__).resolve().parents[2]  # the folder holding ``models/``: the helper's import root
_CACHE_FORMAT = "gazetteer-v2"
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


@dataclass(frozen=True)
class _Entries:
    """What each automaton word id stands for, as flat arrays (cheap to save as JSON and to load).

    Word ``w`` is a surface of ``lengths[w]`` characters whose entries are ``sources[i]``/``values[i]`` for ``i``
    in ``offsets[w]:offsets[w + 1]``: one per distinct (lexicon source, normalized value) pair.
    """

    lengths: list[int]
    offsets: list[int]
    sources: list[int]
    values: list[str]

    def of(self, word: int) -> Iterator[tuple[int, str]]:
        lo, hi = self.offsets[word], self.offsets[word + 1]
        return zip(self.sources[lo:hi], self.values[lo:hi], strict=True)

    def to_json(self) -> dict[str, object]:
        return {"lengths": self.lengths, "offsets": self.offsets, "sources": self.sources, "values": self.values}

    @classmethod
    def from_json(cls, data: dict) -> _Entries:
        entries = cls(list(data["lengths"]), list(data["offsets"]), list(data["sources"]), list(data["values"]))
        if not (len(entries.offsets) == len(entries.lengths) + 1 and entries.offsets[-1] == len(entries.sources)
                == len(entries.values)):
            raise ValueError("entry arrays do not agree")
        return entries


class Gazetteer:
    """Immutable matcher: ``find(text)`` returns every lexicon match with spans in ``text``."""

    def __init__(self, automaton: ahocorasick.Automaton | None, entries: _Entries, sources: list[SlotSource],
                 domains: list[str], content_hash: str) -> None:
        self._automaton = automaton
        self._entries = entries
        self.sources = sources
        self.domains = domains
        self.content_hash = content_hash
        self.size = len(entries.values)  # number of distinct (surface, source, value) entries

    def find(self, text: str, domains: frozenset[str] | None = None) -> list[GazetteerHit]:
        """All matches, overlaps kept, ordered by (start, end). ``domains`` restricts to those lexicons."""
        if self._automaton is None or not text:
            return []
        hits: list[GazetteerHit] = []
        sources, entries = self.sources, self._entries
        for end_idx, word in self._automaton.iter(normalize(text)):
            start = end_idx - entries.lengths[word] + 1
            for src_idx, value in entries.of(word):
                src = sources[src_idx]
                if domains is None or src.domain in domains:
                    hits.append(GazetteerHit(start, end_idx + 1, value, src))
        hits.sort(key=lambda h: (h.start, h.end))
        return hits

    def _words(self) -> Iterator[tuple[str, int]]:
        return iter(()) if self._automaton is None else self._automaton.items()

    def counts(self) -> tuple[dict[SlotSource, int], int]:
        """Entries per source, and the number of distinct normalized surfaces (for ``lexicon stats``)."""
        per_source = dict.fromkeys(self.sources, 0)
        for src_idx in self._entries.sources:
            per_source[self.sources[src_idx]] += 1
        return per_source, len(self._entries.lengths)

    def surfaces_by_slot(self) -> dict[str, list[str]]:
        """Every (normalized) surface per slot type, sorted: the entity pool of the intent trainer's
        entity-swap augmentation."""
        pool: dict[str, set[str]] = {}
        for key, word in self._words():
            for src_idx, _value in self._entries.of(word):
                pool.setdefault(self.sources[src_idx].slot, set()).add(key)
        return {slot: sorted(surfaces) for slot, surfaces in sorted(pool.items())}

    def lookup(self, surface: str) -> list[GazetteerHit]:
        """Exact lookup of one surface form (for ``duihua lexicon lookup``)."""
        if self._automaton is None:
            return []
        word = self._automaton.get(normalize(surface), None)
        if word is None:
            return []
        return [GazetteerHit(0, len(surface), value, self.sources[i]) for i, value in self._entries.of(word)]


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
    entries = _Entries([], [0], [], [])
    automaton = None
    if table:
        automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
        for word, (key, payload) in enumerate(table.items()):
            automaton.add_word(key, word)
            entries.lengths.append(len(key))
            for src_idx, value in payload:
                entries.sources.append(src_idx)
                entries.values.append(value)
            entries.offsets.append(len(entries.sources))
        automaton.make_automaton()
    return Gazetteer(automaton, entries, sources, [d.name for d in domains], digest)


def resolved_dirs(dirs: Sequence[tuple[str, str | Path]]) -> list[tuple[str, Path]]:
    """``[(domain, folder)]`` with folders as paths, ``~`` expanded: what ``content_hash`` reads."""
    return [(name, Path(p).expanduser()) for name, p in dirs]


def load_gazetteer(dirs: Sequence[tuple[str, str | Path]], cache_dir: str | Path | None = None,
                   write_cache: bool = True, parsed: dict[str, LexiconDomain] | None = None,
                   digest: str | None = None) -> Gazetteer:
    """Load the named lexicon folders into one gazetteer, via the on-disk cache when ``cache_dir`` is set.

    ``dirs`` is ``[(domain name, folder)]``; a folder whose manifest names another domain is an error.
    ``write_cache=False`` reads the cache but never writes it: a long-lived server leaves building and writing
    to the helper process (``build_cache_in_subprocess``), whose memory goes when it is replaced.
    ``parsed`` keeps parsed domains by their content hash across calls (the reload helper process): an edit to
    one lexicon then re-parses only that one (parsing is 2/3 of a build), and the dict keeps only current ones.
    ``digest``: the ``content_hash`` of ``dirs`` when the caller has just computed it.
    A gazetteer is immutable, so stages that select the same lexicons (the slot tagger and the joint splitter)
    get the same object while one is alive: loaded, and held in memory, once.
    """
    resolved = resolved_dirs(dirs)
    names = [n for n, _ in resolved]
    if len(set(names)) != len(names):
        raise LexiconError(f"lexicon domain selected twice: {sorted({n for n in names if names.count(n) > 1})}")
    digest = digest or content_hash(resolved)
    cache = Path(cache_dir).expanduser() / digest[:32] if cache_dir else None
    key = (digest, str(cache))
    loaded = _LOADED.get(key)
    if loaded is not None:
        return loaded
    if cache is not None:
        cached = _read_cache(cache, digest)
        if cached is not None:
            _LOADED[key] = cached
            return cached
    if parsed is None:
        domains = [load_domain(path, name) for name, path in resolved]
    else:
        keys = [content_hash([(name, path)]) for name, path in resolved]
        domains = [parsed.get(key) or load_domain(path, name) for key, (name, path) in zip(keys, resolved, strict=True)]
        parsed.clear()
        parsed.update(zip(keys, domains, strict=True))
    gazetteer = build_gazetteer(domains, digest)
    if cache is not None and write_cache:
        _write_cache(gazetteer, cache)
    _LOADED[key] = gazetteer
    return gazetteer


class _Builder:
    """A long-lived helper process that builds and caches gazetteers: one JSON job per line on its stdin, one
    ``ok`` / ``error ...`` line back. A plain ``python -c`` child rather than multiprocessing, whose spawned
    children re-import the caller's main script (an unguarded user script would run again). It starts isolated
    (``-I``: no current folder, no ``PYTHON*`` variables, no user site on its path) with the folder that holds
    this package put first, so a ``models/`` folder wherever the server was started is never imported."""

    MAX_JOBS = 16  # then a fresh process, so whatever a long run of builds has left in its heap is returned

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
        code = "import sys; sys.path.insert(0, sys.argv[1]); from models.lexicon.gazetteer import serve_builds; " \
               "serve_builds()"
        self.proc = subprocess.Popen([sys.executable, "-I", "-c", code, str(_PACKAGE_PARENT)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, encoding="utf-8")
        self.jobs = 0

    def _stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


_builder = _Builder()


def build_cache_in_subprocess(dirs: Sequence[tuple[str, str | Path]], cache_dir: str | Path,
                              timeout_s: float = 300.0, digest: str | None = None) -> bool:
    """Build and cache the gazetteer in a helper process; True when the cache now holds it.

    Why: a build is ~0.4 s of pure Python. Run on a thread of a serving process it holds the GIL between the
    model thread's torch calls, and every batch then waits at each call for its turn. ``bench/load.py`` with an
    edit + reload every second, each time against the same run without reloads: 102 -> 17 qps with builds on a
    server thread, 78 -> 30 qps with this helper (what remains is the build's CPU on a shared 2-core machine).
    In the helper a build costs CPU but no GIL; the server only reads the cache. The helper lives on
    between builds, so its start-up is paid once.
    A failure (a broken lexicon) returns False: the caller's own load then raises the readable error.
    ``digest``: the ``content_hash`` of ``dirs`` when the caller has just computed it.
    """
    try:
        digest = digest or content_hash(resolved_dirs(dirs))
    except (OSError, LexiconError):
        return False
    if _read_meta(Path(cache_dir).expanduser() / digest[:32], digest) is not None:
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


def _read_meta(cache: Path, digest: str) -> dict | None:
    """The cache's JSON part when it is this version of these lexicons and its automaton file is intact."""
    meta_file, automaton_file = cache.with_suffix(".json"), cache.with_suffix(".aho")
    if not meta_file.is_file():
        return None
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        if meta.get("format") != _CACHE_FORMAT or meta.get("content_hash") != digest:
            return None
        if meta["automaton_sha256"] is not None and _file_sha256(automaton_file) != meta["automaton_sha256"]:
            raise ValueError(f"{automaton_file.name} does not match its checksum")
        return meta
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("ignoring unreadable gazetteer cache %s (%s)", meta_file, exc)
        return None


def _read_cache(cache: Path, digest: str) -> Gazetteer | None:
    """The cached gazetteer, or None (missing, stale or corrupt: the caller rebuilds). Parses data only:
    JSON, then the automaton file, and that only once its SHA-256 matches the one recorded next to it."""
    meta = _read_meta(cache, digest)
    if meta is None:
        return None
    try:
        entries = _Entries.from_json(meta["entries"])
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


def _write_cache(gazetteer: Gazetteer, cache: Path) -> None:
    """Automaton first, then the JSON that records its checksum: a reader that finds the JSON finds a complete
    pair, and each file appears by rename, so parallel writers never expose a partial file."""
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        checksum = None
        if gazetteer._automaton is not None:
            tmp = _temp_path(cache.parent, ".aho.tmp")
            gazetteer._automaton.save(str(tmp))
            checksum = _file_sha256(tmp)
            os.replace(tmp, cache.with_suffix(".aho"))
        meta = {"format": _CACHE_FORMAT, "content_hash": gazetteer.content_hash, "automaton_sha256": checksum,
                "domains": gazetteer.domains, "entries": gazetteer._entries.to_json(),
                "sources": [[s.domain, s.slot, s.file, s.priority] for s in gazetteer.sources]}
        tmp = _temp_path(cache.parent, ".json.tmp")
        tmp.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, cache.with_suffix(".json"))
        _prune(cache.parent, keep=CACHE_KEEP)
    except OSError as exc:  # read-only home etc.: run without a cache
        log.warning("could not write gazetteer cache %s (%s)", cache, exc)


def _temp_path(folder: Path, suffix: str) -> Path:
    fd, name = tempfile.mkstemp(dir=folder, suffix=suffix)
    os.close(fd)
    return Path(name)


def _file_sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _prune(cache_dir: Path, keep: int) -> None:
    """Delete all but the ``keep`` most recently written automata (each lexicon edit makes a new one), and the
    pickles of earlier versions, which are never read."""
    for legacy in cache_dir.glob("*.pkl"):
        legacy.unlink(missing_ok=True)
    stale = time.time() - 3600  # a writer killed between its two files leaves these behind
    for orphan in [*cache_dir.glob("*.tmp"), *cache_dir.glob("*.aho")]:
        if orphan.suffix == ".tmp" or not orphan.with_suffix(".json").exists():
            with contextlib.suppress(OSError):
                if orphan.stat().st_mtime < stale:
                    orphan.unlink()
    metas = sorted(cache_dir.glob("*.json"), key=lambda f: f.stat().st_mtime, reverse=True)
    for old in metas[keep:]:
        old.unlink(missing_ok=True)
        old.with_suffix(".aho").unlink(missing_ok=True)
