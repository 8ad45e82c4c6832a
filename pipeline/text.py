"""Text normalization for matching; the definition lives in ``models.normalization`` so that the tokenizer
(models side) and the gazetteer (pipeline side) share one map. See that module for the rules."""

from models.normalization import NORMALIZATION_VERSION, normalize

__all__ = ["NORMALIZATION_VERSION", "normalize"]
