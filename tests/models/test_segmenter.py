"""Segmenter: input folding, coarse-view rules, tags, tag-grammar decoding, learning, persistence, bad inputs."""

from __future__ import annotations

import gzip
import itertools
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel

from models.charmap import model_view
from models.segmenter.corpus import COARSE_RULES, coarse_view, load_views, parse_pos_line
from models.segmenter.decoding import decode, is_valid, log_softmax, transition_matrix, viterbi
from models.segmenter.features import (
    B,
    BigramVocab,
    CharIds,
    E,
    M,
    S,
    bmes_tags,
    collate,
    collate_numpy,
    encode_example,
    tags_to_spans,
)
from models.segmenter.inference import Segmenter
from models.segmenter.modeling import SegmenterModel, build_model
from tests.models.conftest import TINY_ARCH

POS_LINE = ("19980101-01-001-006/m 在/p １９９８年/t 来临/v 之际/f ，/w 主席/n 江/nr 泽民/nr 通过/p "
            "[中央/n 人民/n 广播/vn 电台/n]nt 向/p 全国/n 发表/v ３/m 个/q 讲话/n ，/w １２月/t ３１日/t 。/w")


# ---------------------------------------------------------------- folding

def test_model_view_folds_digit_and_latin_runs_and_keeps_exact_spans():
    text = "１９９８年 我用MP3听3.5公里"
    chars, spans = model_view(text)
    assert chars == ["0", "年", "我", "用", "l", "0", "听", "0", "公", "里"]
    assert [text[a:b] for a, b in spans] == ["１９９８", "年", "我", "用", "MP", "3", "听", "3.5", "公", "里"]
    assert model_view("") == ([], []) and model_view("  \n") == ([], [])


def test_model_view_covers_every_non_space_character_once():
    text = "ＡＢＣ电视台 2024年3月, hello 世界！"
    _, spans = model_view(text)
    covered = "".join(text[a:b] for a, b in spans)
    assert covered == "".join(text.split())
    assert all(b1 <= a2 for (_, b1), (a2, _) in zip(spans, spans[1:], strict=False))


# ---------------------------------------------------------------- coarse view

def test_pos_line_parsing_keeps_document_id_and_bracket_groups():
    doc_id, tagged = parse_pos_line(POS_LINE)
    assert doc_id == "19980101-01-001"
    groups = {g for _, _, g in tagged if g >= 0}
    assert len(groups) == 1 and [w for w, _, g in tagged if g >= 0] == ["中央", "人民", "广播", "电台"]


@pytest.mark.parametrize(("rule", "merged"), [
    ("compounds", "中央人民广播电台"), ("person_names", "江泽民"), ("dates", "１２月３１日"), ("number_units", "３个")])
def test_each_coarse_rule_merges_what_it_says(rule, merged):
    _, tagged = parse_pos_line(POS_LINE)
    plain = coarse_view(tagged, [])
    words = coarse_view(tagged, [rule])
    assert merged in words and merged not in plain
    assert "".join(words) == "".join(plain) and len(words) < len(plain)


def test_all_rules_together_give_the_msr_style_sentence():
    _, tagged = parse_pos_line(POS_LINE)
    words = coarse_view(tagged, list(COARSE_RULES))
    assert words == ["在", "１９９８年", "来临", "之际", "，", "主席", "江泽民", "通过", "中央人民广播电台",
                     "向", "全国", "发表", "３个", "讲话", "，", "１２月３１日", "。"]


def test_load_views_splits_by_document_and_never_leaks(tiny_cws_data: Path):
    views = load_views(tiny_cws_data, list(COARSE_RULES), dev_percent=50.0, msr_dev_lines=2)
    fine_train, fine_dev = views["pku_fine"]
    coarse_train, coarse_dev = views["pku_coarse"]
    assert fine_dev and coarse_dev and len(views["msr"][1]) == 2
    # a January sentence is in dev for both views or for neither
    dev_texts = {"".join(s) for s in fine_dev}
    assert dev_texts == {"".join(s) for s in coarse_dev}
    assert not dev_texts & {"".join(s) for s in coarse_train}


# ---------------------------------------------------------------- tags and decoding

def test_bmes_tags_round_trip_to_word_spans():
    words = [["这"], ["是"], ["一", "家"], ["移", "动", "互", "联", "网"]]
    tags = bmes_tags(words)
    assert tags == [S, S, B, E, B, M, M, M, E]
    assert tags_to_spans(tags) == [(0, 1), (1, 2), (2, 4), (4, 9)]


def brute_force(log_probs: torch.Tensor) -> list[int]:
    best, best_path = -float("inf"), []
    for path in itertools.product(range(4), repeat=log_probs.shape[0]):
        if is_valid(list(path)):
            total = sum(float(log_probs[t, tag]) for t, tag in enumerate(path))
            if total > best:
                best, best_path = total, list(path)
    return best_path


def test_viterbi_finds_the_best_valid_path_like_brute_force():
    gen = torch.Generator().manual_seed(0)
    for length in range(1, 7):
        scores = torch.log_softmax(torch.randn(3, length, 4, generator=gen) * 3, dim=-1)
        paths = viterbi(scores.numpy(), torch.full((3,), length).numpy())
        for i in range(3):
            assert paths[i] == brute_force(scores[i])


def test_viterbi_always_returns_a_valid_segmentation_even_when_argmax_is_not():
    gen = torch.Generator().manual_seed(1)
    scores = torch.log_softmax(torch.randn(64, 30, 4, generator=gen) * 5, dim=-1)
    lengths = torch.randint(0, 31, (64,), generator=gen)
    argmax_invalid = sum(not is_valid(scores[i, : lengths[i]].argmax(-1).tolist()) for i in range(64))
    assert argmax_invalid > 10  # the test is meaningful: raw argmax breaks the grammar often
    for i, path in enumerate(viterbi(scores.numpy(), lengths.numpy())):
        assert len(path) == int(lengths[i]) and is_valid(path)


def test_decode_equals_viterbi_and_takes_the_argmax_shortcut_only_when_valid():
    gen = torch.Generator().manual_seed(2)
    scores = torch.log_softmax(torch.randn(200, 12, 4, generator=gen) * 4, dim=-1)
    lengths = torch.randint(0, 13, (200,), generator=gen)
    assert decode(scores.numpy(), lengths.numpy()) == viterbi(scores.numpy(), lengths.numpy())
    confident = torch.full((1, 4, 4), -9.0)
    confident[0, [0, 1, 2, 3], [B, E, S, S]] = 0.0  # argmax B E S S is valid
    assert decode(confident.numpy(), [4]) == [[B, E, S, S]]


def test_numpy_log_softmax_gives_torchs_numbers():
    """Decoding moved from torch to numpy (no torch on the ONNX path): the log-probabilities it reads are
    torch's to float32 rounding, so paths do not change."""
    logits = torch.randn(8, 40, 4, generator=torch.Generator().manual_seed(3)) * 6
    got = log_softmax(logits.numpy())
    assert got.dtype == np.float32
    assert np.abs(got - torch.log_softmax(logits, dim=-1).numpy()).max() < 1e-6


def test_collate_numpy_pads_ids_bigrams_and_labels_as_int64():
    """Inference pads with numpy (no torch on the ONNX path), training and the torch model take the same
    arrays as tensors: each row is the example, then 0 (-100 for labels)."""
    vocab = BigramVocab.build([list("北京大学")], min_count=1, max_size=10)
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[FINE]", "[COARSE]", *"北京大"]
    char_ids = CharIds({c: i for i, c in enumerate(tokens)}, 1, 2, 3)
    examples = [encode_example(list(w), "coarse", char_ids, vocab, bmes_tags([list(w)])) for w in ("北京大学", "京")]
    arrays, tensors = collate_numpy(examples), collate(examples)
    assert arrays.keys() == tensors.keys()
    for key, value in arrays.items():
        assert value.dtype == np.int64 and np.array_equal(value, tensors[key].numpy()), key
    assert arrays["granularity"].tolist() == [1, 1]
    assert arrays["attention_mask"].tolist() == [[1] * 7, [1] * 4 + [0] * 3]
    for key in ("input_ids", "bigram_left", "bigram_right", "labels"):
        assert np.array_equal(arrays[key][1, :4], examples[1][key]), key
        assert (arrays[key][1, 4:] == (-100 if key == "labels" else 0)).all(), key



def test_transition_matrix_allows_exactly_the_bmes_grammar():
    allowed = {(a, b) for a in range(4) for b in range(4) if transition_matrix()[a, b] == 0}
    assert allowed == {(B, M), (B, E), (M, M), (M, E), (E, B), (E, S), (S, B), (S, S)}


# ---------------------------------------------------------------- a tiny model that learns both granularities

FINE = [["这", "是", "一家", "移动", "互联网", "公司"], ["我", "喜欢", "移动", "互联网"],
        ["北京", "大学", "很", "大"], ["他", "在", "北京", "大学", "读书"]]
COARSE = [["这", "是", "一家", "移动互联网", "公司"], ["我", "喜欢", "移动互联网"],
          ["北京大学", "很", "大"], ["他", "在", "北京大学", "读书"]]


def tiny_model(tiny_tokenizer, sentences, head=None) -> tuple[SegmenterModel, CharIds, BigramVocab]:
    torch.manual_seed(0)
    encoder = BertModel(BertConfig(vocab_size=len(tiny_tokenizer), **TINY_ARCH), add_pooling_layer=False)
    vocab = BigramVocab.build([[c for w in s for c in w] for s in sentences], min_count=1, max_size=1000)
    head = head or {"bigram_dim": 16, "mha_heads": 2, "mlp_dim": 32, "dropout": 0.0, "aux_weight": 0.1}
    return build_model(encoder, None, head, len(vocab)), CharIds.from_tokenizer(tiny_tokenizer), vocab


def test_one_model_learns_both_granularities_from_the_granularity_token(tiny_tokenizer):
    model, char_ids, vocab = tiny_model(tiny_tokenizer, FINE + COARSE)
    examples = [encode_example([c for w in s for c in w], g, char_ids, vocab, bmes_tags([list(w) for w in s]))
                for data, g in ((FINE, "fine"), (COARSE, "coarse")) for s in data]
    batch = collate(examples)
    optim = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    first = None
    for _ in range(150):
        loss = model(**batch)["loss"]
        first = first if first is not None else float(loss.detach())
        optim.zero_grad()
        loss.backward()
        optim.step()
    assert float(loss.detach()) < first / 10
    seg = Segmenter(model, char_ids, vocab, precision="fp32")
    assert seg.cut("这是一家移动互联网公司", "fine") == FINE[0]
    assert seg.cut("这是一家移动互联网公司", "coarse") == COARSE[0]
    assert seg.cut("他在北京大学读书", "coarse") == COARSE[3]


def test_ablation_switches_remove_their_modules(tiny_tokenizer):
    model, _, _ = tiny_model(tiny_tokenizer, FINE, {"bigram_dim": 0, "mha_heads": 0, "aux_weight": 0.0})
    names = {n.split(".")[0] for n, _ in model.named_parameters()}
    assert not names & {"bigram", "fuse", "mha"}


def test_fp16_checkpoint_round_trip_gives_the_same_segmentation(tiny_tokenizer, tmp_path):
    model, char_ids, vocab = tiny_model(tiny_tokenizer, FINE)
    model.save(tmp_path)
    tiny_tokenizer.save_pretrained(str(tmp_path))
    vocab.save(tmp_path)
    loaded = Segmenter.from_pretrained(tmp_path, precision="fp32")
    assert (tmp_path / "model.safetensors").stat().st_size < 2e6
    texts = ["这是一家移动互联网公司", "北京大学"]
    assert loaded.segment(texts, "fine") == Segmenter(model.eval(), char_ids, vocab).segment(texts, "fine")


# ---------------------------------------------------------------- bad and unusual inputs

def assert_partition(text: str, spans: list[tuple[int, int]]) -> None:
    """Spans are ordered, never overlap, never contain whitespace, and cover every non-space character."""
    assert all(a < b for a, b in spans)
    assert all(b1 <= a2 for (_, b1), (a2, _) in zip(spans, spans[1:], strict=False))
    assert "".join(text[a:b] for a, b in spans) == "".join(text.split())
    assert not any(ch.isspace() for a, b in spans for ch in text[a:b])


def test_unusual_inputs_are_segmented_without_loss(tiny_tokenizer):
    model, char_ids, vocab = tiny_model(tiny_tokenizer, FINE)
    seg = Segmenter(model.eval(), char_ids, vocab)
    rng = random.Random(0)
    long_text = "".join(rng.choice("北京天气怎么样我想听周杰伦的稻香，。") for _ in range(10_000))
    texts = ["", "   ", "hello world", "Hello, World! 123", "😀表情", long_text]
    for granularity in ("fine", "coarse"):
        results = seg.segment(texts, granularity)
        assert results[0] == [] and results[1] == []
        for text, spans in zip(texts, results, strict=True):
            assert_partition(text, spans)
        assert [texts[2][a:b] for a, b in results[2]] == ["hello", "world"]  # a Latin run is one word
    with pytest.raises(ValueError, match="granularity"):
        seg.segment(["北京"], "medium")


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="duihua train segmenter"):
        Segmenter.from_pretrained(tmp_path)


# ---------------------------------------------------------------- training command

def test_train_command_writes_a_loadable_checkpoint_with_card(tiny_cws_data, tiny_tokenizer, tmp_path):
    from omegaconf import OmegaConf

    from models.segmenter.train import train
    from pipeline.config import load_config

    encoder_dir = tmp_path / "encoder"
    BertModel(BertConfig(vocab_size=len(tiny_tokenizer), **TINY_ARCH)).save_pretrained(str(encoder_dir))
    tiny_tokenizer.save_pretrained(str(encoder_dir))
    overrides = [f"data.dir={tiny_cws_data}", "data.dev_percent=50", "data.msr_dev_lines=2", "data.eval_examples=4",
                 f"encoder.pretrained={encoder_dir}", f"output_dir={tmp_path / 'out'}", f"work_dir={tmp_path / 'work'}",
                 "bigrams.min_count=1", "model.encoder_layers=1", "model.bigram_dim=8", "model.mlp_dim=16",
                 "model.mha_heads=2", "trainer.max_steps=6", "trainer.per_device_train_batch_size=4",
                 "trainer.eval_steps=3", "trainer.save_steps=3", "trainer.logging_steps=1", "trainer.cpu_bf16=false"]
    cfg = OmegaConf.to_container(load_config("train/segmenter", overrides), resolve=True)
    result = train(cfg)
    out = tmp_path / "out"
    assert {"segmenter.json", "model.safetensors", "bigrams.txt", "tokenizer.json", "README.md"} <= {
        p.name for p in out.iterdir()}
    assert result["steps"] == 6 and 0.0 <= result["fine_f1"] <= 100.0
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "| seed | 42 |" in card and "wordhood features" in card and "With the lists as shipped" in card
    assert sorted(p.name for p in (out / "wordhood").iterdir()) == ["msr.txt", "pku.txt", "thuocl.txt"]
    assert (out / "wordhood" / "msr.txt").read_text(encoding="utf-8") == "北京大学\n移动互联网\n"
    assert (tmp_path / "work" / "dev" / "msr.txt").read_text(encoding="utf-8").count("\n") == 2
    assert Segmenter.from_pretrained(out).segment(["北京大学"], "coarse")[0]


# ---------------------------------------------------------------- fixtures

@pytest.fixture
def tiny_cws_data(tmp_path: Path) -> Path:
    """A miniature ``../shared/data/cws`` in the real formats (made-up sentences, real layout)."""
    root = tmp_path / "data" / "cws"
    (root / "pku1998").mkdir(parents=True)
    (root / "msr-slice").mkdir()
    pos_lines, seg_lines = [], []
    for doc in range(6):
        for sent in range(3):
            line = POS_LINE.replace("19980101-01-001-006", f"19980101-01-{doc:03d}-{sent:03d}").replace(
                "讲话/n", f"讲话{'一二三四五六'[doc]}{'七八九'[sent]}/n")  # every sentence distinct
            pos_lines.append(line)
            seg_lines.append(" ".join(w for w, _, _ in parse_pos_line(line)[1]))
    with gzip.open(root / "pku1998" / "pd199801_pos.txt.gz", "wt", encoding="utf-8") as fh:
        fh.write("\n".join(pos_lines) + "\n")
    (root / "pku1998" / "pd199801_seg.txt").write_text("\n".join(seg_lines) + "\n", encoding="utf-8")
    (root / "pku1998" / "pd199802_seg.txt").write_text("我 喜欢 移动 互联网\n北京 大学 很 大\n", encoding="utf-8")
    msr_lines = ["这  是  一家  移动互联网  公司", "他  在  北京大学  读书", "0月0日  ,  江泽民  发表  讲话  。",
                 "我  喜欢  0个  苹果"]
    (root / "msr-slice" / "msr_train_slice.txt").write_text("\n".join(msr_lines) + "\n", encoding="utf-8")
    (root / "vocab").mkdir()
    (root / "vocab" / "pku_training_words.utf8").write_text("移动\n互联网\n北京\n大学\n", encoding="utf-8")
    (root / "vocab" / "msr_training_words.utf8").write_text("移动互联网\n北京大学\n", encoding="utf-8")
    (tmp_path / "data" / "entities" / "thuocl").mkdir(parents=True)
    (tmp_path / "data" / "entities" / "thuocl" / "THUOCL_test.txt").write_text("北京大学\t99\n", encoding="utf-8")
    return tmp_path / "data"


# ---------------------------------------------------------------- ONNX Runtime backends

def test_onnx_backends_export_once_and_match_torch(tiny_segmenter_dir, tmp_path):
    texts = ["明天北京天气怎么样", "我想听周杰伦的稻香", "hello 世界 2024年", ""]
    reference = Segmenter.from_pretrained(tiny_segmenter_dir, precision="fp32")
    batch = collate([encode_example(list("北京天气"), "fine", reference.char_ids, reference.bigram_vocab)])
    expected = reference._logits(batch)
    for backend in ("onnx", "onnx-int8"):
        seg = Segmenter.from_pretrained(tiny_segmenter_dir, backend=backend, cache_dir=tmp_path)
        got = seg._logits(batch)
        assert got.shape == expected.shape
        tolerance = 1e-4 if backend == "onnx" else 0.1  # int8 MatMuls round; fp32 ONNX is the same function
        assert torch.allclose(got, expected, atol=tolerance)
        for text, spans in zip(texts, seg.segment(texts, "coarse"), strict=True):
            assert_partition(text, spans)
    names = sorted(p.name for p in (tmp_path / "onnx").rglob("*.onnx"))
    exported = [n for n in names if ".opt-ort" not in n]   # beside each graph: ORT's optimized copy of it
    assert exported == ["model.int8.onnx", "model.onnx"]  # one fp32 export shared by both backends
    assert len(names) == 4
    with pytest.raises(ValueError, match="backend"):
        Segmenter.from_pretrained(tiny_segmenter_dir, backend="tensorrt")


def test_segmenter_trains_on_a_hub_style_bert_with_its_own_tokenizer(tiny_cws_data, hub_style_checkpoint, tmp_path):
    """`encoder=hf encoder.pretrained=NAME`: a WordPiece BERT gains [FINE]/[COARSE] and trains unchanged."""
    from omegaconf import OmegaConf

    from models.segmenter.train import train
    from pipeline.config import load_config

    overrides = ["encoder=hf", f"encoder.pretrained={hub_style_checkpoint}", f"data.dir={tiny_cws_data}",
                 "data.dev_percent=50", "data.msr_dev_lines=2", "data.eval_examples=4", f"output_dir={tmp_path / 'o'}",
                 f"work_dir={tmp_path / 'w'}", "bigrams.min_count=1", "model.bigram_dim=8", "model.mlp_dim=16",
                 "model.mha_heads=2", "trainer.max_steps=2", "trainer.per_device_train_batch_size=4",
                 "trainer.eval_steps=2", "trainer.save_steps=2", "trainer.cpu_bf16=false"]
    train(OmegaConf.to_container(load_config("train/segmenter", overrides), resolve=True))
    seg = Segmenter.from_pretrained(tmp_path / "o")
    assert {"[FINE]", "[COARSE]"} <= set(seg.char_ids.vocab)
    assert "".join(seg.cut("北京天气怎么样", "fine")) == "北京天气怎么样"
