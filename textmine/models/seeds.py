"""Seeded topics, the same for every model: what the profile's ``[seed_topics]`` add to a cache key,
how strongly each seed was taken up by its topic, and, for models that cannot be seeded by topic index
(BERTopic's topics are clusters, the DTM ignores word priors), which topic each seed names.

LDA seeds topic i with seed i through word priors (its guided priors are in :mod:`textmine.models.lda`); the
rest is model-independent.
"""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

log = logging.getLogger(__name__)

# Prior of a seed word in its own topic (``lda.seed_weight``): pseudo-counts of the word there, on both
# LDA engines.  Measured on the synthetic corpus (598 opinions, two seeds, k 8 and 12, three RNG seeds
# each, default passes/sweeps): every weight from 0.1 to 20 put the seed words
# in their topic's top 10 (mean share 0.78-1.00; unseeded, the best-matching topic had 0.56-1.00), and the seeded topic matched the planted one (F1 0.66-0.94; unseeded best match 0.48-0.86);
# 1.0 had the best or equal c_npmi at k=12 on both engines (gensim 0.193 vs 0.175 unseeded, tomotopy
# 0.216 vs 0.195); 20 forces the seed words up a little more (ranks 1-5 instead of 1-8), no more coherent.
SEED_WEIGHT = 1.0
# A seed word's prior in the other topics: this share of the symmetric prior (the guided-LDA recipe),
# so its occurrences gather in the seeded topic instead of spreading over all of them.
SEED_OTHER_FACTOR = 0.01
SEED_TOP = 10  # a seed is taken up when at least one of its words is among its topic's top 10


def seed_weight(config) -> float:
    """The seed words' prior in their own topic (``lda.seed_weight``; the default without the setting)."""
    return float(getattr(config, "seed_weight", SEED_WEIGHT))


def seed_settings(seed_topics: dict, config=None) -> dict:
    """What seeds add to a model's cache key: nothing without seeds (so unseeded keys never move)."""
    if not seed_topics:
        return {}
    out = {"seed_topics": [[name, list(words)] for name, words in seed_topics.items()]}
    return out | ({"seed_weight": seed_weight(config), "seed_other_factor": SEED_OTHER_FACTOR}
                  if config is not None else {})


def _ranks(row: np.ndarray) -> np.ndarray:
    """1-based rank of every word in one topic's weights (ties by word position: deterministic)."""
    order = np.argsort(-row, kind="stable")
    rank = np.empty(len(row), dtype=int)
    rank[order] = np.arange(1, len(row) + 1)
    return rank


def seed_uptake(topic_word: np.ndarray, vocabulary: Sequence[str], seed_topics: dict, assigned: dict,
                how: str = "seeded", top: int = SEED_TOP) -> dict:
    """How strongly each seed was taken up by the topic it was given (``assigned``: name -> topic or None).

    Per seed: its topic, each seed word's rank in that topic's word weights (None for a word outside
    the modelling vocabulary, listed in ``not_in_vocabulary``), the share of its in-vocabulary words
    among the topic's top ``top`` words, and ``taken_up`` (at least one of them there): only then is
    the topic labelled with the seed's name.  Model-independent (LDA, BERTopic, DTM).
    """
    position = {w: i for i, w in enumerate(vocabulary)}
    out = {}
    for name, words in seed_topics.items():
        known = [w for w in words if w in position]
        topic = assigned.get(name)
        entry = {"topic": None if topic is None else int(topic), "how": how, "words": list(words),
                 "not_in_vocabulary": [w for w in words if w not in position]}
        if topic is None or not known:
            out[name] = entry | {"ranks": {w: None for w in words}, f"share_in_top{top}": 0.0, "taken_up": False,
                                 "label": None}
            continue
        rank = _ranks(topic_word[topic])
        ranks = {w: int(rank[position[w]]) if w in position else None for w in words}
        hits = sum(1 for w in known if ranks[w] <= top)
        out[name] = entry | {"ranks": ranks, f"share_in_top{top}": round(hits / len(known), 4),
                             "taken_up": hits > 0, "label": name if hits > 0 else None}
    return out


def match_seeds(topic_word: np.ndarray, vocabulary: Sequence[str], seed_topics: dict,
                top: int = SEED_TOP) -> dict:
    """For a model that cannot be seeded by topic index (BERTopic's topics are clusters, DTM ignores word
    priors): each seed's best topic by its words' ranks there (mean reciprocal rank), one topic per seed,
    best matches first; None when no topic has any of its words in its top ``top``."""
    position = {w: i for i, w in enumerate(vocabulary)}
    ranks = [_ranks(row) for row in topic_word]
    candidates = []
    for name, words in seed_topics.items():
        known = [position[w] for w in words if w in position]
        for t, rank in enumerate(ranks):
            if known and min(rank[i] for i in known) <= top:
                candidates.append((-float(np.mean([1.0 / rank[i] for i in known])), t, name))
    out: dict = {name: None for name in seed_topics}
    taken: set[int] = set()
    for _, t, name in sorted(candidates, key=lambda c: (c[0], c[1], list(seed_topics).index(c[2]))):
        if out[name] is None and t not in taken:
            out[name] = t
            taken.add(t)
    return out


def seed_names(uptake: dict) -> dict[int, str]:
    """Topic -> seed name, for the seeds that were taken up (:attr:`FittedTopics.seed_names`)."""
    return {e["topic"]: name for name, e in uptake.items() if e["taken_up"]}


def log_unknown_seed_words(model: str, uptake: dict) -> None:
    """Seed words outside the modelling vocabulary are reported, not an error."""
    for name, entry in uptake.items():
        if entry["not_in_vocabulary"]:
            log.warning(
                "%s: seed topic '%s': %s not in the modelling vocabulary (too rare or too common, a stopword, or "
                "written differently from the tokens)", model, name, ", ".join(entry["not_in_vocabulary"]))
