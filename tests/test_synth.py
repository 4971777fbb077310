"""The synthetic corpus generator: seeded, realistic, and true to what it plants."""
import json

import pandas as pd
import pytest

from textmine import synth_vocab as V
from textmine.corpus import load_corpus
from textmine.errors import TextmineError
from textmine.synth import SynthSpec, generate_corpus, phase_years, write_corpus

from conftest import BUNDLED


def test_same_seed_same_corpus_other_seed_other_corpus():
    a, ta = generate_corpus(SynthSpec(seed=1, docs_per_year=20))
    b, tb = generate_corpus(SynthSpec(seed=1, docs_per_year=20))
    c, _ = generate_corpus(SynthSpec(seed=2, docs_per_year=20))
    pd.testing.assert_frame_equal(a, b)
    assert ta == tb
    assert not a["평가의견"].equals(c["평가의견"])


def test_study_phases_and_growing_uneven_volumes():
    frame, truth = generate_corpus(SynthSpec())
    assert truth["phase_starts"] == [2015, 2018, 2021]
    assert [p["name"] for p in truth["phases"]] == ["진로 지원 중심", "상담·비교과·실습", "취업 성과 관리·졸업생·지역 청년"]
    sizes = frame.groupby("연도").size()
    assert sizes[2015] < 100 and sizes[2024] > 250  # a few dozen centres at first, over a hundred later
    assert sizes.diff().dropna().nunique() > 3  # uneven growth, not a constant step
    assert frame["대학명"].nunique() > 100 and frame["지역"].nunique() >= 15
    assert set(truth["doc_topic"]) == set(frame.loc[frame["평가의견"] != "", "연번"])
    assert frame["평가의견"].duplicated().sum() >= 3 and (frame["평가의견"] == "").sum() >= 1  # as real forms come back


def test_planted_topics_dominate_their_phase():
    frame, truth = generate_corpus(SynthSpec(docs_per_year=200))
    labels = frame["연번"].map(truth["doc_topic"])
    for phase in truth["phases"]:
        inside = frame["연도"].between(phase["start"], phase["end"])
        share_in = labels[inside].isin(phase["topics"]).mean()
        share_out = labels[~inside].isin(phase["topics"]).mean()
        assert share_in > 2 * share_out, phase


def test_register_and_noise_of_real_opinions():
    frame, _ = generate_corpus(SynthSpec())
    text = "\n".join(frame["평가의견"])
    for ending in ("필요함", "바람", "요망", "할 것", "요구됨"):
        assert ending in text
    for term in ("일경험", "현장실습 학기제", "국민취업지원제도", "고용센터", "비교과"):
        assert term in text
    assert any(typo in text for typo in V.TYPOS.values())  # occasional typos
    n_sentences = frame.loc[frame["평가의견"] != "", "평가의견"].str.count(r"\.")
    assert n_sentences.min() >= 2 and n_sentences.max() >= 7  # documents mix topics


def test_other_years_and_phase_counts():
    assert phase_years(list(range(2013, 2025)), 4) == [[2013, 2014, 2015], [2016, 2017, 2018],
                                                       [2019, 2020, 2021], [2022, 2023, 2024]]
    _, truth = generate_corpus(SynthSpec(first_year=2013, last_year=2024, n_phases=4, docs_per_year=30))
    assert truth["phase_starts"] == [2013, 2016, 2019, 2022]


def test_impossible_specs_are_refused():
    with pytest.raises(TextmineError, match="cannot hold"):
        generate_corpus(SynthSpec(first_year=2020, last_year=2023, n_phases=3))
    with pytest.raises(TextmineError, match="1 to 5"):
        generate_corpus(SynthSpec(n_phases=7))


def test_written_corpus_loads_with_its_truth(tmp_path):
    out = write_corpus(tmp_path, SynthSpec(seed=3, docs_per_year=15))
    truth = json.loads((out / "truth.json").read_text(encoding="utf-8"))
    corpus = load_corpus(out)
    assert set(corpus.modelling_docs()["doc_id"]) <= set(truth["doc_topic"])
    assert corpus.files[0].encoding == "utf-8-sig"


def test_bundled_corpus_is_the_documented_generator_output():
    truth = json.loads((BUNDLED / "truth.json").read_text(encoding="utf-8"))
    assert truth["synthetic"] is True and truth["generator"]["seed"] == 20260
    frame, regenerated = generate_corpus(SynthSpec(seed=20260))
    assert regenerated["doc_topic"] == truth["doc_topic"]
    bundled = load_corpus(BUNDLED).docs
    assert bundled["text"].tolist() == [t.replace("\n", " ") for t in frame["평가의견"].tolist()]
    assert "SYNTHETIC" in (BUNDLED / "README.md").read_text(encoding="utf-8")
