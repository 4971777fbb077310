"""Evaluation against a corpus's truth.json: reading it, and scoring phase boundaries."""
import json

import pytest

from textmine.analysis.evaluate import boundary_error, load_truth
from textmine.core.errors import CorpusError

DETECTED = [2015, 2018, 2021]  # a run's phase_starts: the series' first period included


@pytest.mark.parametrize("planted", [[2015, 2018, 2021], [2018, 2021]], ids=["with-first-period", "boundaries-only"])
def test_both_forms_of_truth_score_the_same(planted):
    result = boundary_error(DETECTED, planted)
    assert result == {"first_period": 2015, "detected": [2018, 2021], "planted": [2018, 2021], "exact": True,
                      "exact_matches": 2, "mean_abs_year_error": 0.0, "detected_count": 2, "planted_count": 2}


@pytest.mark.parametrize("planted", [[2015, 2019, 2021], [2019, 2021]], ids=["with-first-period", "boundaries-only"])
def test_a_boundary_one_year_off(planted):
    result = boundary_error(DETECTED, planted)
    assert result["exact"] is False and result["exact_matches"] == 1
    assert result["mean_abs_year_error"] == 0.5  # (1 + 0) / 2: the first period is not a free exact match
    assert result["detected"] == [2018, 2021] and result["planted"] == [2019, 2021]


def test_a_missed_boundary_costs_its_distance_from_the_nearest_start():
    result = boundary_error([2015], [2015, 2018])
    assert result["detected"] == [] and result["planted"] == [2018] and result["exact"] is False
    assert result["exact_matches"] == 0 and result["mean_abs_year_error"] == 3.0
    assert (result["detected_count"], result["planted_count"]) == (0, 1)


def test_one_phase_planted_and_found():
    for planted in ([2015], []):
        result = boundary_error([2015], planted)
        assert result["exact"] is True and result["planted"] == [] and result["mean_abs_year_error"] is None


def test_order_and_an_explicit_first_period():
    assert boundary_error([2021, 2015, 2018], [2021, 2018])["exact"] is True
    # Starts that leave out the series' first period can name it.
    result = boundary_error([2018, 2021], [2018, 2021], first_period=2015)
    assert result["exact"] is True and result["detected_count"] == 2


def test_load_truth_points_at_the_contract(tmp_path):
    assert load_truth(tmp_path) is None
    (tmp_path / "truth.json").write_text(json.dumps({"phase_starts": 2018}), encoding="utf-8")
    with pytest.raises(CorpusError) as info:
        load_truth(tmp_path)
    assert "docs/contract.md §1" in info.value.fix and "SPEC" not in str(info.value)
    (tmp_path / "truth.json").write_text(json.dumps({"phase_starts": [2018, 2021]}), encoding="utf-8")
    assert load_truth(tmp_path / "opinions.csv") == {"phase_starts": [2018, 2021]}


def test_coherence_past_its_limit_is_scored_on_a_seeded_sample(monkeypatch):
    from gensim.corpora import Dictionary

    from textmine.models import quality

    rng = __import__("numpy").random.default_rng(0)
    words = ["진로", "상담", "취업", "성과", "지역", "청년"]
    docs = [[str(w) for w in rng.choice(words[:3] if i % 2 else words[3:], size=4)] for i in range(400)]
    dictionary, topics = Dictionary(docs), [words[:3], words[3:]]
    whole = quality.coherence(None, docs, dictionary, topics, "c_npmi", 1)
    monkeypatch.setattr(quality, "COHERENCE_MAX_DOCS", 100)
    sampled = [quality.coherence(None, docs, dictionary, topics, "c_npmi", s) for s in (1, 1, 2)]
    assert sampled[0] == sampled[1]  # the same seed draws the same sample
    assert all(abs(v - whole) < 0.1 for v in sampled) and len(set(sampled)) > 1  # a sample, not the whole


def test_coherence_without_a_dictionary_equals_it_with_the_corpus_dictionary():
    from gensim.corpora import Dictionary

    from textmine.models import quality

    rng = __import__("numpy").random.default_rng(3)
    words = ["진로", "상담", "취업", "성과", "지역", "청년", "비교과", "실습", "졸업생", "면담"]
    docs = [[str(w) for w in rng.choice(words[:5] if i % 3 else words[4:], size=int(rng.integers(3, 12)))]
            for i in range(300)]
    topics = [words[:4], words[4:8], [words[0], words[9], words[5]]]
    for measure in ("c_v", "c_npmi"):
        assert quality.coherence(None, docs, None, topics, measure, 1) == \
            quality.coherence(None, docs, Dictionary(docs), topics, measure, 1)
