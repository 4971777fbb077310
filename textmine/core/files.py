"""Files read, fingerprinted and written one way: the TOML reader with the user-facing errors (config,
profile, corpus.toml, labels), the file digest (the manifest's input hashes, the corpus cache key, serve's
watch), and the all-or-nothing write of a cache entry (:func:`publish`: tokens, PII, fitted models,
selections, charts, analyses, the cache marker).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tomllib
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from textmine.core.errors import ConfigError, TextmineError

DIGEST_BLOCK = 1 << 20  # bytes read at a time: a corpus file of any size in constant memory


def file_digest(path: str | Path) -> str:
    """SHA-256 of the file's bytes (hex)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as stream:
        for block in iter(lambda: stream.read(DIGEST_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def read_toml(path: str | Path, *, nested_fix: str, syntax_fix: str = "fix the TOML syntax",
              error: type[TextmineError] = ConfigError) -> dict:
    """The TOML table of ``path`` (UTF-8, a byte-order mark allowed), or one ``error`` naming the file: not UTF-8
    text, not valid TOML (with the parser's line and column), or nested too deeply to parse (``nested_fix`` says
    what the file should hold).  A missing file is the caller's to report (each says which option names it)."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        raise error("not UTF-8 text", file=path, fix="save it as UTF-8") from None
    except RecursionError:
        raise error("nested too deeply", file=path, fix=nested_fix) from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"not a valid TOML file ({exc})", file=path, fix=syntax_fix) from None


@contextmanager
def publish(target: str | Path, *, keep_existing: bool = False) -> Iterator[Path]:
    """Write an entry (a file or a folder) all at once: yields a temporary path beside ``target``
    (``.<stem>.<random>.tmp``, a name ``textmine cache prune`` knows as a temporary) to write it at; when the
    block ends without error one rename makes it ``target``, so a reader sees the whole entry or none (a crash
    leaves only the temporary; an error removes it).  ``keep_existing``: an entry written meanwhile under the
    same content key by another run is kept and this one dropped; otherwise ``target`` is replaced (a folder
    left incomplete by a crash included)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name.split('.')[0]}.{uuid.uuid4().hex}.tmp"
    try:
        yield tmp
        if not (keep_existing and target.exists()):
            if tmp.is_dir() and target.is_dir() and not target.is_symlink():
                shutil.rmtree(target, ignore_errors=True)
            os.replace(tmp, target)
    finally:
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)


def json_default(value: Any):
    """``json.dumps(default=...)`` for what textmine writes: numpy scalars and arrays, sets, tuples, paths."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
