"""Global gensim LDA: invariants, bounds and exact reproducibility."""
import numpy as np
import pytest

from textmine.config import LdaConfig
from textmine.corpus import load_corpus
from textmine.errors import TextmineError
from textmine.lda import fit_global_lda
from textmine.tokenize import load_profile, tokenize_texts
from textmine.config import TokenizeConfig


@pytest.fixture(scope="module")
def tokens(small_synth):
    docs = load_corpus(small_synth).modelling_docs()
    return tokenize_texts(docs["text"].tolist(), load_profile(), TokenizeConfig(), 2)


def test_invariants(tokens):
    result = fit_global_lda(tokens, LdaConfig(num_topics=8, passes=3), seed=1)
    assert result.doc_topic.shape == (len(tokens), 8)
    np.testing.assert_allclose(result.doc_topic.sum(axis=1), 1.0, atol=1e-6)
    assert result.topic_sizes.sum() == len(tokens)
    assert all(len(terms) == 10 for terms in result.topic_terms)
    assert all(0 < w <= 1 for terms in result.topic_terms for _, w in terms)
    assert len(set(result.labels())) > 4


def test_same_seed_identical_other_seed_different(tokens):
    config = LdaConfig(num_topics=6, passes=2)
    a = fit_global_lda(tokens, config, seed=5)
    b = fit_global_lda(tokens, config, seed=5)
    c = fit_global_lda(tokens, config, seed=6)
    assert np.array_equal(a.doc_topic, b.doc_topic)
    assert a.topic_terms == b.topic_terms
    assert not np.array_equal(a.doc_topic, c.doc_topic)


def test_too_few_documents():
    with pytest.raises(TextmineError, match="cannot support"):
        fit_global_lda([["상담", "체계"]] * 3, LdaConfig(num_topics=5), seed=1)


def test_no_vocabulary_left():
    with pytest.raises(TextmineError, match="no vocabulary"):
        fit_global_lda([["상담"]] * 20, LdaConfig(num_topics=2, no_above=0.5), seed=1)
