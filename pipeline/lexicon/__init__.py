"""Domain lexicons. ``build/`` writes them from ../shared/data; the manifests, the Aho-Corasick gazetteer and the
per-character tags live in ``models.lexicon`` (every trainer reads them) and are re-exported here."""

from models.lexicon.gazetteer import Gazetteer, GazetteerHit
from models.lexicon.gazetteer_load import load_gazetteer
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
