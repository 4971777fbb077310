"""The large-corpus plan (textmine.core.scale): when it applies, what it switches, its samples, and the
models' large-corpus paths on real gensim/BERTopic fits of a small corpus with the plan forced on."""
import numpy as np
import pandas as pd
import pytest

from textmine.core import scale
from textmine.core.config import load_config
from textmine.io.corpus import load_corpus
from textmine.models import lda, topicmodel
from textmine.models.bertopic_model import BertopicTopicModel, assign_by_ctfidf
from textmine.models.lda import LdaTopicModel
from textmine.text import documents as documents_module, tokenize

YEARS = {2015: 4_000, 2016: 9_000, 2017: 15_000}


def test_small_corpora_keep_the_full_method():
    config = load_config()
    plan = scale.plan(4_999, YEARS, config)
    assert not plan.large and plan.switches == []
    assert scale.lda_passes(4_999, config) == config.lda.passes


def test_large_corpora_switch_and_say_why_and_how_to_undo_it():
    config = load_config()
    plan = scale.plan(100_000, {y: 10_000 for y in range(2015, 2025)}, config)
    assert plan.large
    settings = {s["setting"]: s for s in plan.switches}
    assert set(settings) == {"lda k selection", "lda.passes", "bertopic documents", "per-year models"}
    assert settings["lda.passes"]["value"] == 2  # 200,000 document-passes over 100,000 documents
    assert "2,000 embedded" in settings["bertopic documents"]["value"]
    assert all("100,000 documents >= scale.large_docs 5,000" in s["why"] and "scale." in s["override"]
               for s in plan.switches)
    assert plan.record()["switches"] == plan.switches
    assert settings["per-year models"]["value"] == "at most 2,000 documents of a year"
    assert scale.lda_passes(1_000_000, config) == 1  # one pass is the least


def test_every_switch_can_be_turned_off_or_forced():
    off = load_config(overrides={"scale.mode": "off"})
    assert not scale.plan(1_000_000, {2015: 1_000_000}, off).large
    on = load_config(overrides={"scale.mode": "on", "run.models": "lda", "lda.num_topics": "8"})
    assert scale.plan(500, {2015: 500}, on).large and scale.plan(500, {2015: 500}, on).switches == []  # none pays
    plan = scale.plan(50_000, {2015: 10_000, 2016: 40_000}, on)
    assert [s["setting"] for s in plan.switches] == ["lda.passes", "per-year models"]
    assert plan.switches[0]["why"].startswith("scale.mode = on;")
    # between scale.large_docs and scale.selection_docs, with years under scale.yearly_docs, only BERTopic samples
    mid = scale.plan(8_000, {2015: 2_000, 2016: 2_000, 2017: 4_000}, load_config(overrides={"scale.yearly_docs": 5_000}))
    assert [s["setting"] for s in mid.switches] == ["bertopic documents"]


def test_few_years_still_give_bertopic_enough_documents():
    config = load_config()
    assert scale.bertopic_per_year(10, config) == 200  # ten years: 200 a year, 2,000 in all
    assert scale.bertopic_per_year(2, config) == 1_000  # two years (a corpus of 2017 and 2019): 1,000 a year
    plan = scale.plan(8_000, {2017: 4_000, 2019: 4_000}, config)
    assert "2,000 embedded and clustered (at most 1,000 a year)" in plan.switches[0]["value"]


def test_per_year_sample_caps_each_year_and_leaves_other_years_alone():
    years = [2015] * 50 + [2016] * 500 + [2017] * 300
    picked = scale.sample_per_year(years, 100, seed=3)
    counts = {y: int(np.sum(np.asarray(years)[picked] == y)) for y in (2015, 2016, 2017)}
    assert counts == {2015: 50, 2016: 100, 2017: 100}
    assert np.all(np.diff(picked) > 0)
    assert np.array_equal(picked, scale.sample_per_year(years, 100, seed=3))
    assert not np.array_equal(picked, scale.sample_per_year(years, 100, seed=4))
    # a new year leaves the earlier years' samples (and their cached embeddings) as they were
    grown = scale.sample_per_year(years + [2018] * 400, 100, seed=3)
    assert np.array_equal(grown[grown < len(years)], picked)


def test_stratified_sample_keeps_each_years_share():
    years = [2015] * 1_000 + [2016] * 3_000 + [2017] * 6_000
    picked = scale.stratified_sample(years, 1_000, seed=1)
    assert len(picked) == 1_000 and len(set(picked.tolist())) == 1_000
    shares = np.bincount(np.asarray(years)[picked] - 2015) / 1_000
    assert shares.tolist() == [0.1, 0.3, 0.6]
    assert np.array_equal(scale.stratified_sample(years, 20_000, seed=1), np.arange(10_000))
    assert np.all(np.bincount(np.asarray([2015] * 5 + [2016] * 995)[scale.stratified_sample(
        [2015] * 5 + [2016] * 995, 10, seed=1)] - 2015) >= 1)  # every year is represented


@pytest.fixture(scope="module")
def documents(small_synth):
    config = load_config()
    docs = load_corpus(small_synth).modelling_docs()
    profile = tokenize.load_profile()
    per_year = {}
    for year in sorted(docs["year"].unique().tolist()):
        tokens, owners = tokenize.tokenize_units(docs.loc[docs["year"] == year, "text"].tolist(), profile,
                                                 config.tokenize, 2)
        per_year[year] = {"tokens": tokens, "owners": owners}
    data, _ = documents_module.build_documents(docs, per_year, config, str(small_synth))
    return data


def test_subset_renumbers_units_and_keeps_embedding_rows():
    docs = pd.DataFrame({"doc_id": ["a", "b", "c", "d"], "year": [2015, 2015, 2016, 2016], "text": list("wxyz")})
    data = documents_module.Documents(docs=docs, periods=[2015, 2015, 2016, 2016],
                                unit_tokens=[["a1"], ["a2"], ["b1"], ["c1"], ["d1"]], unit_owner=[0, 0, 1, 2, 3],
                                embeddings=np.arange(8, dtype=float).reshape(4, 2))
    sub = data.subset(np.array([0, 2]))
    assert sub.doc_ids == ["a", "c"] and sub.periods == [2015, 2016]
    assert sub.unit_tokens == [["a1"], ["a2"], ["c1"]] and sub.unit_owner == [0, 0, 1]
    assert sub.embeddings.tolist() == [[0, 1], [4, 5]] and sub.embedded is None
    # only some documents embedded: the subset keeps the rows it has and says which
    data.embeddings, data.embedded = data.embeddings[[1, 2]], np.array([1, 2])
    part = data.subset(np.array([0, 2, 3]))
    assert part.embeddings.tolist() == [[4, 5]] and part.embedded.tolist() == [1]
    assert data.digest(2016) != data.subset(np.array([0, 1, 3])).digest(2016)


def test_a_years_digest_with_a_sampled_embedding_ignores_earlier_years():
    """A new earlier year must leave a later year's digest (its per-year fit's cache key) as it was."""
    def documents(years):
        docs = pd.DataFrame({"doc_id": [f"{y}-{i}" for y in years for i in range(3)],
                             "year": [y for y in years for _ in range(3)], "text": ["x"] * 3 * len(years)})
        n = len(docs)
        embedded = np.array([i for i in range(n) if i % 3 != 1])  # two of each year's three
        return documents_module.Documents(docs=docs, periods=docs["year"].tolist(), unit_tokens=[[str(i % 3)] for i in range(n)],
                                    unit_owner=list(range(n)), embeddings=np.ones((len(embedded), 2)), embedded=embedded)

    assert documents([2016, 2017]).digest(2017) == documents([2015, 2016, 2017]).digest(2017)


def _large_config(tmp_path, **extra):
    return load_config(overrides={
        "scale.mode": "on", "scale.selection_docs": 200, "scale.bertopic_docs_per_year": 40, "scale.bertopic_min_docs": 10,
        "scale.yearly_docs": 50, "lda.k_grid": "6,10", "lda.seeds": 2, "embed.backend": "char-svd",
        "embed.dim": 64, "bertopic.seeds": 2, "bertopic.min_cluster_fractions": "0.03,0.06",
        "run.cache_dir": str(tmp_path), **extra})


@pytest.mark.slow
def test_lda_on_a_large_corpus_selects_on_a_sample_and_keeps_the_central_seed_on_everything(documents, tmp_path):
    config = _large_config(tmp_path)
    model = LdaTopicModel(config)
    fitted = model.fit(documents)
    again = model.fit(documents)
    assert np.array_equal(fitted.doc_topic, again.doc_topic)  # same seed, same model
    assert fitted.doc_topic.shape == (len(documents), fitted.num_topics)
    np.testing.assert_allclose(fitted.doc_topic.sum(axis=1), 1.0, rtol=1e-6)
    quality = fitted.quality
    assert fitted.num_topics in (6, 10) and [r["k"] for r in quality["k_selection"]] == [6, 10]
    assert "stratified sample of 200 documents" in quality["selected_by"]
    assert f"2 seeds of k={fitted.num_topics} on all {len(documents):,} documents" in quality["selected_by"]
    assert f"the most central kept (seed {quality['seed']})" in quality["selected_by"]
    # every seed's run is of all documents (phase confidence sees them), stability is theirs
    assert len(fitted.seed_doc_topics) == 2 and all(len(s) == len(documents) for s in fitted.seed_doc_topics)
    assert quality["stability"]["seeds"] == 2
    central = lda.fit_seeds(documents.unit_tokens, fitted.num_topics,
                            config.lda.model_copy(update={"passes": scale.lda_passes(len(documents), config)}),
                            config.run.seed)
    assert np.array_equal(central.doc_topic, fitted.doc_topic) and central.native.seed == quality["seed"]
    # the per-year model of a year larger than scale.yearly_docs sees a sample of it
    year = max(documents.years, key=lambda y: len(documents.year_index(y)))
    assert len(documents.year_index(year)) > 50
    assert model.fit_year(documents, year, fitted).doc_topic.shape[0] == 50


def test_bertopic_on_a_large_corpus_clusters_a_sample_and_assigns_the_rest(documents, tmp_path):
    config = _large_config(tmp_path)
    data = documents_module.Documents(docs=documents.docs, periods=documents.periods, unit_tokens=documents.unit_tokens,
                                unit_owner=documents.unit_owner)
    info = topicmodel.embed_documents(data, config)
    per_year = [min(40, len(data.year_index(y))) for y in data.years]  # small years are taken whole
    assert info["documents"] == len(data.embedded) == sum(per_year) < len(data)
    model = BertopicTopicModel(config)
    fitted = model.fit(data)
    again = model.fit(data)
    assert np.array_equal(fitted.doc_topic, again.doc_topic)
    k = fitted.num_topics
    assert fitted.doc_topic.shape == (len(data), k + 1) and np.all(fitted.doc_topic.sum(axis=1) == 1)
    large = fitted.quality["large_corpus"]
    assert large["clustered_documents"] + large["assigned_documents"] == len(data)
    assert 0.5 <= large["assignment_agreement_on_sample"] <= 1.0
    # the assigned documents are outliers about as often as the clustered ones
    dominant = fitted.dominant
    rest = np.setdiff1d(np.arange(len(data)), data.embedded)
    assert abs(np.mean(dominant[rest] == -1) - np.mean(dominant[data.embedded] == -1)) < 0.05
    # representatives come from the clustered documents, whose embeddings place them
    assert np.all(fitted.representative_scores[rest] == 0)
    assert all(len(s) == len(data) for s in fitted.seed_doc_topics) and len(fitted.seed_doc_topics) == 2
    # a year's model sees the year's embedded sample
    years = {y: model.fit_year(data, y, fitted) for y in data.years}
    assert any(r is not None for r in years.values())
    assert all(r.doc_topic.shape[0] == min(40, len(data.year_index(y))) for y, r in years.items() if r is not None)


def test_ctfidf_assignment_keeps_the_requested_outlier_share(documents, tmp_path):
    config = _large_config(tmp_path)
    data = documents_module.Documents(docs=documents.docs, periods=documents.periods, unit_tokens=documents.unit_tokens,
                                unit_owner=documents.unit_owner)
    topicmodel.embed_documents(data, config)
    result = BertopicTopicModel(config).fit(data).native
    joined = [" ".join(t) for t in data.doc_tokens()]
    none, fifth = assign_by_ctfidf([result.model, result.model], joined + ["알수없는낱말"], [0.0, 0.2])
    assert none[-1] == -1  # no known word: an outlier whatever the share
    assert np.mean(none[:-1] == -1) < 0.02
    assert abs(np.mean(fifth == -1) - 0.2) < 0.02
    kept = fifth != -1
    assert np.array_equal(fifth[kept], none[kept])  # outliers are taken out, never moved to another topic


def test_the_large_corpus_fit_refuses_fewer_topics_than_seeded_ones():
    from textmine.core.errors import TextmineError

    tokens = [["진로", "상담"], ["취업", "성과"]] * 20
    with pytest.raises(TextmineError, match="seeds 3 topics but lda.num_topics allows at most 2"):
        lda.fit_seeds(tokens, 2, load_config().lda, 42, {"a": ["진로"], "b": ["취업"], "c": ["상담"]})
