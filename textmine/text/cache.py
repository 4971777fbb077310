"""On-disk cache of token lists, keyed by what produced them.

A year's tokens are stored as one Parquet file named by the SHA-256 of the
year's (PII-masked) texts, the profile digest, the tokenizer settings and the
Kiwi version, so a rerun with the same inputs never calls Kiwi again, a new
year only tokenizes that year, and any change to texts, profile or Kiwi misses.
The years that miss are tokenized together (:func:`cached_tokenize_years`).
Files are written to a temporary name and renamed, so a crash never leaves a
half-written entry; an entry that cannot be read as tokens (damaged, or written
with another layout) is a miss, logged, and rewritten.
"""
from __future__ import annotations

import bisect
import functools
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Hashable, Iterator, Mapping, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from textmine.core.cachedir import mark_cache
from textmine.core.files import publish
from textmine.text import pii, tokenize
from textmine.text.tokenize import share_strings

log = logging.getLogger(__name__)


def texts_digest(texts: Sequence[str], header: str) -> str:
    """SHA-256 of ``header`` and the texts, length-prefixed so no two lists collide by joining."""
    h = hashlib.sha256(header.encode())
    for text in texts:
        data = text.encode("utf-8")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def write_parquet_atomically(table: pa.Table, path: Path) -> None:
    """Write to a temporary name beside ``path`` and rename: a crash never leaves a half-written entry."""
    with publish(path) as tmp:
        pq.write_table(table, tmp)


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

            return share_strings(table.column("tokens").to_pylist()), table.column("owner").to_pylist()
        except Exception as exc:  # OSError/ArrowInvalid (damaged), KeyError (a column missing), TypeError
            log.warning("token cache entry %s is unreadable (%s: %s); it will be rewritten",
                        path, exc.__class__.__name__, exc)
            return None

    def put(self, key: str, tokens: list[list[str]], owners: list[int]) -> Path:
        mark_cache(self.folder.parent)
        self.folder.mkdir(parents=True, exist_ok=True)
        table = pa.table({"owner": pa.array(owners, pa.int64()), "tokens": pa.array(tokens, pa.list_(pa.string()))})
        write_parquet_atomically(table, self.path(key))
        return self.path(key)


def cached_tokenize_units(texts: Sequence[str], profile, config, num_workers: int,
                          cache_dir: str | Path) -> tuple[list[list[str]], list[int], bool]:
    """``tokenize.tokenize_units`` through the token cache: (tokens, owners, whether it was a hit)."""
    return cached_tokenize_years({0: texts}, profile, config, num_workers, cache_dir)[0]


def token_settings(config) -> dict[str, Any]:
    """What besides the texts, the profile and Kiwi's version decides a year's tokens: the tokenizer
    settings that change them, and the code that selects them from Kiwi's analysis."""
    return {"unit": config.unit, "max_chunk_chars": config.max_chunk_chars,
            "selection": tokenize.selection_digest()}


def cached_tokenize_years(texts_by_year: Mapping[Hashable, Sequence[str]], profile, config, num_workers: int,
                          cache_dir: str | Path) -> dict[Hashable, tuple[list[list[str]], list[int], bool]]:
    """Per year, ``tokenize.tokenize_units`` of its texts through the token cache: (tokens, owners, hit).

    Each year keeps its own cache entry, so a new year reuses every other year's. The years that miss
    are tokenized together, in runs of whole years that close once they hold ``config.batch_chars``
    characters: every Kiwi tokenize call ends by draining its worker pool, and one call per small year
    cost about 4 % of the stage on 10,000 opinions (11.53 s against 11.07 s, ten calls against one).
    (With ``unit = "sentence"`` the sentence split before it still calls Kiwi once per text.) A run's
    entries are written as soon as the run is done, so a crash keeps the years of the runs finished
    before it. A text's tokens do not depend on its neighbours in a call, so the result equals
    tokenizing year by year.
    """
    store = TokenCache(cache_dir) if config.cache else None
    settings = token_settings(config)
    digest = profile.token_digest()
    out: dict[Hashable, tuple[list[list[str]], list[int], bool]] = {}
    misses: list[tuple[Hashable, Sequence[str], str]] = []
    for year, texts in texts_by_year.items():
        key = token_key(texts, digest, settings)
        hit = store.get(key) if store else None
        if hit is not None:
            out[year] = (hit[0], hit[1], True)
        else:
            misses.append((year, texts, key))
    for run in _runs_of_chars(misses, config.batch_chars):
        tokens, owners = tokenize.tokenize_units([t for _, texts, _ in run for t in texts], profile, config,
                                                 num_workers)
        first_text = first_unit = 0
        for year, texts, key in run:
            # Units come in the order of their texts, so a year's units are one slice of the run's.
            end_text = first_text + len(texts)
            end_unit = bisect.bisect_left(owners, end_text, lo=first_unit)
            year_tokens = tokens[first_unit:end_unit]
            year_owners = [owner - first_text for owner in owners[first_unit:end_unit]]
            if store:
                store.put(key, year_tokens, year_owners)
            out[year] = (year_tokens, year_owners, False)
            first_text, first_unit = end_text, end_unit
    return {year: out[year] for year in texts_by_year}


def _runs_of_chars(misses: list, batch_chars: int) -> Iterator[list]:
    """Consecutive (year, texts, key) items grouped until a group holds at least ``batch_chars`` characters."""
    run: list = []
    size = 0
    for item in misses:
        run.append(item)
        size += sum(map(len, item[1]))
        if size >= batch_chars:
            yield run
            run, size = [], 0
    if run:
        yield run


@functools.cache
def _pii_code_digest() -> str:
    """SHA-256 of the masking code (textmine.text.pii), once per process: every shard's key needs it."""
    import inspect

    return hashlib.sha256(inspect.getsource(pii).encode()).hexdigest()


def pii_entry(texts: Sequence[str], profile, cache_dir: str | Path, settings: dict | None = None) -> Path:
    """Where the PII cache keeps the masked ``texts``: keyed by the texts, the profile, the masking
    ``settings`` (pii.bare_names) and the masking code itself (the source of textmine.text.pii)."""
    folder = Path(os.path.expanduser(str(cache_dir))) / "pii"
    key = texts_digest(texts, json.dumps({"profile": profile.token_digest(), "code": _pii_code_digest(),
                                          **(settings or {})},
                                         sort_keys=True))
    return folder / f"{key}.parquet"


def read_masked(path: Path, count: int | None = None) -> tuple[list[str], dict] | None:
    """(masked texts, counts per kind) of a PII cache entry, or None when it is missing, unreadable or
    holds another number of texts than ``count``."""
    if not path.is_file():
        return None
    try:
        table = pq.read_table(path)
        counts = json.loads(table.schema.metadata[b"counts"])
        masked = table.column("text").to_pylist()
        if count is None or len(masked) == count:
            return masked, counts
    except Exception as exc:  # noqa: BLE001 - an unreadable entry is a miss, whatever broke it
        log.warning("PII cache entry %s is unreadable (%s); masking again", path, exc)
    return None


def cached_mask(texts: Sequence[str], profile, make_masker, cache_dir: str | Path,
                settings: dict | None = None) -> tuple[list[str], dict]:
    """PII masking through an on-disk cache: (masked texts, counts per kind).

    Keyed as :func:`pii_entry` says, so a rerun skips Kiwi's name checks and any change to the
    patterns masks again.  Only masked texts are stored.
    """
    masked, counts, _, _ = cached_mask_entry(texts, profile, make_masker, cache_dir, settings)
    return masked, counts


def cached_mask_entry(texts: Sequence[str], profile, make_masker, cache_dir: str | Path,
                      settings: dict | None = None) -> tuple[list[str], dict, Path, bool]:
    """:func:`cached_mask` that also says where the entry is and whether it was a hit (a shard task
    returns the path; the flow reads the texts back from it)."""
    path = pii_entry(texts, profile, cache_dir, settings)
    found = read_masked(path, len(texts))
    if found is not None:
        return found[0], found[1], path, True
    masked, report = make_masker().mask_texts(list(texts))
    counts = report.as_dict()
    mark_cache(path.parent.parent)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table({"text": pa.array(masked, pa.string())}).replace_schema_metadata({"counts": json.dumps(counts)})
    write_parquet_atomically(table, path)
    return masked, counts, path, False
