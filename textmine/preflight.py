"""Everything about a run that can be checked before the engine starts.

Prefect's start costs 10-15 s and the fits minutes; a corpus or config mistake found after that
wastes both (``--phases 99`` used to fail only after the whole fit).  :func:`check_run` reads the
corpus, its truth and profile, checks that the documents and periods can hold what the config asks
for, and that the output and cache folders can be written, raising one
:class:`~textmine.core.errors.TextmineError` for the first problem.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path

from textmine.analysis import evaluate
from textmine.analysis.analysis import check_analyses
from textmine.core import scale
from textmine.core.errors import ConfigError, TextmineError
from textmine.core.periods import period_labels
from textmine.core.registry import MODELS
from textmine.io import corpus as corpus_io
from textmine.io.corpus_cache import cached_load_corpus
from textmine.text import tokenize


def check_writable(folder: str | Path, setting: str) -> None:
    """``folder`` exists or can be created, is a folder, and accepts a file."""
    path = Path(os.path.expanduser(str(folder)))
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{setting} '{path}' is a file, not a folder", file=path,
                          fix=f"choose a folder for {setting}")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".textmine-probe-{uuid.uuid4().hex}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"{setting} '{path}' cannot be written ({exc.strerror or exc})", file=path,
                          fix=f"choose a writable folder for {setting}, or free space") from None


# The config travels to the Prefect API as the flow run's parameters (and is shown in its form);
# real configs are a few KB, and Prefect refuses parameters of several MB with an HTTP error.
MAX_CONFIG_BYTES = 256_000


def check_run(corpus_path: str | Path, config) -> corpus_io.Corpus:
    """Check a run before it starts; returns the corpus it read (so the flow need not read it twice)."""
    size = len(config.model_dump_json().encode())
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(f"the configuration is {size:,} bytes; at most {MAX_CONFIG_BYTES:,} can be passed to "
                          "the Prefect API", fix="shorten the long values (column names, paths, lists) in the config")
    check_writable(config.run.out_dir, "--out (run.out_dir)")
    check_writable(config.run.cache_dir, "run.cache_dir")

    corpus = cached_load_corpus(corpus_path, config.corpus, config.run.cache_dir)
    evaluate.load_truth(corpus_path)
    check_analyses(config, corpus.metadata_columns, str(corpus_path))
    tokenize.load_profile(corpus_path, config.tokenize.profile)
    docs = corpus.modelling_docs()
    n_docs = len(docs)
    for name in MODELS:  # each model's own checks (TopicModel.check_corpus), in the registry's order
        if name in config.run.models:
            MODELS.get(name).check_corpus(config, n_docs, str(corpus_path))
    check_memory(docs, config)
    periods = sorted(set(period_labels(docs, config.align.time_unit)))
    n_phases = config.phases.n_phases
    if n_phases != "auto" and len(periods) < int(n_phases) * config.phases.min_size:
        raise ConfigError(
            f"{len(periods)} periods ({periods[0]}–{periods[-1]}) cannot hold {n_phases} phases of at least "
            f"{config.phases.min_size} periods", file=str(corpus_path),
            fix="use fewer phases (--phases), a smaller phases.min_size, or a finer --time-unit")
    return corpus


# Bytes a run holds per document, measured from peak RSS on synthetic opinions (~200 characters):
# 994,122 opinions with the large-corpus plan peaked at 7.5 GB summed over the run's processes, of which
# ~1.6 GB is the texts (8 bytes a character below) and ~0.1 GB BERTopic's 2,000 clustered opinions:
# ~5.8 KB a document besides, 8 KB with a margin.  BERTopic's full method on 99,377 opinions peaked at
# 4.9 GB (UMAP's neighbour graph and 3 seeds' fits): ~50 KB per clustered opinion.
BYTES_PER_DOCUMENT = {"base": 8_000, "bertopic": 50_000}


def estimated_memory(n_docs: int, total_chars: int, models, clustered: int | None = None) -> int:
    """A rough upper estimate of the peak memory of a run (bytes); BERTopic's share grows with the
    documents it clusters (``clustered``, all of them by default)."""
    bertopic = BYTES_PER_DOCUMENT["bertopic"] * (n_docs if clustered is None else clustered) if "bertopic" in models else 0
    return n_docs * BYTES_PER_DOCUMENT["base"] + bertopic + 8 * total_chars


def check_memory(docs, config, available: int | None = None) -> None:
    """Fail early, with advice, when the corpus clearly cannot fit in this machine's memory (instead of
    the kernel's out-of-memory killer ending the run hours in); the advice names the setting that
    matters for the part that does not fit."""
    if available is None:
        try:
            import psutil

            available = psutil.virtual_memory().available
        except ImportError:  # pragma: no cover - psutil comes with prefect-dask
            return

    clustered = scale.bertopic_documents(docs["year"].value_counts().to_dict(), config)
    need = estimated_memory(len(docs), int(docs["text"].str.len().sum()), config.run.models, clustered)
    if need <= available:
        return
    base = estimated_memory(len(docs), int(docs["text"].str.len().sum()), ())
    if "bertopic" in config.run.models and base <= available:
        fit = (available - base) // BYTES_PER_DOCUMENT["bertopic"]
        years = max(1, docs["year"].nunique())
        fix = (f"BERTopic can cluster about {fit:,} of them here: set scale.bertopic_docs_per_year to "
               f"{max(10, fit // years):,} or less" + ("" if clustered < len(docs) else
                                                        " and scale.mode = on (a per-year sample)")
               + ", or run with --models lda")
    else:
        fix = ("split the corpus by period, run on a bigger machine, or spread the per-year fits over a Dask "
               "cluster (--set run.task_runner=dask --set run.dask_address=...)")
    raise TextmineError(
        f"{len(docs):,} opinions need about {need / 2**30:.1f} GiB of memory; {available / 2**30:.1f} GiB is free",
        fix=fix)
