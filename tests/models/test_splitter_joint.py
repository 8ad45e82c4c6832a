"""The joint splitter's search: a hand-made case the boundary model cuts wrong, brute-force optimality, cost."""

import itertools
import math
import random

import pytest

from models.splitter.inference import BoundaryTagger
from models.splitter.joint import (
    JointDecoder,
    JointSettings,
    best_cuts,
    segments,
)

MUSIC, WEATHER = "我想听稻香", "明天天气怎么样"


class FixedTagger(BoundaryTagger):
    """Boundary probabilities from a table: gap i of the text -> p (unlisted gaps 0.01)."""

    def __init__(self, table: dict[str, dict[int, float]]) -> None:
        self.table = table

    def probabilities(self, sequences):  # noqa: ANN001, ANN201
        return [[self.table.get("".join(s), {}).get(i, 0.01) for i in range(len(s))] for s in sequences]


class KnownRequests:
    """Piece evidence: log 0.9 for a known request, log 0.05 for anything else; counts what it was asked."""

    def __init__(self, *requests: str) -> None:
        self.requests, self.asked = set(requests), []

    def __call__(self, texts):  # noqa: ANN001, ANN204
        self.asked += list(texts)
        return [math.log(0.9 if t in self.requests else 0.05) for t in texts]


def cut_texts(tagger: BoundaryTagger, text: str) -> list[str]:
    return tagger.sentences(text)


def test_the_joint_decoder_moves_a_wrong_cut_to_where_both_pieces_are_requests():
    text = MUSIC + WEATHER
    # the tagger doubts the true gap (after 香, p 0.3) and is fooled inside the weather request (明天|天气, 0.6)
    tagger = FixedTagger({text: {4: 0.3, 6: 0.6}})
    assert cut_texts(tagger, text) == ["我想听稻香明天", "天气怎么样"]
    joint = JointDecoder(tagger, [(KnownRequests(MUSIC, WEATHER), 1.0)])
    assert cut_texts(joint, text) == [MUSIC, WEATHER]


def test_without_piece_evidence_the_search_is_the_threshold_rule():
    text = MUSIC + WEATHER
    tagger = FixedTagger({text: {4: 0.3, 6: 0.6}})
    assert cut_texts(JointDecoder(tagger, []), text) == cut_texts(tagger, text)


def test_a_lone_request_with_no_doubtful_gap_asks_the_piece_model_and_gap_evidence_nothing():
    scorer, gap_asked = KnownRequests(WEATHER), []

    def penalty(texts):  # noqa: ANN001, ANN202
        gap_asked.extend(texts)
        return [[0.0] * (len(t) + 1) for t in texts]

    joint = JointDecoder(FixedTagger({}), [(scorer, 1.0)], JointSettings(), [(penalty, 1.0)])
    assert cut_texts(joint, WEATHER) == [WEATHER]
    assert scorer.asked == [] and gap_asked == []


@pytest.mark.parametrize("text", ["", "好", "。。！？", "   ", "，"])
def test_empty_one_character_and_punctuation_only_inputs(text):
    joint = JointDecoder(FixedTagger({}), [(KnownRequests(), 1.0)], JointSettings(candidate_min=0.001))
    sentences = cut_texts(joint, text)
    assert "".join(sentences) == text.strip() or sentences == []
    assert all(s.strip() for s in sentences)


def test_a_2000_character_input_keeps_every_character_and_asks_a_linear_number_of_pieces():
    tail = "帮我打开空调好吗"
    text = (MUSIC + WEATHER) * 166 + tail
    assert len(text) == 2000
    scorer = KnownRequests(MUSIC, WEATHER, tail)
    tagger = FixedTagger({})   # a doubtful gap after every 香 and 样 (the true ends), whatever the window
    tagger.probabilities = lambda seqs: [[0.4 if c in "香样" else 0.01 for c in s] for s in seqs]
    settings = JointSettings(max_span=4)
    joint = JointDecoder(tagger, [(scorer, 1.0)], settings)
    sentences = cut_texts(joint, text)
    assert "".join(sentences) == text
    assert sentences == [MUSIC, WEATHER] * 166 + [tail]
    n_candidates = sum(c in "香样" for c in text)
    assert len(scorer.asked) <= (n_candidates + 1) * settings.max_span


def brute_force(cut_scores, piece_scores, n):  # noqa: ANN001, ANN201
    best, arg = -math.inf, None
    for k in range(n + 1):
        for chosen in itertools.combinations(range(n), k):
            nodes = [0, *(c + 1 for c in chosen), n + 1]
            total = sum(cut_scores[c] for c in chosen) + sum(piece_scores[(a, b)] for a, b in
                                                            itertools.pairwise(nodes))
            if total > best:
                best, arg = total, list(chosen)
    return arg


@pytest.mark.parametrize("seed", range(20))
def test_viterbi_finds_the_best_cut_set_found_by_brute_force(seed):
    rng = random.Random(seed)
    n = rng.randint(0, 6)
    cut_scores = [rng.gauss(0, 2) for _ in range(n)]
    piece_scores = {seg: rng.gauss(0, 2) for seg in segments(n, n + 1)}
    assert best_cuts(cut_scores, piece_scores, n + 1) == brute_force(cut_scores, piece_scores, n)


def test_max_span_bounds_the_pieces_a_search_considers():
    assert len(segments(10, 3)) <= 11 * 3
    with pytest.raises(ValueError, match="max_span"):
        JointDecoder(FixedTagger({}), [], JointSettings(max_span=0))


def test_an_entry_end_is_a_candidate_even_where_the_tagger_sees_no_gap():
    from models.splitter.joint import entity_ends

    text = MUSIC + WEATHER
    tagger = FixedTagger({})   # every gap at 0.01: below candidate_min, so the tagger alone never cuts
    ends = entity_ends(lambda t: [(3, 5)] if t == text else [])   # 稻香 ends at offset 5
    joint = JointDecoder(tagger, [(KnownRequests(MUSIC, WEATHER), 3.0)], JointSettings(),
                         candidate_evidence=[(ends, 1.0)])
    assert cut_texts(joint, text) == [MUSIC, WEATHER]
    assert cut_texts(JointDecoder(tagger, [(KnownRequests(MUSIC, WEATHER), 3.0)]), text) == [text]
