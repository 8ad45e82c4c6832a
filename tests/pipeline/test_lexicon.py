from pathlib import Path

import ahocorasick
import pytest

from models.lexicon import gazetteer_load as gz
from models.lexicon.manifest import load_domain
from pipeline.errors import LexiconError


def test_loads_entries_and_aliases(mini_lexicons):
    dom = load_domain(mini_lexicons["minimusic"])
    singers = {e.surface: e.value for _, e in dom.entries["singer"]}
    assert singers["周董"] == "周杰伦" and singers["王菲"] == "王菲"
    assert dom.count() == 9


@pytest.mark.parametrize("content, message", [
    ("domain: x\nslots: []\n", "slots"),
    ("domain: x\nslots: [{type: a, files: [a.txt]}, {type: a, files: [a.txt]}]\n", "listed twice"),
    ("domain: x\nslots: [{type: a, files: [missing.txt]}]\n", "missing.txt"),
    ("domain: x\nslot: [{type: a, files: [a.txt]}]\n", "slot"),
    (": : :\n", "YAML"),
])
def test_bad_manifests_name_the_file_and_key(tmp_path, content, message):
    (tmp_path / "a.txt").write_text("甲乙\n", encoding="utf-8")
    (tmp_path / "lexicon.yaml").write_text(content, encoding="utf-8")
    with pytest.raises(LexiconError, match=message) as err:
        load_domain(tmp_path)
    assert str(tmp_path) in str(err.value)


@pytest.mark.parametrize("listed", ["../outside.txt", "sub/../../outside.txt", "/etc/passwd", "link.txt"])
def test_manifest_files_must_stay_inside_their_folder(tmp_path, listed):
    folder = tmp_path / "lex"
    folder.mkdir()
    (tmp_path / "outside.txt").write_text("秘密\n", encoding="utf-8")
    (folder / "link.txt").symlink_to(tmp_path / "outside.txt")
    (folder / "lexicon.yaml").write_text(f"domain: x\nslots: [{{type: a, files: ['{listed}']}}]\n", encoding="utf-8")
    with pytest.raises(LexiconError, match=r"slots\.0\.files: .* is outside the lexicon folder"):
        load_domain(folder)
    with pytest.raises(LexiconError, match="outside the lexicon folder"):
        gz.content_hash([("x", folder)])  # the cache key is computed before any entry is parsed


def test_bad_entry_line_is_reported_with_its_line_number(mini_lexicons):
    f = mini_lexicons["minimusic"] / "song.txt"
    f.write_text("稻香\n晴天\t\t多余\n", encoding="utf-8")
    with pytest.raises(LexiconError, match=r"song.txt:2"):
        load_domain(mini_lexicons["minimusic"])


def test_non_utf8_file_and_wrong_domain_name(mini_lexicons):
    (mini_lexicons["minimusic"] / "song.txt").write_bytes("稻香\n".encode("gbk"))
    with pytest.raises(LexiconError, match="not UTF-8"):
        load_domain(mini_lexicons["minimusic"])
    with pytest.raises(LexiconError, match="domain is 'miniloc'"):
        load_domain(mini_lexicons["miniloc"], name="location")


def test_automaton_is_cached_by_content_and_rebuilt_after_an_edit(mini_lexicons, tmp_path, monkeypatch):
    dirs = [(n, p) for n, p in mini_lexicons.items()]
    cache = tmp_path / "cache"
    first = gz.load_gazetteer(dirs, cache)
    builds = []
    real_build = gz.build_gazetteer
    monkeypatch.setattr(gz, "build_gazetteer", lambda *a, **k: builds.append(1) or real_build(*a, **k))
    again = gz.load_gazetteer(dirs, cache)
    assert builds == [] and again.content_hash == first.content_hash
    assert [h.value for h in again.find("周董")] == ["周杰伦"]

    with (mini_lexicons["minimusic"] / "song.txt").open("a", encoding="utf-8") as fh:
        fh.write("夜曲\n")
    edited = gz.load_gazetteer(dirs, cache)
    assert builds == [1] and edited.content_hash != first.content_hash
    assert [h.source.slot for h in edited.find("夜曲")] == ["song"]


def test_corrupt_cache_is_rebuilt(mini_lexicons, tmp_path):
    dirs = list(mini_lexicons.items())
    cache = tmp_path / "cache"
    gz.load_gazetteer(dirs, cache)
    for f in cache.iterdir():
        f.write_bytes(b"not a cache")
    assert gz.load_gazetteer(dirs, cache).lookup("稻香")[0].source.slot == "song"


class _Planted:
    """What an attacker pickles: unpickling it would create ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_planted_cache_file_never_runs_code(mini_lexicons, tmp_path, monkeypatch):
    """Cache names follow from public lexicon content, so anyone who can write the folder can plant the file
    the next start-up reads. Reading it must parse data only: no pickle, and no automaton parse before its
    checksum matches."""
    import pickle

    dirs = list(mini_lexicons.items())
    cache = tmp_path / "cache"
    digest = gz.content_hash([(n, p) for n, p in dirs])[:32]
    cache.mkdir()
    marker = tmp_path / "pwned"
    (cache / f"{digest}.pkl").write_bytes(pickle.dumps(_Planted(marker)))  # the previous format's name
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("the cache was unpickled"))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("the cache was unpickled"))
    assert gz.load_gazetteer(dirs, cache).lookup("稻香")  # built, and cached in the data-only format
    assert not marker.exists()

    (cache / f"{digest}.aho").write_bytes(b"\x00" * 64)  # a tampered automaton beside its genuine JSON
    parsed = []
    real_load = ahocorasick.load
    monkeypatch.setattr(ahocorasick, "load", lambda *a: parsed.append(a) or real_load(*a))
    assert gz.load_gazetteer(dirs, cache).lookup("稻香")[0].source.slot == "song"
    assert parsed == []  # its checksum failed, so it was never parsed: rebuilt instead
    gz._LOADED.clear()  # as in a new process: nothing loaded in memory
    assert gz.load_gazetteer(dirs, cache).lookup("稻香") and len(parsed) == 1  # the rewritten cache is read


def test_stages_selecting_the_same_lexicons_share_one_gazetteer(mini_lexicons, tmp_path):
    dirs = list(mini_lexicons.items())
    first = gz.load_gazetteer(dirs, tmp_path)
    assert gz.load_gazetteer(dirs, tmp_path) is first  # no second read, no second copy in memory
    assert gz.load_gazetteer(dirs[:1], tmp_path) is not first  # other lexicons, another gazetteer
    with (mini_lexicons["minimusic"] / "song.txt").open("a", encoding="utf-8") as fh:
        fh.write("夜曲\n")
    edited = gz.load_gazetteer(dirs, tmp_path)
    assert edited is not first and edited.lookup("夜曲") and not first.lookup("夜曲")


def test_cached_gazetteer_matches_like_a_fresh_build(mini_lexicons, tmp_path):
    dirs = list(mini_lexicons.items())
    fresh = gz.load_gazetteer(dirs, None)
    gz.load_gazetteer(dirs, tmp_path)
    cached = gz.load_gazetteer(dirs, tmp_path)
    text = "我想听周董的稻香然后去北京"
    assert cached.find(text) == fresh.find(text) != []
    assert cached.counts() == fresh.counts() and cached.size == fresh.size
    assert cached.surfaces_by_slot() == fresh.surfaces_by_slot()


def test_reload_helper_reparses_only_the_edited_domain(mini_lexicons, monkeypatch):
    dirs = list(mini_lexicons.items())
    parsed: dict = {}
    gz.load_gazetteer(dirs, None, parsed=parsed)
    loads = []
    real_load = gz.load_domain
    monkeypatch.setattr(gz, "load_domain", lambda path, name=None: loads.append(name) or real_load(path, name))
    with (mini_lexicons["minimusic"] / "song.txt").open("a", encoding="utf-8") as fh:
        fh.write("夜曲\n")
    edited = gz.load_gazetteer(dirs, None, parsed=parsed)
    assert loads == ["minimusic"] and len(parsed) == 2
    assert [h.source.slot for h in edited.find("夜曲")] == ["song"] and edited.find("北京")
