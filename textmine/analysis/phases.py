"""Phase detection: change points on the year × topic-share matrix.

A phase is a run of consecutive years whose topic mix is roughly constant.
Detectors follow the sklearn habit (``fit`` then read fitted attributes) behind
a small base class so other methods can be swapped in.

The default, :class:`SegmentationDetector`, finds the optimal partition into K
contiguous segments by dynamic programming, minimising the within-segment
squared error of Hellinger-transformed shares (square roots of proportions,
which steadies the variance of small and large shares alike).  K is chosen by
the Bayesian information criterion unless fixed: each segment costs one mean
per topic plus one change point, under a Gaussian model of the transformed
shares whose noise variance is estimated once, robustly, from year-to-year
differences (estimating it from each fit instead lets extra segments "explain"
noise and over-segments short series).
"""
from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from textmine.analysis.align import bootstrap_shares, share_matrix
from textmine.core.errors import TextmineError
from textmine.core.registry import PHASE_DETECTORS


@dataclass
class PhaseDetector(ABC):
    """Fit on a (periods × topics) share matrix; read ``starts_`` (period indices) and ``n_phases_``.

    Subclasses search for boundaries; the settings, the Hellinger transform, the checks and the
    BIC choice of the number of phases are shared here."""

    n_phases: int | str = "auto"
    min_size: int = 2
    max_phases: int = 6
    scores_: dict[int, dict[str, float]] = field(default_factory=dict, init=False)

    @abstractmethod
    def fit(self, shares: np.ndarray) -> "PhaseDetector": ...

    def _prepare(self, shares: np.ndarray) -> tuple[np.ndarray, int, int]:
        """(Hellinger-transformed shares, most phases to consider, least periods per phase)."""
        x = np.sqrt(np.clip(np.asarray(shares, dtype=float), 0, None))
        n = x.shape[0]
        # With too few periods to split, "auto" finds one phase; a fixed count that cannot fit is an error.
        k_max = max(1, min(self.max_phases, n // self.min_size)) if self.n_phases == "auto" else int(self.n_phases)
        if self.n_phases != "auto" and (k_max < 1 or n < self.min_size * k_max):
            raise TextmineError(
                f"{n} periods cannot hold {self.n_phases} phases of at least {self.min_size} periods",
                fix="use fewer phases (--phases), a smaller phases.min_size, or a finer time unit",
            )
        self.noise_variance_ = noise_variance(x)
        return x, k_max, (self.min_size if n >= self.min_size else n)

    def _choose(self, sse: dict[int, float], x: np.ndarray) -> int:
        """Score each candidate number of phases by BIC and return the chosen (or fixed) number."""
        n, d = x.shape
        self.scores_ = {k: {"sse": float(v), "bic": float(v / self.noise_variance_ + (k * d + (k - 1)) * math.log(n * d))}
                        for k, v in sse.items() if np.isfinite(v)}
        if self.n_phases == "auto":
            return min(self.scores_, key=lambda k: (self.scores_[k]["bic"], k))
        return int(self.n_phases)


def _segment_costs(x: np.ndarray) -> np.ndarray:
    """cost[i, j] = squared error of rows i..j-1 around their mean."""
    n = x.shape[0]
    csum = np.vstack([np.zeros(x.shape[1]), np.cumsum(x, axis=0)])
    csq = np.concatenate([[0.0], np.cumsum((x ** 2).sum(axis=1))])
    cost = np.full((n + 1, n + 1), np.inf)
    for i in range(n):
        for j in range(i + 1, n + 1):
            s = csum[j] - csum[i]
            cost[i, j] = (csq[j] - csq[i]) - (s @ s) / (j - i)
    return cost


def noise_variance(x: np.ndarray) -> float:
    """Year-to-year noise variance, robust to the few jumps between phases.

    Differences of consecutive rows have variance 2σ² within a phase; a change
    point adds a jump to one difference only, so a median-based spread (MAD)
    of the differences ignores it.  Pooled over topics; floored so a perfectly
    flat matrix does not divide by zero.
    """
    if x.shape[0] < 3:
        return 1e-4
    diffs = np.diff(x, axis=0)
    mad = np.median(np.abs(diffs - np.median(diffs, axis=0)), axis=0) * 1.4826
    return float(max(np.mean(mad ** 2) / 2, 1e-6))


class SegmentationDetector(PhaseDetector):
    """The optimal partition into K contiguous segments (dynamic programming)."""

    def fit(self, shares: np.ndarray) -> "SegmentationDetector":
        x, k_max, min_size = self._prepare(shares)
        n = x.shape[0]
        cost = _segment_costs(x)
        # best[k][j]: least cost of splitting rows 0..j-1 into k segments; back[k][j]: last start.
        best = np.full((k_max + 1, n + 1), np.inf)
        back = np.zeros((k_max + 1, n + 1), dtype=int)
        best[0, 0] = 0.0
        for k in range(1, k_max + 1):
            for j in range(k * min_size, n + 1):
                starts = np.arange((k - 1) * min_size, j - min_size + 1)
                totals = best[k - 1, starts] + cost[starts, j]
                idx = int(np.argmin(totals))  # argmin takes the earliest on ties: deterministic
                best[k, j], back[k, j] = totals[idx], starts[idx]
        self.n_phases_ = self._choose({k: best[k, n] for k in range(1, k_max + 1)}, x)
        starts, j = [], n
        for k in range(self.n_phases_, 0, -1):
            i = int(back[k, j])
            starts.append(i)
            j = i
        self.starts_ = sorted(starts)
        return self


class BinarySegmentationDetector(PhaseDetector):
    """Greedy binary segmentation: split the segment whose best split lowers the error most, again and
    again; the number of phases by the same BIC as :class:`SegmentationDetector` unless fixed.

    The classic change-point heuristic: not optimal (an early split is never revisited), but each
    step is easy to explain, and it agrees with the optimal partition when phases are distinct.
    """

    def fit(self, shares: np.ndarray) -> "BinarySegmentationDetector":
        x, k_max, min_size = self._prepare(shares)
        n = x.shape[0]
        cost = _segment_costs(x)
        starts, path = [0], {1: [0]}
        while len(starts) < k_max:
            bounds = starts + [n]
            best = None  # (gain, split)
            for a, b in zip(bounds[:-1], bounds[1:]):
                for s in range(a + min_size, b - min_size + 1):
                    gain = cost[a, b] - cost[a, s] - cost[s, b]
                    if best is None or gain > best[0] + 1e-12:
                        best = (gain, s)
            if best is None:
                break
            starts = sorted(starts + [best[1]])
            path[len(starts)] = list(starts)
        sse = {k: sum(cost[a, b] for a, b in zip(st, st[1:] + [n])) for k, st in path.items()}
        self.n_phases_ = self._choose(sse, x)
        self.starts_ = path[self.n_phases_]
        return self


def make_detector(method: str, n_phases: int | str, min_size: int, max_phases: int) -> PhaseDetector:
    """The detector named by ``phases.method`` (registry :data:`textmine.core.registry.PHASE_DETECTORS`)."""
    return PHASE_DETECTORS.get(method)(n_phases=n_phases, min_size=min_size, max_phases=max_phases)


@dataclass
class Phase:
    start: int
    end: int
    label: str
    top_terms: list[str]
    characteristic_topics: list[dict]


def characterise_phases(matrix: pd.DataFrame, starts: Sequence[int], topic_terms: dict[int, list[str]],
                        labels: dict[int, str], n_topics: int = 2, n_terms: int = 8) -> list[Phase]:
    """Each phase's characteristic topics: those whose share rises most against the other phases."""
    years = list(matrix.index)
    bounds = list(starts) + [len(years)]
    phases = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        inside = matrix.iloc[a:b].mean(axis=0)
        outside = matrix.drop(index=matrix.index[a:b]).mean(axis=0) if b - a < len(years) else inside * 0
        lift = (inside - outside).sort_values(ascending=False)
        chosen = [t for t in lift.index[:n_topics] if lift[t] > 0] or [lift.index[0]]
        terms: list[str] = []
        for t in chosen:
            terms += [w for w in topic_terms[t] if w not in terms]
        label = " / ".join("·".join(topic_terms[t][:2]) for t in chosen)
        phases.append(Phase(
            start=_plain(years[a]), end=_plain(years[b - 1]), label=label, top_terms=terms[:n_terms],
            characteristic_topics=[{"topic": int(t), "label": labels[t], "share_inside": round(float(inside[t]), 4),
                                    "share_outside": round(float(outside[t]), 4)} for t in chosen],
        ))
    return phases


def boundary_confidence(starts: Sequence[int], replicates: Sequence[Sequence[int]], tolerance: int) -> list[float]:
    """For each start (a period position), the share of replicates that place a start within
    ``tolerance`` periods of it.  The first start (the beginning of the series) is certain."""
    out = []
    for i, start in enumerate(starts):
        if i == 0 or not replicates:
            out.append(1.0)
            continue
        hits = sum(any(abs(r - start) <= tolerance for r in rep[1:]) for rep in replicates)
        out.append(round(hits / len(replicates), 3))
    return out


def detect_phases(matrix: pd.DataFrame, n_phases: int | str, min_size: int, max_phases: int,
                  topic_terms: dict[int, list[str]], labels: dict[int, str],
                  replicates: Sequence[np.ndarray] = (), tolerance: int = 1, method: str = "segmentation") -> dict:
    """Phases of one model as the ``phases.json`` entry for it.

    ``matrix`` is periods × topics (index: period labels in order).  ``replicates``
    are resampled share matrices (bootstrap of documents within periods, for each
    seed's model); the same detector, with the same rule for the number of
    phases, runs on each, and every boundary's confidence is the share of
    replicates that agree with it within ``tolerance`` periods.
    """
    detector = make_detector(method, n_phases, min_size, max_phases).fit(matrix.to_numpy())
    phases = characterise_phases(matrix, detector.starts_, topic_terms, labels)
    rep_starts, rep_counts = [], []
    for rep in replicates:
        d = make_detector(method, n_phases, min_size, max_phases).fit(rep)
        rep_starts.append(d.starts_)
        rep_counts.append(d.n_phases_)
    confidence = boundary_confidence(detector.starts_, rep_starts, tolerance)
    entries = []
    for p, c in zip(phases, confidence):
        entry = dataclasses.asdict(p)
        entry["confidence"] = c
        entries.append(entry)
    return {
        "phases": entries,
        "phase_starts": [p.start for p in phases],
        "boundary_confidence": {str(p.start): c for p, c in zip(phases[1:], confidence[1:])},
        "replicates": len(rep_starts),
        "replicate_phase_counts": {str(k): rep_counts.count(k) for k in sorted(set(rep_counts))},
        "periods": [_plain(v) for v in matrix.index],
        "detector": method,
        "method": f"{_METHOD_TEXT.get(method, method)} of Hellinger-transformed topic shares; "
                  + ("number of phases by BIC (noise variance from robust period-to-period differences)"
                     if n_phases == "auto" else f"number of phases fixed at {n_phases}"),
        "n_phases": detector.n_phases_,
        "selection": {str(k): v for k, v in detector.scores_.items()},
    }


_METHOD_TEXT = {"segmentation": "optimal segmentation (dynamic programming)",
                "binseg": "greedy binary segmentation"}


def bootstrap_replicates(seed_doc_topics: Sequence[np.ndarray], doc_periods: Sequence, n_boot: int,
                         seed: int) -> list[np.ndarray]:
    """(periods × topics) share matrices resampled within periods, ``n_boot`` for each seed's model."""
    periods = sorted(set(doc_periods))
    replicates = []
    for i, doc_topic in enumerate(seed_doc_topics):
        boot = bootstrap_shares(doc_topic, doc_periods, n_boot, seed + 1000 + i)
        replicates += [np.stack([boot[p][r, :, 0] for p in periods]) for r in range(n_boot)]
    return replicates


def detect_with_confidence(trajectories: pd.DataFrame, topic_terms: dict[int, list[str]], labels: dict[int, str],
                           seed_doc_topics: Sequence[np.ndarray], doc_periods: Sequence, config, seed: int) -> dict:
    """One model's phases.json entry: phases on its share matrix, confidence from (seed × bootstrap)
    replicates (``config`` is a :class:`textmine.core.config.PhaseConfig`)."""
    replicates = bootstrap_replicates(seed_doc_topics, doc_periods, config.bootstrap, seed)
    return detect_phases(share_matrix(trajectories), config.n_phases, config.min_size, config.max_phases,
                         topic_terms, labels, replicates, config.confidence_tolerance, config.method)


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def consensus_phases(per_model: dict[str, dict]) -> dict:
    """Phase starts that a majority of models agree on (a start is always the first period).

    Each consensus boundary's confidence is the mean of the models' confidences
    for it (a model without that boundary counts 0)."""
    votes: dict = {}
    for entry in per_model.values():
        for start in entry["phase_starts"]:
            votes[start] = votes.get(start, 0) + 1
    periods = next((e["periods"] for e in per_model.values() if e.get("periods")), None)
    if periods is None:  # entries without their period list: consecutive years
        periods = list(range(min(votes), max(p["end"] for e in per_model.values() for p in e["phases"]) + 1))
    need = len(per_model) / 2
    starts = [p for p in periods if votes.get(p, 0) > need or (len(per_model) == 1 and p in votes)]
    if periods[0] not in starts:
        starts = [periods[0]] + starts
    pos = {p: i for i, p in enumerate(periods)}
    ends = [periods[pos[s] - 1] for s in starts[1:]] + [periods[-1]]
    conf = [round(sum(e.get("boundary_confidence", {}).get(str(s), 1.0 if s in e["phase_starts"] else 0.0)
                      for e in per_model.values()) / len(per_model), 3) if i else 1.0 for i, s in enumerate(starts)]
    labels = {}
    for e in per_model.values():
        for p in e["phases"]:
            labels.setdefault(p["start"], p.get("label", ""))
    return {
        "phases": [{"start": s, "end": e, "label": labels.get(s, ""), "confidence": c}
                   for s, e, c in zip(starts, ends, conf)],
        "boundary_confidence": {str(s): c for s, c in zip(starts[1:], conf[1:])},
        "phase_starts": starts,
        "method": f"majority vote over models ({', '.join(per_model)})",
        "votes": {str(y): v for y, v in sorted(votes.items(), key=lambda kv: str(kv[0]))},
    }
