"""The boundary tagger with the gazetteer's character tags fused in (``model.head.fusion: gated``)."""

import random
from pathlib import Path

import numpy as np
import torch
from transformers import BertConfig

from models.common.slot_tags import SlotTagVocab
from models.splitter.features import CharIds, collate, encode_example, splitter_view, view_tags
from models.splitter.inference import Splitter
from models.splitter.modeling import HeadConfig, SplitterModel
from tests.conftest import mini_overrides

DATA = Path(__file__).resolve().parents[1] / "data"
TYPES = ["city", "singer", "song", "station"]


def _fused_model(vocab_size: int) -> SplitterModel:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=vocab_size, num_hidden_layers=1, hidden_size=32, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    return SplitterModel(config, HeadConfig(mlp_dim=32, dropout=0.0, fusion="input", slot_types=TYPES))


def _tagged_sequence(rng: random.Random, alphabet: list[str]) -> tuple[list[str], list[list[str]], set[int]]:
    """Random characters with 1-3 random "names" tagged as songs; a sentence ends right after each name that
    is not at the end. Nothing in the characters says where: only the tags do."""
    chars: list[str] = []
    tags: list[list[str]] = []
    ends: set[int] = set()
    for _ in range(rng.randint(1, 3)):
        filler, name = rng.randint(1, 4), rng.randint(2, 4)
        chars += rng.choices(alphabet, k=filler + name)
        tags += [[] for _ in range(filler)] + [["B-song"]] + [["I-song"] for _ in range(name - 1)]
        ends.add(len(chars) - 1)
    ends.discard(len(chars) - 1)
    return chars, tags, ends


def _cuts(probs: list[float]) -> set[int]:
    return {i for i, p in enumerate(probs[:-1]) if p >= 0.5}


def test_a_fused_tagger_learns_boundaries_that_only_the_gazetteer_knows(tiny_tokenizer):
    ids = CharIds.from_tokenizer(tiny_tokenizer)
    alphabet = sorted({c for line in (DATA / "pretrain_tiny.txt").read_text(encoding="utf-8").split() for c in line})
    rng = random.Random(0)
    vocab = SlotTagVocab(TYPES)
    model = _fused_model(len(tiny_tokenizer))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(150):
        batch = []
        for _ in range(32):
            chars, tags, ends = _tagged_sequence(rng, alphabet)
            labels = [1.0 if i in ends else 0.0 for i in range(len(chars) - 1)] + [-100.0]
            batch.append(encode_example(chars, ids, labels, tag_vocab=vocab, tags=tags))
        opt.zero_grad()
        model(**collate(batch))["loss"].backward()
        opt.step()
    splitter = Splitter(model.eval(), ids)
    test = [_tagged_sequence(rng, alphabet) for _ in range(100)]
    with_tags = splitter.probabilities([c for c, _, _ in test], [t for _, t, _ in test])
    blind = splitter.probabilities([c for c, _, _ in test])
    hits = sum(_cuts(p) == ends for p, (_, _, ends) in zip(with_tags, test, strict=True))
    blind_hits = sum(_cuts(p) == ends for p, (_, _, ends) in zip(blind, test, strict=True))
    assert hits >= 90          # new random names: the tags alone place the cuts
    assert blind_hits <= 60    # the same model without its tags is guessing


def test_view_tags_follow_the_model_characters_over_folded_digits_and_dropped_punctuation():
    text = "放稻香，打给138"
    raw = [[] for _ in text]
    raw[1], raw[2] = ["B-song"], ["I-song"]
    chars, spans = splitter_view(text)
    assert len(chars) == 6   # 放 稻 香 打 给 and one folded digit run
    assert view_tags(raw, spans) == [[], ["B-song"], ["I-song"], [], [], []]


def test_the_stage_feeds_the_configured_lexicons_tags_to_a_fused_checkpoint(tiny_fused_splitter_dir, mini_lexicons):
    from pipeline import Pipeline

    overrides = [o for o in mini_overrides(mini_lexicons) if not o.startswith("splitter=")]
    pipe = Pipeline.from_config(overrides=[*overrides, "splitter=neural",
                                           f"splitter.checkpoint={tiny_fused_splitter_dir}", "runtime=torch",
                                           "segmenter=none", "intent=none", "reply=none"])
    tagger = pipe.stage("splitter").model
    text = "我想听稻香明天天气怎么样"
    views = [splitter_view(text)]
    tags = tagger.view_tags([text], views)
    assert tags is not None and tags[0][3:5] == [["B-song"], ["I-song"]]
    chars = views[0][0]
    assert not np.allclose(tagger.probabilities([chars], tags)[0], tagger.probabilities([chars])[0])
    assert pipe.reload_lexicons() is False   # unchanged lexicons: nothing swapped
    with (mini_lexicons["minimusic"] / "song.txt").open("a", encoding="utf-8") as f:
        f.write("明天天气\n")   # a new "song": the splitter's tags follow the reload, as the slot stage's do
    assert pipe.reload_lexicons() is True
    assert ["B-song"] in tagger.view_tags([text], views)[0][5:6]


def test_onnx_runs_the_tags_as_torch_does(tiny_fused_splitter_dir, tmp_path):
    text = "我想听稻香明天天气怎么样"
    chars = list(text)
    tags = [[] for _ in chars]
    tags[3], tags[4] = ["B-song"], ["I-song"]
    eager = Splitter.from_pretrained(tiny_fused_splitter_dir, precision="fp32")
    graph = Splitter.from_pretrained(tiny_fused_splitter_dir, backend="onnx", cache_dir=tmp_path)
    assert eager.reads_tags and graph.reads_tags
    np.testing.assert_allclose(graph.probabilities([chars], [tags])[0], eager.probabilities([chars], [tags])[0],
                               atol=1e-4)


def test_an_ensemble_of_fused_members_reads_their_tags(tiny_fused_splitter_dir):
    from models.splitter.inference import SplitterEnsemble

    def featurize(texts):  # noqa: ANN001, ANN202
        return [[["B-song"] if i == 3 else ["I-song"] if i == 4 else [] for i in range(len(t))] for t in texts]

    member = Splitter.from_pretrained(tiny_fused_splitter_dir, featurize=featurize)
    ensemble = SplitterEnsemble([member, member])
    text = "我想听稻香明天天气怎么样"
    views = [splitter_view(text)]
    assert ensemble.reads_tags and ensemble.view_tags([text], views) == member.view_tags([text], views)
    assert ensemble.cuts([text]) == member.cuts([text])
