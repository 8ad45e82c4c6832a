"""Hot reload swaps the automaton atomically while other threads keep calling the pipeline."""

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


def test_reload_rebuilds_without_writing_the_cache(mini_lexicons, tmp_path):
    """Pickling an automaton leaks the dump (pyahocorasick#219): a reload must not write the cache, or a server
    reloading on every lexicon edit grows by one dump each time."""
    cache = tmp_path / "cache"
    pipe = Pipeline.from_config(overrides=mini_overrides(mini_lexicons, "reply=none", f"slots.cache_dir={cache}"))
    written = sorted(cache.iterdir())
    assert len(written) == 1  # start-up builds and caches once
    with (mini_lexicons["minimusic"] / "song.txt").open("a", encoding="utf-8") as fh:
        fh.write("夜曲\n")
    pipe.reload_lexicons()
    assert sorted(cache.iterdir()) == written
    assert [m.surface for m in pipe("播放夜曲").sentences[0].slots] == ["夜曲"]
