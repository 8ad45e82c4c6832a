"""Gazetteer slot features for training and benchmarking the intent model, exactly as the pipeline makes them.

``models/`` never imports ``pipeline/``, so the intent trainer takes a featurizer as an argument: a function
from texts to ``char_slots`` (per character, the ``B-``/``I-`` tags of every gazetteer candidate). This module
builds that function from the same Hydra ``slots`` and ``lexicons`` config the pipeline uses, so a model sees
the same features in training as at inference, and swapping a lexicon in the config swaps it in both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hydra.utils import instantiate
from omegaconf import OmegaConf

from pipeline.schema import Sentence
from pipeline.stages.slots import GazetteerSlotTagger

CharSlots = list[list[str]]
Featurizer = Callable[[Sequence[str]], list[CharSlots]]


def tagger_from_config(slots_cfg: Mapping[str, Any]) -> GazetteerSlotTagger:
    """The configured slot stage (``conf/slots/*.yaml``, with its lexicons already interpolated)."""
    tagger = instantiate(OmegaConf.create(dict(slots_cfg)))
    if not isinstance(tagger, GazetteerSlotTagger):
        raise TypeError(f"slots: expected a GazetteerSlotTagger, got {type(tagger).__name__}")
    return tagger


def gazetteer_featurizer(tagger: GazetteerSlotTagger) -> Featurizer:
    """texts -> ``char_slots`` per text. Candidates do not depend on segmentation, so none is needed."""
    gazetteer = tagger.gazetteer

    def featurize(texts: Sequence[str]) -> list[CharSlots]:
        return [tagger.tag(Sentence(text=t, start=0, end=len(t)), gazetteer, None).char_slots for t in texts]

    return featurize


def featurizer_from_config(cfg: Mapping[str, Any]) -> tuple[Featurizer, dict[str, list[str]]]:
    """From a composed training config holding a ``slots`` node (``conf/train/intent.yaml``): the featurizer,
    and every lexicon surface per slot type (the entity pool of the swap augmentation)."""
    tagger = tagger_from_config(cfg["slots"])
    return gazetteer_featurizer(tagger), tagger.gazetteer.surfaces_by_slot()
