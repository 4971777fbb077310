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
import math
import os
import re
import shutil
import stat
import time
from importlib import metadata
from pathlib import Path

from textmine.errors import TextmineError, escape
from textmine.files import publish

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
        try:
            os.utime(folder)  # last use, for pruning the least recently used
        except OSError:  # pruned meanwhile: the fit is in memory all the same
            pass
        return fitted

    def put(self, key: str, model, fitted) -> Path:
        from textmine.topicmodel import write_fitted

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

    def get_selection(self, key: str) -> dict | None:
        path = self.selections / f"{key}.json"
        try:
            return json.loads(path.read_text(encoding="utf-8"))["selection"]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put_selection(self, key: str, selection: dict) -> None:
        mark_cache(self.root)
        with publish(self.selections / f"{key}.json") as tmp:
            tmp.write_text(json.dumps({"selection": selection, "written": time.time()}), encoding="utf-8")


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


# The marker textmine writes in a cache folder it uses (the CACHEDIR.TAG convention, which backup tools
# honour); ``prune`` refuses a folder without it, so a mistyped --cache-dir (a home or run folder) is
# never emptied.
MARKER = "CACHEDIR.TAG"
MARKER_TEXT = ("Signature: 8a477f597d28d172789f06886806bc55\n"
               "# This folder is a cache written by textmine; `textmine cache prune` removes only its entries.\n")
# Entries as textmine names them: a content key (hex digest) with the kind's suffix, and the temporary
# names it writes beside them before a rename (.KEY.UUID.tmp, .UUID.npy, .KEY.UUID).
_ENTRY = re.compile(r"[0-9a-f]{12,64}(?:\.(?:parquet|npy|json|png))?")
_TEMPORARY = re.compile(r"\.[0-9a-f]{12,64}(?:\.[0-9a-f]{32})?(?:\.(?:tmp|npy|png|parquet))?")
# A temporary entry younger than this may belong to a run writing it now: left alone.
TEMPORARY_GRACE_SECONDS = 6 * 3600


def mark_cache(cache_dir: str | Path) -> Path:
    """Create the cache folder if needed and write textmine's marker in it (once)."""
    root = Path(os.path.expanduser(str(cache_dir)))
    marker = root / MARKER
    if not marker.is_file():
        with publish(marker) as tmp:
            tmp.write_text(MARKER_TEXT, encoding="utf-8")
    return root


def is_marked(root: Path) -> bool:
    try:
        return (root / MARKER).read_text(encoding="utf-8").startswith(MARKER_TEXT.splitlines()[0]) and \
            "textmine" in (root / MARKER).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False


def _check_amount(value: float | None, what: str, flag: str) -> None:
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise TextmineError(f"{flag} must be a finite number of {what} of at least 0, not {value}",
                            fix=f"e.g. textmine cache prune {flag} 30")


def _entry_size(path: Path) -> int:
    """Bytes of an entry: a file, or a folder's files (links inside are counted, never followed)."""
    st = path.lstat()
    if not stat.S_ISDIR(st.st_mode):
        return st.st_size
    total = 0
    for folder, dirs, files in os.walk(path, followlinks=False):
        for name in dirs + files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:  # removed meanwhile
                pass
    return total


def prune(cache_dir: str | Path, older_than_days: float | None = None, max_bytes: float | None = None) -> dict:
    """Remove entries unused for ``older_than_days``, then the least recently used until the cache
    fits in ``max_bytes``.  Returns what was removed and what was skipped.

    Only a folder with textmine's marker is pruned, and in it only what textmine names its entries
    (in the kinds' folders); a symbolic link, FIFO or anything else of another shape is skipped with a
    warning, never followed or removed.
    """
    _check_amount(older_than_days, "days", "--older-than")
    _check_amount(max_bytes, "bytes", "--max-size")
    root = Path(os.path.expanduser(str(cache_dir)))
    if not root.is_dir():
        raise TextmineError("the cache folder does not exist", file=root,
                            fix="check --cache-dir (or run.cache_dir); nothing was removed")
    if not is_marked(root):
        raise TextmineError(f"this is not a textmine cache folder (it has no {MARKER} written by textmine)",
                            file=root, fix="check --cache-dir (or run.cache_dir); nothing was removed.  A cache "
                                           "written before the marker existed gets it with "
                                           f"`textmine cache mark {root}`")
    entries, skipped = [], []
    now = time.time()
    for kind in CACHE_KINDS:
        folder = root / kind
        if folder.is_symlink() or not folder.is_dir():
            if folder.is_symlink() or folder.exists():
                skipped.append((folder, "not a folder textmine wrote"))
            continue
        for p in folder.iterdir():
            try:
                st = p.lstat()
            except OSError:  # removed meanwhile
                continue
            temporary = _TEMPORARY.fullmatch(p.name) is not None
            if not (_ENTRY.fullmatch(p.name) or temporary):
                skipped.append((p, "not named like a textmine cache entry"))
            elif not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
                skipped.append((p, "a symbolic link or special file, not an entry textmine wrote"))
            elif not (temporary and now - st.st_mtime < TEMPORARY_GRACE_SECONDS):
                entries.append((st.st_mtime, _entry_size(p), p))
    entries.sort()
    removed, freed = 0, 0
    total = sum(size for _, size, _ in entries)
    for mtime, size, path in entries:
        too_old = older_than_days is not None and now - mtime > older_than_days * 86400
        too_big = max_bytes is not None and total > max_bytes
        if not (too_old or too_big):
            continue
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() and not path.is_symlink() else path.unlink(missing_ok=True)
        removed, freed, total = removed + 1, freed + size, total - size
    return {"removed": removed, "bytes_freed": freed, "bytes_left": total,
            "skipped": [f"{escape(str(p))} ({why})" for p, why in skipped]}


def mark_existing(cache_dir: str | Path) -> Path:
    """``textmine cache mark DIR``: mark a cache written before the marker existed, if it holds only
    the kinds' folders textmine writes (and hidden files); any other content is refused."""
    root = Path(os.path.expanduser(str(cache_dir)))
    if not root.is_dir():
        raise TextmineError("the cache folder does not exist", file=root, fix="check the path")
    other = sorted(p.name for p in root.iterdir() if p.name not in CACHE_KINDS and p.name != MARKER
                   and not p.name.startswith("."))
    if other:
        raise TextmineError(f"the folder holds {', '.join(other[:5])}, which textmine does not write in a cache "
                            "folder", file=root, fix="point it at the folder textmine uses as its cache "
                                                                "(run.cache_dir)")
    return mark_cache(root)
