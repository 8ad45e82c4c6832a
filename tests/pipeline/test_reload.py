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


def test_reload_builds_in_a_child_and_only_reads_the_cache_in_the_server(mini_lexicons, tmp_path, monkeypatch):
    """A build holds the GIL: a reload leaves it to a child process, which writes the cache; the serving process
    only reads it. A reload of unchanged lexicons reads nothing and swaps nothing."""
    from models.lexicon import gazetteer_load as gazetteer

    cache = tmp_path / "cache"
    pipe = Pipeline.from_config(overrides=mini_overrides(mini_lexicons, "reply=none", f"slots.cache_dir={cache}"))
    assert len(list(cache.glob("*.json"))) == 1  # start-up builds and caches once
    written, built, read = [], [], []
    monkeypatch.setattr(gazetteer, "save_cache", lambda *a: written.append(a))
    real_build, real_read = gazetteer.build_gazetteer, gazetteer.read_cache
    monkeypatch.setattr(gazetteer, "build_gazetteer", lambda *a, **k: built.append(1) or real_build(*a, **k))
    monkeypatch.setattr(gazetteer, "read_cache", lambda *a: read.append(1) or real_read(*a))
    before = pipe.stage("slots").gazetteer
    assert pipe.reload_lexicons() is False and read == []
    assert pipe.stage("slots").gazetteer is before
    with (mini_lexicons["minimusic"] / "song.txt").open("a", encoding="utf-8") as fh:
        fh.write("夜曲\n")
    assert pipe.reload_lexicons() is True
    assert written == [] and built == [] and read == [1]  # built and written by the child, only read here
    assert len(list(cache.glob("*.json"))) == 2
    assert [m.surface for m in pipe("播放夜曲").sentences[0].slots] == ["夜曲"]


def test_cache_folder_keeps_the_newest_automata(tmp_path):
    from models.lexicon.gazetteer_cache import prune

    for i in range(5):
        for suffix in (".aho", ".json"):
            (tmp_path / f"{i}{suffix}").write_bytes(b"x")
            os.utime(tmp_path / f"{i}{suffix}", (i, i))
    (tmp_path / "old.pkl").write_bytes(b"x")  # an earlier version's pickle: never read, so removed
    (tmp_path / "fresh.aho").write_bytes(b"x")  # a writer's first file, its JSON not yet there: kept
    prune(tmp_path, keep=2)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["3.aho", "3.json", "4.aho", "4.json", "fresh.aho"]


def test_reload_helper_never_imports_code_from_the_current_folder(mini_lexicons, tmp_path, monkeypatch):
    """``duihua serve`` started in a folder that holds a ``models/`` package or a module named like a standard
    one: the helper process must import duihua's and Python's own (``python -c`` puts the current folder first
    on its path)."""
    from models.lexicon import gazetteer_load as gazetteer

    planted = tmp_path / "here" / "models" / "lexicon"
    planted.mkdir(parents=True)
    marker = tmp_path / "pwned"
    for folder in (planted.parent, planted):
        (folder / "__init__.py").write_text(f"open({str(marker)!r}, 'w')\n", encoding="utf-8")
    for module in ("gazetteer", "gazetteer_cache", "gazetteer_load"):
        (planted / f"{module}.py").write_text(f"open({str(marker)!r}, 'w')\n", encoding="utf-8")
    (tmp_path / "here" / "json.py").write_text(f"open({str(marker)!r}, 'w')\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path / "here")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "here"))
    monkeypatch.setattr(gazetteer, "_builder", gazetteer._Builder())  # a fresh helper, started from here
    try:
        assert gazetteer.build_cache_in_subprocess(list(mini_lexicons.items()), tmp_path / "cache", timeout_s=60)
    finally:
        gazetteer._builder._stop()
    assert not marker.exists()
    assert list((tmp_path / "cache").glob("*.json"))


def test_a_reload_that_fails_for_one_stage_swaps_nothing(mini_lexicons, tmp_path):
    """Two stages read lexicons (the slot stage, and a second live gazetteer over a folder of its own, read after
    the slot stage's): when the second one's files are broken, the first, though edited, keeps its old
    lexicons, and a fixed retry swaps both."""
    import shutil

    import pytest

    from models.common.errors import LexiconError
    from models.lexicon.features import selected_dirs
    from models.lexicon.live import LiveGazetteer

    pipe = Pipeline.from_config(overrides=mini_overrides(mini_lexicons, "segmenter=none", "intent=none",
                                                         "reply=none"))
    own = shutil.copytree(mini_lexicons["miniloc"], tmp_path / "own")
    other = LiveGazetteer(lambda: selected_dirs({}, [str(own)]))

    class SecondReader:
        reads = writes = frozenset()

        def process(self, docs):
            return list(docs)

        def live_lexicons(self):
            return [other]

    pipe.stages.append(("second", SecondReader()))
    with (mini_lexicons["minimusic"] / "song.txt").open("a", encoding="utf-8") as fh:
        fh.write("夜曲\n")
    manifest = own / "lexicon.yaml"
    good = manifest.read_bytes()
    manifest.write_text("slots: [", encoding="utf-8")
    with pytest.raises(LexiconError):
        pipe.reload_lexicons()
    assert [m.surface for m in pipe("我想听夜曲").sentences[0].slots] == []   # the edit is not half-applied
    manifest.write_bytes(good)
    assert pipe.reload_lexicons() is True
    assert [m.surface for m in pipe("我想听夜曲").sentences[0].slots] == ["夜曲"]
