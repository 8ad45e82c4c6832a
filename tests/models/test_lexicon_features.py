"""Trainers and the pipeline share one featurizer (models.lexicon.features): same tags, and an entity pool."""

from __future__ import annotations

from models.lexicon.features import featurizer_from_config
from pipeline import Pipeline
from pipeline.config import load_config
from tests.conftest import mini_overrides


def test_featurizer_gives_the_char_slots_the_pipeline_gives(mini_lexicons):
    overrides = mini_overrides(mini_lexicons, "segmenter=none", "intent=none", "reply=none", "splitter=whole")
    featurize, pool = featurizer_from_config(load_config("pipeline", overrides))
    texts = ["我想听周杰伦的稻香", "北京南站怎么走", "你好"]
    pipe = Pipeline.from_config(overrides=overrides)
    assert featurize(texts) == [pipe(t).sentences[0].char_slots for t in texts]
    assert "稻香" in pool["song"] and "周杰伦" in pool["singer"]
