"""The request scorer's training pieces: wrong-cut pieces drawn at random, and those a tagger's candidates leave."""

from models.splitter.features import splitter_view
from models.splitter.pieces import candidate_pieces, training_pieces

JOIN = ["我想听稻香", "明天天气怎么样", "打开空调"]


def test_every_sentence_is_a_positive_and_no_negative_is_a_sentence():
    pieces = training_pieces([JOIN] * 20, seed=0)
    positives = {t for t, y in pieces if y == 1.0}
    negatives = [t for t, y in pieces if y == 0.0]
    assert positives == set(JOIN)
    assert negatives and not set(negatives) & set(JOIN)
    assert all(t in "".join(JOIN) for t in negatives)


def test_candidate_pieces_are_what_the_joint_search_would_ask_labelled_by_the_gold_cuts():
    text = "".join(JOIN)
    chars, spans = splitter_view(text)
    probs = [0.0] * len(chars)
    probs[4], probs[6], probs[11] = 0.3, 0.1, 0.9     # after 香 (true), after 天 (false), after 样 (true)
    pieces = candidate_pieces(JOIN, probs, spans, candidate_min=0.05, max_span=2)
    got = dict(pieces)
    assert got["我想听稻香"] == 1.0 and got["明天天气怎么样"] == 1.0 and got["打开空调"] == 1.0
    assert got["我想听稻香明天"] == 0.0 and got["明天"] == 0.0 and got["天气怎么样"] == 0.0
    assert "我想听稻香明天天气怎么样" not in got   # spans 3 candidates: beyond max_span 2
    assert len(pieces) == 7   # node pairs at most 2 apart over start, 3 candidates, end: 1 + 2 + 2 + 2
    assert candidate_pieces(JOIN, [0.0] * len(chars), spans, 0.05, 2) == []   # no candidate, nothing to ask


def test_candidate_pieces_follow_the_text_over_folded_digits():
    join = ["调到26度", "打开空调"]
    chars, spans = splitter_view("".join(join))
    probs = [0.0] * len(chars)
    probs[chars.index("度")] = 0.5
    assert candidate_pieces(join, probs, spans, 0.05, 4) == [("调到26度", 1.0), ("调到26度打开空调", 0.0),
                                                              ("打开空调", 1.0)]
