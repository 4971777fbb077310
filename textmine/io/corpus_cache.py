"""The corpus read through an on-disk cache (``<cache_dir>/corpus/``): an unchanged corpus is not read and
checked row by row again.  The key covers the files' contents, what was not read, ``corpus.toml``, the
``[corpus]`` settings and the reading code itself.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from textmine.core.cachedir import mark_cache
from textmine.core.files import file_digest
from textmine.io import columns, corpus as corpus_io, decode, officedocs, readers, scan
from textmine.io.columns import ColumnMapping
from textmine.io.corpus import Corpus
from textmine.io.scan import FileReport
from textmine.text import normalize
from textmine.text.cache import write_parquet_atomically

log = logging.getLogger(__name__)

# The modules whose code reads a corpus: a change to any of them reads every corpus again.
READING_CODE = (corpus_io, scan, readers, columns, decode, normalize, officedocs)


def corpus_key(root: Path, config) -> str:
    """Key of a corpus read: the files' paths and contents (SHA-256), what was not read and why, ``corpus.toml``, the
    ``[corpus]`` settings and the reading code itself (the source of the modules in ``READING_CODE``), so
    any change to data, settings or readers reads again."""
    found = corpus_io.scan_corpus(root)
    folder = root if root.is_dir() else root.parent
    toml_path = folder / "corpus.toml"
    code = hashlib.sha256("".join(inspect.getsource(m) for m in READING_CODE).encode()).hexdigest()
    payload = {
        "root": str(root.resolve()),
        "files": [[str(f), file_digest(f)] for f in found.readable],
        "unread": [[u.path, u.reason] for u in found.unread],
        "ignored": found.ignored,
        "corpus_toml": toml_path.read_text(encoding="utf-8", errors="replace") if toml_path.is_file() else None,
        "settings": config.model_dump(mode="json", exclude={"cache"}),
        "code": code,
        "pandas": pd.__version__,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _corpus_from_table(table: pa.Table, root: Path):
    info = json.loads(table.schema.metadata[b"textmine_corpus"])

    def report(d: dict) -> FileReport:
        return FileReport(**{**d, "tables": {k: ColumnMapping(**v) for k, v in d["tables"].items()}})

    return Corpus(root=root, docs=table.to_pandas(), files=[report(f) for f in info["files"]],
                  metadata_columns=info["metadata_columns"], skipped=[report(f) for f in info["skipped"]],
                  ignored=info["ignored"])


def cached_load_corpus(path: str | Path, config, cache_dir: str | Path):
    """``textmine.io.corpus.load_corpus`` through an on-disk cache: an unchanged corpus is not read and
    checked row by row again (~8 s of every rerun at 100,000 opinions).  Stored as Parquet (the rows)
    with the file reports as JSON in its metadata; an unreadable entry is a miss, logged, and rewritten."""
    root = Path(path)
    if not config.cache:
        return corpus_io.load_corpus(root, config)
    key = corpus_key(root, config)
    folder = Path(os.path.expanduser(str(cache_dir))) / "corpus"
    entry = folder / f"{key}.parquet"
    if entry.is_file():
        try:
            corpus = _corpus_from_table(pq.read_table(entry), root)
            corpus.cache = "hit"
            return corpus
        except Exception as exc:  # noqa: BLE001 - an unreadable entry is a miss, whatever broke it
            log.warning("corpus cache entry %s is unreadable (%s: %s); reading the corpus again",
                        entry, exc.__class__.__name__, exc)
    corpus = corpus_io.load_corpus(root, config)
    info = {"files": [asdict(f) for f in corpus.files], "skipped": [asdict(f) for f in corpus.skipped],
            "metadata_columns": corpus.metadata_columns, "ignored": corpus.ignored}
    table = pa.Table.from_pandas(corpus.docs, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           b"textmine_corpus": json.dumps(info, ensure_ascii=False).encode()})
    mark_cache(folder.parent)
    folder.mkdir(parents=True, exist_ok=True)
    write_parquet_atomically(table, entry)
    corpus.cache = "miss"
    return corpus
