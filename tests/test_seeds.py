"""Seeded (guided) topics: the profile's [seed_topics], word priors in LDA (gensim and tomotopy),
guided BERTopic, names on the DTM, labels and the uptake figures of evaluation.json."""
import numpy as np
import pytest

from textmine.analysis import summaries
from textmine.core.config import load_config
from textmine.core.errors import ConfigError, TextmineError
from textmine.core.registry import MODELS
from textmine.io.corpus import load_corpus
from textmine.models import lda, seeds as seeding, store, terms
from textmine.text import documents as documents_module
from textmine.text.cache import cached_tokenize_units
from textmine.text.tokenize import load_profile

# 접근성 is one word since derived nouns are kept whole (접근 + 성).
SEEDS = {"진로 지도": ["진로", "탐색", "설계"], "시설 공간": ["공간", "시설", "접근성"]}
FAST = {"lda.passes": "3", "lda.iterations": "50", "lda.num_topics": "8", "lda.seeds": "1", "lda.n_jobs": "1",
        "lda.yearly_min_docs": "20", "dtm.iterations": "60", "dtm.seeds": "1", "dtm.num_topics": "8",
        "bertopic.seeds": "1", "bertopic.min_cluster_size": "24", "embed.backend": "char-svd", "embed.dim": "64"}


# ---------------------------------------------------------------- the profile

def _profile(tmp_path, text: str, name: str = "profile.toml"):
    (tmp_path / name).write_text(text, encoding="utf-8")
    return load_profile(tmp_path)


def test_seed_topics_are_read_in_order_and_written_like_tokens(tmp_path):
    profile = _profile(tmp_path, '[synonyms]\n"인턴" = "인턴십"\n\n[seed_topics]\n"현장실습" = ["인턴", "실습", "인턴십"]\n'
                                 '"진로 지도" = ["진로", "탐색"]\n"자격" = ["ncs", " 자격증 "]\n')
    assert list(profile.seed_topics) == ["현장실습", "진로 지도", "자격"]
    # Synonyms merged (and the duplicate they make dropped), Latin script upper-cased, spaces stripped.
    assert profile.seed_topics["현장실습"] == ["인턴십", "실습"]
    assert profile.seed_topics["자격"] == ["NCS", "자격증"]
    assert load_profile().seed_topics == {}


def test_seeds_change_the_profile_digest_but_not_the_token_digest(tmp_path):
    plain = load_profile()
    one = _profile(tmp_path, '[seed_topics]\n"a" = ["진로"]\n"b" = ["공간"]\n')
    other = _profile(tmp_path, '[seed_topics]\n"b" = ["공간"]\n"a" = ["진로"]\n')  # same seeds, other order
    more = _profile(tmp_path, '[seed_topics]\n"a" = ["진로", "탐색"]\n"b" = ["공간"]\n')
    assert len({plain.digest(), one.digest(), other.digest(), more.digest()}) == 4
    assert plain.token_digest() == one.token_digest() == other.token_digest() == plain.digest()


def test_a_later_profile_replaces_a_seed_by_name_and_adds_new_ones(tmp_path):
    (tmp_path / "profile.toml").write_text('[seed_topics]\n"a" = ["진로"]\n"b" = ["공간"]\n', encoding="utf-8")
    extra = tmp_path / "extra.toml"
    extra.write_text('[seed_topics]\n"a" = ["탐색"]\n"c" = ["예산"]\n', encoding="utf-8")
    assert load_profile(tmp_path, extra).seed_topics == {"a": ["탐색"], "b": ["공간"], "c": ["예산"]}


@pytest.mark.parametrize("body, says", [
    ('seed_topics = ["진로"]', "must be a [seed_topics] table"),
    ('[seed_topics]\n"" = ["진로"]', "empty name"),
    ('[seed_topics]\n"' + "가" * 41 + '" = ["진로"]', "more than 40"),
    ('[seed_topics]\n"a" = []', "non-empty list"),
    ('[seed_topics]\n"a" = "진로"', "non-empty list"),
    ('[seed_topics.a]\nwords = ["진로"]', "non-empty list"),
    ('[seed_topics]\n"a" = ["진로", 3]', "not a word"),
    ('[seed_topics]\n"a" = ["진로", " "]', "not a word"),
    ('[seed_topics]\n"a" = ["진로 탐색"]', "more than one word"),
])
def test_bad_seed_tables_name_the_file_the_key_and_the_fix(tmp_path, body, says):
    with pytest.raises(ConfigError) as caught:
        _profile(tmp_path, body + "\n")
    error = caught.value
    assert says in error.problem and "seed_topics" in error.problem
    assert error.file == str(tmp_path / "profile.toml") and error.fix


# ---------------------------------------------------------------- the helpers

def test_uptake_and_matching_on_a_toy_model():
    vocab = ["진로", "탐색", "설계", "공간", "예산"] + [f"w{i}" for i in range(20)]
    topic_word = np.full((3, len(vocab)), 0.01)
    topic_word[0, [0, 1]] = [0.5, 0.4]      # 진로, 탐색 lead topic 0; 설계 ties with the rest
    topic_word[1, 3] = 0.9                   # 공간 leads topic 1
    topic_word[2, 4], topic_word[2, 3] = 0.9, 0.001
    seeds = {"진로": ["진로", "탐색", "설계", "없음"], "공간": ["공간"], "없는": ["없음"], "예산2": ["예산"]}
    matched = seeding.match_seeds(topic_word, vocab, seeds)
    assert matched == {"진로": 0, "공간": 1, "없는": None, "예산2": 2}
    uptake = seeding.seed_uptake(topic_word, vocab, seeds, matched, "matched")
    assert uptake["진로"]["ranks"] == {"진로": 1, "탐색": 2, "설계": 3, "없음": None}
    assert uptake["진로"]["not_in_vocabulary"] == ["없음"] and uptake["진로"]["share_in_top10"] == 1.0
    assert uptake["없는"]["taken_up"] is False and uptake["없는"]["topic"] is None
    assert seeding.seed_names(uptake) == {0: "진로", 1: "공간", 2: "예산2"}
    # A seed given a topic where none of its words reaches the top 10 is not taken up (no name).
    weak = seeding.seed_uptake(topic_word, vocab, {"공간": ["공간"]}, {"공간": 2})
    assert weak["공간"]["ranks"]["공간"] > 10 and not weak["공간"]["taken_up"] and seeding.seed_names(weak) == {}


def test_grid_values_below_the_number_of_seeds_are_dropped():
    config = load_config(None, {"lda.k_grid": "2,3,6"}).lda
    assert lda.topic_grid(config, 100, n_seeds=3) == [3, 6]
    with pytest.raises(TextmineError, match="seeds 7 topics"):
        lda.topic_grid(config, 100, n_seeds=7)
    with pytest.raises(TextmineError, match="lda.num_topics"):
        lda.topic_grid(config.model_copy(update={"num_topics": 2}), 100, n_seeds=3)


# ---------------------------------------------------------------- models on the small synthetic corpus

@pytest.fixture(scope="module")
def config(tmp_path_factory):
    return load_config(None, {**FAST, "run.cache_dir": str(tmp_path_factory.mktemp("cache"))})


@pytest.fixture(scope="module")
def data(small_synth, config):
    docs = load_corpus(small_synth).modelling_docs()
    profile = load_profile(small_synth)
    per_year = {}
    for year, group in docs.groupby("year"):
        tokens, owners, _ = cached_tokenize_units(group["text"].tolist(), profile, config.tokenize, 2,
                                                  config.run.cache_dir)
        per_year[year] = {"tokens": tokens, "owners": owners}
    documents, _ = documents_module.build_documents(docs, per_year, config, str(small_synth))
    return documents


def _check_uptake(entry, vocabulary_size):
    ranks = [r for r in entry["ranks"].values() if r is not None]
    assert all(1 <= r <= vocabulary_size for r in ranks)
    assert 0.0 <= entry["share_in_top10"] <= 1.0
    assert entry["taken_up"] == any(r <= 10 for r in ranks)


@pytest.mark.parametrize("backend", ["gensim", "tomotopy"])
def test_lda_puts_the_seed_words_on_top_of_the_seeded_topic_and_names_it(data, config, backend, tmp_path):
    c = config.model_copy(update={"lda": config.lda.model_copy(update={"backend": backend})})
    fitted = MODELS.get("lda")(c, seed_topics=SEEDS).fit(data)
    labels = fitted.labels()
    assert labels[:2] == ["진로 지도", "시설 공간"] and not set(labels[2:]) & set(SEEDS)
    uptake = fitted.quality["seed_topics"]
    for i, (name, words) in enumerate(SEEDS.items()):
        entry = uptake[name]
        assert entry["topic"] == i and entry["how"] == "seeded" and entry["label"] == name
        _check_uptake(entry, len(fitted.vocabulary))
        assert entry["share_in_top10"] == 1.0 and min(entry["ranks"].values()) <= 2
    assert fitted.quality["seed_weight"] == seeding.SEED_WEIGHT
    # The names survive the model cache (fitted.json) and reach topics.csv.
    store.write_fitted(fitted, tmp_path)
    assert store.read_fitted(tmp_path).labels() == labels
    assert summaries.topic_rows("lda", fitted, {})["label"].tolist() == labels


def test_without_seeds_nothing_changes(data, config, small_synth):
    """A profile without [seed_topics] gives the fit, cache key and labels of a model that never heard of
    seeds, and the gensim engine's unseeded fit is the plain gensim call it always was."""
    from gensim.models import LdaModel

    plain = MODELS.get("lda")(config)
    seeded_none = MODELS.get("lda")(config, seed_topics=load_profile(small_synth).seed_topics)
    assert seeded_none.seed_topics == {} and seeded_none.related_settings() == plain.related_settings() == {}
    assert store.global_fit_key(plain, data) == store.global_fit_key(seeded_none, data)
    a, b = plain.fit(data), seeded_none.fit(data)
    assert np.array_equal(a.doc_topic, b.doc_topic) and a.labels() == b.labels() and not b.seed_names
    assert "seed_topics" not in b.quality
    c = config.lda
    dictionary = terms.build_dictionary(data.unit_tokens, c)
    bow = [dictionary.doc2bow(t) for t in data.unit_tokens]
    direct = LdaModel(corpus=bow, id2word=dictionary, num_topics=8, passes=c.passes, iterations=c.iterations,
                      chunksize=c.chunksize, alpha=c.alpha, eta=c.eta, random_state=config.run.seed, eval_every=None)
    assert np.array_equal(direct.get_topics(), a.topic_word)
    # Seeds do move the fit, and its cache key.
    seeded = MODELS.get("lda")(config, seed_topics=SEEDS)
    assert store.global_fit_key(seeded, data) != store.global_fit_key(plain, data)


def test_per_year_lda_models_are_seeded_too(data, config):
    model = MODELS.get("lda")(config, seed_topics=SEEDS)
    fitted = model.fit(data)
    year = model.fit_year(data, 2020, fitted)
    assert year.num_topics >= len(SEEDS) and year.labels()[0] == "진로 지도"
    assert year.quality["seed_topics"]["진로 지도"] == 0
    # A small year still has a topic per seed; a seed it does not take up keeps its slot, unnamed.
    small = model.fit_year(data, 2015, fitted)  # 25 opinions: 2 topics
    assert small.num_topics == len(SEEDS)
    assert all(t in (i, None) for i, t in enumerate(small.quality["seed_topics"].values()))
    assert small.seed_names == {t: n for n, t in small.quality["seed_topics"].items() if t is not None}


def test_seeds_raise_k_and_say_which_grid_values_were_dropped(data, config):
    c = config.lda.model_copy(update={"backend": "tomotopy", "num_topics": "auto", "k_grid": [2, 3], "seeds": 1,
                                      "gibbs_iterations": 20})
    result = lda.fit_global_lda(data.unit_tokens, c, 1, {"a": ["진로"], "b": ["공간"], "c": ["예산"]})
    assert result.num_topics == 3 and "k below the 3 seeded topics dropped: [2]" in result.native.selected_by


def test_seed_words_outside_the_vocabulary_are_reported_not_fatal(data, config, caplog):
    c = config.model_copy(update={"lda": config.lda.model_copy(update={"backend": "tomotopy"})})
    fitted = MODELS.get("lda")(c, seed_topics={"진로 지도": ["진로", "없는낱말"], "헛것": ["없는낱말"]}).fit(data)
    uptake = fitted.quality["seed_topics"]
    assert uptake["진로 지도"]["not_in_vocabulary"] == ["없는낱말"] and uptake["진로 지도"]["taken_up"]
    assert uptake["헛것"]["topic"] == 1 and not uptake["헛것"]["taken_up"] and fitted.labels()[1] != "헛것"
    assert "없는낱말" in caplog.text


def test_dtm_is_not_steered_but_names_its_best_matching_topic(data, config):
    plain = MODELS.get("dtm")(config).fit(data)
    fitted = MODELS.get("dtm")(config, seed_topics=SEEDS).fit(data)
    assert np.array_equal(plain.doc_topic, fitted.doc_topic)  # DTModel ignores word priors: same fit
    entry = fitted.quality["seed_topics"]["진로 지도"]
    assert "DTModel ignores word priors" in entry["how"] and entry["taken_up"]
    _check_uptake(entry, len(fitted.vocabulary))
    assert fitted.labels()[entry["topic"]] == "진로 지도"
    assert set(fitted.topics_over_time.loc[fitted.topics_over_time["topic"] == entry["topic"], "label"]) == {"진로 지도"}
    year = MODELS.get("dtm")(config, seed_topics=SEEDS).fit_year(data, 2016, fitted)
    assert year.labels()[entry["topic"]] == "진로 지도"


@pytest.fixture(scope="module")
def embedded(data, config):
    from textmine.models.embed import make_embedder

    embedder = make_embedder(config.embed, config.run.seed)
    data.embeddings, data.embedder = embedder.embed(data.texts), embedder
    return data


def test_a_corpus_fitted_embedder_from_the_cache_is_refitted_to_embed_the_seeds(embedded, config):
    # Embeddings read from the cache: the run's char-svd embedder never saw the texts, so the seed words
    # are embedded by one refitted on the same texts in the same order: the same vector space.
    model = MODELS.get("bertopic")(config, seed_topics=SEEDS)
    rebuilt = model._seed_embedder(documents_module.Documents(embedded.docs, embedded.periods, [], []))
    assert rebuilt is not embedded.embedder
    assert np.allclose(rebuilt.embed(["진로 탐색 설계"]), embedded.embedder.embed(["진로 탐색 설계"]), atol=1e-5)


def test_bertopic_is_guided_and_names_a_topic_after_the_seed(embedded, config):
    data = embedded
    before = data.embeddings.copy()
    model = MODELS.get("bertopic")(config, seed_topics={"진로 지도": SEEDS["진로 지도"]})
    fitted = model.fit(data)
    assert np.array_equal(data.embeddings, before), "guided topic modelling must not move the run's embeddings"
    entry = fitted.quality["seed_topics"]["진로 지도"]
    assert entry["how"].startswith("guided") and entry["taken_up"] and entry["ranks"]["진로"] <= 3
    _check_uptake(entry, len(fitted.vocabulary))
    assert fitted.labels()[entry["topic"]] == "진로 지도" and fitted.labels().count("진로 지도") == 1
    table = fitted.topics_over_time
    assert set(table.loc[table["topic"] == entry["topic"], "label"]) == {"진로 지도"}
    assert fitted.native.model.seed_topic_list == [SEEDS["진로 지도"]]
