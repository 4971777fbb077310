"""On-disk cache of token lists, keyed by what produced them.

A year's tokens are stored as one Parquet file named by the SHA-256 of the
year's (PII-masked) texts, the profile digest, the tokenizer settings and the
Kiwi version, so a rerun with the same inputs never calls Kiwi again, a new
year only tokenizes that year, and any change to texts, profile or Kiwi misses.
Files are written to a temporary name and renamed, so a crash never leaves a
half-written entry; an entry that cannot be read as tokens (damaged, or written
with another layout) is a miss, logged, and rewritten.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

log = logging.getLogger(__name__)


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
        """(tokens, owners) stored under ``key``, or None on a miss.

        An entry that cannot be read as tokens (a damaged file, or one written with another layout)
        is a miss too, not an error: the caller tokenizes again and :meth:`put` replaces it.
        """
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            table = pq.read_table(path)
            tokens, owners = table.schema.field("tokens").type, table.schema.field("owner").type
            if not (pa.types.is_list(tokens) and pa.types.is_string(tokens.value_type)
                    and pa.types.is_integer(owners)):
                raise TypeError(f"columns tokens: {tokens}, owner: {owners}")
            from textmine.tokenize import share_strings

            return share_strings(table.column("tokens").to_pylist()), table.column("owner").to_pylist()
        except Exception as exc:  # OSError/ArrowInvalid (damaged), KeyError (a column missing), TypeError
            log.warning("token cache entry %s is unreadable (%s: %s); it will be rewritten",
                        path, exc.__class__.__name__, exc)
            return None

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
    key = token_key(texts, profile.token_digest(), {"unit": config.unit, "max_chunk_chars": config.max_chunk_chars})
    hit = store.get(key) if store else None
    if hit is not None:
        return hit[0], hit[1], True
    tokens, owners = tokenize.tokenize_units(texts, profile, config, num_workers)
    if store:
        store.put(key, tokens, owners)
    return tokens, owners, False


def cached_mask(texts: Sequence[str], profile, make_masker, cache_dir: str | Path) -> tuple[list[str], dict]:
    """PII masking through an on-disk cache: (masked texts, counts per kind).

    Keyed by the texts, the profile and the masking code itself (the source of textmine.pii), so a
    rerun skips Kiwi's name checks and any change to the patterns masks again.  Only masked texts
    are stored.
    """
    import inspect

    from textmine import pii

    folder = Path(os.path.expanduser(str(cache_dir))) / "pii"
    code = hashlib.sha256(inspect.getsource(pii).encode()).hexdigest()
    key = texts_digest(texts, json.dumps({"profile": profile.token_digest(), "code": code}, sort_keys=True))
    path = folder / f"{key}.parquet"
    if path.is_file():
        try:
            table = pq.read_table(path)
            counts = json.loads(table.schema.metadata[b"counts"])
            masked = table.column("text").to_pylist()
            if len(masked) == len(texts):
                return masked, counts
        except Exception as exc:  # noqa: BLE001 - an unreadable entry is a miss, whatever broke it
            log.warning("PII cache entry %s is unreadable (%s); masking again", path, exc)
    masked, report = make_masker().mask_texts(list(texts))
    counts = report.as_dict()
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.table({"text": pa.array(masked, pa.string())}).replace_schema_metadata({"counts": json.dumps(counts)})
    tmp = folder / f".{key}.{uuid.uuid4().hex}.tmp"
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return masked, counts
