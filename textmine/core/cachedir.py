"""The cache folder (``run.cache_dir``) as a whole: its kinds of entries, textmine's marker in it, and what
``textmine cache`` shows and prunes.  Every cache (corpus, tokens, PII, embeddings, models, selections,
charts, analyses) writes its entries through :func:`textmine.core.files.publish` under its kind's folder.
"""
from __future__ import annotations

import math
import os
import re
import shutil
import stat
import time
from pathlib import Path

from textmine.core.errors import TextmineError, escape
from textmine.core.files import publish


CACHE_KINDS = ("corpus", "tokens", "pii", "embeddings", "models", "selection", "charts", "analyses", "runs")


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
