"""Trajectories with bootstrap bands, lineage across years, and mapping to global topics."""
import numpy as np

from textmine.analysis.align import add_confidence_bands, bootstrap_shares, build_lineage, topic_shares_by_year
from textmine.models.topics import map_to_global
from textmine.text.documents import aggregate_units


def _doc_topic(seed=0, n=300, k=4):
    rng = np.random.default_rng(seed)
    years = np.repeat([2019, 2020, 2021], n // 3)
    return rng.dirichlet(np.ones(k) * 0.3, size=n), years.tolist()


def test_shares_sum_to_one_and_bands_hold_the_estimate():
    doc_topic, years = _doc_topic()
    table = topic_shares_by_year(doc_topic, years, ["a", "b", "c", "d"], "lda")
    boot = bootstrap_shares(doc_topic, years, 200, seed=1)
    banded = add_confidence_bands(table, boot, 0.95)
    np.testing.assert_allclose(banded.groupby("year")["share"].sum(), 1.0)
    assert (banded["share_lo"] <= banded["share"] + 1e-9).all() and (banded["share"] <= banded["share_hi"] + 1e-9).all()
    assert (banded["doc_share_lo"] <= banded["doc_share_hi"]).all()
    width = (banded["share_hi"] - banded["share_lo"]).mean()
    assert 0.005 < width < 0.2  # ~100 documents a year: bands of a few points


def test_bootstrap_is_seeded_and_narrows_with_more_documents():
    doc_topic, years = _doc_topic(n=3000)
    a = bootstrap_shares(doc_topic, years, 50, seed=3)
    b = bootstrap_shares(doc_topic, years, 50, seed=3)
    assert all(np.array_equal(a[y], b[y]) for y in a)
    small_dt, small_years = _doc_topic(n=150)
    wide = bootstrap_shares(small_dt, small_years, 200, seed=3)[2019][:, 0, 0].std()
    narrow = bootstrap_shares(doc_topic, years, 200, seed=3)[2019][:, 0, 0].std()
    assert narrow < wide


def test_aggregate_units_weights_sentences_by_tokens():
    units = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    out = aggregate_units(units, [0, 0, 1], [3, 1, 2], 2)
    np.testing.assert_allclose(out, [[0.75, 0.25], [0.5, 0.5]])


def _topic(words, vocab=12):
    row = np.full(vocab, 1e-3)
    row[list(words)] = 1.0
    return row / row.sum()


def test_lineage_kinds():
    #            2019: A(0-2) B(3-5) C(6-8)       2020: A' B1(3,4) B2(4,5) D(9-11)      2021: A'' B(3-5)
    yearly = {
        2019: {"topic_word": np.array([_topic([0, 1, 2]), _topic([3, 4, 5]), _topic([6, 7, 8])]),
               "labels": ["A", "B", "C"], "shares": [0.4, 0.4, 0.2], "terms": [["a"], ["b"], ["c"]]},
        2020: {"topic_word": np.array([_topic([0, 1, 2]), _topic([3, 4]), _topic([4, 5]), _topic([9, 10, 11])]),
               "labels": ["A'", "B1", "B2", "D"], "shares": [0.3, 0.2, 0.2, 0.3],
               "terms": [["a"], ["b", "b1"], ["b", "b2"], ["d"]]},
        2021: {"topic_word": np.array([_topic([0, 1, 2]), _topic([3, 4, 5])]),
               "labels": ["A''", "B"], "shares": [0.5, 0.5], "terms": [["a"], ["b"]]},
    }
    table = build_lineage(yearly, threshold=0.6)
    kinds = {(r.from_year, r.from_label, r.to_label): r.kind for r in table.itertuples()}
    assert kinds[(2019, "A", "A'")] == "continue"
    assert kinds[(2019, "B", "B1")] == "split" and kinds[(2019, "B", "B2")] == "split"
    assert kinds[(2019, "C", "")] == "death"
    assert kinds[(2019, "", "D")] == "birth"
    assert kinds[(2020, "B1", "B")] == "merge" and kinds[(2020, "B2", "B")] == "merge"
    assert kinds[(2020, "D", "")] == "death"
    a_chain = table.loc[table["from_label"].isin(["A", "A'"]) & (table["kind"] == "continue"), "chain"]
    assert a_chain.nunique() == 1
    assert set(table["chain_label"]) >= {"a", "d"}


def test_map_to_global_finds_the_matching_topic():
    glob = np.array([_topic([0, 1, 2]), _topic([3, 4, 5]), _topic([6, 7, 8])])
    year = np.array([_topic([6, 7]), _topic([0, 1, 2, 3])])
    best, sim = map_to_global(year, glob)
    assert best.tolist() == [2, 0] and (sim > 0.5).all()
