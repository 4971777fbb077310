"""On-disk cache of token lists, keyed by what produced them.

A year's tokens are stored as one Parquet file named by the SHA-256 of the
year's (PII-masked) texts, the profile digest, the tokenizer settings and the
Kiwi version, so a rerun with the same inputs never calls Kiwi again, a new
year only tokenizes that year, and any change to texts, profile or Kiwi misses.
Files are written to a temporary name and renamed, so a crash never leaves a
half-written entry.
"""
from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any, Sequence

import pyarrow as pa
import pyarrow.parquet as pq


def cache_root(cache_dir: str) -> Path:
    return Path(os.path.expanduser(cache_dir))


def texts_digest(texts: Sequence[str], header: str) -> str:
    """SHA-256 of ``header`` and the texts, length-prefixed so no two lists collide by joining."""
    h = hashlib.sha256(header.encode())
    for text in texts:
        data = text.encode("utf-8")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def token_key(texts: Sequence[str], profile_digest: str, settings: dict[str, Any]) -> str:
    from kiwipiepy import __version__ as kiwi_version

    return texts_digest(texts, json.dumps({"kiwi": kiwi_version, "profile": profile_digest, "settings": settings},
                                          sort_keys=True))


class TokenCache:
    def __init__(self, cache_dir: str | Path):
        self.folder = Path(os.path.expanduser(str(cache_dir))) / "tokens"

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.parquet"

    def get(self, key: str) -> tuple[list[list[str]], list[int]] | None:
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            table = pq.read_table(path)
        except (OSError, pa.ArrowInvalid):
            return None  # an unreadable entry is a miss; it is rewritten below
        return table.column("tokens").to_pylist(), table.column("owner").to_pylist()

    def put(self, key: str, tokens: list[list[str]], owners: list[int]) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        table = pa.table({"owner": pa.array(owners, pa.int64()), "tokens": pa.array(tokens, pa.list_(pa.string()))})
        tmp = self.folder / f".{key}.{uuid.uuid4().hex}.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, self.path(key))
        return self.path(key)


def cached_tokenize_units(texts: Sequence[str], profile, config, num_workers: int,
                          cache_dir: str | Path) -> tuple[list[list[str]], list[int], bool]:
    """``tokenize.tokenize_units`` through the token cache: (tokens, owners, whether it was a hit)."""
    from textmine import tokenize

    store = TokenCache(cache_dir) if config.cache else None
    key = token_key(texts, profile.digest(), {"unit": config.unit, "max_chunk_chars": config.max_chunk_chars})
    hit = store.get(key) if store else None
    if hit is not None:
        return hit[0], hit[1], True
    tokens, owners = tokenize.tokenize_units(texts, profile, config, num_workers)
    if store:
        store.put(key, tokens, owners)
    return tokens, owners, False
