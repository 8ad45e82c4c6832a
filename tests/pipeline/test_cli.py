"""CLI behaviour: JSON on stdout, one readable line and exit code 2 on user mistakes, never a traceback."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.cli import main, read_queries, split_overrides
from pipeline.errors import InputError
from pipeline.pipeline import Pipeline
from pipeline.schema import PipelineResult
from tests.conftest import DATA, mini_overrides


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_run_prints_a_pipeline_result(capsys, mini_lexicons):
    code, out, _ = run_cli(capsys, "run", *mini_overrides(mini_lexicons), "我想听周董的稻香")
    assert code == 0
    result = PipelineResult.model_validate_json(out)
    assert [m.value for m in result.sentences[0].slots] == ["周杰伦", "稻香"]


def test_profile_startup_reports_each_stage_on_stderr_and_keeps_stdout_a_result(capsys, mini_lexicons):
    code, out, err = run_cli(capsys, "run", "--compact", "--profile-startup", *mini_overrides(mini_lexicons),
                             "reply=none", "我想听周董的稻香")
    assert code == 0 and PipelineResult.model_validate_json(out).sentences
    rows = {line.rsplit(None, 1)[0]: float(line.rsplit(None, 1)[1]) for line in err.splitlines()
            if line and line[0] != " " and line.split()[-1].replace(".", "").isdigit()}
    stages = Pipeline.from_config(overrides=[*mini_overrides(mini_lexicons), "reply=none"]).stage_names
    assert {f"build stage {name}" for name in stages} <= rows.keys()
    assert "first query" in rows and rows["total"] >= sum(v for k, v in rows.items() if k != "total") - 0.5
    assert "imported:" in err


def test_run_input_file_to_output_keeps_one_line_per_input(capsys, mini_lexicons, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("我想听稻香\n\n北京南站\n", encoding="utf-8")
    dst = tmp_path / "out.jsonl"
    code, _, err = run_cli(capsys, "run", "--input", str(src), "--output", str(dst), *mini_overrides(mini_lexicons))
    assert code == 0 and "wrote 3 results" in err
    rows = [PipelineResult.model_validate_json(line) for line in dst.read_text(encoding="utf-8").splitlines()]
    assert [r.query.text for r in rows] == ["我想听稻香", "", "北京南站"]
    assert rows[1].sentences == []


def test_run_jsonl_input_accepts_query_fields(capsys, mini_lexicons, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"text": "我想听周董的歌", "lexicons": ["minimusic"]}, ensure_ascii=False) + "\n",
                   encoding="utf-8")
    code, out, _ = run_cli(capsys, "run", "--input", str(src), *mini_overrides(mini_lexicons))
    assert code == 0
    (row,) = [PipelineResult.model_validate_json(x) for x in out.splitlines()]
    assert [m.domain for m in row.sentences[0].slots] == ["minimusic"]


@pytest.mark.parametrize("content, suffix, message", [
    ('{"text": "ok"}\n{"txt": "oops"}\n', ".jsonl", "in.jsonl:2: text: Field required"),
    ('{"text": "ok"}\nnot json\n', ".jsonl", "in.jsonl:2: not valid JSON"),
    ('{"text": "ok"}\n\n', ".jsonl", "in.jsonl:2: empty line"),
    ("短\n" + "长" * 30 + "\n", ".txt", "in.txt:2: 30 characters is over the limit runtime.max_chars=20"),
    ("x", ".csv", "expected a .txt"),
])
def test_bad_input_files_fail_before_processing(capsys, mini_lexicons, tmp_path, content, suffix, message):
    src = tmp_path / f"in{suffix}"
    src.write_text(content, encoding="utf-8")
    out_file = tmp_path / "out.jsonl"
    code, _, err = run_cli(capsys, "run", "--input", str(src), "--output", str(out_file),
                           *mini_overrides(mini_lexicons, "runtime.max_chars=20"))
    assert code == 2
    assert message in err and err.count("\n") == 1
    assert not out_file.exists()


@pytest.mark.parametrize("argv, message", [
    (["run", "--input", "/does/not/exist.txt"], "input file not found: /does/not/exist.txt"),
    (["run", "nokey=1", "你好"], "nokey"),
    (["run", "lexicons=[]", "lexicons.extra_dirs=[/no/such/lexicon]", "你好"], "lexicon folder not found"),
    (["run", "lexicons=[]", "runtime.max_chars=3", "一二三四"], "runtime.max_chars=3"),
    (["run", "lexicons=[]", "一", "二"], "expected one text argument"),
    (["train", "reply", "model.init=nope"], "model.init: expected pretrained or scratch"),
    (["train", "bogus"], "unknown stage 'bogus'"),
    (["eval", "reply", "--data", "x.txt"], "data file not found: x.txt"),
    (["eval", "segment", "--data", "/no/gold.txt"], "data file not found: /no/gold.txt"),
    (["eval", "segment", "--data", str(DATA)], f"data file is not a file: {DATA}"),
    (["eval", "segment", "--data", str(DATA / "sighan_mini.txt"), "--vocab", "/no/vocab.txt"],
     "vocab file not found: /no/vocab.txt"),
    (["eval", "intent", "--data", str(DATA / "sighan_mini.txt"), "--vocab", str(DATA / "sighan_mini.txt")],
     "--vocab applies to segment, not intent"),
    (["run", "--compact", "x=1"], "a text that looks like key=value goes in --text"),
    (["serve", "server.port=notaport"], "server.port"),
    (["serve", "server.max_batch=0"], "server.max_batch: Input should be greater than or equal to 1"),
    (["serve", "server.demo=/no/such/demo"], "server.demo: Value error, no index.html in /no/such/demo"),
    (["lexicon", "lookup", "lexicons=[]"], "usage: duihua lexicon lookup WORD"),
])
def test_user_mistakes_exit_2_with_one_line(capsys, argv, message):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert err.startswith("duihua: error: ") and message in err and err.count("\n") == 1
    assert "Traceback" not in err


def test_lexicon_lookup_and_stats_end_with_one_json_line(capsys, mini_lexicons):
    code, out, _ = run_cli(capsys, "lexicon", "lookup", "周董", *mini_overrides(mini_lexicons))
    assert code == 0
    assert json.loads(out.splitlines()[-1]) == {"word": "周董", "exact": 1, "inside": 0}
    assert "周杰伦" in out
    code, out, _ = run_cli(capsys, "lexicon", "stats", *mini_overrides(mini_lexicons))
    assert code == 0
    stats = json.loads(out.splitlines()[-1])
    assert stats["domains"] == 2 and stats["entries"] == 16


def test_console_script_exits_2_without_traceback(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json}\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "run", "--input", str(bad)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"duihua: error: {bad}:1: not valid JSON (Expecting property name enclosed in " \
                                  "double quotes)"


@pytest.mark.parametrize(("override", "message"), [
    ("data.coarse_rules=[nope]", "unknown rules ['nope']"),
    ("data.dir=/nonexistent", "missing"),
    ("encoder.pretrained=/nonexistent/encoder", "folder not found"),
    ("data.views.msr=0 data.views.pku_fine=0 data.views.pku_coarse=0", "nothing to train on"),
    ("wordhood.sources.pku.files=[cws/vocab/nope*.txt]", "wordhood.sources.pku: no file matches"),
    ("wordhood.sources.msr.derived_from=[news]", "wordhood.sources.msr.derived_from: unknown views ['news']"),
])
def test_train_segmenter_config_mistakes_are_one_line_errors(override, message, capsys):
    assert main(["train", "segmenter", *override.split()]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err


@pytest.mark.parametrize(("stage", "override", "message"), [
    ("splitter", "+data.mix.nope=1", "unknown sources ['nope']"),
    ("splitter", "data.dir=/nonexistent", "missing"),
    ("splitter", "threshold=1.5", "threshold must be in (0, 1)"),
    ("splitter", "data.max_chars=400", "at most 250"),
    ("splitter", "model.head.fusion=gated", "model.head.fusion=gated: expected none or input"),
    ("splitter", "~slots", "needs a slots node"),
    ("splitter", "data.mix.requests=0 data.mix.dialogue=0 data.mix.turns=0 data.mix.chat=0 data.mix.news=0",
     "nothing to train on"),
    ("splitter-distill", "encoder.pretrained=/nonexistent/encoder", "folder not found"),
    ("request-scorer", "scorer.mined.tagger=/nonexistent/splitter", "scorer.mined.tagger=/nonexistent/splitter"),
    ("splitter-distill", "distill.teachers=[{seed:1}]", "at least 2 teachers"),
])
def test_train_splitter_config_mistakes_are_one_line_errors(stage, override, message, capsys, tmp_path):
    # outputs go to tmp_path: if a check ever stopped firing, the run must not overwrite shipped checkpoints
    safe = [f"output_dir={tmp_path}/out", f"work_dir={tmp_path}/work", f"dev_dir={tmp_path}/dev",
            "data.train_examples=32", "trainer.max_steps=1"]
    assert main(["train", stage, *safe, *override.split()]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err


@pytest.mark.parametrize("override, message", [
    ("model.head.fusion=concat", "model.head.fusion: expected one of"),
    ("data.dir=/nonexistent", "missing"),
    ("data.dev_percent=0", "data.dev_percent must be in (0, 100)"),
    ("data.max_chars=400", "at most 250"),
    ("encoder.pretrained=/nonexistent/encoder", "folder not found"),
])
def test_train_intent_config_mistakes_are_one_line_errors(override, message, capsys, tmp_path):
    safe = [f"output_dir={tmp_path}/out", f"work_dir={tmp_path}/work", f"dev_dir={tmp_path}/dev",
            "trainer.max_steps=1"]
    assert main(["train", "intent", *safe, *override.split()]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err and err.count("\n") == 1


@pytest.mark.parametrize("override, message", [
    ("+data.weights.weibo=1", "data.weights: unknown sources ['weibo']"),
    ("data.dir=/nonexistent", "missing"),
    ("model.limits.max_source_chars=250", "must fit 256 positions"),
    ("decoding.top_p=0", "top_p"),
])
def test_train_reply_config_mistakes_are_one_line_errors(override, message, capsys, tmp_path):
    safe = [f"output_dir={tmp_path}/out", f"work_dir={tmp_path}/work", f"dev_dir={tmp_path}/dev",
            "trainer.max_steps=1"]
    assert main(["train", "reply", *safe, override]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err and err.count("\n") == 1


@pytest.fixture
def chat_tsv(tmp_path):
    path = tmp_path / "chat.tsv"
    path.write_text("你 好\t你 好 呀\n今 天 天 气 怎 么 样\t晴 天\n北 京\t首 都\n", encoding="utf-8")
    return path


def test_eval_reply_scores_retrieval_and_generation(capsys, chat_tsv, tiny_reply_dir):
    code, out, _ = run_cli(capsys, "eval", "reply", "--data", str(chat_tsv), "reply=retrieval", "reply.sources=[]",
                           f"reply.files=[{chat_tsv}]")
    metrics = json.loads(out.splitlines()[-1])
    assert code == 0 and metrics["replier"] == "retrieval" and metrics["ppl"] is None
    assert metrics["bleu2"] == 1.0 and metrics["pairs"] == 3   # each query retrieves its own response
    code, out, _ = run_cli(capsys, "eval", "reply", "--data", str(chat_tsv), "--checkpoint", str(tiny_reply_dir))
    metrics = json.loads(out.splitlines()[-1])
    assert code == 0 and metrics["replier"] == "generative" and metrics["ppl"] > 1
    assert {"bleu1", "bleu2", "distinct1", "distinct2"} <= set(metrics)


@pytest.mark.parametrize("content, extra, message", [
    ("你好\t你好呀\n坏行\n", [], "chat.tsv:2: expected query<TAB>response"),
    ("你好\t你好呀\n", ["reply=template"], "cannot answer chat"),
    ("你好\t你好呀\n", ["reply=none"], "reply=none"),
])
def test_eval_reply_mistakes_exit_2_with_one_line(capsys, tmp_path, content, extra, message):
    path = tmp_path / "chat.tsv"
    path.write_text(content, encoding="utf-8")
    code, _, err = run_cli(capsys, "eval", "reply", "--data", str(path), *extra)
    assert code == 2 and message in err and err.count("\n") == 1


def test_run_resolves_dates_against_the_reference_time(capsys):
    code = main(["run", "--compact", "--reference-time", "2026-12-01T10:00", "明天早上八点叫我起床",
                 "intent=none", "reply=none", "runtime=torch"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["query"]["reference_time"] == "2026-12-01T10:00:00"
    assert "2026-12-02T08:00:00" in [m["value"] for s in result["sentences"] for m in s["slots"]]


def test_run_refuses_a_reference_time_that_is_not_iso_8601(capsys):
    assert main(["run", "--reference-time", "tomorrow", "明天"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--reference-time" in err and "Traceback" not in err


# -- --input: lines end at \n only ------------------------------------------------------------------------
FAST = ("segmenter=none", "intent=none", "reply=none")  # splitting and the gazetteer: enough to see alignment


def test_unicode_line_separators_inside_a_txt_line_keep_output_aligned(capsys, mini_lexicons, tmp_path):
    src = tmp_path / "in.txt"
    lines = ["我想听\u2028稻香", "北京\x0c南站", "周董\x85的歌", "", "A\u2029B", "末行"]
    src.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines[:-1]).encode() + b"\n" + lines[-1].encode() + b"\r\n")
    dst = tmp_path / "out.jsonl"
    code, _, err = run_cli(capsys, "run", "--input", str(src), "--output", str(dst),
                           *mini_overrides(mini_lexicons, *FAST))
    assert code == 0 and f"wrote {len(lines)} results" in err
    rows = [PipelineResult.model_validate_json(x) for x in dst.read_text(encoding="utf-8").split("\n")[:-1]]
    assert [r.query.text for r in rows] == lines   # BOM and the CRLF ending dropped, separators kept in place


def test_jsonl_line_with_a_raw_line_separator_in_its_text_is_accepted(capsys, mini_lexicons, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "我想听\u2028稻香"}\n{"text": "北京\x85南站"}\n', encoding="utf-8")
    code, out, _ = run_cli(capsys, "run", "--input", str(src), *mini_overrides(mini_lexicons, *FAST))
    assert code == 0
    assert [PipelineResult.model_validate_json(x).query.text for x in out.split("\n")[:-1]] == \
        ["我想听\u2028稻香", "北京\x85南站"]


def test_undecodable_bytes_are_one_line_naming_file_and_line(capsys, tmp_path):
    src = tmp_path / "in.txt"
    src.write_bytes("好\n".encode() + b"ok \xff\xfe\n")
    code, _, err = run_cli(capsys, "run", "--input", str(src), "lexicons=[]")
    assert code == 2 and err.count("\n") == 1
    assert f"{src}:2: not UTF-8 (byte 0xff at byte 4 of the line)" in err


# no surrogates (a UTF-8 file cannot hold them); \n is what separates the lines
LINE = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\n"), max_size=12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(LINE, max_size=6), crlf=st.booleans())
def test_read_queries_gives_one_query_per_newline_separated_line(tmp_path, lines, crlf):
    src = tmp_path / "in.txt"
    src.write_bytes(b"".join(line.encode() + (b"\r\n" if crlf else b"\n") for line in lines))
    try:
        queries = read_queries(src, max_chars=100)
    except InputError as exc:  # a refusal is allowed, as one line; a misaligned result is not
        assert "\n" not in str(exc)
        return
    expected = [line if crlf else line.removesuffix("\r") for line in lines]
    if expected:
        expected[0] = expected[0].removeprefix("\ufeff")
    assert [q.text for q in queries] == expected


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(LINE, max_size=6))
def test_read_queries_reads_back_every_jsonl_text(tmp_path, lines):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in lines), encoding="utf-8")
    assert [q.text for q in read_queries(src, max_chars=100)] == lines


# -- overrides, options and text in any order ---------------------------------------------------------------
def test_split_overrides_tells_overrides_from_text():
    args = ["~reply", "北京", "+foo.bar=1", "1+1=2", "x=1是什么", "++a/b@c=[1,2]", "北京=首都", "~", "a北京=1"]
    assert split_overrides(args) == (["~reply", "+foo.bar=1", "x=1是什么", "++a/b@c=[1,2]"],
                                     ["北京", "1+1=2", "北京=首都", "~", "a北京=1"])


@pytest.mark.parametrize("order", ["override option text", "option text override", "text override option"])
def test_overrides_options_and_text_mix_in_any_order(capsys, mini_lexicons, order):
    parts = {"override": mini_overrides(mini_lexicons, *FAST), "option": ["--compact"], "text": ["我想听稻香"]}
    code, out, _ = run_cli(capsys, "run", *[a for word in order.split() for a in parts[word]])
    assert code == 0 and out.count("\n") == 1   # --compact: one line
    assert PipelineResult.model_validate_json(out).query.text == "我想听稻香"


@pytest.mark.parametrize("argv", [["1+1=2"], ["--text", "x=1"], ["--", "-5度"]])
def test_texts_with_an_equals_sign_or_a_dash_are_texts(capsys, mini_lexicons, argv):
    code, out, _ = run_cli(capsys, "run", "--compact", *mini_overrides(mini_lexicons, *FAST), *argv)
    assert code == 0 and PipelineResult.model_validate_json(out).query.text == argv[-1]


# -- --output: checked before any model loads ---------------------------------------------------------------
@pytest.fixture
def no_model_load(monkeypatch):
    """Building a pipeline fails loudly: a test using this shows its error comes before any model loads."""
    def refuse(*args, **kwargs):  # noqa: ANN002, ANN003
        raise AssertionError("a model was loaded")
    monkeypatch.setattr(Pipeline, "from_cfg", classmethod(refuse))


@pytest.mark.parametrize("target, message", [
    ("missing/out.jsonl", "does not exist"),
    ("folder", "is a folder"),
    ("in.txt", "is the input file"),
    ("link.txt", "is the input file"),   # a symlink to the input
])
def test_bad_output_is_refused_before_any_model_loads(capsys, tmp_path, no_model_load, target, message):
    src = tmp_path / "in.txt"
    src.write_text("你好\n", encoding="utf-8")
    (tmp_path / "folder").mkdir()
    (tmp_path / "link.txt").symlink_to(src)
    t0 = time.perf_counter()
    code, _, err = run_cli(capsys, "run", "--input", str(src), "--output", str(tmp_path / target))
    assert code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err
    assert time.perf_counter() - t0 < 5
    assert src.read_text(encoding="utf-8") == "你好\n"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_failing_write_is_one_line(capsys, mini_lexicons, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("你好\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "run", "--input", str(src), "--output", "/dev/full",
                           *mini_overrides(mini_lexicons, *FAST))
    assert code == 2 and err.count("\n") == 1
    assert "duihua: error: --output /dev/full: cannot write (No space left on device)" in err


def test_single_text_goes_to_output_too(capsys, mini_lexicons, tmp_path):
    dst = tmp_path / "out.jsonl"
    code, out, _ = run_cli(capsys, "run", "--output", str(dst), "我想听稻香", *mini_overrides(mini_lexicons, *FAST))
    assert code == 0 and out == ""
    (line,) = dst.read_text(encoding="utf-8").splitlines()
    assert PipelineResult.model_validate_json(line).query.text == "我想听稻香"
