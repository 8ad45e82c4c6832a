import pytest

from models.lexicon import gazetteer as gz
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
        f.write_bytes(b"not a pickle")
    assert gz.load_gazetteer(dirs, cache).lookup("稻香")[0].source.slot == "song"


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
