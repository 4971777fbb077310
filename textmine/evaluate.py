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
