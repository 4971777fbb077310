"""Incremental reruns: what a rerun costs against a cold run, and adding one year against a cold run
of all years (the goals of the orchestration issue: <= 5 % and <= 25 %).

Each step is a separate `textmine run` process (as a user or `textmine serve` would start it), timed
whole (wall clock, Prefect's temporary server included) and by the flow's own stage timings
(manifest: started -> finished):

1. cold: all years, empty cache (a fresh cache folder; Prefect's result records are keyed by it);
2. minus-last: all years but the last, on an empty cache (so that the last year's texts are masked,
   tokenized and embedded in step 3, as when its file arrives);
3. plus-last: the last year added to (2)'s cache (unchanged years reused, selection warm-started);
4. rerun: (3) again, nothing changed;
5. the last year added with the global models fitted again (``bertopic.reuse_layout = false``,
   ``lda.place_new_years = false``) on a copy of (2)'s cache: the comparison of (3), which placed the new
   year (BERTopic: in the stored UMAP layout, textmine.models.layout; LDA: in the earlier topics,
   textmine.models.placement), with a full refit on the same data, per model: dominant topics (NMI between
   the two runs), the phases (identical?), c_npmi (difference).

Usage (defaults: the bundled corpus, the default models (LDA + BERTopic) and embedding backend, median of 3):

    .venv/bin/python benchmarks/bench_incremental.py
    .venv/bin/python benchmarks/bench_incremental.py --synth-years 2013-2024 --docs-per-year 200 --embed char-svd
"""
from __future__ import annotations

import argparse
import resource
import contextlib
import json
import os
import shutil
import signal
import statistics
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


SERVER_ENV: dict = {}  # PREFECT_API_URL and PREFECT_HOME of the server started by --server


def run(corpus: Path, out: Path, cache: Path, args, *extra: str) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "flows", "run", str(corpus), "--out", str(out), "--models", args.models,
           "--set", f"run.cache_dir={cache}", *(["--set", f"embed.backend={args.embed}"] if args.embed else []),
           *extra]
    start, used = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **SERVER_ENV})
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"run failed:\n{done.stderr[-3000:]}")
    folder = Path(done.stdout.strip().splitlines()[-1])
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["_folder"] = str(folder)
    manifest["_cache"] = str(cache)
    # CPU seconds of the run's process tree (every descendant it waited for): what load does not change.
    manifest["_cpu"] = (after.ru_utime - used.ru_utime) + (after.ru_stime - used.ru_stime)
    return wall, manifest


def compare_with_refit(placed: Path, refit: Path, model: str) -> dict:
    """``model`` in the run that placed the new year (LDA: in the earlier topics, BERTopic: in the stored UMAP
    layout) against the run that fitted it again, same data: dominant topics (NMI), phases, c_npmi."""
    import pandas as pd
    from sklearn.metrics import normalized_mutual_info_score

    def dominant(folder: Path):
        table = pd.read_parquet(folder / "doc_topics.parquet")
        table = table[(table["model"] == model) & table["is_dominant"]].sort_values("doc_id")
        return table["topic"].to_numpy()

    def evaluation(folder: Path):
        return json.loads((folder / "evaluation.json").read_text(encoding="utf-8"))["models"][model]

    phases = [json.loads((f / "phases.json").read_text(encoding="utf-8")) for f in (placed, refit)]
    npmi = [evaluation(f).get("coherence_c_npmi") for f in (placed, refit)]
    return {"nmi_between_runs": round(float(normalized_mutual_info_score(dominant(placed), dominant(refit))), 4),
            "phases_identical": phases[0][model].get("phase_starts") == phases[1][model].get("phase_starts"),
            "consensus_phases_identical": (phases[0].get("consensus", {}).get("phase_starts")
                                           == phases[1].get("consensus", {}).get("phase_starts")),
            "phase_starts": phases[0][model].get("phase_starts"),
            "c_npmi_placed": npmi[0], "c_npmi_refit": npmi[1],
            "c_npmi_difference": round(abs(npmi[0] - npmi[1]), 4) if None not in npmi else None,
            "placement": evaluation(placed).get("layout") or evaluation(placed).get("placement")}


def seed_agreement(cache_dir: Path, n_docs: int, model: str) -> float | None:
    """Mean NMI between the seed runs of the newest global ``model`` fit over ``n_docs`` documents in the
    model cache ``cache_dir`` (their dominant topics): how far a full refit agrees with itself across seeds,
    the yardstick for the placed-vs-refit NMI."""
    import itertools

    import numpy as np
    from sklearn.metrics import normalized_mutual_info_score

    found = []
    for meta in (cache_dir / "models").glob("*/fitted.json"):
        info = json.loads(meta.read_text(encoding="utf-8"))
        if info.get("seeds", 0) > 1 and bool(info.get("has_outliers")) == (model == "bertopic"):
            rows = np.load(meta.parent / "doc_topic.npy", mmap_mode="r").shape[0]
            if rows == n_docs:
                found.append((meta.stat().st_mtime, meta.parent, info["seeds"]))
    if not found:
        return None
    _, folder, seeds = max(found)
    labels = [np.load(folder / f"seed_doc_topic_{i}.npy").argmax(axis=1) for i in range(seeds)]
    return round(float(np.mean([normalized_mutual_info_score(a, b)
                                for a, b in itertools.combinations(labels, 2)])), 4)


def flow_seconds(manifest: dict) -> float:
    return (datetime.fromisoformat(manifest["finished"]) - datetime.fromisoformat(manifest["started"])).total_seconds()


@contextlib.contextmanager
def prefect_server(work: Path):
    """A `prefect server` on 127.0.0.1 for the runs (as under `textmine serve`, where the scheduled rerun
    finds the server up), with its own PREFECT_HOME; stopped afterwards."""
    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"PREFECT_HOME": str(work / "prefect-home"), "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    log = open(work / "prefect-server.log", "w")
    server = subprocess.Popen([str(Path(sys.executable).parent / "prefect"), "server", "start", "--host", "127.0.0.1",
                               "--port", str(port)], env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"prefect server did not start: {(work / 'prefect-server.log').read_text()[-2000:]}")
            time.sleep(0.5)
        SERVER_ENV.update(env)
        yield
    finally:
        SERVER_ENV.clear()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(60)
        log.close()


def median_step(results: list[tuple[float, dict]]) -> tuple[float, dict]:
    """The repeat with the median wall time (its manifest with it)."""
    ordered = sorted(results, key=lambda r: r[0])
    return ordered[len(ordered) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(REPO / "corpora" / "ujp-synthetic"))
    parser.add_argument("--synth-years", help="write a synthetic corpus over these years instead, e.g. 2013-2024")
    parser.add_argument("--docs-per-year", type=int, default=None)
    parser.add_argument("--models", default="lda,bertopic", help="models (default: the config's default models)")
    parser.add_argument("--embed", default=None, help="embedding backend (default: the config default)")
    parser.add_argument("--repeats", type=int, default=3, help="cold, new-year and rerun steps, median reported")
    parser.add_argument("--server", action="store_true",
                        help="run against a `prefect server` started first (a scheduled rerun under `textmine serve`) "
                             "instead of each run's temporary server")
    parser.add_argument("--save", help="write the table and figures to this path (.md and .json beside it)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-incremental-"))
    corpus = Path(args.corpus)
    if args.synth_years:
        from textmine.synth.synth import SynthSpec, write_corpus

        first, last = (int(y) for y in args.synth_years.split("-"))
        corpus = write_corpus(work / "synth", SynthSpec(seed=11, first_year=first, last_year=last, n_phases=3,
                                                        docs_per_year=args.docs_per_year))
    files = sorted(p for p in corpus.iterdir() if p.suffix in (".csv", ".xlsx", ".jsonl", ".parquet", ".txt"))
    partial = work / "partial"
    partial.mkdir()
    for f in files[:-1] + [p for p in corpus.iterdir() if p.name in ("truth.json", "profile.toml", "corpus.toml")]:
        shutil.copy(f, partial / f.name)

    with prefect_server(work) if args.server else contextlib.nullcontext():
        steps, every = measure(args, corpus, partial, files, work)
    report(args, corpus, files, steps, every, steps["the last year added, fitted again"])
    shutil.rmtree(work, ignore_errors=True)


def measure(args, corpus: Path, partial: Path, files: list, work: Path) -> tuple[dict, dict]:
    """Cold, all but the last year, the last year added (placed and refitted), rerun.

    The repeats interleave (cold, the last year added, rerun; cold, ...) so that a machine whose load
    changes over minutes weighs on each kind of step alike."""
    cold, added, rerun = [run(corpus, work / "out", work / "cache-cold-0", args)], [], []
    print(f"cold 1/{args.repeats}: {cold[-1][0]:.1f} s", flush=True)
    before = run(partial, work / "out", work / "cache-grow", args)
    print(f"all but the last year: {before[0]:.1f} s", flush=True)
    for i in range(args.repeats):
        shutil.copytree(work / "cache-grow", work / f"cache-grow-{i}")
    shutil.copytree(work / "cache-grow", work / "cache-refit")
    shutil.copy(files[-1], partial / files[-1].name)
    refit = run(partial, work / "out", work / "cache-refit", args, "--set", "bertopic.reuse_layout=false",
                "--set", "lda.place_new_years=false")
    print(f"the last year added, fitted again (no placing): {refit[0]:.1f} s", flush=True)
    for i in range(args.repeats):
        if i:
            cold.append(run(corpus, work / "out", work / f"cache-cold-{i}", args))
            print(f"cold {i + 1}/{args.repeats}: {cold[-1][0]:.1f} s", flush=True)
        added.append(run(partial, work / "out", work / f"cache-grow-{i}", args))
        print(f"the last year added {i + 1}/{args.repeats}: {added[-1][0]:.1f} s", flush=True)
        rerun.append(run(partial, work / "out", work / f"cache-grow-{i}", args))
        print(f"rerun {i + 1}/{args.repeats}: {rerun[-1][0]:.1f} s", flush=True)

    steps = {"cold (all years)": median_step(cold), "all but the last year (no models)": before,
             "the last year added": median_step(added), "the last year added, fitted again": refit,
             "rerun, nothing changed": median_step(rerun)}
    every = {"cold (all years)": cold, "the last year added": added, "rerun, nothing changed": rerun}
    return steps, every


def report(args, corpus: Path, files: list, steps: dict, every: dict, refit: tuple) -> None:
    where = "against a running prefect server" if args.server else "each run on its temporary Prefect server"
    lines = [f"corpus: {corpus.name} ({len(files)} yearly files), models {args.models}, embed "
             f"{args.embed or 'default'}, {where}, median of {args.repeats} (cold, new year, rerun)", "",
             "| step | wall s | flow s | CPU s | share of cold: wall | share of cold: CPU | all wall times |",
             "|---|---:|---:|---:|---:|---:|---|"]
    cold_wall = steps["cold (all years)"][0]
    cold_cpu = statistics.median(m["_cpu"] for _, m in every["cold (all years)"])
    for name, (wall, manifest) in steps.items():
        runs = every.get(name, [(wall, manifest)])
        cpu = statistics.median(m["_cpu"] for _, m in runs)
        times = ", ".join(f"{w:.1f}" for w, _ in runs)
        lines.append(f"| {name} | {wall:.1f} | {flow_seconds(manifest):.1f} | {cpu:.1f} | {wall / cold_wall:.1%} | "
                     f"{cpu / cold_cpu:.1%} | {times} |")
    result = {"corpus": corpus.name, "models": args.models, "embed": args.embed, "repeats": args.repeats,
              "prefect": where,
              "wall": {name: [round(w, 2) for w, _ in runs] for name, runs in every.items()},
              "cpu": {name: [round(m["_cpu"], 2) for _, m in runs] for name, runs in every.items()},
              "new_year_share": round(steps["the last year added"][0] / cold_wall, 4),
              "rerun_share": round(steps["rerun, nothing changed"][0] / cold_wall, 4)}
    placed = Path(steps["the last year added"][1]["_folder"])
    evaluation_file = placed / "evaluation.json"
    evaluation = json.loads(evaluation_file.read_text(encoding="utf-8"))
    result["compared_with_refit"] = {}
    lines.append("")
    n_docs = steps["the last year added"][1]["documents"]["modelled"]
    for model in (m for m in args.models.split(",") if m in ("lda", "bertopic")):
        comparison = compare_with_refit(placed, Path(refit[1]["_folder"]), model)
        comparison["refit_nmi_between_its_seeds"] = seed_agreement(Path(refit[1]["_cache"]), n_docs, model)
        # The run that reused says how it compares with a full refit on the same data.
        evaluation["models"][model]["compared_with_refit"] = comparison
        result["compared_with_refit"][model] = comparison
        lines.append(f"- {model}: placed vs fitted again, same data: " + json.dumps(comparison, ensure_ascii=False))
    evaluation_file.write_text(json.dumps(evaluation, ensure_ascii=False, indent=2), encoding="utf-8")
    for name in ("cold (all years)", "the last year added", "rerun, nothing changed"):
        seconds = steps[name][1].get("stage_seconds", {})
        lines.append(f"- {name}, flow stages (s): " + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items()))
    text = "\n".join(lines)
    print(text)
    if args.save:
        Path(args.save).parent.mkdir(parents=True, exist_ok=True)  # a new folder (it crashed after the runs)
        Path(args.save).with_suffix(".md").write_text(text + "\n", encoding="utf-8")
        Path(args.save).with_suffix(".json").write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n",
                                                        encoding="utf-8")


if __name__ == "__main__":
    main()
