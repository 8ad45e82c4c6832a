"""Loading lexicon folders into a gazetteer: through the disk cache (``gazetteer_cache``), once per process
for the same lexicons, and, for a long-lived server, built in a helper process so a reload never holds the GIL.
"""

from __future__ import annotations

import json
import logging
import select
import subprocess
import sys
import threading
import weakref
from collections.abc import Sequence
from pathlib import Path

from models.common.errors import LexiconError
from models.lexicon.gazetteer import Gazetteer, build_gazetteer
from models.lexicon.gazetteer_cache import content_hash, read_cache, read_meta, save_cache
from models.lexicon.manifest import LexiconDomain, load_domain

log = logging.getLogger(__name__)
# gazetteers alive in this process by (content hash, cache file): ``load_gazetteer`` hands out the same one
_LOADED: weakref.WeakValueDictionary[tuple[str, str], Gazetteer] = weakref.WeakValueDictionary()
_PACKAGE_PARENT = Path(__file__).resolve().parents[2]  # the folder holding ``models/``: the helper's import root


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
        cached = read_cache(cache, digest)
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
        save_cache(gazetteer, cache)
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
        code = "import sys; sys.path.insert(0, sys.argv[1]); " \
               "from models.lexicon.gazetteer_load import serve_builds; serve_builds()"
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
    if read_meta(Path(cache_dir).expanduser() / digest[:32], digest) is not None:
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
