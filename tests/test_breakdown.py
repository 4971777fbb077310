"""Topics by metadata: shares with bootstrap intervals, each value against the rest."""
import time

import numpy as np
import pandas as pd
import pytest

from textmine.analysis.breakdown import (
    MISSING, OUTLIER_LABEL, breakdown_context, breakdowns, candidate_columns, covariate_effects, document_phases,
    normalise_values, topic_breakdown)

K = 6
LABELS = [f"토픽{i}" for i in range(K)]


def planted(seed, n_per_value=(300, 300, 300), planted_share=(0.6, 0.2, None), k=K):
    """Documents of value A put on average 0.6 of their mass on topic 0 (Beta, concentration 20),
    B 0.2; the rest of the mass, and every document of an unplanted value, random Dirichlet(1).
    ``None`` plants nothing for that value."""
    rng = np.random.default_rng(seed)
    rows, values = [], []
    for name, n, share in zip("ABC", n_per_value, planted_share):
        rest = rng.dirichlet(np.ones(k), size=n)
        if share is not None:
            own = rng.beta(20 * share, 20 * (1 - share), size=n)
            rest[:, 0] = 0
            rest = rest / rest.sum(axis=1, keepdims=True) * (1 - own[:, None])
            rest[:, 0] = own
        rows.append(rest)
        values += [name] * n
    return np.vstack(rows), values


def test_planted_difference_is_found():
    x, values = planted(0)
    eff = covariate_effects("lda", x, LABELS, values, None, "지역", n_boot=200, seed=1, min_docs=10)
    a0 = eff[(eff["value"] == "A") & (eff["topic"] == 0) & eff["phase"].isna()].iloc[0]
    # A: 0.6; rest = B (0.2) and C (Dirichlet(1) mean 1/6), so the difference is about 0.42
    assert a0["excludes_zero"] and a0["low"] > 0.35
    assert a0["low"] <= a0["diff"] <= a0["high"]
    b0 = eff[(eff["value"] == "B") & (eff["topic"] == 0) & eff["phase"].isna()].iloc[0]
    assert b0["excludes_zero"] and b0["high"] < 0


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_no_planted_difference_mostly_includes_zero(seed):
    x, values = planted(seed, planted_share=(None, None, None))
    eff = covariate_effects("lda", x, LABELS, values, None, "지역", n_boot=200, seed=seed, min_docs=10)
    includes = ~eff["excludes_zero"]
    assert includes.mean() >= 0.8


def test_intervals_contain_the_share_and_small_values_are_flagged():
    x, values = planted(5, n_per_value=(200, 150, 6))
    shares = topic_breakdown("lda", x, LABELS, values, None, "대학명", n_boot=200, seed=3, min_docs=10)
    assert list(shares.columns[:11]) == ["model", "column", "value", "phase", "topic", "label", "share", "low",
                                         "high", "n_docs", "plotted"]
    assert ((shares["low"] <= shares["share"]) & (shares["share"] <= shares["high"])).all()
    assert set(shares.loc[~shares["plotted"], "value"]) == {"C"}
    a = shares[shares["value"] == "A"].set_index("topic")
    assert a.loc[0, "share"] == pytest.approx(0.6, abs=0.02)
    assert a["n_docs"].eq(200).all()
    eff = covariate_effects("lda", x, LABELS, values, None, "대학명", n_boot=200, seed=3, min_docs=10)
    assert not eff.loc[eff["value"] == "C", "plotted"].any()
    assert eff.loc[eff["value"] == "A", "plotted"].all()


def test_per_phase_rows_and_determinism():
    x, values = planted(1)
    phases = [1 + (i % 3) for i in range(len(values))]
    phases[0] = None  # a document outside every phase counts in the overall rows only
    args = ("dtm", x, LABELS, values, phases, "지역")
    a = topic_breakdown(*args, n_boot=100, seed=7, min_docs=10)
    b = topic_breakdown(*args, n_boot=100, seed=7, min_docs=10)
    pd.testing.assert_frame_equal(a, b)
    c = topic_breakdown(*args, n_boot=100, seed=8, min_docs=10)
    assert not np.allclose(a["low"], c["low"])
    assert sorted(a["phase"].dropna().unique().tolist()) == [1, 2, 3]
    overall = a[a["phase"].isna() & (a["value"] == "A")]
    per_phase = a[a["phase"].notna() & (a["value"] == "A")]
    assert overall["n_docs"].iloc[0] == 300
    assert per_phase.drop_duplicates("phase")["n_docs"].sum() == 299
    assert str(a["phase"].dtype) == "Int64"
    e = covariate_effects(*args, n_boot=100, seed=7, min_docs=10)
    pd.testing.assert_frame_equal(e, covariate_effects(*args, n_boot=100, seed=7, min_docs=10))
    # same replicates: the value's own share is the breakdown's
    merged = e.merge(a, on=["value", "phase", "topic"], suffixes=("", "_b"))
    assert np.allclose(merged["share"], merged["share_b"])


def test_outlier_column_and_missing_values():
    rng = np.random.default_rng(0)
    topics = rng.integers(-1, 3, size=120)
    x = np.zeros((120, 4))
    x[np.arange(120), np.where(topics >= 0, topics, 3)] = 1.0  # BERTopic: one-hot, last column outliers
    values = ["서울"] * 60 + [None] * 20 + [float("nan")] * 10 + ["  "] * 10 + ["부산"] * 20
    shares = topic_breakdown("bertopic", x, ["a", "b", "c"], values, None, "지역", n_boot=50, seed=0, min_docs=5)
    assert sorted(shares["topic"].unique().tolist()) == [-1, 0, 1, 2]
    assert shares.loc[shares["topic"] == -1, "label"].iloc[0] == OUTLIER_LABEL
    assert shares["value"].unique().tolist() == ["서울", "부산", MISSING]  # by size, (없음) last
    assert shares.loc[shares["value"] == MISSING, "n_docs"].iloc[0] == 40
    s = shares[shares["value"] == "서울"].set_index("topic")["share"]
    assert s.sum() == pytest.approx(1.0)
    assert s[-1] == pytest.approx(np.mean(topics[:60] == -1), abs=1e-6)


def test_normalise_values_and_phases_and_candidates():
    assert normalise_values([3.0, "a ", None, "", float("nan"), 2]) == ["3", "a", MISSING, MISSING, MISSING, "2"]
    entry = {"periods": [2015, 2016, 2017, 2018],
             "phases": [{"start": 2015, "end": 2016}, {"start": 2017, "end": 2018}]}
    assert document_phases([2015, 2016, 2018, 2019], entry) == [1, 1, 2, None]
    fine = {"periods": ["2019-H1", "2019-H2", "2020-H1"], "phases": [{"start": "2019-H1", "end": "2019-H1"},
                                                                      {"start": "2019-H2", "end": "2020-H1"}]}
    assert document_phases(["2019-H2", "2019-H1", "2020-H1"], fine) == [2, 1, 2]
    consensus = {"phases": [{"start": 2015, "end": 2016}, {"start": 2017, "end": 2018}]}  # no periods list
    assert document_phases([2016, 2017], consensus) == [1, 2]
    docs = pd.DataFrame({"doc_id": range(6), "year": [2015] * 6, "text": list("abcdef"),
                         "지역": ["서울", "부산"] * 3, "대학명": list("uvwxyz"), "평가영역": ["x"] * 6})
    assert candidate_columns(docs, max_values=5) == ["지역"]


def test_breakdowns_of_several_columns_and_the_report_context():
    x, values = planted(2)
    docs = pd.DataFrame({"지역": values, "규모": ["대"] * 450 + ["소"] * 450})
    shares, effects = breakdowns("lda", x, LABELS, docs, ["지역", "규모"], None, n_boot=100, seed=1, min_docs=10)
    assert set(shares["column"]) == {"지역", "규모"} and set(effects["column"]) == {"지역", "규모"}
    blocks = breakdown_context(shares, effects, display=str.upper)
    region = next(b for b in blocks if b["column"] == "지역")
    assert region["name"] == "LDA" and [t["topic"] for t in region["topics"]] == list(range(K))
    assert [r["value"] for r in region["rows"]] == ["A", "B", "C"]
    assert region["effects"][0]["value"] in {"A", "B"} and region["effects"][0]["topic"] == 0
    from textmine.report.report import environment

    html = environment().get_template("breakdowns.html.j2").render(breakdowns=blocks, breakdown_min_docs=10)
    assert "메타데이터별 토픽" in html and "지역" in html and "%p" in html
    assert environment().get_template("breakdowns.html.j2").render(breakdowns=[]).strip() == ""


def test_vectorised_speed():
    rng = np.random.default_rng(0)
    x = rng.dirichlet(np.ones(20), size=10_000)
    values = rng.choice(list("ABCDEFGHIJ"), size=10_000).tolist()
    phases = rng.integers(1, 4, size=10_000).tolist()
    start = time.perf_counter()
    topic_breakdown("lda", x, [str(i) for i in range(20)], values, phases, "c", n_boot=200, seed=0, min_docs=10)
    covariate_effects("lda", x, [str(i) for i in range(20)], values, phases, "c", n_boot=200, seed=0, min_docs=10)
    assert time.perf_counter() - start < 10  # about 1 s on 2 shared cores
