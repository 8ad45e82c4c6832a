"""Shared fixtures: a private automaton cache, copies of the mini lexicons, and pipelines built on them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
DEMO = "明天北京天气怎么样我想听周杰伦的稻香"


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Never touch the user's ~/.cache during tests."""
    mp = pytest.MonkeyPatch()
    mp.setenv("DUIHUA_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


@pytest.fixture
def mini_lexicons(tmp_path: Path) -> dict[str, Path]:
    """Writable copies of tests/data/lexicons/{minimusic,miniloc}."""
    out = {}
    for name in ("minimusic", "miniloc"):
        out[name] = tmp_path / name
        shutil.copytree(DATA / "lexicons" / name, out[name])
    return out


def run_fresh(script: str, args: dict) -> dict:
    """``script`` in a new interpreter (a clean ``sys.modules``: what a start-up imports) with ``args`` as JSON
    in argv[1], from the checkout, on a cache the test has warmed; its last stdout line, parsed as JSON."""
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", script, json.dumps(args, ensure_ascii=False)],
                          cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "exporting" not in done.stderr, "the warm cache was not used"
    return json.loads(done.stdout.strip().splitlines()[-1])


def mini_overrides(dirs: dict[str, Path], *extra: str) -> list[str]:
    """Mini lexicons only, the rule splitter and the gazetteer alone: these tests are about lexicon mechanics
    (matching, reload, per-request selection), not about where sentences end or what the tagger learned.
    ``slots=fused`` in ``extra`` puts the learned tagger back on top of the same lexicons."""
    return ["lexicons=[]", f"lexicons.extra_dirs=[{','.join(str(p) for p in dirs.values())}]", "splitter=punct",
            "slots=gazetteer", *extra]


@pytest.fixture
def mini_pipe(mini_lexicons: dict[str, Path]):
    from pipeline import Pipeline

    return Pipeline.from_config(overrides=mini_overrides(mini_lexicons))


def _tiny_parts():
    """Tokenizer, bigram vocabulary and a 1-layer encoder config from the test queries (seeded)."""
    import torch
    from transformers import BertConfig

    from models.common.bigrams import BigramVocab
    from models.tokenization import build_tokenizer, build_vocab, count_chars

    lines = (DATA / "pretrain_tiny.txt").read_text(encoding="utf-8").splitlines()
    tokenizer = build_tokenizer(build_vocab(count_chars(lines), min_count=1))
    vocab = BigramVocab.build([list("".join(line.split())) for line in lines], min_count=1, max_size=500)
    torch.manual_seed(0)
    encoder = BertConfig(vocab_size=len(tokenizer), num_hidden_layers=1, hidden_size=32, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=64)
    return tokenizer, vocab, encoder


def _save_tiny(model, tokenizer, vocab, out: Path) -> Path:  # noqa: ANN001
    model.save(out)
    tokenizer.save_pretrained(str(out))
    vocab.save(out)
    return out


@pytest.fixture(scope="session")
def tiny_segmenter_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained, tiny segmenter checkpoint in the shipped format (for wiring tests, not for quality)."""
    from models.segmenter.modeling import HeadConfig, SegmenterModel

    tokenizer, vocab, encoder = _tiny_parts()
    model = SegmenterModel(encoder, HeadConfig(n_bigrams=len(vocab), bigram_dim=8, mha_heads=2, mlp_dim=16))
    return _save_tiny(model, tokenizer, vocab, tmp_path_factory.mktemp("segmenter"))


@pytest.fixture(scope="session")
def tiny_splitter_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained, tiny splitter checkpoint in the shipped format (for wiring tests, not for quality).
    With bigram features, so the bigram input path of every backend is exercised."""
    from models.splitter.modeling import HeadConfig, SplitterModel

    tokenizer, vocab, encoder = _tiny_parts()
    model = SplitterModel(encoder, HeadConfig(n_bigrams=len(vocab), bigram_dim=8, mlp_dim=16))
    return _save_tiny(model, tokenizer, vocab, tmp_path_factory.mktemp("splitter"))


@pytest.fixture(scope="session")
def tiny_fused_splitter_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained, tiny slot-fused splitter checkpoint (the mini lexicons' slot types), its tag embeddings
    large enough that the tags change its output."""
    import torch

    from models.splitter.modeling import HeadConfig, SplitterModel

    tokenizer, _, encoder = _tiny_parts()
    model = SplitterModel(encoder, HeadConfig(mlp_dim=16, fusion="input", slot_types=["city", "singer", "song",
                                              "station"]))
    torch.nn.init.normal_(model.tags.type_embed.weight, std=1.0)
    out = tmp_path_factory.mktemp("fused_splitter")
    model.save(out)
    tokenizer.save_pretrained(str(out))
    return out


@pytest.fixture(scope="session")
def tiny_request_scorer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained, tiny request scorer in the shipped format (for ``splitter=joint`` wiring tests)."""
    from models.splitter.scorer_model import RequestScorerModel, ScorerHeadConfig

    tokenizer, _, encoder = _tiny_parts()
    out = tmp_path_factory.mktemp("request_scorer")
    RequestScorerModel(encoder, ScorerHeadConfig(mlp_dim=16)).save(out)
    tokenizer.save_pretrained(str(out))
    return out


@pytest.fixture(scope="session")
def tiny_intent_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained, tiny intent checkpoint in the shipped format (for wiring tests, not for quality): domains
    with and without intents, and the mini lexicons' slot types."""
    from models.intent.modeling import HeadConfig, SlotAwareIntentModel

    tokenizer, _, encoder = _tiny_parts()
    head = HeadConfig(domains=["chat", "music", "train", "weather"], intents=["music/PLAY", "music/SEARCH",
                      "train/QUERY"], slot_types=["city", "singer", "song", "station"], slot_dim=8, attn_dim=16,
                      attn_heads=2, context_heads=2)
    out = tmp_path_factory.mktemp("intent")
    SlotAwareIntentModel(encoder, head).save(out)
    tokenizer.save_pretrained(str(out))
    return out


@pytest.fixture(scope="session")
def tiny_reply_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained, tiny reply generator in the shipped format (for wiring tests, not for quality)."""
    import torch
    from transformers import BertForMaskedLM

    from models.reply.inference import InputLimits, save_limits

    tokenizer, _, encoder = _tiny_parts()
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("reply")
    BertForMaskedLM(encoder).save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    save_limits(out, InputLimits(max_source_chars=32, max_turns=3, max_target_chars=16))
    return out
