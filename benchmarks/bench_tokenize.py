"""Tokenization speed: raw Kiwi against textmine's tokenize stage, on the same texts.

Each measurement runs in its own process (so peak RSS is that mode's own), and
is repeated (raw first in even repeats, last in odd ones); medians are printed.  Modes:

- raw:   ``Kiwi(num_workers=W).tokenize(list)`` over every text, results consumed.
- cold:  textmine's stage as the flow runs it (years together, profile, PII-free texts,
         token selection, a cache entry per year) with an empty cache.
- warm:  the same with the cache filled by the cold run.

Model loading is timed apart from tokenization.  Usage:

    .venv/bin/python benchmarks/bench_tokenize.py                     # bundled corpus
    .venv/bin/python benchmarks/bench_tokenize.py --synth-docs 100000 --repeats 1

``--json PATH`` also writes the figures (every repeat, medians, ratios) as JSON (benchmarks/run_all.py).
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _texts_by_year(corpus: str) -> dict[int, list[str]]:
    from textmine.io.corpus import load_corpus

    docs = load_corpus(corpus).modelling_docs()
    return {int(y): g["text"].tolist() for y, g in docs.groupby("year")}


def child(mode: str, corpus: str, workers: int, cache_dir: str) -> dict:
    by_year = _texts_by_year(corpus)
    texts = [t for y in sorted(by_year) for t in by_year[y]]
    t0 = time.perf_counter()
    if mode == "raw":
        from kiwipiepy import Kiwi

        kiwi = Kiwi(num_workers=workers)
        load = time.perf_counter() - t0
        t1 = time.perf_counter()
        n_tokens = sum(len(tokens) for tokens in kiwi.tokenize(texts))
    else:
        from textmine.text.cache import cached_tokenize_years
        from textmine.core.config import TokenizeConfig
        from textmine.text.tokenize import kiwi_for, load_profile

        profile = load_profile()
        kiwi_for(profile, workers)
        load = time.perf_counter() - t0
        t1 = time.perf_counter()
        done = cached_tokenize_years(by_year, profile, TokenizeConfig(), workers, cache_dir)
        n_tokens = sum(len(t) for tokens, _, _ in done.values() for t in tokens)
    seconds = time.perf_counter() - t1
    return {"mode": mode, "seconds": seconds, "load_seconds": load, "docs": len(texts),
            "chars": sum(map(len, texts)), "tokens_kept": n_tokens,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_child(mode: str, corpus: str, workers: int, cache_dir: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, "--corpus", corpus, "--workers", str(workers),
                          "--cache-dir", cache_dir], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(REPO / "corpora" / "ujp-synthetic"))
    parser.add_argument("--synth-docs", type=int, help="benchmark a synthetic corpus of about this many documents")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--modes", default="raw,cold,warm", help="which of raw,cold,warm to run (warm needs cold)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.corpus, args.workers, args.cache_dir)))
        return

    work = Path(tempfile.mkdtemp(prefix="bench-tokenize-"))
    try:
        corpus = args.corpus
        if args.synth_docs:
            from textmine.synth.synth import SynthSpec, write_corpus

            corpus = str(write_corpus(work / "corpus", SynthSpec(seed=1, docs_per_year=args.synth_docs // 10)))
        modes = [m for m in ("raw", "cold", "warm") if m in args.modes.split(",")]
        results: dict[str, list[dict]] = {m: [] for m in modes}
        for repeat in range(args.repeats):
            cache_dir = work / "cache"
            shutil.rmtree(cache_dir, ignore_errors=True)
            # Raw goes first in even repeats and last in odd ones, so a drift of the machine's speed during
            # a repeat (other tenants, clocks) does not always favour the same side; warm follows cold,
            # whose cache it reuses.
            order = modes if repeat % 2 == 0 or "raw" not in modes else [m for m in modes if m != "raw"] + ["raw"]
            for mode in order:
                results[mode].append(run_child(mode, corpus, args.workers, str(cache_dir)))
                r = results[mode][-1]
                print(f"  ({mode}: {r['seconds']:.2f} s, peak RSS {r['peak_rss_mb']:,.0f} MB)", flush=True)
        first = results[modes[0]][0]
        print(f"corpus: {corpus}\n{first['docs']:,} documents, {first['chars']:,} characters; "
              f"{args.workers} Kiwi workers; {args.repeats} repeats, medians shown")
        print(f"{'mode':<6}{'seconds':>10}{'docs/s':>12}{'chars/s':>14}{'load s':>9}{'peak RSS MB':>13}")
        med = {}
        figures = {"corpus": corpus, "docs": first["docs"], "chars": first["chars"], "workers": args.workers,
                   "repeats": args.repeats, "modes": {}, "ratios": {}}
        for mode, runs in results.items():
            sec = statistics.median(r["seconds"] for r in runs)
            med[mode] = sec
            print(f"{mode:<6}{sec:>10.2f}{first['docs'] / sec:>12,.0f}{first['chars'] / sec:>14,.0f}"
                  f"{statistics.median(r['load_seconds'] for r in runs):>9.2f}"
                  f"{statistics.median(r['peak_rss_mb'] for r in runs):>13,.0f}")
            figures["modes"][mode] = {
                "seconds": sec, "seconds_all": [r["seconds"] for r in runs], "docs_per_s": first["docs"] / sec,
                "chars_per_s": first["chars"] / sec, "load_seconds": statistics.median(r["load_seconds"] for r in runs),
                "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs), "tokens_kept": runs[0]["tokens_kept"]}
        if "raw" in med and "cold" in med:
            print(f"cold throughput vs raw Kiwi: {med['raw'] / med['cold']:.2f}x   (goal >= 0.9x)")
            figures["ratios"]["cold_throughput_vs_raw"] = med["raw"] / med["cold"]
            # The same repeat's raw and cold ran minutes apart at most: their ratio is less exposed to the
            # machine's slow drifts than the ratio of medians taken over the whole run.
            paired = [r["seconds"] / c["seconds"] for r, c in zip(results["raw"], results["cold"])]
            print(f"  per repeat: {', '.join(f'{x:.2f}' for x in paired)} (median {statistics.median(paired):.2f}x)")
            figures["ratios"]["cold_throughput_vs_raw_per_repeat"] = paired
        if "cold" in med and "warm" in med:
            print(f"warm rerun vs cold:          {med['cold'] / med['warm']:.1f}x faster   (goal >= 20x)")
            figures["ratios"]["warm_speedup_vs_cold"] = med["cold"] / med["warm"]
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=1, sort_keys=True), encoding="utf-8")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
