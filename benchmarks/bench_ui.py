"""The analysts' workspace (``textmine ui``): server time of its pages on a large run, and its memory.

A run folder of ``--docs`` opinions (default 100,000) is generated from a synthetic corpus (``textmine
synth``; the topics are the planted themes, as in the workspace's tests: no model is fitted, the UI reads
files only) and served by the real app in process (Starlette's test client: the time is the server's,
without a network).  Measured, median of ``--repeats`` requests each (goals of the issue: run page and
topic page under 300 ms, an opinion search under 500 ms):

- the run page, a topic page (its opinions' first page, representative opinions per year), an opinion
  search (a word, first page) and a filtered search (word + year + 지역); and each page's first request
  (the run's tables read, a topic's representative opinions found: they are then kept);
- the search's query alone through DuckDB (what the app uses) and through pyarrow's dataset filter
  (the alternative: filter, then sort and page in pandas), to show why DuckDB;
- the app's resident memory after listing ``--runs`` runs (links to the generated one) and opening
  each run's page once (goal: under 1 GB with 20 runs).

    .venv/bin/python benchmarks/bench_ui.py                  # 100,000 opinions, 20 repeats
    .venv/bin/python benchmarks/bench_ui.py --docs 5000 --repeats 3 --runs 3     # a quick check
"""
from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]


def median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 1)


def pyarrow_search(folder: Path, text: str, page: int = 1, page_size: int = 20):
    """The search of textmine.ui.queries.Opinions.search (a substring, newest year first, one page, with the
    total) through pyarrow's dataset filter instead of DuckDB."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    docs = ds.dataset(folder / "documents.parquet")
    table = docs.to_table(filter=pc.match_substring(pc.field("text"), text))
    total = table.num_rows
    rows = table.sort_by([("year", "descending"), ("doc_id", "ascending")]).slice((page - 1) * page_size, page_size)
    dominant = ds.dataset(folder / "doc_topics.parquet").to_table(
        filter=(pc.field("model") == "lda") & pc.field("is_dominant") & pc.field("doc_id").isin(rows["doc_id"]),
        columns=["doc_id", "topic", "probability"])
    return total, rows.to_pandas().merge(dominant.to_pandas(), on="doc_id", how="left")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000, help="opinions in the generated run")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--runs", type=int, default=20, help="runs listed for the memory figure")
    parser.add_argument("--work", help="folder for the corpus and runs (default: a temporary one)")
    args = parser.parse_args(argv)

    import psutil
    from starlette.testclient import TestClient

    import ui_runs
    from textmine.synth.synth import SynthSpec, write_corpus
    from textmine.ui import create_app
    from textmine.ui.queries import Opinions

    work = Path(args.work or tempfile.mkdtemp(prefix="bench-ui-"))
    started = time.perf_counter()
    corpus = write_corpus(work / "corpus", SynthSpec(seed=7, docs_per_year=args.docs // 10), format="parquet")
    docs, truth = ui_runs.read_corpus(corpus)
    root = work / "runs"
    root.mkdir(parents=True, exist_ok=True)
    run_id = "run-20260301-060000-bench0"
    if not (root / run_id).exists():
        ui_runs.write_run(root / run_id, docs, truth, run_id=run_id, themes=sorted(truth["topics"]), merged={})
    for i in range(1, args.runs):
        link = root / f"run-20260301-060000-bench{i}"
        if not link.exists():
            link.symlink_to(root / run_id, target_is_directory=True)
    setup = time.perf_counter() - started

    client = TestClient(create_app(root), base_url="http://127.0.0.1:8765")
    word = "상담"
    n_docs = len(docs)
    region = str(docs["지역"].iloc[0])
    urls = {"run page": f"/runs/{run_id}", "topic page": f"/runs/{run_id}/topics/lda/1",
            "opinion search": f"/runs/{run_id}/opinions?q={word}",
            "filtered search": f"/runs/{run_id}/opinions?q={word}&year=2019&지역={region}"}
    first = {}
    for name, url in urls.items():  # first requests: caches filled, as after an analyst's first click
        started_at = time.perf_counter()
        assert client.get(url).status_code == 200, url
        first[name] = round((time.perf_counter() - started_at) * 1000, 1)
    other_topic = f"/runs/{run_id}/topics/lda/2"
    started_at = time.perf_counter()
    client.get(other_topic)
    first["topic page, another topic"] = round((time.perf_counter() - started_at) * 1000, 1)
    figures = {name: median_ms(lambda u=url: client.get(u), args.repeats) for name, url in urls.items()}
    opinions = Opinions(root / run_id)
    figures["search query, DuckDB"] = median_ms(lambda: opinions.search(text=word, model="lda"), args.repeats)
    figures["search query, pyarrow dataset filter"] = median_ms(lambda: pyarrow_search(root / run_id, word),
                                                                args.repeats)
    del docs, truth   # the generator's table is not the app's memory
    gc.collect()
    for i in range(args.runs):
        client.get(f"/runs/run-20260301-060000-bench{i}")
    assert client.get("/").text.count("<tr data-run=") == args.runs
    rss_mb = psutil.Process().memory_info().rss / 2**20
    result = {"docs": n_docs, "repeats": args.repeats, "runs_listed": args.runs,
              "median_ms": figures, "first_request_ms": first, "rss_mb_with_runs_listed": round(rss_mb, 1),
              "setup_seconds": round(setup, 1), "work": str(work)}
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
