"""Topic quality, the one way every model scores its topics: coherence (c_v, c_npmi over the model's
own tokens), diversity of the top words, stability across seeds, and the evaluation.json entries built
from them.

:func:`score_topics` is the triple every model reports and every grid (LDA's k, BERTopic's cluster
size, the DTM's k) selects on; :func:`quality_summary` is the shape evaluation.json gives it.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from textmine.models.topics import match_topics


def topic_diversity(topic_terms: Sequence[Sequence[str]], top_n: int = 25) -> float:
    """Share of unique words among all topics' top-n words (1 = no overlap)."""
    words = [w for terms in topic_terms for w in list(terms)[:top_n]]
    return len(set(words)) / len(words) if words else 0.0


# Coherence is scored on a seeded sample of at most this many token lists.  On 99,377 synthetic
# opinions (LDA, k = 12) the whole corpus took 3.3 s (c_v) and 17.8 s (c_npmi) per scoring, three
# 20,000-document samples 0.7 s and 4.0 s, and differed from it by at most 0.0018 (c_v 0.8004 vs
# 0.7986-0.7998) and 0.0006 (c_npmi 0.2146 vs 0.2140-0.2144).  Those times are gensim's own window
# counting; with textmine.models.cooccurrence a 20,000-document sample scores in 0.18 s (c_v) and 0.16 s (c_npmi),
# against gensim's 0.56 s and 2.60 s (benchmarks/bench_coherence.py, 100k corpus, 12 planted topics).
COHERENCE_MAX_DOCS = 20_000


def coherence(model, token_lists, dictionary, topic_terms: Sequence[Sequence[str]], measure: str, seed: int) -> float:
    """gensim's coherence over the model's own tokens (c_v, c_npmi...), to 4 decimals; past
    COHERENCE_MAX_DOCS documents over a sample of them drawn with ``seed``.

    ``dictionary=None`` scores with a dictionary of the topics' words alone.  gensim counts only those
    words' occurrences in sliding windows, so the scores are equal (checked exactly for c_v, c_npmi,
    u_mass and c_uci on 5,000 opinions), without a pass over the corpus to build one: 2.3 s at 30,000
    opinions for a model (BERTopic) that needs no dictionary of its own.
    """
    return round(coherence_unrounded(coherence_sample(token_lists, seed), dictionary, topic_terms, measure), 4)


def coherence_sample(token_lists: Sequence, seed: int) -> Sequence:
    """The token lists coherence is scored on: all of them, or past COHERENCE_MAX_DOCS a sample drawn
    with ``seed``, in corpus order."""
    if len(token_lists) <= COHERENCE_MAX_DOCS:
        return token_lists
    keep = np.sort(np.random.default_rng(seed).choice(len(token_lists), COHERENCE_MAX_DOCS, replace=False))
    return [token_lists[i] for i in keep]


# gensim's measures that count words in sliding windows (gensim.models.coherencemodel.SLIDING_WINDOW_SIZES
# less c_w2v, which compares word vectors).
WINDOW_MEASURES = frozenset({"c_v", "c_npmi", "c_uci"})


def coherence_unrounded(token_lists, dictionary, topic_terms: Sequence[Sequence[str]], measure: str) -> float:
    """gensim's ``CoherenceModel`` score; for the sliding-window measures the window counts come from
    :class:`textmine.models.cooccurrence.WindowAccumulator` (the same counts as gensim's, 3× to 17× faster), the
    confirmation measure and aggregation from gensim."""
    from gensim.corpora import Dictionary
    from gensim.models import CoherenceModel
    from gensim.topic_coherence.probability_estimation import unique_ids_from_segments

    from textmine.models.cooccurrence import WindowAccumulator

    if dictionary is None:
        dictionary = Dictionary([sorted({word for terms in topic_terms for word in terms})])
    cm = CoherenceModel(topics=[list(t) for t in topic_terms], texts=token_lists, dictionary=dictionary,
                        coherence=measure, processes=1)
    if measure in WINDOW_MEASURES:
        relevant = unique_ids_from_segments(cm.segment_topics())
        cm._accumulator = WindowAccumulator(relevant, dictionary).accumulate(token_lists, cm.window_size)
    return float(cm.get_coherence())


def scaled_scores(rows: list[dict], metrics: dict[str, int]) -> np.ndarray:
    """Mean of min-max-scaled metrics per row (sign -1: lower is better), stored as ``row["score"]``.

    Used to choose among fitted candidates (LDA's k, BERTopic's min_cluster_size); a metric that
    is missing everywhere is skipped, one missing in a row scores 0 there.
    """
    scores = np.zeros(len(rows))
    for m, sign in metrics.items():
        values = np.array([sign * r[m] if r.get(m) is not None else np.nan for r in rows], dtype=float)
        if np.all(np.isnan(values)):
            continue
        lo, hi = np.nanmin(values), np.nanmax(values)
        scores += np.nan_to_num((values - lo) / (hi - lo) if hi > lo else np.ones_like(values))
    scores /= len(metrics)
    for r, s in zip(rows, scores):
        r["score"] = round(float(s), 4)
    return scores


def seed_stability(topic_words: list[np.ndarray]) -> dict:
    """Agreement of models fitted with different seeds.

    For each pair of runs, topics are matched one to one; a run's score is its
    mean matched similarity to the other runs.  The *central* run (highest
    score) is the one to keep; its per-topic stability is each topic's mean
    best-match similarity in the other runs.
    """
    n = len(topic_words)
    if n < 2:
        k = topic_words[0].shape[0]
        return {"mean": None, "central": 0, "per_topic": [None] * k, "per_run": [None]}
    pair = np.zeros((n, n))
    per_topic = {i: [] for i in range(n)}
    for i in range(n):
        for j in range(n):
            if i != j:
                _, sims = match_topics(topic_words[i], topic_words[j])
                pair[i, j] = sims.mean()
                per_topic[i].append(sims)
    per_run = pair.sum(axis=1) / (n - 1)
    # Rounded so that runs equal up to float noise tie, and argmax takes the first: deterministic.
    central = int(np.argmax(np.round(per_run, 9)))
    return {
        "mean": round(float(pair[~np.eye(n, dtype=bool)].mean()), 4),
        "central": central,
        "per_topic": [round(float(v), 4) for v in np.mean(per_topic[central], axis=0)],
        "per_run": [round(float(v), 4) for v in per_run],
    }


def score_topics(token_lists, dictionary, terms: Sequence[Sequence[str]], seed: int,
                 diversity_terms: Sequence[Sequence[str]] | None = None, coherence_too: bool = True) -> dict:
    """c_v and c_npmi of ``terms`` over the tokens the model saw, and the diversity of ``diversity_terms``
    (each topic's top words; ``terms`` when not given), to 4 decimals.  Coherence is None when not asked
    for (``coherence_too=False``: a grid row that need not be scored, the slow part) or with no terms;
    ``dictionary`` None scores over a dictionary of the topics' words alone (see :func:`coherence`)."""
    scored = coherence_too and len(terms) > 0
    sample = coherence_sample(token_lists, seed) if scored else None  # drawn once for both measures
    return {
        "c_v": round(coherence_unrounded(sample, dictionary, terms, "c_v"), 4) if scored else None,
        "c_npmi": round(coherence_unrounded(sample, dictionary, terms, "c_npmi"), 4) if scored else None,
        "diversity": round(topic_diversity(terms if diversity_terms is None else diversity_terms), 4),
    }


def quality_summary(num_topics: int, selected_by: str, seed: int, scores: dict, stability: dict, seeds: int,
                    selection: list[dict], **extra) -> dict:
    """The evaluation.json entries every model reports, in one shape (``scores`` from :func:`score_topics`)."""
    return {
        "num_topics": num_topics, "selected_by": selected_by, "seed": seed,
        "coherence_c_v": scores.get("c_v"), "coherence_c_npmi": scores.get("c_npmi"),
        "topic_diversity": scores.get("diversity"),
        "stability": {"mean": stability.get("mean"), "per_topic": stability.get("per_topic"), "seeds": seeds},
        "k_selection": selection, **extra,
    }
