"""A new year placed in the previous run's global model instead of refitting it (LDA: ``lda.place_*``).

When a year's reports arrive, every earlier year is unchanged, and refitting the global model over all of
them is most of what the run does (LDA: 5.6 of a 20 s run on the bundled corpus, 8.0 of 22 s on twelve
years of 300 opinions; session 12).  Placing keeps the global topics and the earlier documents' topic
mixes as they were and infers only the new documents' mixes with the topics fixed, so the earlier years'
trajectories do not move when a year is added, and the new year costs an inference over its documents.

The previous fit is fitted again instead (the decision and why are in evaluation.json, ``placement``) when:

- no earlier run on this corpus, model settings and seed left a fit to place in (``--reselect`` too);
- an earlier year changed or is gone (its documents' digest differs), or no document is new;
- the earlier fit was made by another version of textmine or of the model's engines;
- the new documents are more than ``place_max_new_share`` of the corpus;
- ``place_refit_every`` years have been placed since the last full fit;
- the model says the new documents do not fit its topics (LDA: fewer than ``place_min_known_share`` of
  their tokens are words of its vocabulary: a new kind of text).

The record of a fit (:func:`record`) lives beside the selection of the same corpus in the model store.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from textmine.text.documents import Documents


@dataclass
class PlacementPlan:
    """What to place: ``new`` (positions of the new documents in ``data``), and for every earlier
    document its row in the previous fit (``previous_rows[i]`` for ``kept[i]``)."""

    kept: np.ndarray
    previous_rows: np.ndarray
    new: np.ndarray
    record: dict = field(default_factory=dict)


def record(data: Documents, key: str, placed_since_fit: int = 0, versions: dict | None = None) -> dict:
    """What a later run needs to place new years in this fit: its cache key, its years in row order with
    their digests and sizes, how many years were placed since its last full fit, and the versions of
    textmine and the engines that made it."""
    years = list(dict.fromkeys(data.doc_years))
    return {"key": key, "years": [str(y) for y in years], "year_digests": [data.digest(y, embeddings=False) for y in years],
            "year_sizes": [int(len(data.year_index(y))) for y in years], "placed_since_fit": int(placed_since_fit),
            "versions": versions or {}}


def plan(data: Documents, previous: dict | None, settings, versions: dict | None = None) -> tuple[PlacementPlan | None, str]:
    """Whether ``data`` can be placed in the fit ``previous`` (a :func:`record`): the plan, or None and why not.
    ``versions``: this run's textmine and engines (a fit made by others is fitted again)."""
    if previous is None:
        return None, "no earlier fit on this corpus and settings to place the new years in"
    if versions is not None and previous.get("versions") != versions:
        return None, f"the earlier fit was made by other versions ({previous.get('versions')})"
    if previous["placed_since_fit"] >= settings.place_refit_every:
        return None, (f"{previous['placed_since_fit']} year(s) placed since the last full fit "
                      f"(place_refit_every = {settings.place_refit_every})")
    years = {str(y): y for y in dict.fromkeys(data.doc_years)}
    offsets = np.concatenate([[0], np.cumsum(previous["year_sizes"])]).astype(int)
    kept, rows = [], []
    for i, (year, digest) in enumerate(zip(previous["years"], previous["year_digests"])):
        if year not in years:
            return None, f"the earlier year {year} is no longer in the corpus"
        if data.digest(years[year], embeddings=False) != digest:
            return None, f"the earlier year {year} changed"
        kept.append(data.year_index(years[year]))
        rows.append(np.arange(offsets[i], offsets[i + 1]))
    kept_idx = np.concatenate(kept) if kept else np.zeros(0, dtype=int)
    new = np.setdiff1d(np.arange(len(data)), kept_idx)
    if not len(new):
        return None, "no new documents"
    share = len(new) / len(data)
    if share > settings.place_max_new_share:
        return None, f"the new documents are {share:.1%} of the corpus (place_max_new_share = {settings.place_max_new_share:.0%})"
    new_years = [str(y) for y in years if y not in previous["years"]]
    return PlacementPlan(kept_idx, np.concatenate(rows) if rows else kept_idx, new, {
        "documents_kept": int(len(kept_idx)), "documents_placed": int(len(new)), "years_placed": new_years,
        "new_share": round(share, 4), "placed_since_fit": int(previous["placed_since_fit"]) + len(new_years),
    }), ""
