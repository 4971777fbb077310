"""Evaluation: how well a run agrees with the corpus's ground truth, if it has one.

Truth (``truth.json``, docs/contract.md §1) is only read here, never used to fit anything.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from textmine.errors import CorpusError
from textmine.topics import match_topics


def load_truth(corpus_path: str | Path) -> dict | None:
    root = Path(corpus_path)
    path = (root if root.is_dir() else root.parent) / "truth.json"
    if not path.is_file():
        return None
    try:
        truth = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorpusError(f"truth.json is not valid JSON ({exc})", file=path, fix="fix or remove truth.json") from None
    if not isinstance(truth, dict) or not isinstance(truth.get("phase_starts", []), list):
        raise CorpusError("truth.json must be an object with phase_starts, phases and doc_topic", file=path,
                          fix="see docs/contract.md §1 for the truth.json layout")
    return truth


def boundary_error(detected: Sequence[int], planted: Sequence[int], first_period: int | None = None) -> dict:
    """How well detected phase boundaries match the planted ones.

    A phase *boundary* is the start of every phase but the first.  ``detected`` are a run's
    ``phase_starts``, which list the series' first period too (docs/contract.md §3); a truth.json may
    list it as well or give only the boundaries, so both sides are compared after ``first_period``
    (default: the first detected start), and either form of truth scores the same.

    Returns:
        first_period: the period both sides' starts are counted after (None when nothing was detected).
        detected, planted: the boundaries compared (sorted years after ``first_period``).
        exact: whether they are the same boundaries.
        exact_matches: how many planted boundaries were detected in exactly that year.
        mean_abs_year_error: mean over planted boundaries of the distance to the nearest detected phase
            start (the first period included, so a boundary that was missed costs its distance from
            the start of the series); None when there is no planted boundary.
        detected_count, planted_count: how many boundaries each side has.
    """
    starts = sorted(detected)
    first = first_period if first_period is not None else (starts[0] if starts else None)
    boundaries = sorted(d for d in starts if first is None or d > first)
    truth = sorted(p for p in planted if first is None or p > first)
    anchors = sorted(set(boundaries) | ({first} if first is not None else set()))
    errors = [min(abs(p - a) for a in anchors) for p in truth] if anchors else []
    return {
        "first_period": first,
        "detected": boundaries,
        "planted": truth,
        "exact": boundaries == truth,
        "exact_matches": len(set(boundaries) & set(truth)),
        "mean_abs_year_error": float(np.mean(errors)) if errors else None,
        "detected_count": len(boundaries),
        "planted_count": len(truth),
    }


def topic_agreement(doc_ids: Sequence[str], dominant_topics: Sequence[int], truth_labels: dict[str, str]) -> dict:
    """NMI and ARI between each document's most probable topic and its planted label."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    pairs = [(truth_labels[d], int(t)) for d, t in zip(doc_ids, dominant_topics) if d in truth_labels]
    if len(pairs) < 2:
        return {"documents": len(pairs), "nmi": None, "ari": None}
    truth, pred = zip(*pairs)
    return {
        "documents": len(pairs),
        "nmi": round(float(normalized_mutual_info_score(truth, pred)), 4),
        "ari": round(float(adjusted_rand_score(truth, pred)), 4),
    }


def topic_diversity(topic_terms: Sequence[Sequence[str]], top_n: int = 25) -> float:
    """Share of unique words among all topics' top-n words (1 = no overlap)."""
    words = [w for terms in topic_terms for w in list(terms)[:top_n]]
    return len(set(words)) / len(words) if words else 0.0


# Coherence is scored on a seeded sample of at most this many token lists.  On 99,377 synthetic
# opinions (LDA, k = 12) the whole corpus took 3.3 s (c_v) and 17.8 s (c_npmi) per scoring, three
# 20,000-document samples 0.7 s and 4.0 s, and differed from it by at most 0.0018 (c_v 0.8004 vs
# 0.7986-0.7998) and 0.0006 (c_npmi 0.2146 vs 0.2140-0.2144).  Those times are gensim's own window
# counting; with textmine.cooccurrence a 20,000-document sample scores in 0.18 s (c_v) and 0.16 s (c_npmi),
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
    :class:`textmine.cooccurrence.WindowAccumulator` (the same counts as gensim's, 3× to 17× faster), the
    confirmation measure and aggregation from gensim."""
    from gensim.corpora import Dictionary
    from gensim.models import CoherenceModel
    from gensim.topic_coherence.probability_estimation import unique_ids_from_segments

    from textmine.cooccurrence import WindowAccumulator

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


def score_run(truth: dict | None, phases: dict, doc_ids: Sequence[str], dominant: dict[str, np.ndarray],
              quality: dict[str, dict]) -> dict:
    """``evaluation.json``: each model's quality, and where the corpus has truth, its phase-boundary
    error and topic agreement (NMI/ARI) against it."""
    result: dict = {"models": {m: dict(q) for m, q in quality.items()}}
    if truth is None:
        result["truth"] = None
        return result
    result["truth"] = {"phase_starts": truth.get("phase_starts"), "synthetic": truth.get("synthetic", False)}
    for model, entry in phases.items():
        scores = result["models"].setdefault(model, {})
        # Planted phase starts are years: compare only when phases are found on years.
        if truth.get("phase_starts") and all(isinstance(s, int) for s in entry["phase_starts"]):
            scores["phase_boundaries"] = boundary_error(entry["phase_starts"], truth["phase_starts"])
        if model in dominant and truth.get("doc_topic"):
            scores["topic_agreement"] = topic_agreement(doc_ids, dominant[model], truth["doc_topic"])
    return result
