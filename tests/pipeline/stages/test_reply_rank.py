"""reply=rank: candidates from a tiny generator and BM25, reranked by a tiny selection model; the safety net's
fallback, Reply.source and score, sessions, use as reply=hybrid's chat part, and config errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.composer import build_stage
from pipeline.config import load_config
from pipeline.errors import ConfigError
from pipeline.schema import IntentPrediction, PipelineResult, Query, Sentence
from pipeline.stages.reply_chat import GenerativeReplier, RetrievalReplier
from pipeline.stages.reply_hybrid import HybridReplier
from pipeline.stages.reply_rank import RankReplier
from pipeline.stages.reply_template import TemplateReplier

DECODING = {"strategy": "sample", "min_new_tokens": 2, "max_new_tokens": 6, "temperature": 1.5, "top_p": 1.0}
FALLBACK = "抱歉，换个说法吧"
PAIRS = "你好\t你好呀，今天过得怎么样\n今天天气怎么样\t天气很好，出去走走吧\n今天吃什么\t吃火锅吧\n"


@pytest.fixture(scope="module")
def tiny_ranker_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained, tiny selection model in the shipped format (wiring, not quality)."""
    import torch
    from transformers import BertConfig

    from models.reply.selection import SelectionModel
    from models.reply.selection_config import SelectionHeadConfig
    from models.tokenization import build_tokenizer, build_vocab, count_chars

    tokenizer = build_tokenizer(build_vocab(count_chars([PAIRS, "呀吧火锅走出很"]), min_count=1))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), num_hidden_layers=1, hidden_size=32, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    out = tmp_path_factory.mktemp("ranker")
    SelectionModel(config, SelectionHeadConfig()).save(out)
    tokenizer.save_pretrained(str(out))
    return out


@pytest.fixture
def pairs_file(tmp_path: Path) -> Path:
    path = tmp_path / "pairs.tsv"
    path.write_text(PAIRS, encoding="utf-8")
    return path


def ranker(reply_dir: Path, ranker_dir: Path, pairs: Path, **kwargs: object) -> RankReplier:
    generator = GenerativeReplier(str(reply_dir), DECODING)
    retrieval = RetrievalReplier(FALLBACK, files=[str(pairs)])
    return RankReplier(generator, retrieval, str(ranker_dir), FALLBACK, **{"samples": 3, "beam": 2,
                                                                           "retrieved": 2, **kwargs})


def docs(*texts: str, session: str | None = None) -> list[PipelineResult]:
    return [PipelineResult(query=Query(text=t, session_id=session)) for t in texts]


def test_rank_answers_every_query_with_its_best_candidate(tiny_reply_dir: Path, tiny_ranker_dir: Path,
                                                          pairs_file: Path) -> None:
    rank = ranker(tiny_reply_dir, tiny_ranker_dir, pairs_file)
    assert not rank.generator.loaded and not rank.loaded   # both load on first use
    texts = ["今天天气怎么样", "你好", "完全没见过的话"]
    pools = rank.candidates([[t] for t in texts], texts)
    assert {c.kind for c in pools[0]} == {"beam", "sample", "retrieval"}
    assert not any(c.kind == "retrieval" for c in pools[2])   # no BM25 term matches
    out = rank.process(docs(*texts, ""))
    assert out[3].reply is None
    for doc, pool in zip(out[:3], pools, strict=True):
        passing = [c for c in pool if rank.safety.passes(c.text)]
        if passing:
            top = max(passing, key=lambda c: c.selection)
            assert (doc.reply.text, doc.reply.source) == (top.text, top.source)
            assert doc.reply.score == pytest.approx(top.selection, abs=1e-4)
        else:
            assert doc.reply.source == "fallback"


def test_a_blocked_best_candidate_falls_back_to_the_next(tiny_reply_dir: Path, tiny_ranker_dir: Path,
                                                         pairs_file: Path) -> None:
    rank = ranker(tiny_reply_dir, tiny_ranker_dir, pairs_file, samples=0, beam=0, retrieved=3,
                  weights={"selection": 0.0, "bm25": 1.0})   # BM25 alone ranks: the top hit would win
    (first,) = rank.answer(docs("今天天气怎么样"), ["今天天气怎么样"])
    assert (first.text, first.source) == ("天气很好，出去走走吧", "retrieval")
    assert not rank.generator.loaded   # no generated candidates: the generator (and torch for it) never loads
    blocked = ranker(tiny_reply_dir, tiny_ranker_dir, pairs_file, samples=0, beam=0, retrieved=3,
                     weights={"selection": 0.0, "bm25": 1.0}, safety={"blocklist": ["走走"]})
    (second,) = blocked.answer(docs("今天天气怎么样"), ["今天天气怎么样"])
    assert second.text in ("吃火锅吧", "你好呀，今天过得怎么样") and second.source == "retrieval"
    strict = ranker(tiny_reply_dir, tiny_ranker_dir, pairs_file, samples=0, beam=0, retrieved=3,
                    safety={"max_chars": 1, "min_chars": 1})
    assert strict.answer(docs("今天天气怎么样"), ["今天天气怎么样"])[0].source == "fallback"


def test_sessions_remember_the_winning_reply(tiny_reply_dir: Path, tiny_ranker_dir: Path, pairs_file: Path) -> None:
    rank = ranker(tiny_reply_dir, tiny_ranker_dir, pairs_file)
    (reply,) = rank.process(docs("你好", session="s"))
    assert rank.generator.history.context("s", "再见") == ["你好", reply.reply.text, "再见"]


def test_rank_is_a_chat_replier_for_hybrid(tiny_reply_dir: Path, tiny_ranker_dir: Path, pairs_file: Path) -> None:
    templates = TemplateReplier([{"domain": "weather", "text": "好的，为您查询天气"}], fallback=FALLBACK)
    hybrid = HybridReplier(templates, ranker(tiny_reply_dir, tiny_ranker_dir, pairs_file))
    pred = IntentPrediction(label="chat", domain="chat", intent=None, score=0.9)
    doc = PipelineResult(query=Query(text="你好"), sentences=[Sentence(text="你好", start=0, end=2, intent=pred)])
    (out,) = hybrid.process([doc])
    assert out.reply.source in ("generative", "retrieval", "fallback") and out.reply.text


def test_reply_rank_config_composes_and_checks_its_checkpoints(tiny_reply_dir: Path, tiny_ranker_dir: Path,
                                                               pairs_file: Path, tmp_path: Path) -> None:
    base = ["reply=rank", f"reply.generator.checkpoint={tiny_reply_dir}", "reply.retrieval.sources=[]",
            f"reply.retrieval.files=[{pairs_file}]"]
    stage = build_stage("reply", load_config("pipeline", [*base, f"reply.checkpoint={tiny_ranker_dir}"]).reply)
    assert isinstance(stage, RankReplier) and stage.retrieved >= 1 and not stage.generator.loaded
    with pytest.raises(ConfigError, match="reply-ranker"):
        build_stage("reply", load_config("pipeline", [*base, f"reply.checkpoint={tmp_path}"]).reply)
    with pytest.raises(ConfigError, match="not all 0"):
        build_stage("reply", load_config("pipeline", [*base, f"reply.checkpoint={tiny_ranker_dir}", "reply.samples=0",
                                                      "reply.beam=0", "reply.retrieved=0"]).reply)
    with pytest.raises(ConfigError, match="unknown kinds"):
        build_stage("reply", load_config("pipeline", [*base, f"reply.checkpoint={tiny_ranker_dir}",
                                                      "+reply.weights.bias.template=1.0"]).reply)
    with pytest.raises(ConfigError, match="reply.safety"):
        build_stage("reply", load_config("pipeline", [*base, f"reply.checkpoint={tiny_ranker_dir}",
                                                      "reply.safety.min_chars=50"]).reply)


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_onnx_selection_scores_match_torch(tiny_reply_dir: Path, tiny_ranker_dir: Path,
                                                                        pairs_file: Path, tmp_path: Path,
                                                                        backend: str) -> None:
    from models.reply.selection import ResponseSelector

    queries = ["你好", "今天吃什么"]
    pools = [["你好呀，今天过得怎么样", "吃火锅吧", "天气很好"], ["吃火锅吧", "出去走走吧"]]
    eager = ResponseSelector.from_pretrained(tiny_ranker_dir).scores(queries, pools)
    rank = ranker(tiny_reply_dir, tiny_ranker_dir, pairs_file, backend=backend, cache_dir=str(tmp_path))
    onnx = rank.selector.scores(queries, pools)
    assert type(rank.selector).__name__ == "OnnxResponseSelector"
    for e, o in zip(eager, onnx, strict=True):
        assert o == pytest.approx(e, abs=0.02 if backend == "onnx-int8" else 1e-5)
