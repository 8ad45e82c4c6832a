"""Domain lexicons: manifests, entry files and the Aho-Corasick gazetteer built from them."""

from models.lexicon.gazetteer import Gazetteer, GazetteerHit, load_gazetteer
from models.lexicon.manifest import LexiconDomain, LexiconManifest, SlotLexicon, load_domain

__all__ = [
    "Gazetteer",
    "GazetteerHit",
    "LexiconDomain",
    "LexiconManifest",
    "SlotLexicon",
    "load_domain",
    "load_gazetteer",
]
