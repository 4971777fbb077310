"""Content-addressed cache of fitted models, and the model selection of earlier runs.

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
import shutil
import time
import uuid
from importlib import metadata
from pathlib import Path

log = logging.getLogger(__name__)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def digest(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def fit_key(model, data_digest: str, scope: str, extra: dict | None = None) -> str:
    """The cache key of one fit of ``model`` (a :class:`textmine.topicmodel.TopicModel`)."""
    return digest({
        "model": model.name, "scope": scope, "settings": model.settings.model_dump(mode="json"),
        "related": model.related_settings(), "seed": model.seed, "data": data_digest, "extra": extra or {},
        "scale": model.config.scale.model_dump(mode="json"),
        "versions": {p: _version(p) for p in ("textmine", "numpy", *model.engine_packages)},
    })


def selection_key(model, corpus: str) -> str:
    """Which earlier selection a fit may start from: same model, settings, seed and corpus location."""
    return digest({"model": model.name, "settings": model.settings.model_dump(mode="json"),
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
        from textmine.topicmodel import read_fitted

        folder = self.path(key)
        if not (folder / "fitted.json").is_file():
            return None
        try:
            fitted = read_fitted(folder)
            fitted.native = model.load_native(folder, fitted)
        except Exception as exc:  # noqa: BLE001 - any unreadable entry is a miss, whatever broke it
            log.warning("cache entry %s is unreadable (%s); it will be refitted and rewritten", folder, exc)
            return None
        os.utime(folder)  # last use, for pruning the least recently used
        return fitted

    def put(self, key: str, model, fitted) -> Path:
        from textmine.topicmodel import write_fitted

        self.models.mkdir(parents=True, exist_ok=True)
        tmp = self.models / f".{key}.{uuid.uuid4().hex}.tmp"
        try:
            write_fitted(fitted, tmp)
            model.save_native(fitted.native, tmp)
            if self.path(key).exists():  # written meanwhile by another run: same content by construction
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                os.replace(tmp, self.path(key))
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return self.path(key)

    def is_empty(self, key: str) -> bool:
        """A fit that found nothing to model (a year too small) is remembered as an empty entry."""
        return (self.path(key) / "empty").is_file()

    def put_empty(self, key: str) -> None:
        self.models.mkdir(parents=True, exist_ok=True)
        tmp = self.models / f".{key}.{uuid.uuid4().hex}.tmp"
        tmp.mkdir()
        (tmp / "empty").write_text("no model: too few documents or no topic structure\n", encoding="utf-8")
        if self.path(key).exists():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            os.replace(tmp, self.path(key))

    def get_selection(self, key: str) -> dict | None:
        path = self.selections / f"{key}.json"
        try:
            return json.loads(path.read_text(encoding="utf-8"))["selection"]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put_selection(self, key: str, selection: dict) -> None:
        self.selections.mkdir(parents=True, exist_ok=True)
        tmp = self.selections / f".{key}.{uuid.uuid4().hex}.tmp"
        tmp.write_text(json.dumps({"selection": selection, "written": time.time()}), encoding="utf-8")
        os.replace(tmp, self.selections / f"{key}.json")


CACHE_KINDS = ("corpus", "tokens", "pii", "embeddings", "models", "selection", "charts", "analyses")


def cache_info(cache_dir: str | Path) -> dict:
    """Entries and bytes per kind of cache entry."""
    root = Path(os.path.expanduser(str(cache_dir)))
    out = {"path": str(root), "kinds": {}}
    for kind in CACHE_KINDS:
        folder = root / kind
        entries = [p for p in folder.iterdir() if not p.name.startswith(".")] if folder.is_dir() else []
        size = sum(f.stat().st_size for p in entries for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file())
        out["kinds"][kind] = {"entries": len(entries), "bytes": size}
    out["bytes"] = sum(k["bytes"] for k in out["kinds"].values())
    return out


def prune(cache_dir: str | Path, older_than_days: float | None = None, max_bytes: int | None = None) -> dict:
    """Remove entries unused for ``older_than_days``, then the least recently used until the cache
    fits in ``max_bytes``.  Returns what was removed."""
    root = Path(os.path.expanduser(str(cache_dir)))
    entries = []
    for kind in CACHE_KINDS:
        folder = root / kind
        if folder.is_dir():
            for p in folder.iterdir():
                size = p.stat().st_size if p.is_file() else sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
                entries.append((p.stat().st_mtime, size, p))
    entries.sort()
    removed, freed = 0, 0
    total = sum(size for _, size, _ in entries)
    now = time.time()
    for mtime, size, path in entries:
        too_old = older_than_days is not None and now - mtime > older_than_days * 86400
        too_big = max_bytes is not None and total > max_bytes
        if not (too_old or too_big):
            continue
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
        removed, freed, total = removed + 1, freed + size, total - size
    return {"removed": removed, "bytes_freed": freed, "bytes_left": total}
