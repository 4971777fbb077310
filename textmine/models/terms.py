"""Topic terms, the same for every model: the modelling dictionary, each topic's top terms by weight and
by LDAvis relevance (its distinctive words, the source of its label).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from textmine.core.errors import TextmineError


def build_dictionary(token_lists: Sequence[Sequence[str]], config):
    """A gensim Dictionary of the tokens with the vocabulary rules of ``config`` (``no_below``, ``no_above``,
    ``keep_n``: LDA's settings, which the DTM's vocabulary follows too)."""
    from gensim.corpora import Dictionary

    dictionary = Dictionary(token_lists)
    n_docs = len(token_lists)
    # On small corpora a fixed no_below would wipe the vocabulary out: scale it down.
    no_below = min(config.no_below, max(1, n_docs // 50))
    dictionary.filter_extremes(no_below=no_below, no_above=config.no_above, keep_n=config.keep_n)
    if len(dictionary) == 0:
        raise TextmineError(
            f"no vocabulary left to model: {n_docs} documents, and every word is too rare or too common",
            fix="add documents, or lower lda.no_below / raise lda.no_above",
        )
    return dictionary


def dictionary_from_vocabulary(vocabulary: Sequence[str]):
    """A gensim Dictionary holding exactly ``vocabulary`` (ids in its order), e.g. read back from disk."""
    from gensim.corpora import Dictionary

    dictionary = Dictionary()
    dictionary.token2id = {w: i for i, w in enumerate(vocabulary)}
    dictionary.id2token = dict(enumerate(vocabulary))
    return dictionary


def vocabulary_of(dictionary) -> list[str]:
    """The dictionary's words in id order."""
    return [dictionary[i] for i in range(len(dictionary))]


def top_terms(topic_word: np.ndarray, vocab: Sequence[str], topn: int) -> list[list[tuple[str, float]]]:
    """Each topic's ``topn`` most probable words with p(w|t) (ties by word id: deterministic)."""
    order = np.argsort(-topic_word, axis=1, kind="stable")[:, :topn]
    return [[(vocab[i], float(topic_word[t, i])) for i in row] for t, row in enumerate(order)]


def relevance_terms(topic_word: np.ndarray, term_prob: np.ndarray, vocab: Sequence[str], lam: float,
                    topn: int) -> list[list[str]]:
    """LDAvis relevance ranking (Sievert & Shirley 2014)."""
    with np.errstate(divide="ignore"):
        rel = lam * np.log(topic_word) + (1 - lam) * np.log(topic_word / term_prob[None, :])
    order = np.argsort(-rel, axis=1, kind="stable")[:, :topn]
    return [[vocab[i] for i in row] for row in order]


def relevant_terms(topic_word: np.ndarray, doc_topic: np.ndarray, lengths: np.ndarray, vocab: Sequence[str],
                   lam: float, topn: int) -> list[list[str]]:
    """Each topic's ``topn`` most relevant words, p(w) taken under the model: the topics' token mass
    (``doc_topic`` rows weighted by the documents' ``lengths``) times p(w|t).  Unlike raw counts it is
    never zero, which matters for per-year models whose year lacks words of the shared dictionary."""
    k = topic_word.shape[0]
    topic_mass = (doc_topic * np.asarray(lengths, dtype=float)[:, None]).sum(axis=0)
    topic_mass = topic_mass / topic_mass.sum() if topic_mass.sum() else np.full(k, 1 / k)
    term_prob = topic_mass @ topic_word
    return relevance_terms(np.clip(topic_word, 1e-12, None), np.clip(term_prob, 1e-12, None), vocab, lam, topn)
