"""Sliding-window counts: equal to gensim's own accumulator, slide quirk included, and the scores with them."""
import numpy as np
import pytest
from gensim.corpora import Dictionary
from gensim.models import CoherenceModel
from gensim.topic_coherence.text_analysis import WordOccurrenceAccumulator

from textmine.models import cooccurrence
from textmine.models.cooccurrence import WindowAccumulator, window_counts

RELEVANT = ["진로", "상담", "취업", "졸업생", "실습", "지역"]
OTHER = ["강화", "필요", "운영"]
UNKNOWN = "사전에없는말"  # in the texts, not in the dictionary


def _random_docs(seed: int, n: int = 60, max_len: int = 40) -> list[list[str]]:
    """Few words, so the same word often sits twice in a window (the case gensim's slide gets odd)."""
    rng = np.random.default_rng(seed)
    words = RELEVANT + OTHER + [UNKNOWN]
    return [list(rng.choice(words, size=rng.integers(0, max_len + 1))) for _ in range(n)] + [[]]


def _around(window: int, seed: int) -> list[list[str]]:
    """Documents one shorter than the window, as long as it, and one longer."""
    rng = np.random.default_rng(seed)
    return [list(rng.choice(RELEVANT + OTHER, size=n)) for n in (max(window - 1, 0), window, window + 1)]


def _both(docs, window):
    dictionary = Dictionary([RELEVANT + OTHER])
    ids = {dictionary.token2id[w] for w in RELEVANT}
    theirs = WordOccurrenceAccumulator(ids, dictionary).accumulate(iter(docs), window)
    ours = WindowAccumulator(ids, dictionary).accumulate(docs, window)
    return theirs, ours


@pytest.mark.parametrize("window", [1, 2, 3, 5, 10, 110])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_counts_equal_gensims_accumulator(seed, window):
    docs = _random_docs(seed, max_len=max(40, 2 * window + 20)) + _around(window, seed)  # short and long
    theirs, ours = _both(docs, window)
    assert ours.num_docs == theirs.num_docs
    assert np.array_equal(ours._occurrences, theirs._occurrences) and ours._occurrences.dtype == np.uint32
    assert np.array_equal(ours._co_occurrences.toarray(), theirs._co_occurrences.toarray())
    assert ours._co_occurrences.dtype == theirs._co_occurrences.dtype


def test_the_slide_drops_a_word_that_leaves_while_it_is_still_inside():
    """gensim's own behaviour, kept: 진로 at 0 and 1; the window 1..2 still holds 진로, but sliding off
    position 0 removed it."""
    occurrences, pairs, n_windows = window_counts([["진로", "진로", "상담"]], {"진로": 0, "상담": 1}, 2, window=2)
    assert n_windows == 2
    assert occurrences.tolist() == [1, 1] and pairs[0, 1] == 0
    theirs, ours = _both([["진로", "진로", "상담"]], 2)
    assert np.array_equal(ours._occurrences, theirs._occurrences)


@pytest.mark.parametrize("batch", [7, 300], ids=["documents-alone", "several-documents"])
def test_documents_run_in_batches_give_the_same_counts(monkeypatch, batch):
    docs = _random_docs(3, n=40, max_len=60)
    word_ids = {w: i for i, w in enumerate(RELEVANT)}
    whole = window_counts(docs, word_ids, len(RELEVANT), 10)
    calls = []
    real = cooccurrence._pair_counts
    monkeypatch.setattr(cooccurrence, "_pair_counts", lambda doc, *a: calls.append(len(set(doc))) or real(doc, *a))
    monkeypatch.setattr(cooccurrence, "ENTRIES_PER_BATCH", batch)
    batched = window_counts(docs, word_ids, len(RELEVANT), 10)
    assert whole[2] == batched[2] and np.array_equal(whole[0], batched[0])
    assert np.array_equal(whole[1].toarray(), batched[1].toarray())
    documents_counted = sum(1 for d in docs if set(d) & set(RELEVANT))
    assert sum(calls) == documents_counted
    if batch == 7:  # every document holds more than 7 entries: each is a batch of its own
        assert calls == [1] * documents_counted
    else:
        assert 1 < len(calls) < documents_counted


@pytest.mark.parametrize("docs", [[], [[]], [["강화", "필요"]], [[], ["운영"]]], ids=["none", "empty", "no-relevant",
                                                                                      "empty-and-irrelevant"])
def test_nothing_to_count(docs):
    occurrences, pairs, n_windows = window_counts(docs, {w: i for i, w in enumerate(RELEVANT)}, len(RELEVANT), 10)
    assert n_windows == len(docs) and not occurrences.any() and pairs.nnz == 0
    if docs:
        theirs, ours = _both(docs, 10)
        assert ours.num_docs == theirs.num_docs


def test_a_window_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        window_counts([["진로"]], {"진로": 0}, 1, 0)


@pytest.mark.parametrize("measure", ["c_v", "c_npmi", "c_uci"])
def test_coherence_scores_are_gensims_to_the_last_bit(measure):
    from textmine.models import quality

    docs = _random_docs(4, n=200, max_len=300)  # windows of 10 and 110 slide over most documents
    topics = [["진로", "상담", "강화"], ["취업", "졸업생", "지역"], ["실습", "운영", "필요"]]
    dictionary = Dictionary(docs)
    plain = CoherenceModel(topics=topics, texts=docs, dictionary=dictionary, coherence=measure, processes=1)
    assert quality.coherence(None, docs, dictionary, topics, measure, seed=0) == round(float(plain.get_coherence()), 4)
    # Unrounded too: the counts are the same, so is every float gensim derives from them.
    assert quality.coherence_unrounded(docs, dictionary, topics, measure) == plain.get_coherence()


def test_coherence_counts_with_the_window_accumulator_not_gensims(monkeypatch):
    """The scores alone could not tell: gensim would compute the same ones itself."""
    from gensim.topic_coherence import text_analysis

    from textmine.models import quality

    def refuse(self, texts, window_size):
        raise AssertionError("gensim's own window counting ran")

    monkeypatch.setattr(text_analysis.WordOccurrenceAccumulator, "accumulate", refuse)
    docs = _random_docs(5)
    for measure in sorted(quality.WINDOW_MEASURES):
        quality.coherence_unrounded(docs, None, [RELEVANT[:3], RELEVANT[3:]], measure)
    with pytest.raises(AssertionError, match="gensim's own"):  # the patch does bite where gensim counts
        CoherenceModel(topics=[RELEVANT[:3]], texts=docs, dictionary=Dictionary(docs), coherence="c_npmi",
                       processes=1).get_coherence()


def test_partial_accumulation_is_refused():
    dictionary = Dictionary([RELEVANT])
    with pytest.raises(NotImplementedError, match="one accumulate"):
        WindowAccumulator(set(dictionary.token2id.values()), dictionary).partial_accumulate([["진로"]], 10)
