"""The model seam: registries, the generic summarize step, and the library stages the flow calls.

Everything here runs without Prefect: the flow only wires these functions.
"""
import numpy as np
import pandas as pd
import pytest

from textmine.analysis import phases as phase_detection, summaries
from textmine.core import scale
from textmine.core.config import Config, DtmConfig, LdaConfig, load_config
from textmine.core.errors import ConfigError, TextmineError
from textmine.core.registry import EMBEDDERS, LDA_ENGINES, MODELS, PHASE_DETECTORS, Entry
from textmine.models import store
from textmine.models.topicmodel import FittedTopics, TopicModel, model_settings
from textmine.preflight import check_run
from textmine.text.documents import Documents


def test_every_registered_part_loads_and_has_the_registered_name():
    for name in MODELS:
        cls = MODELS.get(name)
        assert issubclass(cls, TopicModel) and cls.name == name
        assert isinstance(model_settings(Config(), name), cls.settings_class)
    for registry in (EMBEDDERS, LDA_ENGINES, PHASE_DETECTORS):
        for name in registry:
            assert callable(registry.get(name))
    assert MODELS.display("bertopic") == "BERTopic" and MODELS.display("unknown") == "unknown"


def test_unknown_names_are_refused_with_the_registered_choices():
    with pytest.raises(ConfigError) as info:
        MODELS.get("nmf")
    assert "lda, bertopic, dtm" in str(info.value)
    with pytest.raises(ConfigError):
        load_config(None, {"run.models": "lda,nmf"})


def _toy_documents(n_per_year=20, years=(2019, 2020, 2021)) -> Documents:
    rows = [{"doc_id": f"d{y}-{i}", "year": y, "text": f"의견 {y} {i}"} for y in years for i in range(n_per_year)]
    docs = pd.DataFrame(rows)
    tokens = [["상담", "진로"] if i % 2 else ["취업", "성과"] for i in range(len(docs))]
    return Documents(docs=docs, periods=docs["year"].tolist(), unit_tokens=tokens, unit_owner=list(range(len(docs))))


def _toy_fitted(data: Documents, outliers: bool, k: int = 3) -> FittedTopics:
    rng = np.random.default_rng(0)
    doc_topic = rng.dirichlet(np.ones(k + outliers), size=len(data))
    topic_word = rng.dirichlet(np.ones(6), size=k)
    vocab = ["상담", "진로", "취업", "성과", "지역", "청년"]
    terms = [[(vocab[i], float(topic_word[t, i])) for i in np.argsort(-topic_word[t])[:3]] for t in range(k)]
    return FittedTopics(doc_topic=doc_topic, topic_terms=terms, topic_word=topic_word, vocabulary=vocab,
                        has_outliers=outliers, quality={"num_topics": k})


class _Toy(TopicModel):
    name, settings_section, settings_class = "toy", "lda", LdaConfig

    def fit(self, data):
        return _toy_fitted(data, outliers=False)


@pytest.mark.parametrize("outliers", [False, True])
def test_summarize_turns_any_fitted_model_into_the_run_tables(outliers):
    data = _toy_documents()
    fitted = _toy_fitted(data, outliers)
    yearly = {2019: _toy_fitted(data, False), 2020: None, 2021: _toy_fitted(data, False)}
    out = summaries.summarize(_Toy(Config()), fitted, yearly, data, Config())
    sums = out.trajectories.groupby("year")[["share", "doc_share"]].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0, atol=1e-9)
    assert (-1 in set(out.trajectories["topic"])) == outliers
    assert set(out.topics["scope"]) == {"global", "2019", "2021"}
    assert out.topics.loc[out.topics["scope"] == "2019", "global_topic"].between(0, 2).all()
    assert set(out.doc_topics["doc_id"]) == set(data.doc_ids)
    assert out.doc_topics.groupby("doc_id")["is_dominant"].sum().eq(1).all()
    assert len(out.representative) == 3 * 3
    assert out.lineage is not None and set(out.lineage["model"]) == {"toy"}
    assert out.quality["yearly_models"]["2020"] == "no per-year model"
    assert len(out.phase_inputs["seed_doc_topics"][0][0]) == 3  # k columns, outliers excluded


def test_units_are_mapped_back_to_documents_by_token_weight():
    docs = pd.DataFrame({"doc_id": ["a", "b"], "year": [2020, 2020], "text": ["x", "y"]})
    data = Documents(docs=docs, periods=[2020, 2020], unit_tokens=[["a"], ["b", "c", "d"], ["e"]], unit_owner=[0, 0, 1])
    units = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    np.testing.assert_allclose(data.units_to_documents(units), [[0.25, 0.75], [0.5, 0.5]])
    assert data.year_units(2020) == data.unit_tokens


def test_order_by_year_puts_units_of_each_year_after_the_previous_years():
    from textmine.text.tokenize import order_by_year

    docs = pd.DataFrame({"doc_id": ["b1", "a1", "b2"], "year": [2021, 2020, 2021], "text": ["", "", ""]})
    per_year = {2020: {"tokens": [["가"]], "owners": [0]}, 2021: {"tokens": [["나"], ["다"], ["라"]], "owners": [0, 1, 1]}}
    ordered, tokens, owners = order_by_year(docs, per_year, [2020, 2021])
    assert ordered["doc_id"].tolist() == ["a1", "b1", "b2"]
    assert tokens == [["가"], ["나"], ["다"], ["라"]] and owners == [0, 1, 2, 2]


def test_bootstrap_replicates_per_seed_and_phase_confidence():
    periods = [y for y in range(2015, 2021) for _ in range(30)]
    shares = np.array([[0.8, 0.2]] * 90 + [[0.2, 0.8]] * 90)
    reps = phase_detection.bootstrap_replicates([shares, shares], periods, 5, seed=1)
    assert len(reps) == 10 and reps[0].shape == (6, 2)
    data = _toy_documents()
    table = pd.DataFrame([{"model": "x", "topic": t, "label": str(t), "year": y, "period": y,
                           "share": s[t], "doc_share": s[t], "n_docs": 30}
                          for y, s in zip(range(2015, 2021), shares[::30]) for t in range(2)])
    entry = phase_detection.detect_with_confidence(table, {0: ["a"], 1: ["b"]}, {0: "a", 1: "b"}, [shares], periods,
                                                   Config().phases, seed=1)
    assert entry["phase_starts"] == [2015, 2018] and entry["boundary_confidence"] == {"2018": 1.0}
    assert entry["detector"] == "segmentation" and len(data) == 60


@pytest.mark.parametrize("method", list(PHASE_DETECTORS))
def test_every_phase_detector_finds_planted_steps(method):
    x = np.array([[0.7, 0.2, 0.1]] * 3 + [[0.2, 0.7, 0.1]] * 3 + [[0.1, 0.2, 0.7]] * 4)
    x = x + np.random.default_rng(0).normal(0, 0.01, x.shape)
    detector = phase_detection.make_detector(method, "auto", 2, 6).fit(np.clip(x, 0, 1))
    assert detector.starts_ == [0, 3, 6]
    fixed = phase_detection.make_detector(method, 2, 2, 6).fit(np.clip(x, 0, 1))
    assert len(fixed.starts_) == 2


def test_score_run_compares_boundaries_and_topics_with_truth():
    from textmine.analysis.evaluate import score_run

    phases = {"lda": {"phase_starts": [2015, 2018]}}
    truth = {"phase_starts": [2015, 2018], "doc_topic": {"a": "x", "b": "y", "c": "x"}}
    result = score_run(truth, phases, ["a", "b", "c"], {"lda": np.array([0, 1, 0])}, {"lda": {"num_topics": 2}})
    assert result["models"]["lda"]["phase_boundaries"]["exact"]
    assert result["models"]["lda"]["topic_agreement"]["nmi"] == 1.0
    assert score_run(None, phases, [], {}, {"lda": {}})["truth"] is None


class _Picky(_Toy):
    """A toy model that declares what preflight refuses and what it does on a large corpus."""

    name = "picky"

    @classmethod
    def check_corpus(cls, config, n_docs, source):
        if n_docs < 10_000:
            raise TextmineError(f"picky needs 10,000 documents, the corpus has {n_docs}", file=source,
                                fix="add documents")

    @classmethod
    def large_corpus_switches(cls, n_docs, docs_per_year, docs_per_period, config, why):
        return [{"setting": "picky documents", "value": f"{n_docs:,} in {len(docs_per_period)} periods", "why": why,
                 "override": "scale.mode = off", "ko": "피키 표본"}]


def test_a_model_declares_its_own_preflight_checks_and_large_corpus_switches(small_synth, tmp_path):
    """preflight and the large-corpus plan loop over the registry: a new model needs no edit in either."""
    MODELS.register("picky", Entry(f"{__name__}:_Picky", "Picky", "a test's toy"))
    try:
        config = load_config(None, {"run.models": "lda,picky", "run.out_dir": str(tmp_path / "out"),
                                    "run.cache_dir": str(tmp_path / "cache")})
        with pytest.raises(TextmineError, match="picky needs 10,000 documents") as info:
            check_run(small_synth, config)
        assert info.value.file == str(small_synth)
        switches = [s["setting"] for s in scale.plan(100_000, {2019: 50_000, 2020: 50_000}, config).switches]
        assert "picky documents" in switches and switches.index("lda k selection") < switches.index("picky documents")
        assert "picky documents" not in [s["setting"] for s in scale.plan(2_000, {2019: 2_000}, config).switches]
    finally:
        MODELS.unregister("picky")


class _Tuned(_Toy):
    """A new model with settings: it names the Config section that holds them (here [dtm]'s, so the test needs
    no new section in textmine/core/config.py), and reads them as ``self.settings`` / ``settings_of``."""

    name = "tuned"
    settings_section, settings_class = "dtm", DtmConfig

    @classmethod
    def check_corpus(cls, config, n_docs, source):
        settings = cls.settings_of(config)
        if settings.num_topics != "auto" and n_docs < 1_000 * settings.num_topics:
            raise TextmineError(f"tuned needs 1,000 documents a topic (dtm.num_topics = {settings.num_topics})",
                                file=source, fix="lower dtm.num_topics")

    def fit(self, data, warm_start=None):
        return _toy_fitted(data, outliers=False, k=self.settings.num_topics)


def test_a_model_finds_its_settings_through_the_registry(small_synth, tmp_path):
    """The seam, preflight and the fit's cache key read a new model's settings from the section it registered,
    with no edit to flows/, preflight.py or store.py."""
    MODELS.register("tuned", Entry(f"{__name__}:_Tuned", "Tuned", "a test's toy with settings"))
    try:
        def config(k: int) -> Config:
            return load_config(None, {"run.models": "tuned", "dtm.num_topics": str(k),
                                      "run.out_dir": str(tmp_path / "out"), "run.cache_dir": str(tmp_path / "cache")})

        four = config(4)
        assert model_settings(four, "tuned") is four.dtm
        model = MODELS.get("tuned")(four)
        assert model.settings is four.dtm and model.fit(_toy_documents()).num_topics == 4
        assert store.fit_key(model, "data", "global") != store.fit_key(MODELS.get("tuned")(config(5)), "data", "global")
        with pytest.raises(TextmineError, match=r"dtm.num_topics = 4"):
            check_run(small_synth, four)
    finally:
        MODELS.unregister("tuned")


def test_a_settings_section_config_lacks_or_of_another_class_is_refused_when_the_model_is_defined():
    with pytest.raises(TypeError, match="'nowhere' is not a section of Config.*textmine.core.config.Config"):
        class _Lost(_Toy):
            name, settings_section, settings_class = "lost", "nowhere", DtmConfig
    with pytest.raises(TypeError, match="'lda' is of LdaConfig, not DtmConfig"):
        class _Mismatched(_Toy):
            name, settings_section, settings_class = "mismatched", "lda", DtmConfig
