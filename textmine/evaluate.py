"""Evaluation: how well a run agrees with the corpus's ground truth, if it has one.

Truth (``truth.json``, SPEC §1) is only read here, never used to fit anything.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from textmine.errors import CorpusError


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
                          fix="see SPEC §1 for the truth.json layout")
    return truth


def boundary_error(detected: Sequence[int], planted: Sequence[int]) -> dict:
    """Exact matches, and the mean absolute error in years of each planted start to the nearest detected one."""
    detected, planted = sorted(detected), sorted(planted)
    errors = [min(abs(p - d) for d in detected) for p in planted] if detected else []
    return {
        "detected": detected,
        "planted": planted,
        "exact": detected == planted,
        "exact_matches": len(set(detected) & set(planted)),
        "mean_abs_year_error": float(np.mean(errors)) if errors else None,
        "detected_count": len(detected),
        "planted_count": len(planted),
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


def coherence(model, token_lists, dictionary, topic_terms: Sequence[Sequence[str]], measure: str, seed: int) -> float:
    """gensim CoherenceModel over the model's own tokens (c_v, c_npmi...)."""
    from gensim.models import CoherenceModel

    np.random.seed(seed)  # c_v's sliding windows are deterministic, but keep any sampling fixed
    cm = CoherenceModel(topics=[list(t) for t in topic_terms], texts=token_lists, dictionary=dictionary,
                        coherence=measure, processes=1)
    return round(float(cm.get_coherence()), 4)


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


def topic_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1 - Jensen-Shannon distance (base 2) between every row of ``a`` and of ``b`` (topic-word distributions)."""
    a = a / a.sum(axis=1, keepdims=True)
    b = b / b.sum(axis=1, keepdims=True)
    out = np.empty((a.shape[0], b.shape[0]))
    for i, p in enumerate(a):  # row by row keeps memory at (topics × vocabulary)
        m = (p[None, :] + b) / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            kl_p = np.where(p > 0, p * np.log2(p / m), 0.0).sum(axis=1)
            kl_q = np.where(b > 0, b * np.log2(b / m), 0.0).sum(axis=1)
        out[i] = 1.0 - np.sqrt(np.clip((kl_p + kl_q) / 2, 0.0, 1.0))
    return out


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity between rows of ``a`` and ``b``: separates matching topics of separately
    fitted models better than Jensen-Shannon, whose smoothing mass makes all topics look alike."""
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return a @ b.T


def match_topics(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best one-to-one matching of ``a``'s topics to ``b``'s (Hungarian): (match index per a-topic, similarity)."""
    from scipy.optimize import linear_sum_assignment

    sim = topic_similarity(a, b)
    rows, cols = linear_sum_assignment(-sim)
    match = np.full(a.shape[0], -1)
    match[rows] = cols
    sims = np.zeros(a.shape[0])
    sims[rows] = sim[rows, cols]
    return match, sims


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
    central = int(np.argmax(per_run))  # argmax takes the first on ties: deterministic
    return {
        "mean": round(float(pair[~np.eye(n, dtype=bool)].mean()), 4),
        "central": central,
        "per_topic": [round(float(v), 4) for v in np.mean(per_topic[central], axis=0)],
        "per_run": [round(float(v), 4) for v in per_run],
    }
