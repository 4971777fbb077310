"""Scaling over Dask workers: the same corpus run cold on a local Dask cluster of 1, then 2 (then more)
single-threaded workers; time per stage (the run's manifest: stage_seconds, and stage_tasks for the
sharded stages) and the speed-up of each stage and of the whole run against the first worker count.

Each run is ``python -m flows run CORPUS --set run.task_runner=dask --set run.dask_address=...`` in its
own process with an empty cache folder, against a ``distributed.LocalCluster`` this script starts (and
ends) for it, ``processes=True``, one thread per worker: the cluster holds the cores, as on real machines.

    .venv/bin/python benchmarks/bench_scaling.py --docs 2000 --run-args "--models lda"   # small: minutes
    .venv/bin/python benchmarks/run_all.py --sizes 100k --stages scaling                  # the issue's figure

Prints a table; ``--json`` / ``--md`` write the figures (run_all writes them under benchmarks/results).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The stages the issue sets goals for (speed-up from 1 to 2 workers): >= 1.8x for these, >= 1.6x end to end.
SHARDED = ("mask_pii", "tokenize", "embed")


def write_corpus(docs: int, seed: int, folder: Path) -> Path:
    from textmine.synth.synth import SynthSpec, write_corpus as synth

    return synth(folder, SynthSpec(seed=seed, docs_per_year=max(1, docs // 10)))


def run_on_cluster(corpus: Path, workers: int, run_args: list[str], work: Path) -> dict:
    """One cold run on a fresh local cluster of ``workers`` single-threaded worker processes."""
    from distributed import LocalCluster

    cache, out = work / f"cache-{workers}", work / f"out-{workers}"
    shutil.rmtree(cache, ignore_errors=True)
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        cmd = [sys.executable, "-m", "flows", "run", str(corpus), "--out", str(out), "--set",
               f"run.cache_dir={cache}", "--set", "run.task_runner=dask", "--set",
               f"run.dask_address={cluster.scheduler_address}", *run_args]
        print(f"$ {shlex.join(cmd)}", flush=True)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"the run on {workers} worker(s) failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    folder = Path(proc.stdout.strip().splitlines()[-1])
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    shutil.rmtree(cache, ignore_errors=True)
    return {"workers": workers, "wall_seconds": round(wall, 3), "stage_seconds": manifest["stage_seconds"],
            "stage_tasks": manifest.get("stage_tasks", {}), "documents": manifest["documents"].get("modelled"),
            "run_folder": str(folder), "command": cmd}


def speedups(runs: list[dict]) -> dict:
    """Per stage and end to end, the first run's time over each later run's."""
    base = runs[0]
    out = {}
    for run in runs[1:]:
        stages = {s: round(t / run["stage_seconds"][s], 3) for s, t in base["stage_seconds"].items()
                  if run["stage_seconds"].get(s)}
        out[str(run["workers"])] = {"stages": stages, "end_to_end": round(base["wall_seconds"] / run["wall_seconds"], 3)}
    return out


def tasks_within(run: dict, stage: str) -> list[tuple[str, dict]]:
    """The tasks a stage ran: its own record, and those of its parts that are no stage of their own
    (the ``lda`` stage's ``lda_grid`` and ``lda_seeds``), each labelled with its part."""
    records = run["stage_tasks"]
    parts = [(f"{name.removeprefix(stage + '_')}: ", records[name]) for name in records
             if name.startswith(stage + "_") and name not in run["stage_seconds"]]
    return ([("", records[stage])] if stage in records else []) + parts


def table(figures: dict) -> str:
    runs = figures["runs"]
    head = ["stage", *(f"{r['workers']} worker{'s' * (r['workers'] > 1)}" for r in runs),
            *(f"speed-up ×{w}" for w in figures["speedups"])]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for stage in runs[0]["stage_seconds"]:
        cells = []
        for r in runs:
            t = r["stage_seconds"].get(stage)
            cell = "–" if t is None else f"{t:.1f} s"
            cell += "".join(f" ({what}{tasks['tasks']} tasks, longest {tasks['longest_task_seconds']:.1f} s)"
                            for what, tasks in tasks_within(r, stage))
            cells.append(cell)
        cells += [f"{s['stages'][stage]:.2f}×" if stage in s["stages"] else "–" for s in figures["speedups"].values()]
        lines.append("| " + " | ".join([f"**{stage}**" if stage in SHARDED else stage, *cells]) + " |")
    lines.append("| **end to end (wall)** | " + " | ".join(f"{r['wall_seconds']:.1f} s" for r in runs) + " | "
                 + " | ".join(f"{s['end_to_end']:.2f}×" for s in figures["speedups"].values()) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, help="corpus folder (default: a synthetic one of --docs opinions)")
    parser.add_argument("--docs", type=int, default=100_000, help="synthetic corpus size (default 100000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated (default 1,2)")
    parser.add_argument("--run-args", default="", help='extra `textmine run` arguments, e.g. "--models lda"')
    parser.add_argument("--repeats", type=int, default=1, help="accepted for run_all; each count runs once")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temporary one)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--md", type=Path, help="write the table here (markdown)")
    args = parser.parse_args(argv)
    counts = [int(w) for w in args.workers.split(",") if w.strip()]
    if not counts or min(counts) < 1:
        parser.error("--workers must list worker counts of at least 1, e.g. 1,2")

    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as scratch:
        work = args.work or Path(scratch)
        corpus = args.corpus or write_corpus(args.docs, args.seed, work / "corpus")
        runs = [run_on_cluster(corpus, w, shlex.split(args.run_args), work) for w in counts]
    figures = {"corpus": str(corpus), "documents": runs[0]["documents"], "run_args": args.run_args,
               "workers": counts, "runs": runs, "speedups": speedups(runs),
               "load_average_1min": os.getloadavg()[0]}
    text = table(figures)
    print(f"\nscaling on a local Dask cluster, {figures['documents']:,} opinions modelled"
          f"{' (' + args.run_args + ')' if args.run_args else ''}:\n\n{text}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    if args.md:
        args.md.parent.mkdir(parents=True, exist_ok=True)
        args.md.write_text(f"Scaling, {figures['documents']:,} opinions, run args `{args.run_args or '(none)'}`, "
                           f"load average {figures['load_average_1min']:.2f} at the end:\n\n{text}\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
