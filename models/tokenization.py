"""duihua's character-level Chinese tokenizer, saved as a Hugging Face fast tokenizer.

Why character level: every downstream head (sentence boundaries, B/M/E/S segmentation, slot features, the
intent gates) labels characters, so one token per non-space character makes labels and offsets trivial.
Whitespace separates nothing in Chinese and is dropped; every other character becomes one token, [UNK] when
it is not in the vocabulary (emoji, rare symbols), and its offsets point at exactly that character.

Normalization is ``models.normalization`` (full-width ASCII -> ASCII, U+3000 -> space, Latin lower case),
compiled into the tokenizer's normalizer so training and inference cannot disagree.

Vocabulary: [PAD] [UNK] [CLS] [SEP] [MASK], the granularity tokens [FINE] [COARSE], [unused0..99] reserved for
later tasks (prompt tokens, slot markers), then characters seen at least ``min_count`` times, most frequent
first (ties by code point, so the build is deterministic).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import WordLevel

from models.common.char_ids import CharIds
from models.normalization import char_map, normalize

if TYPE_CHECKING:  # transformers takes seconds to import; inference on ONNX needs only ``load_char_ids``
    from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast

TOKENIZER_FILE = "tokenizer.json"

CORE_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
GRANULARITY_TOKENS = ["[FINE]", "[COARSE]"]
N_UNUSED = 100
UNUSED_TOKENS = [f"[unused{i}]" for i in range(N_UNUSED)]
SPECIAL_TOKENS = CORE_SPECIALS + GRANULARITY_TOKENS + UNUSED_TOKENS


def count_chars(texts: Iterable[str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(ch for ch in normalize(text) if not ch.isspace())
    return counts


def build_vocab(counts: Counter[str], min_count: int = 3) -> list[str]:
    chars = [c for c, n in counts.items() if n >= min_count and c not in SPECIAL_TOKENS]
    chars.sort(key=lambda c: (-counts[c], ord(c)))
    # every printable ASCII character that survives normalization, so Latin text never becomes [UNK]
    ascii_extra = [chr(c) for c in range(0x21, 0x7F) if not chr(c).isupper() and chr(c) not in chars]
    return SPECIAL_TOKENS + chars + ascii_extra


def build_tokenizer(vocab: list[str], model_max_length: int = 512) -> PreTrainedTokenizerFast:
    from transformers import PreTrainedTokenizerFast

    ids = {tok: i for i, tok in enumerate(vocab)}
    core = Tokenizer(WordLevel(ids, unk_token="[UNK]"))
    rules = [normalizers.Replace(src, dst) for src, dst in char_map().items() if src.lower() != dst]
    core.normalizer = normalizers.Sequence([*rules, normalizers.Lowercase()])
    core.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex("."), behavior="isolated")])
    core.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])])
    core.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]", model_max_length=model_max_length)
    tok.add_special_tokens({"additional_special_tokens": GRANULARITY_TOKENS + UNUSED_TOKENS})
    return tok


def add_duihua_special_tokens(tokenizer: PreTrainedTokenizerBase) -> int:
    """Give any (hub) tokenizer duihua's granularity and [unusedN] tokens; returns how many were new.

    The caller resizes the model's embeddings to ``len(tokenizer)`` afterwards.
    """
    missing = [t for t in GRANULARITY_TOKENS + UNUSED_TOKENS if t not in tokenizer.get_vocab()]
    if not missing:
        return 0
    # add_tokens(special_tokens=True) appends without replacing the checkpoint's own additional specials
    return tokenizer.add_tokens(missing, special_tokens=True)


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerBase:
    """Load from a directory or hub name (``AutoTokenizer``); never from a bare vocab file."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path))


def load_char_ids(folder: str | Path) -> CharIds:
    """The character-to-id map of a saved tokenizer, read from its ``tokenizer.json`` with the ``tokenizers``
    library alone: what the character-level models need at inference, without importing transformers.
    Same ids as ``CharIds.from_tokenizer(load_tokenizer(folder))`` (``tests/models/test_tokenization.py``)."""
    file = Path(folder) / TOKENIZER_FILE
    if not file.is_file():
        raise FileNotFoundError(f"no {TOKENIZER_FILE} in {folder}")
    core = Tokenizer.from_file(str(file))
    vocab = core.get_vocab(with_added_tokens=True)
    return CharIds(vocab, vocab["[UNK]"], vocab["[CLS]"], vocab["[SEP]"])


SPECIAL_KEYS = ("unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
EXTRA_KEYS = ("extra_special_tokens", "additional_special_tokens")   # transformers 5 and 4 spell it so


def load_special_tokens(folder: str | Path) -> dict[str, Any]:
    """Special token names of a saved tokenizer (``tokenizer_config.json`` over ``special_tokens_map.json``,
    as in transformers), without importing transformers: ``SPECIAL_KEYS`` map to a token, ``EXTRA_KEYS`` to a
    list; a token may be saved as ``{"content": ...}`` (an AddedToken)."""
    found: dict[str, Any] = {}
    for name in ("special_tokens_map.json", "tokenizer_config.json"):   # the config wins
        file = Path(folder) / name
        if file.is_file():
            data = json.loads(file.read_text(encoding="utf-8"))
            found.update({k: data[k] for k in (*SPECIAL_KEYS, *EXTRA_KEYS) if data.get(k)})
    return {k: _content(v) if k in SPECIAL_KEYS else [_content(t) for t in v] for k, v in found.items()}


def _content(token: str | Mapping[str, Any]) -> str:
    return token if isinstance(token, str) else str(token.get("content"))


def load_pad_id(folder: str | Path, vocab: Mapping[str, int]) -> int:
    """The saved tokenizer's pad id, as ``load_tokenizer(folder).pad_token_id or 0`` gives it."""
    token = load_special_tokens(folder).get("pad_token")
    return (vocab.get(token) or 0) if token else 0
