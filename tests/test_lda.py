"""gensim LDA: invariants, bounds, k selection, seed stability, per-year models, exact reproducibility."""
import numpy as np
import pytest

from textmine.core.config import LdaConfig, TokenizeConfig
from textmine.core.errors import TextmineError
from textmine.io.corpus import load_corpus
from textmine.models.lda import choose_k, fit_global_lda, fit_yearly_lda
from textmine.models.quality import seed_stability
from textmine.models.terms import relevance_terms
from textmine.models.topics import match_topics, topic_similarity
from textmine.text.tokenize import load_profile, tokenize_texts

FAST = dict(passes=3, iterations=50, n_jobs=1)


@pytest.fixture(scope="module")
def tokens(small_synth):
    docs = load_corpus(small_synth).modelling_docs()
    return tokenize_texts(docs["text"].tolist(), load_profile(), TokenizeConfig(), 2), docs["year"].tolist()


def test_invariants(tokens):
    toks, _ = tokens
    result = fit_global_lda(toks, LdaConfig(num_topics=8, seeds=1, **FAST), seed=1)
    assert result.doc_topic.shape == (len(toks), 8)
    np.testing.assert_allclose(result.doc_topic.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(result.topic_word.sum(axis=1), 1.0, atol=1e-4)
    assert result.topic_sizes.sum() == len(toks)
    assert all(len(terms) == 10 for terms in result.topic_terms)
    assert all(0 < w <= 1 for terms in result.topic_terms for _, w in terms)
    assert len(set(result.labels())) == 8
    assert result.native.selected_by == "fixed"


def test_same_seed_identical_other_seed_different(tokens):
    toks, _ = tokens
    config = LdaConfig(num_topics=6, seeds=1, **FAST)
    a = fit_global_lda(toks, config, seed=5)
    b = fit_global_lda(toks, config, seed=5)
    c = fit_global_lda(toks, config, seed=6)
    assert np.array_equal(a.doc_topic, b.doc_topic) and a.topic_terms == b.topic_terms
    assert not np.array_equal(a.doc_topic, c.doc_topic)


def test_parallel_grid_equals_serial_grid(tokens):
    toks, _ = tokens
    serial = fit_global_lda(toks, LdaConfig(k_grid=[4, 6], seeds=2, **FAST), seed=3)
    parallel = fit_global_lda(toks, LdaConfig(k_grid=[4, 6], seeds=2, **(FAST | {"n_jobs": 2})), seed=3)
    assert serial.native.selection == parallel.native.selection
    assert np.array_equal(serial.doc_topic, parallel.doc_topic)


def test_k_grid_is_scored_and_k_chosen(tokens):
    toks, _ = tokens
    result = fit_global_lda(toks, LdaConfig(k_grid=[3, 6, 9], seeds=2, **FAST), seed=1)
    assert [r["k"] for r in result.native.selection] == [3, 6, 9]
    for row in result.native.selection:
        assert 0 <= row["c_v"] <= 1 and -1 <= row["c_npmi"] <= 1
        assert 0 < row["diversity"] <= 1 and 0 <= row["stability"] <= 1 and 0 <= row["score"] <= 1
    best = max(result.native.selection, key=lambda r: r["score"])
    assert result.num_topics == best["k"]
    assert len(result.native.stability["per_topic"]) == result.num_topics


def test_choose_k_prefers_better_scores_and_fewer_topics_on_ties():
    rows = [{"k": 4, "c_v": 0.5, "c_npmi": 0.1, "diversity": 0.8, "stability": 0.7},
            {"k": 8, "c_v": 0.6, "c_npmi": 0.2, "diversity": 0.9, "stability": 0.8}]
    assert choose_k(rows) == 8
    tie = [{"k": 4, "c_v": 0.5, "c_npmi": 0.1, "diversity": 0.8, "stability": 0.7},
           {"k": 8, "c_v": 0.5, "c_npmi": 0.1, "diversity": 0.8, "stability": 0.7}]
    assert choose_k(tie) == 4


def test_seed_stability_and_matching():
    rng = np.random.default_rng(0)
    a = rng.dirichlet(np.ones(50) * 0.1, size=5)
    perm = [3, 0, 4, 1, 2]
    match, sims = match_topics(a, a[perm])
    assert [perm[m] for m in match] == list(range(5)) and np.allclose(sims, 1)
    assert np.allclose(np.diag(topic_similarity(a, a)), 1)
    noisy = a + rng.dirichlet(np.ones(50), size=5) * 0.5
    stab = seed_stability([a, a[perm], noisy])
    assert stab["central"] in (0, 1) and stab["per_topic"] == [1.0] * 5 or min(stab["per_topic"]) > 0.5
    assert 0 < stab["mean"] < 1


def test_relevance_favours_distinctive_terms():
    vocab = ["흔함", "진로", "상담"]
    topic_word = np.array([[0.5, 0.45, 0.05], [0.5, 0.05, 0.45]])
    term_prob = np.array([0.8, 0.1, 0.1])
    assert relevance_terms(topic_word, term_prob, vocab, 0.6, 1) == [["진로"], ["상담"]]
    assert relevance_terms(topic_word, term_prob, vocab, 1.0, 1) == [["흔함"], ["흔함"]]


def test_yearly_models_share_the_global_dictionary(tokens):
    toks, years = tokens
    glob = fit_global_lda(toks, LdaConfig(num_topics=8, seeds=1, **FAST), seed=1)
    year_tokens = [t for t, y in zip(toks, years) if y == 2020]
    yearly = fit_yearly_lda(year_tokens, glob.native.dictionary, 8, LdaConfig(**FAST), seed=1)
    assert yearly.topic_word.shape[1] == glob.topic_word.shape[1]
    assert 2 <= yearly.num_topics <= 8
    assert fit_yearly_lda(year_tokens[:10], glob.native.dictionary, 8, LdaConfig(**FAST), seed=1) is None


def test_too_few_documents():
    with pytest.raises(TextmineError, match="cannot support"):
        fit_global_lda([["상담", "체계"]] * 3, LdaConfig(num_topics=5), seed=1)


def test_no_vocabulary_left():
    with pytest.raises(TextmineError, match="no vocabulary"):
        fit_global_lda([["상담"]] * 20, LdaConfig(num_topics=2, no_above=0.5), seed=1)


@pytest.mark.parametrize("backend", ["gensim", "tomotopy"])
def test_bag_of_words_made_on_demand_fits_the_same_model(tokens, monkeypatch, backend):
    """Past lda.KEEP_BOW_DOCS the corpus is streamed (BagOfWords) instead of held: same model."""
    from textmine.models import lda

    toks, _ = tokens
    config = LdaConfig(num_topics=6, seeds=1, backend=backend, gibbs_iterations=20, **FAST)
    kept = fit_global_lda(toks, config, seed=5)
    monkeypatch.setattr(lda, "KEEP_BOW_DOCS", 10)
    streamed = fit_global_lda(toks, config, seed=5)
    assert isinstance(lda.bag_of_words(toks, streamed.native.dictionary), lda.BagOfWords)
    assert np.array_equal(kept.doc_topic, streamed.doc_topic) and np.array_equal(kept.topic_word, streamed.topic_word)
    bow = lda.BagOfWords(toks, kept.native.dictionary)
    assert len(bow) == len(toks) and bow[3] == list(bow)[3] == bow[2:4][1]


def test_the_grid_and_the_seeds_as_tasks_in_worker_processes_equal_the_fits_here(tokens, tmp_path):
    """What the process and Dask runners do with LDA's fits (textmine.core.parallel.FitTasks): each (k, seed)
    a fit_candidate in another process, given paths and settings, its arrays written to a file and read back.
    The same selection and bytes as the library's own serial fits, for the grid and for the seeds; the
    record says how many tasks ran and how long."""
    from textmine.core.parallel import FitTasks, map_in_processes
    from textmine.models.lda import fit_seeds

    toks, _ = tokens
    config = LdaConfig(k_grid=[4, 6], seeds=2, **FAST)
    submitted, recorded = [], {}

    def submit(stage, function, argument_lists):
        submitted.append((stage, argument_lists))
        results = map_in_processes(function, argument_lists, 2)
        recorded[stage] = [r["seconds"] for r in results]
        return results

    tasks = FitTasks(folder=tmp_path / "fits", submit=submit)
    here = fit_global_lda(toks, config, seed=3, tasks=FitTasks(record=lambda stage, s, how: recorded.update({how: s})))
    there = fit_global_lda(toks, config, seed=3, tasks=tasks)
    assert len(recorded["local (in process)"]) == 4
    assert here.native.selection == there.native.selection and here.native.seed == there.native.seed
    assert here.doc_topic.tobytes() == there.doc_topic.tobytes()
    assert here.topic_word.tobytes() == there.topic_word.tobytes()
    assert [m.tobytes() for m in here.seed_doc_topics] == [m.tobytes() for m in there.seed_doc_topics]
    stage, arguments = submitted[0]
    assert stage == "lda_grid" and [(a[1], a[2]) for a in arguments] == [(4, 3), (4, 4), (6, 3), (6, 4)]
    assert all(isinstance(a[0], str) and isinstance(a[3], str) for a in arguments)  # paths and JSON, no arrays
    assert len(recorded["lda_grid"]) == 4 and min(recorded["lda_grid"]) > 0

    seeds_here = fit_seeds(toks, 5, config, 7)
    seeds_there = fit_seeds(toks, 5, config, 7, tasks=tasks)
    assert submitted[1][0] == "lda_seeds" and len(submitted[1][1]) == 2
    assert seeds_here.doc_topic.tobytes() == seeds_there.doc_topic.tobytes()
    assert seeds_here.native.stability == seeds_there.native.stability


def test_a_fit_task_without_the_shared_files_is_one_error_naming_the_file_and_the_fix(tokens, tmp_path):
    """A worker that cannot see the run's token file, or a flow that cannot read a worker's result (the
    cache folder not shared): a TextmineError (one line from the CLI), not a traceback."""
    from textmine.models.lda import fit_candidate, read_candidate

    settings = LdaConfig(**FAST).model_dump_json()
    missing = tmp_path / "tokens" / "gone.parquet"
    with pytest.raises(TextmineError, match="cannot be read on this worker") as raised:
        fit_candidate(str(missing), 4, 1, settings, {}, str(tmp_path / "fits" / "a.npz"))
    assert raised.value.file == str(missing) and "run.cache_dir" in raised.value.fix
    with pytest.raises(TextmineError, match="a worker wrote cannot be read here") as raised:
        read_candidate(str(tmp_path / "fits" / "never-written.npz"))
    assert "run.cache_dir" in raised.value.fix


def test_a_fit_task_keeps_a_sample_for_the_next_candidate_but_not_a_whole_large_corpus(tokens, tmp_path,
                                                                                      monkeypatch):
    """The grid's candidates share one token file (kept between them in the worker); a corpus past
    KEEP_BOW_DOCS (the seeds' fits on every document) is not held on in a long-lived worker."""
    import pyarrow as pa

    from textmine.models import lda
    from textmine.text.cache import write_parquet_atomically

    toks, _ = tokens
    path = tmp_path / "tokens.parquet"
    write_parquet_atomically(pa.table({"tokens": pa.array(toks, pa.list_(pa.string()))}), path)
    settings = LdaConfig(**FAST).model_dump_json()
    lda._candidate_corpus.cache_clear()
    lda.fit_candidate(str(path), 4, 1, settings, {}, str(tmp_path / "fits" / "kept.npz"))
    assert lda._candidate_corpus.cache_info().currsize == 1
    monkeypatch.setattr(lda, "KEEP_BOW_DOCS", 10)
    lda._candidate_corpus.cache_clear()
    lda.fit_candidate(str(path), 4, 1, settings, {}, str(tmp_path / "fits" / "large.npz"))
    assert lda._candidate_corpus.cache_info().currsize == 0
    assert lda.read_candidate(str(tmp_path / "fits" / "large.npz")).doc_topic.shape == (len(toks), 4)
