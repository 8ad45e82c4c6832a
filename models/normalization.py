"""Length-preserving text normalization shared by every dictionary lookup.

Why length-preserving: gazetteer matches are found on the normalized string but reported as spans of the
original string. A one-character-to-one-character map makes those offsets identical, so no offset table
is needed and nothing can drift.

The map (documented in README, "Normalization"):
  * full-width ASCII variants U+FF01..U+FF5E -> their ASCII counterparts (Ａ->A, １->1, ！->!),
  * ideographic space U+3000 -> ASCII space,
  * Latin letters (ASCII and full-width) -> lower case.
Everything else, Chinese characters, emoji and control characters included, is kept as is.

The same map is compiled into the encoder's tokenizer (``models.tokenization``), so text is normalized
identically in training and inference, and in the gazetteer.
"""

from __future__ import annotations

NORMALIZATION_VERSION = "1"


def _build_table() -> dict[int, int]:
    table: dict[int, int] = {}
    for code in range(0xFF01, 0xFF5F):
        table[code] = code - 0xFEE0
    table[0x3000] = 0x20
    for code in list(range(ord("A"), ord("Z") + 1)):
        table[code] = code + 32
    for code in range(0xFF21, 0xFF3B):  # full-width A..Z -> a..z
        table[code] = code - 0xFEE0 + 32
    return table


_TABLE = _build_table()


def char_map() -> dict[str, str]:
    """The map as characters, for building equivalent normalizers elsewhere (the HF tokenizer)."""
    return {chr(k): chr(v) for k, v in sorted(_TABLE.items())}


def normalize(text: str) -> str:
    """Return ``text`` normalized for matching; ``len(normalize(t)) == len(t)`` always holds."""
    return text.translate(_TABLE)
