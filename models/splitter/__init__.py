"""Semantic sentence splitting of unpunctuated ASR text: a per-character boundary tagger, distilled."""
