"""Evaluation: how well a run agrees with the corpus's ground truth, if it has one.

Truth (``truth.json``, docs/contract.md §1) is only read here, never used to fit anything.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from textmine.core.errors import CorpusError


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
