"""The slot tagger learns what only the gazetteer can tell, and follows a lexicon edit without retraining."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from transformers import BertConfig

from models.common.char_ids import CharIds
from models.intent.features import SlotTagVocab
from models.lexicon.features import char_tags
from models.slots.data import SlotExample, locate
from models.slots.features import collate, encode
from models.slots.inference import SlotTagger, spans_of, transition_mask, viterbi
from models.slots.modeling import SlotHeadConfig, SlotTaggerModel
from models.slots.scoring import span_scores
from tests.models.conftest import TINY_ARCH, tiny_train_overrides

CHARS = list("北京天气怎么样我想听周杰伦的稻香帮打开空调今上海下雨吗播放一首轻音乐导航到故宫博物院给妈打电话")


def names(rng: random.Random, n: int) -> list[str]:
    return ["".join(rng.sample(CHARS, 2)) for _ in range(n)]


def task(rng: random.Random, listed: set[str], pool: list[str], n: int) -> list[SlotExample]:
    """``来<X>吧``: X is a ``song`` span exactly when the lexicon lists it. The characters of X are drawn
    from the same pool either way, so the text alone cannot tell; the gazetteer's tag can."""
    out = []
    for _ in range(n):
        x = rng.choice(pool)
        out.append(SlotExample(f"来{x}吧", ((1, 3, "song"),) if x in listed else ()))
    return out


def lexicon_tags(examples: list[SlotExample], listed: set[str]) -> list[list[list[str]]]:
    return [char_tags(len(x.text), [(1, 3, "song")] if x.text[1:3] in listed else []) for x in examples]


def train_tiny(fusion: str, tokenizer, examples, tags, steps: int = 150) -> SlotTaggerModel:  # noqa: ANN001
    torch.manual_seed(0)
    head = SlotHeadConfig(labels=["song"], slot_types=["song"], fusion=fusion, slot_dim=8, attn_dim=16, attn_heads=2,
                          dropout=0.0)
    model = SlotTaggerModel(BertConfig(vocab_size=len(tokenizer), **TINY_ARCH), head)
    char_ids, vocab = CharIds.from_tokenizer(tokenizer), SlotTagVocab(head.slot_types, head.max_tags)
    index = {t: i for i, t in enumerate(head.tags)}
    items = [encode(x.text, t, char_ids, vocab, 60, index, x.spans) for x, t in zip(examples, tags, strict=True)]
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    rng = random.Random(0)
    model.train()
    for _ in range(steps):
        loss = model(**collate(rng.sample(items, 32)))["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def tiny_task(tiny_tokenizer, tmp_path_factory):  # noqa: ANN001, ANN201
    rng = random.Random(7)
    train_names, test_names = names(rng, 60), names(rng, 40)
    listed = set(train_names[::2]) | set(test_names[::2])
    train = task(rng, listed, train_names, 400)
    test = task(rng, listed, [n for n in test_names if n not in train_names], 200)
    folders = {}
    for fusion in ("gated", "none"):
        model = train_tiny(fusion, tiny_tokenizer, train, lexicon_tags(train, listed))
        folders[fusion] = tmp_path_factory.mktemp(f"slots-{fusion}")
        model.save(folders[fusion])
        tiny_tokenizer.save_pretrained(str(folders[fusion]))
    return {"folders": folders, "test": test, "listed": listed, "test_names": test_names, "train_names": train_names}


def test_fusion_learns_a_task_only_the_gazetteer_can_disambiguate(tiny_task) -> None:  # noqa: ANN001
    test, listed = tiny_task["test"], tiny_task["listed"]
    scores = {}
    for fusion, folder in tiny_task["folders"].items():
        tagger = SlotTagger.from_pretrained(folder)   # the saved fp16 checkpoint, loaded back
        pred = tagger.predict([x.text for x in test], lexicon_tags(test, listed))
        scores[fusion] = span_scores([x.spans for x in test], [{(s.start, s.end) for s in p} for p in pred])["f1"]
    assert scores["gated"] >= 0.95, scores
    assert scores["none"] <= 0.75, scores   # without the tags, the best it can do is guess


def test_unseen_entity_is_tagged_after_a_lexicon_edit_and_reload(tiny_task, tmp_path: Path) -> None:  # noqa: ANN001
    from pipeline.schema import PipelineResult, Sentence
    from pipeline.stages.slots_fused import FusedSlotTagger

    lexicon = tmp_path / "tiny"
    lexicon.mkdir()
    (lexicon / "lexicon.yaml").write_text("domain: tiny\nslots:\n  - {type: song, files: [song.txt]}\n", "utf-8")
    song_file = lexicon / "song.txt"
    song_file.write_text("\n".join(sorted(tiny_task["listed"])) + "\n", encoding="utf-8")
    new = next(n for n in tiny_task["test_names"]
               if n not in tiny_task["listed"] and n not in tiny_task["train_names"])
    stage = FusedSlotTagger(str(tiny_task["folders"]["gated"]), domains={"tiny": str(lexicon)}, values=False,
                            backend="torch")

    def slots() -> list:
        doc = PipelineResult.from_text(f"来{new}吧")
        doc = doc.model_copy(update={"sentences": [Sentence(text=doc.query.text, start=0, end=4)]})
        return stage.process([doc])[0].sentences[0].slots

    assert slots() == []
    song_file.write_text(song_file.read_text(encoding="utf-8") + new + "\n", encoding="utf-8")
    assert [live.reload() for live in stage.live_lexicons()] == [True]
    (found,) = slots()
    assert (found.surface, found.slot, found.entity) == (new, "song", "song")
    assert found.source == "tagger+gazetteer:tiny/song"


def test_viterbi_never_starts_a_span_with_inside() -> None:
    tags = ["O", "B-a", "I-a", "B-b", "I-b"]
    probs = torch.tensor([[0.1, 0.1, 0.6, 0.1, 0.1], [0.1, 0.1, 0.2, 0.1, 0.5], [0.9, 0.025, 0.025, 0.025, 0.025]])
    path = viterbi(probs.log().numpy(), transition_mask(tags))
    assert tags[path[0]] != "I-a" and not (tags[path[0]] == "B-a" and tags[path[1]] == "I-b")
    (span,) = spans_of(path, probs.numpy(), tags)
    assert (span.start, span.end) == (0, 2)


def test_gold_spans_are_found_at_first_occurrence_longest_first() -> None:
    assert locate("北京到北京南站", {"a": "北京", "b": "北京南站", "c": "上海"}) == ((0, 2, "a"), (3, 7, "b"))
    assert locate("去北京南站", {"a": "北京", "b": "北京南站"}) == ((1, 5, "b"),)
    assert locate("到北京南站和天津", {"x": ["北京南站", "天津"]}) == ((1, 5, "x"), (6, 8, "x"))


def test_crf_likelihood_equals_the_sum_over_every_path() -> None:
    import itertools

    torch.manual_seed(0)
    head = SlotHeadConfig(labels=["a", "b"], slot_types=[], fusion="none", crf=True)
    model = SlotTaggerModel(BertConfig(vocab_size=50, **TINY_ARCH), head)
    with torch.no_grad():
        model.transitions.normal_()
    logits = torch.randn(2, 6, 5)
    labels = torch.tensor([[-100, 0, 1, 2, 0, -100], [-100, 3, 4, -100, -100, -100]])
    trans = model.crf_transitions()

    def path_score(b: int, ys: tuple[int, ...]) -> torch.Tensor:
        s = trans[-1, ys[0]] + logits[b, 1, ys[0]]
        for t in range(1, len(ys)):
            s = s + trans[ys[t - 1], ys[t]] + logits[b, t + 1, ys[t]]
        return s

    expected = 0.0
    trans = trans.detach()
    for b, n in ((0, 4), (1, 2)):
        log_z = torch.logsumexp(torch.stack([path_score(b, ys) for ys in itertools.product(range(5), repeat=n)]), 0)
        expected += float(log_z - path_score(b, tuple(int(v) for v in labels[b, 1:n + 1]))) / 2
    with torch.no_grad():
        assert float(model.crf_nll(logits, labels)) == pytest.approx(expected, rel=1e-5)


def test_bigram_ids_pad_the_special_positions_and_hash_neighbours() -> None:
    from models.slots.features import bigram_ids

    ids = bigram_ids(list("稻香"), 100)
    assert ids[0] == [0, 0] and ids[-1] == [0, 0] and len(ids) == 4
    assert ids[1][1] == ids[2][0]   # 稻香 is the right bigram of 稻 and the left bigram of 香
    assert all(1 <= i <= 100 for row in ids[1:-1] for i in row)


def test_crf_marginals_are_distributions_and_agree_with_brute_force() -> None:
    import itertools

    import numpy as np

    from models.slots.inference import marginals

    rng = np.random.default_rng(0)
    tags = ["O", "B-a", "I-a"]
    scores, trans = rng.normal(size=(3, 3)), rng.normal(size=(4, 3))
    allowed = transition_mask(tags)
    p = marginals(scores, allowed, trans)
    assert np.allclose(p.sum(axis=1), 1.0)
    weights = {}
    for ys in itertools.product(range(3), repeat=3):
        if all(allowed[-1 if t == 0 else ys[t - 1], ys[t]] for t in range(3)):
            s = trans[-1, ys[0]] + scores[0, ys[0]] + sum(trans[ys[t - 1], ys[t]] + scores[t, ys[t]] for t in (1, 2))
            weights[ys] = np.exp(s)
    total = sum(weights.values())
    expected = [[sum(w for ys, w in weights.items() if ys[t] == k) / total for k in range(3)] for t in range(3)]
    assert np.allclose(p, expected)


def test_collate_numpy_pads_every_input_as_the_model_reads_it() -> None:
    """Inference pads with numpy (no torch on the ONNX path), training and the torch model take the same
    arrays as tensors: each row is the item's ids, gazetteer tags, bigrams and labels, then padding (the
    tokenizer's pad id for ids, -100 for labels, 0 elsewhere), all int64."""
    import numpy as np

    from models.slots.features import IGNORE, collate_numpy

    char_ids = CharIds({c: i + 5 for i, c in enumerate(CHARS)}, 1, 2, 3)
    vocab = SlotTagVocab(["song", "singer"], 3)
    index = {t: i for i, t in enumerate(SlotHeadConfig(labels=["song"]).tags)}
    tags = [char_tags(4, [(1, 3, "song"), (0, 3, "singer")]), []]
    items = [encode(t, s, char_ids, vocab, 60, index, spans, bigram_buckets=50)
             for t, s, spans in zip(["来稻香吧", "听"], tags, [((1, 3, "song"),), ()], strict=True)]
    arrays, tensors = collate_numpy(items, pad_id=4), collate(items, pad_id=4)
    assert arrays.keys() == tensors.keys() == {"input_ids", "attention_mask", "slot_types", "slot_positions",
                                                 "bigram_ids", "labels"}
    fill = {"input_ids": 4, "labels": IGNORE}
    for key, value in arrays.items():
        assert value.dtype == np.int64 and value.shape[:2] == (2, 6), key
        assert np.array_equal(value, tensors[key].numpy()), key
        for row, item in enumerate(items):
            n = len(item["input_ids"])
            want = np.ones(n) if key == "attention_mask" else np.asarray(item[key])
            assert np.array_equal(value[row, :n], want) and (value[row, n:] == fill.get(key, 0)).all(), key
    assert (arrays["slot_types"][0] > 1).any()   # the gazetteer's tags reach the model


def test_train_command_writes_a_loadable_checkpoint_that_records_its_lexicons(  # noqa: ANN201
        tiny_nlu_data, tiny_tokenizer, tmp_path):  # noqa: ANN001
    """`duihua train slots` end to end on miniature SMP2019 data: the checkpoint loads, tags, and records every
    slot type of the lexicons it was trained with (what a later, different lexicon set is checked against)."""
    import json

    from omegaconf import OmegaConf
    from transformers import BertModel

    from models.lexicon.features import featurizer_from_config
    from models.slots.train import train
    from pipeline.config import load_config

    train_file = tiny_nlu_data / "nlu" / "smp2019" / "train.json"
    rows = json.loads(train_file.read_text(encoding="utf-8"))
    rows += [{"text": t, "domain": "music", "intent": "PLAY", "slots": {"song": "夜曲"}}
             for t in ("放夜曲", "搜索夜曲")]
    train_file.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")   # two texts the dev hash holds out
    encoder_dir = tmp_path / "encoder"
    BertModel(BertConfig(vocab_size=len(tiny_tokenizer), num_hidden_layers=1, hidden_size=32, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=64)).save_pretrained(str(encoder_dir))
    tiny_tokenizer.save_pretrained(str(encoder_dir))
    overrides = [o for o in tiny_train_overrides(tiny_nlu_data, tmp_path)
                 if not o.startswith(("data.dev_percent", "model.head.context_heads", "model.head.ngram"))]
    overrides += [f"encoder.pretrained={encoder_dir}", "data.datasets=[smp2019]", "model.head.bigram_buckets=0"]
    cfg = OmegaConf.to_container(load_config("train/slots", overrides), resolve=True)
    cfg["command"] = "duihua train slots (test)"
    featurize, pool = featurizer_from_config(cfg)
    train(cfg, featurize, pool)
    out = tmp_path / "out"
    head = json.loads((out / "slots.json").read_text(encoding="utf-8"))["head"]
    assert head["lexicon_types"] == sorted(pool) and "song" in head["labels"]
    (spans,) = SlotTagger.from_pretrained(out).predict(["播放稻香"], featurize(["播放稻香"]))
    assert all(0 <= s.start < s.end <= 4 and s.label in head["labels"] for s in spans)


def test_train_refuses_data_whose_dev_split_is_empty(tiny_nlu_data, tmp_path):  # noqa: ANN001, ANN201
    """Six distinct texts all hash into train: one readable error, not an IndexError deep in the Trainer's eval."""
    from omegaconf import OmegaConf

    from models.common.errors import TrainConfigError
    from models.slots.train import train
    from pipeline.config import load_config

    overrides = [o for o in tiny_train_overrides(tiny_nlu_data, tmp_path)
                 if not o.startswith(("data.dev_percent", "model.head.context_heads", "model.head.ngram"))]
    cfg = OmegaConf.to_container(load_config("train/slots", [*overrides, "data.datasets=[smp2019]"]), resolve=True)
    with pytest.raises(TrainConfigError, match="dev split is empty"):
        train(cfg, lambda texts: [[[] for _ in t] for t in texts], {})
    assert not (tmp_path / "out").exists()
