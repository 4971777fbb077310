"""The dynamic topic model's training in slices, its large-corpus plan and its stop points (no Kiwi: the
documents are made of planted words directly)."""
import threading
import time

import numpy as np
import pandas as pd
import pytest

from textmine.core import progress, scale
from textmine.core.config import load_config
from textmine.models import dtm, lda, topicmodel
from textmine.text.documents import Documents

TOPIC_WORDS = [[f"{t}단어{i}" for i in range(12)] for t in "가나다"]


def _documents(per_period: int = 40, periods: int = 4, seed: int = 0) -> Documents:
    """Documents of three planted topics over ``periods`` years, ``per_period`` documents each."""
    rng = np.random.default_rng(seed)
    rows, tokens = [], []
    for year in range(2020, 2020 + periods):
        for i in range(per_period):
            topic = (i + year) % 3
            words = TOPIC_WORDS[topic]
            tokens.append([words[j] for j in rng.integers(0, len(words), 25)])
            rows.append({"doc_id": f"{year}-{i}", "year": year, "text": ""})
    docs = pd.DataFrame(rows)
    return Documents(docs=docs, periods=docs["year"].tolist(), unit_tokens=tokens, unit_owner=list(range(len(rows))))


def _config(**overrides):
    base = {"dtm.num_topics": "3", "dtm.seeds": "1", "dtm.iterations": "120", "dtm.convergence_window": "40",
            "dtm.n_jobs": "1", "lda.no_below": "1"}
    return load_config(None, base | {k: str(v) for k, v in overrides.items()})


def test_training_stops_on_convergence_and_says_so():
    data = _documents()
    never = dtm.DtmTopicModel(_config(**{"dtm.convergence": "0"})).fit(data)
    early = dtm.DtmTopicModel(_config(**{"dtm.convergence": "0.9"})).fit(data)  # any rise under 90 % stops it
    assert never.quality["training"]["seeds"]["42"] | {"ll_per_word": 0} == {"iterations": 120, "ll_per_word": 0,
                                                                            "converged": False}
    stopped = early.quality["training"]["seeds"]["42"]
    assert stopped["converged"] and stopped["iterations"] == 80  # two checks, 40 iterations apart
    assert early.quality["iterations"] == 80


def test_progress_reports_the_log_likelihood_and_same_seed_fits_are_identical():
    data = _documents()
    seen = []
    with progress.listening(lambda stage, done, total: seen.append((stage, done, total))):
        a = dtm.DtmTopicModel(_config()).fit(data)
    b = dtm.DtmTopicModel(_config()).fit(data)
    slices = [s for s in seen if s[0].startswith("DTM seed 42, log-likelihood/word ")]
    assert slices and slices[-1][1:] == (120, 120) and all(s[2] == 120 for s in slices)
    assert np.array_equal(a.doc_topic, b.doc_topic) and np.array_equal(a.topic_word, b.topic_word)
    assert a.native.model == b.native.model
    assert a.topics_over_time.equals(b.topics_over_time)


def test_a_sliced_fit_equals_one_train_call():
    import tomotopy as tp

    data = _documents()
    tokens = data.doc_tokens()

    def model():
        m = tp.DTModel(k=3, t=4, lr_a=0.5, eta_var=10, phi_var=0.01, seed=3)
        for doc, year in zip(tokens, data.periods):
            m.add_doc(doc, timepoint=year - 2020)
        return m

    whole, sliced = model(), model()
    whole.train(50, workers=1)
    assert lda.train_in_slices(sliced, 50, 1, "x", check_every=7) == 50
    assert all(np.array_equal(whole.get_phi(t, k), sliced.get_phi(t, k)) for t in range(4) for k in range(3))


def test_on_a_large_corpus_each_period_is_sampled_and_the_rest_inferred_the_same_way_every_time():
    data = _documents(per_period=60)
    config = _config(**{"scale.mode": "on", "scale.dtm_docs_per_period": "25", "dtm.seeds": "2",
                        "dtm.iterations": "300"})
    a = dtm.DtmTopicModel(config).fit(data)
    b = dtm.DtmTopicModel(config).fit(data)
    assert a.quality["large_corpus"] == {"documents_fitted": 100, "documents_inferred": 140, "docs_per_period": 25}
    assert all(s["inferred_documents"] == 140 for s in a.quality["training"]["seeds"].values())
    assert np.allclose(a.doc_topic.sum(axis=1), 1) and not np.allclose(a.doc_topic, 1 / 3)
    assert np.array_equal(a.doc_topic, b.doc_topic) and all(
        np.array_equal(x, y) for x, y in zip(a.seed_doc_topics, b.seed_doc_topics))
    # the planted topics are recovered on the inferred documents too (1.0 measured; 0.61 fitted on all 60 a period)
    from sklearn.metrics import normalized_mutual_info_score

    planted = [(i + year) % 3 for year in range(2020, 2024) for i in range(60)]
    assert normalized_mutual_info_score(planted, a.dominant) > 0.9


@pytest.mark.slow
def test_seeds_in_worker_processes_give_the_seeds_run_one_after_another():
    data = _documents()
    one = dtm.DtmTopicModel(_config(**{"dtm.seeds": "2"})).fit(data)
    seen = []
    with progress.listening(lambda stage, done, total: seen.append(stage)):
        two = dtm.DtmTopicModel(_config(**{"dtm.seeds": "2", "dtm.n_jobs": "2"})).fit(data)
    assert np.array_equal(one.doc_topic, two.doc_topic) and one.native.model == two.native.model
    assert any(s.startswith("DTM seed 43, log-likelihood") for s in seen), "the workers' progress is forwarded"


def test_the_plan_lists_the_dtm_switches_and_lda_is_fitted_first():
    config = load_config(None, {"run.models": "dtm,lda"})
    switches = scale.plan(20_000, {2020: 10_000, 2021: 10_000}, config).switches
    by = {s["setting"]: s for s in switches}
    assert "LDA's chosen k" in by["dtm k selection"]["value"]
    assert by["dtm documents"]["value"].startswith("400 fitted (at most 200 a period); the other 19,600")
    alone = {s["setting"]: s for s in scale.plan(20_000, {2020: 20_000}, load_config(None, {"run.models": "dtm"})).switches}
    assert "stratified sample of 10,000" in alone["dtm k selection"]["value"]
    assert not [s for s in scale.plan(4_000, {2020: 4_000}, config).switches if s["setting"].startswith("dtm")]
    assert topicmodel.fit_order(["dtm", "bertopic", "lda"]) == ["lda", "dtm", "bertopic"]
    assert topicmodel.fit_order(["dtm"]) == ["dtm"]


def test_the_dtm_takes_ldas_k_only_on_a_large_corpus_and_its_cache_key_says_so():
    from textmine.models.topicmodel import FittedTopics

    def lda_fit(docs):
        return FittedTopics(doc_topic=np.full((docs, 7), 1 / 7), topic_terms=[[("x", 1.0)]] * 7,
                            topic_word=np.ones((7, 1)), vocabulary=["x"])

    config = load_config(None, {"run.models": "lda,dtm"})
    model = dtm.DtmTopicModel(config)
    plain = model.related_settings()
    model.use_earlier({"lda": lda_fit(6_000)})
    assert model.lda_k == 7 and model.related_settings() == plain | {"k_from_lda": 7}
    assert dtm.choose_k([], config, 1, None, model.lda_k)[0] == 7
    small = dtm.DtmTopicModel(config)
    small.use_earlier({"lda": lda_fit(600)})
    assert small.lda_k is None


def test_a_stop_request_ends_a_fit_in_another_thread_within_seconds():
    import tomotopy as tp

    data = _documents()
    model = tp.LDAModel(k=3, seed=1)
    for doc in data.doc_tokens():
        model.add_doc(doc)
    ended = {}

    def fit():
        try:
            lda.train_in_slices(model, 10_000_000, 1, "endless")
        except KeyboardInterrupt:
            ended["at"] = time.perf_counter()

    worker = threading.Thread(target=fit)
    worker.start()
    time.sleep(1)
    asked = time.perf_counter()
    progress.stop_work()
    try:
        worker.join(timeout=10)
    finally:
        progress.allow_work()
    assert not worker.is_alive() and ended["at"] - asked < 3


def test_a_period_without_a_modelled_word_is_a_clear_error_not_an_abort():
    from textmine.core.errors import TextmineError

    data = _documents()
    tokens = data.unit_tokens
    for i, year in enumerate(data.periods):
        if year == 2022:
            tokens[i] = [f"희귀어{i}"]  # in no other document: outside the vocabulary once no_below is 2
    with pytest.raises(TextmineError, match="2022 has none with a word of the modelling vocabulary"):
        dtm.DtmTopicModel(_config(**{"lda.no_below": "2"})).fit(data)


def test_the_sgld_step_shrinks_in_proportion_to_the_largest_periods_tokens():
    settings = load_config(None, {"dtm.lr_a": "0.5", "dtm.lr_reference_tokens": "8000"}).dtm
    assert dtm.step_size(settings, [5_000, 7_334]) == 0.5  # the bundled corpus's periods: unchanged
    assert dtm.step_size(settings, [20_000, 32_000]) == pytest.approx(0.125)
    assert dtm.step_size(settings.model_copy(update={"lr_reference_tokens": 0}), [32_000]) == 0.5


def test_a_fit_uses_and_records_the_step_for_its_largest_fitted_period():
    data = _documents()  # 40 documents of 25 tokens a period: 1,000 tokens
    as_set = dtm.DtmTopicModel(_config()).fit(data)
    scaled = dtm.DtmTopicModel(_config(**{"dtm.lr_reference_tokens": "250"})).fit(data)
    assert as_set.quality["training"]["lr_a"] == 0.5 and scaled.quality["training"]["lr_a"] == 0.125
    assert not np.array_equal(as_set.doc_topic, scaled.doc_topic)
    # the plan's sample is what the step is measured on: 10 documents a period, 250 tokens, so no scaling
    sampled = dtm.DtmTopicModel(_config(**{"dtm.lr_reference_tokens": "250", "scale.mode": "on",
                                           "scale.dtm_docs_per_period": "10"})).fit(data)
    assert sampled.quality["training"]["lr_a"] == 0.5
