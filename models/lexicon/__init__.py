"""Lexicons as knowledge every model can use: manifests, the Aho-Corasick gazetteer, per-character tags.

This lives under ``models/`` because trainers need the same gazetteer features the pipeline feeds at
inference (``features.py``); the pipeline's slot stage wraps it, ``pipeline/lexicon/build`` writes the files.
"""
