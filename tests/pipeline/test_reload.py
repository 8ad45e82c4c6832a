"""Hot reload swaps the automaton atomically while other threads keep calling the pipeline."""

import os
import threading

from pipeline import Pipeline
from tests.conftest import mini_overrides


def test_reload_during_concurrent_calls(mini_lexicons):
    pipe = Pipeline.from_config(overrides=mini_overrides(mini_lexicons, "reply=none"))
    text = "我想听夜曲和稻香"
    assert [m.surface for m in pipe(text).sentences[0].slots] == ["稻香"]

    seen: list[tuple[str, ...]] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def worker() -> None:
        while not stop.is_set():
            try:
                seen.append(tuple(m.surface for m in pipe(text).sentences[0].slots))
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    with (mini_lexicons["minimusic"] / "song.txt").open("a", encoding="utf-8") as fh:
        fh.write("夜曲\n")
    for _ in range(3):
        pipe.reload_lexicons()
    after = [m.surface for m in pipe(text).sentences[0].slots]
    stop.set()
    for t in threads:
        t.join()
    assert not errors
    assert after == ["夜曲", "稻香"]
    assert set(seen) <= {("稻香",), ("夜曲", "稻香")}  # old or new lexicon, never a mix or a failure


def test_reload_builds_in_a_child_and_never_pickles_in_the_server(mini_lexicons, tmp_path, monkeypatch):
    """Pickling an automaton leaks the dump (pyahocorasick#219) and a build holds the GIL: a reload leaves both to
    a child process, which writes the cache; the serving process only reads it."""
    from models.lexicon import gazetteer

    cache = tmp_path / "cache"
    pipe = Pipeline.from_config(overrides=mini_overrides(mini_lexicons, "reply=none", f"slots.cache_dir={cache}"))
    assert len(list(cache.iterdir())) == 1  # start-up builds and caches once
    pickled, built = [], []
    monkeypatch.setattr(gazetteer, "_atomic_pickle", lambda *a: pickled.append(a))
    real_build = gazetteer.build_gazetteer
    monkeypatch.setattr(gazetteer, "build_gazetteer", lambda *a, **k: built.append(1) or real_build(*a, **k))
    with (mini_lexicons["minimusic"] / "song.txt").open("a", encoding="utf-8") as fh:
        fh.write("夜曲\n")
    pipe.reload_lexicons()
    assert pickled == [] and built == []  # built and pickled by the child, only unpickled here
    assert len(list(cache.iterdir())) == 2
    assert [m.surface for m in pipe("播放夜曲").sentences[0].slots] == ["夜曲"]


def test_cache_folder_keeps_the_newest_automata(tmp_path):
    from models.lexicon.gazetteer import _prune

    for i in range(5):
        (tmp_path / f"{i}.pkl").write_bytes(b"x")
        os.utime(tmp_path / f"{i}.pkl", (i, i))
    _prune(tmp_path, keep=2)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["3.pkl", "4.pkl"]
