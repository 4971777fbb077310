"""benchmarks/run_all.py: the README performance table from results JSON, the README markers, and one tiny real run."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
RUN_ALL = REPO / "benchmarks" / "run_all.py"
_spec = importlib.util.spec_from_file_location("run_all", RUN_ALL)
run_all = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run_all)

MACHINE = {"cpu_model": "Test CPU @ 2.0GHz", "cores": 2, "cores_usable": 2, "ram_gb": 8.0, "system": "Linux",
           "python": "3.11.7", "packages": {"textmine": "0.1.0", "kiwipiepy": "0.24.1", "gensim": "4.4.0"},
           "commit": "abc1234"}


def _record(stage: str, size: int, figures: dict, date: str = "2026-01-02T03:04:05+00:00", **extra) -> dict:
    return {"stage": stage, "size": size, "date": date, "machine": MACHINE, "repeats": figures.get("repeats", 1),
            "command": "benchmarks/run_all.py", "figures": figures, **extra}


def _results(folder: Path) -> Path:
    """A small results folder: every stage at 10k, BERTopic sampled at 1M."""
    records = [
        _record("e2e", 10_000, {
            "docs": 9_950, "repeats": 3, "run_args": ["--models", "lda"], "rerun_over_cold": 0.0512,
            "cold": {"seconds": 400.0, "docs_per_s": 24.875, "peak_rss_mb": 2048.4,
                     "stage_seconds": {"tokenize": 50.0, "lda": 250.0, "report": 20.0, "ingest": 1.0},
                     "stage_peak_rss_mb": {"tokenize": 900, "lda": 2500},
                     "scale": {"large_corpus": True, "documents": 9_950,
                               "switches": [{"setting": "lda k selection", "value": "sample", "why": "big"}]}},
            "rerun": {"seconds": 20.48, "docs_per_s": 485.8, "peak_rss_mb": 700.0},
            "quality": {"planted_phase_starts": [2015, 2018, 2021], "models": {
                "consensus": {"phases_detected": [2018, 2021], "phases_planted": [2018, 2021], "phases_exact": True},
                "lda": {"phases_detected": [2019], "phases_planted": [2018, 2021], "phases_exact": False,
                        "nmi": 0.6924, "num_topics": 12}}}}),
        _record("bertopic", 1_000_000, {
            "docs": 100_000, "corpus_docs": 994_122, "backend": "char-svd", "min_cluster_size": 1000, "repeats": 1,
            "modes": {"embed-cold": {"seconds": 85.6}, "embed-warm": {"seconds": 0.24},
                      "bare": {"seconds": 200.0, "num_topics": 33.0, "outlier_share": 0.081},
                      "textmine-1": {"seconds": 260.0, "docs_per_s": 384.6, "peak_rss_mb": 4900.0, "num_topics": 34.0,
                                     "outlier_share": 0.08, "reduction_seconds": 150.0, "clustering_seconds": 58.0}},
            "ratios": {}}, bertopic_docs=100_000),
        _record("lda", 10_000, {
            "docs": 9_950, "k": 12, "repeats": 3, "gibbs_iterations": 200, "process_peak_rss_mb": 1200.0,
            "modes": {"textmine LDA stage": {"seconds": 10.5, "docs_per_s": 947.6, "c_npmi": 0.215},
                      "bare gensim (same class)": {"seconds": 10.0, "docs_per_s": 995.0, "c_npmi": 0.214},
                      "textmine LDA stage, tomotopy 200 it.": {"seconds": 3.0, "docs_per_s": 3316.7, "c_npmi": 0.22},
                      "tomotopy LDAModel 200 iterations": {"seconds": 2.5, "docs_per_s": 3980.0, "c_npmi": 0.221}}}),
        _record("tokenize", 10_000, {
            "docs": 9_950, "chars": 2_000_000, "workers": 2, "repeats": 3,
            "modes": {"raw": {"seconds": 11.0, "docs_per_s": 904.5, "peak_rss_mb": 800.0},
                      "cold": {"seconds": 11.2, "docs_per_s": 888.4, "peak_rss_mb": 810.6},
                      "warm": {"seconds": 0.08, "docs_per_s": 124375.0, "peak_rss_mb": 600.0}}}),
    ]
    folder.mkdir(parents=True, exist_ok=True)
    for r in records:
        (folder / f"{r['stage']}-{r['size']}.json").write_text(json.dumps(r), encoding="utf-8")
    return folder


README = """# Project

Some text.

## Speed (2 cores, medians; `benchmarks/`)

<!-- perf-table:start -->
old generated table
<!-- perf-table:end -->

Earlier measurements (by hand):

| what | figure | command |
|---|---|---|
| x | y | z |

## Next section
"""

GOLDEN_ROWS = [
    "| stage | documents | wall (median) | throughput | peak RSS | vs raw library (time) | quality / "
    "notes |",
    "|---|---|---|---|---|---|---|",
    "| tokenize | 9,950 | 11.2 s (median of 3) | 888 docs/s | 811 MB | 1.02× raw Kiwi | raw Kiwi 11.0 s; "
    "warm rerun 0.08 s (140× faster); 2 Kiwi workers; 2,000,000 chars |",
    "| lda (gensim) | 9,950 | 10.5 s (median of 3) | 948 docs/s | 1,200 MB (bench process) | 1.05× bare "
    "gensim | c_npmi 0.215 vs 0.214 (bare gensim 10.0 s); k=12 |",
    "| lda (tomotopy) | 9,950 | 3.00 s (median of 3) | 3,317 docs/s | 1,200 MB (bench process) | 1.20× "
    "bare tomotopy | c_npmi 0.220 vs 0.221 (bare tomotopy 2.50 s); k=12 |",
    "| e2e | 9,950 | 400.0 s (median of 3) | 25 docs/s | 2,048 MB (2,500 MB summed, lda) | – | rerun 20.5 "
    "s = 5.1% of cold; lda: phases 2019 vs planted 2018, 2021, NMI 0.69; consensus: phases 2018, 2021 "
    "(exact); scale switches: lda k selection; slowest stages (cold): lda 250.0 s, tokenize 50.0 s, "
    "report 20.0 s; `textmine run --models lda` |",
    "| bertopic | 100,000 | 260.0 s | 385 docs/s | 4,900 MB | 1.30× bare BERTopic | random sample of "
    "100,000 of the 994,122 documents (--bertopic-docs 100,000); char-svd embeddings, same seed and "
    "min_cluster_size 1,000; 34 topics, 8% outliers (bare: 33 topics, 8% outliers); UMAP 150.0 s, HDBSCAN "
    "58.0 s; embedding cold 85.6 s, warm 357× faster |",
]


def test_table_rows_golden(tmp_path):
    table = run_all.render_table(run_all.load_results(_results(tmp_path / "results")))
    lines = table.splitlines()
    assert lines[:len(GOLDEN_ROWS)] == GOLDEN_ROWS  # by size, then tokenize, lda, bertopic, e2e
    assert lines[len(GOLDEN_ROWS)] == ""
    assert lines[len(GOLDEN_ROWS) + 1] == ("Machine: 2 cores, 8 GB RAM, Test CPU @ 2.0GHz; Python 3.11.7; "
                                           "kiwipiepy 0.24.1, gensim 4.4.0.")
    assert "Measured 2026-01-02 with `benchmarks/run_all.py`" in lines[-1]
    assert ".venv/bin/python benchmarks/run_all.py --readme" in lines[-1]


def test_empty_results_say_how_to_fill_them(tmp_path):
    assert "benchmarks/run_all.py" in run_all.render_table(run_all.load_results(tmp_path / "none"))


def test_readme_replacement_is_idempotent_and_local(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(README, encoding="utf-8")
    results = _results(tmp_path / "results")
    run_all.update_readme(readme, results)
    once = readme.read_text(encoding="utf-8")
    run_all.update_readme(readme, results)
    assert readme.read_text(encoding="utf-8") == once
    head, rest = README.split(run_all.START)
    tail = rest.split(run_all.END)[1]
    assert once.startswith(head + run_all.START + "\n| stage |")
    assert once.endswith(run_all.END + tail)
    assert "old generated table" not in once
    assert once.count(run_all.START) == once.count(run_all.END) == 1


@pytest.mark.parametrize("text", ["# no markers\n", f"{run_all.END}\nx\n{run_all.START}\n",
                                  f"{run_all.START}\n{run_all.START}\n{run_all.END}\n"])
def test_missing_or_broken_markers_are_a_clear_error(tmp_path, text):
    readme = tmp_path / "README.md"
    readme.write_text(text, encoding="utf-8")
    with pytest.raises(run_all.MarkerError, match="perf-table:start"):
        run_all.update_readme(readme, tmp_path / "results")
    with pytest.raises(SystemExit, match="perf-table:start"):
        run_all.main(["--readme", "--readme-file", str(readme), "--out", str(tmp_path / "results")])
    assert readme.read_text(encoding="utf-8") == text


def test_missing_readme_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="missing.md: no such file"):
        run_all.main(["--readme", "--readme-file", str(tmp_path / "missing.md"), "--out", str(tmp_path)])


def test_repo_readme_has_the_markers_in_the_speed_section():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    run_all.replace_between_markers(text, "")  # exactly one pair, in order
    speed = text.index("## Speed")
    assert speed < text.index(run_all.START) < text.index(run_all.END) < text.index("Earlier measurements (by hand):")
    assert text.index("Earlier measurements (by hand):") < text.index("## ", speed + 1)


def test_sizes_and_rounding():
    assert run_all.parse_sizes("1M,10k,100000") == [10_000, 100_000, 1_000_000]
    assert run_all.rounded({"a": [1.234567891, 2], "b": 123456.789}) == {"a": [1.2346, 2], "b": 123460.0}


def test_e2e_quality_reads_evaluation_json():
    evaluation = {"truth": {"phase_starts": [2015, 2018, 2021], "synthetic": True}, "models": {
        "lda": {"num_topics": 14, "coherence_c_npmi": 0.22, "k_selection": [],
                "phase_boundaries": {"detected": [2018, 2021], "planted": [2018, 2021], "exact": True,
                                     "mean_abs_year_error": 0.0},
                "topic_agreement": {"documents": 1990, "nmi": 0.69, "ari": 0.68}},
        "consensus": {"phase_boundaries": {"detected": [2018], "planted": [2018, 2021], "exact": False,
                                           "mean_abs_year_error": 1.5}}}}
    q = run_all.e2e_quality(evaluation)
    assert q["planted_phase_starts"] == [2015, 2018, 2021]
    assert q["models"]["lda"] == {"num_topics": 14, "c_npmi": 0.22, "phases_detected": [2018, 2021],
                                  "phases_planted": [2018, 2021], "phases_exact": True,
                                  "phase_mean_abs_year_error": 0.0, "nmi": 0.69, "ari": 0.68}
    assert q["models"]["consensus"]["phases_exact"] is False


@pytest.mark.slow
def test_run_all_tokenize_on_a_tiny_corpus(tmp_path, capsys):
    """A real run: textmine synth (300 documents) and bench_tokenize's three modes in their own processes."""
    readme_before = (REPO / "README.md").read_text(encoding="utf-8")
    out = tmp_path / "results"
    done = subprocess.run([sys.executable, str(RUN_ALL), "--sizes", "300", "--stages", "tokenize", "--repeats", "1",
                           "--out", str(out), "--work", str(tmp_path / "work")], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [p.name for p in out.iterdir()] == ["tokenize-300.json"]
    result = json.loads((out / "tokenize-300.json").read_text(encoding="utf-8"))
    assert result["stage"] == "tokenize" and result["size"] == 300 and result["repeats"] == 1
    assert result["date"] and "--sizes 300" in result["command"]
    assert result["machine"]["cores"] >= 1 and result["machine"]["ram_gb"] > 0 and result["machine"]["cpu_model"]
    assert result["machine"]["python"] and "kiwipiepy" in result["machine"]["packages"]
    assert result["corpus"]["seed"] == 1 and result["corpus"]["format"] in ("csv", "parquet")
    figures = result["figures"]
    assert 250 <= figures["docs"] <= 350 and figures["chars"] > 0
    for mode in ("raw", "cold", "warm"):
        m = figures["modes"][mode]
        assert m["seconds"] > 0 and m["seconds_all"] and m["docs_per_s"] > 0 and m["peak_rss_mb"] > 50
    assert figures["ratios"]["cold_throughput_vs_raw"] > 0 and figures["ratios"]["warm_speedup_vs_cold"] > 1
    assert "| tokenize |" in done.stdout and "README not updated" in done.stdout
    assert (REPO / "README.md").read_text(encoding="utf-8") == readme_before
    # the next run with the same size and seed reuses the corpus
    corpus = Path(result["corpus"]["path"])
    written = corpus.stat().st_mtime_ns
    folder, info = run_all.corpus_for(300, 1, tmp_path / "work")
    assert folder == corpus and corpus.stat().st_mtime_ns == written
    assert "(reused)" in capsys.readouterr().out
    assert info == {k: v for k, v in result["corpus"].items() if k != "path"}


# ---------------------------------------------------------------- the quality stage

def _tiny_corpus(folder: Path) -> Path:
    from textmine.synth.synth import SynthSpec, write_corpus

    return write_corpus(folder, SynthSpec(seed=7, docs_per_year=30), format="parquet")


def _read_corpus(folder: Path):
    import pandas as pd

    return {p.name: pd.read_parquet(p) for p in sorted(folder.glob("opinions_*.parquet"))}


def test_write_subset_is_a_stratified_deterministic_subset_with_its_truth(tmp_path):
    corpus = _tiny_corpus(tmp_path / "corpus")
    original = _read_corpus(corpus)
    truth = json.loads((corpus / "truth.json").read_text(encoding="utf-8"))
    total = sum(len(f) for f in original.values())
    assert total > 200

    info = run_all.write_subset(corpus, tmp_path / "a", 120, seed=1)
    subset = _read_corpus(tmp_path / "a")
    assert info["rows"] == 120 == sum(len(f) for f in subset.values()) and info["corpus_rows"] == total
    assert list(subset) == list(original)  # a file per year, the same names
    for name, frame in subset.items():
        year = name.removeprefix("opinions_").removesuffix(".parquet")
        assert info["rows_per_year"][year] == len(frame)
        assert abs(len(frame) - 120 * len(original[name]) / total) < 1  # in proportion (largest remainder)
        assert list(frame.columns) == list(original[name].columns)  # the original columns and types
        assert frame.dtypes.equals(original[name].dtypes)
        rows = original[name].set_index("연번").loc[frame["연번"]].reset_index()
        assert frame.equals(rows[frame.columns])  # whole rows of the original, in their order
        assert frame["연번"].is_monotonic_increasing and frame["연번"].is_unique
    kept = {d for frame in subset.values() for d in frame["연번"]}
    sub_truth = json.loads((tmp_path / "a" / "truth.json").read_text(encoding="utf-8"))
    assert sub_truth["doc_topic"] == {d: t for d, t in truth["doc_topic"].items() if d in kept}
    assert len(sub_truth["doc_topic"]) >= 110  # blank opinions have no topic
    assert {k: v for k, v in sub_truth.items() if k != "doc_topic"} == {k: v for k, v in truth.items()
                                                                        if k != "doc_topic"}
    # the same corpus, size and seed give the same subset; another seed another one
    run_all.write_subset(corpus, tmp_path / "b", 120, seed=1)
    again = _read_corpus(tmp_path / "b")
    assert all(again[name].equals(subset[name]) for name in subset)
    assert (tmp_path / "b" / "truth.json").read_bytes() == (tmp_path / "a" / "truth.json").read_bytes()
    run_all.write_subset(corpus, tmp_path / "c", 120, seed=2)
    assert {d for f in _read_corpus(tmp_path / "c").values() for d in f["연번"]} != kept


def test_subset_for_is_written_once_and_reused(tmp_path, capsys):
    corpus = _tiny_corpus(tmp_path / "work" / "synth-300-seed1")
    info = {"docs": 300, "seed": 1}
    folder, record = run_all.subset_for(corpus, info, 100, 1, tmp_path / "work")
    assert folder == tmp_path / "work" / "subset-100-of-synth-300-seed1" and record["rows"] == 100
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == [
        "subset-100-of-synth-300-seed1", "subset-100-of-synth-300-seed1.json", "synth-300-seed1"]
    written = (folder / "truth.json").stat().st_mtime_ns
    assert run_all.subset_for(corpus, info, 100, 1, tmp_path / "work") == (folder, record)
    assert (folder / "truth.json").stat().st_mtime_ns == written and "(reused)" in capsys.readouterr().out
    run_all.subset_for(corpus, info | {"generator_version": "other"}, 100, 1, tmp_path / "work")  # a new corpus
    assert "(reused)" not in capsys.readouterr().out and (folder / "truth.json").stat().st_mtime_ns != written


def test_quality_is_a_stage_but_not_a_default_one():
    assert "quality" in run_all.STAGES and "quality" not in run_all.DEFAULT_STAGES
    assert run_all.parse_stages("quality,e2e") == ["e2e", "quality"]  # e2e first: quality reads its result


def _quality_models(lda_nmi: float, lda_exact: bool, bertopic_nmi: float | None = None) -> dict:
    models = {"consensus": {"phases_detected": [2018, 2021], "phases_planted": [2018, 2021], "phases_exact": True},
              "lda": {"phases_detected": [2018, 2021] if lda_exact else [2019], "phases_planted": [2018, 2021],
                      "phases_exact": lda_exact, "nmi": lda_nmi, "ari": lda_nmi - 0.1, "num_topics": 12}}
    if bertopic_nmi is not None:
        models["bertopic"] = {"nmi": bertopic_nmi, "ari": 0.3}
    return {"quality": {"planted_phase_starts": [2015, 2018, 2021], "models": models}}


def test_quality_figures_compare_the_plan_with_the_full_method():
    full, plan = _quality_models(0.70, True, 0.50), _quality_models(0.68, True, 0.43)
    whole = {"run_args": ["--models", "lda,bertopic"]} | _quality_models(0.74, True, 0.47)
    f = run_all.quality_figures(full, plan, whole, ["--models", "lda,bertopic"])
    assert list(f["models"]) == ["bertopic", "lda", "consensus"]
    lda, bertopic = f["models"]["lda"], f["models"]["bertopic"]
    assert lda["nmi"] == {"full_on_subset": 0.70, "plan_on_subset": 0.68, "plan_on_full": 0.74}
    assert lda["nmi_diff"] == {"plan_on_subset": -0.02, "plan_on_full": 0.04}
    assert lda["nmi_within"] == lda["nmi_not_worse"] == {"plan_on_subset": True, "plan_on_full": True}
    assert lda["phases_exact"] == {"full_on_subset": True, "plan_on_subset": True, "plan_on_full": True}
    assert bertopic["nmi_diff"] == {"plan_on_subset": -0.07, "plan_on_full": -0.03}
    assert bertopic["nmi_within"] == {"plan_on_subset": False, "plan_on_full": True}
    assert "phases_exact" not in bertopic and "nmi" not in f["models"]["consensus"]
    assert f["requirement"] == {"phases_exact_full_on_subset": True, "phases_exact_plan_on_subset": True,
                                "phases_exact_plan_on_full": True, "nmi_within_plan_on_subset": False,
                                "nmi_within_plan_on_full": True, "met": True}
    assert f["plan_on_full_same_run_args"] is True and f["nmi_tolerance"] == 0.05
    # exactly 0.05 away counts as within; no whole-corpus run leaves its verdicts open
    f = run_all.quality_figures(_quality_models(0.70, True), _quality_models(0.65, False), None, [])
    assert f["models"]["lda"]["nmi_diff"] == {"plan_on_subset": -0.05}
    assert f["models"]["lda"]["nmi_within"] == {"plan_on_subset": True}
    assert f["requirement"]["phases_exact_plan_on_subset"] is False and f["requirement"]["met"] is None
    assert f["requirement"]["nmi_within_plan_on_full"] is None and f["plan_on_full_same_run_args"] is None


def _quality_record(size: int, same_args: bool = True) -> dict:
    full, plan = _quality_models(0.712, True, 0.5), _quality_models(0.705, True, 0.46)
    whole = {"run_args": [] if same_args else ["--models", "lda"]} | _quality_models(0.7, False, 0.49)
    figures = {"run_args": [], "docs": 19_870,
               "subset": {"path": "/w/subset", "subset_docs": 20_000, "seed": 1, "rows": 20_000,
                          "corpus_rows": 99_412, "rows_per_year": {}},
               "runs": {"full_on_subset": {"seconds": 2400.0}, "plan_on_subset": {"seconds": 300.5}},
               "plan_on_full": {"run_args": whole["run_args"]},
               "plan": {"plan_on_subset": {"large_corpus": True,
                                           "switches": ["lda k selection", "bertopic documents"]}}}
    figures |= run_all.quality_figures(full, plan, whole, [])
    return _record("quality", size, figures, date="2026-01-03T00:00:00+00:00")


QUALITY_LINES = [
    "| corpus | model | subset (modelled) | NMI: full method, subset | NMI: plan, subset | NMI: plan, whole corpus "
    "| phases exact: full, subset / plan, subset / plan, whole corpus |",
    "|---|---|---|---|---|---|---|",
    "| 100,000 | bertopic | 19,870 | 0.500 | 0.460 (−0.040) | 0.490 (−0.010) | – / – / – |",
    "| 100,000 | lda | 19,870 | 0.712 | 0.705 (−0.007) | 0.700 (−0.012) | yes / yes / no |",
    "| 100,000 | consensus | 19,870 | – | – | – | yes / yes / yes |",
    "",
    "100,000: a stratified subset of 20,000 of the 99,412 rows; full method 2,400 s (40 min), plan 300.5 s on it; "
    "`textmine run`; the plan's switches on the subset: lda k selection, bertopic documents; the requirement "
    "(whole corpus: phases exact, NMI within 0.05 of the full method on the subset) "
    "NOT met.",
]


def test_quality_rows_in_the_readme_table(tmp_path):
    results = _results(tmp_path / "results")
    (results / "quality-100000.json").write_text(json.dumps(_quality_record(100_000)), encoding="utf-8")
    lines = run_all.render_table(run_all.load_results(results)).splitlines()
    assert lines[:len(GOLDEN_ROWS)] == GOLDEN_ROWS  # the speed table as before, without a quality row
    start = lines.index(QUALITY_LINES[0])
    assert lines[start - 2].startswith("Quality of the large-corpus plan (`--stages quality`)")
    assert "(the aim: within 0.05)" in lines[start - 2]
    assert lines[start:start + len(QUALITY_LINES)] == QUALITY_LINES
    assert lines[start + len(QUALITY_LINES)] == "" and lines[start + len(QUALITY_LINES) + 1].startswith("Machine: ")
    assert "Measured 2026-01-02 to 2026-01-03" in lines[-1]
    # the whole-corpus run had other arguments: marked, and said which
    (results / "quality-100000.json").write_text(json.dumps(_quality_record(100_000, same_args=False)),
                                                 encoding="utf-8")
    table = run_all.render_table(run_all.load_results(results))
    assert "| 100,000 | lda | 19,870 | 0.712 | 0.705 (−0.007) | 0.700† (−0.012) | yes / yes / no |" in table
    assert "| 100,000 | consensus | 19,870 | – | – | – | yes / yes / yes |" in table
    assert "† the whole-corpus run (e2e) had `textmine run --models lda`" in table
    record = _quality_record(100_000)
    record["figures"]["plan"]["plan_on_subset"] = {"large_corpus": False, "switches": []}
    (results / "quality-100000.json").write_text(json.dumps(record), encoding="utf-8")
    assert ("the plan did not apply to the subset (below scale.large_docs): both ran the full method"
            in run_all.render_table(run_all.load_results(results)))
    # quality results alone: no empty speed table
    only = tmp_path / "only"
    only.mkdir()
    (only / "quality-100000.json").write_text(json.dumps(_quality_record(100_000)), encoding="utf-8")
    lines = run_all.render_table(run_all.load_results(only)).splitlines()
    assert lines[0].startswith("Quality of the large-corpus plan") and "| stage |" not in "\n".join(lines)
    assert lines[2:2 + len(QUALITY_LINES)] == QUALITY_LINES


def test_bench_coherence_scores_equal_to_gensim_on_a_tiny_corpus(tmp_path):
    """A real run: planted topics of 300 synthetic opinions, gensim's accumulator against textmine's; the
    script exits non-zero if the two scores differ in any bit."""
    from textmine.synth.synth import SynthSpec, write_corpus

    corpus = write_corpus(tmp_path / "corpus", SynthSpec(seed=5, docs_per_year=30))
    out = tmp_path / "coherence.json"
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_coherence.py"), "--corpus", str(corpus),
                           "--repeats", "2", "--cache-dir", str(tmp_path / "cache"), "--json", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert figures["docs_scored"] >= 250 and figures["topics"] >= 3 and figures["words"] == 10
    for measure in ("c_v", "c_npmi"):
        m = figures["measures"][measure]
        assert len(m["seconds_all"]["gensim"]) == len(m["seconds_all"]["textmine"]) == 2
        assert -1 <= m["score"] <= 1 and m["speedup"] > 0
    assert "(equal)" in done.stdout


def test_bench_coherence_needs_planted_topics(tmp_path):
    from textmine.synth.synth import SynthSpec, write_corpus

    corpus = write_corpus(tmp_path / "corpus", SynthSpec(seed=5, docs_per_year=10))
    (corpus / "truth.json").unlink()
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_coherence.py"), "--corpus", str(corpus),
                           "--repeats", "1", "--cache-dir", str(tmp_path / "cache")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "no truth.json" in done.stderr


PETITIONS = REPO.parent / "shared" / "data" / "petitions" / "petitions_2017_2019.csv.gz"


@pytest.mark.slow
@pytest.mark.skipif(not PETITIONS.is_file(), reason="the real petitions are in ../shared (read-only in CI)")
def test_bench_quality_smoke_on_300_real_petitions(tmp_path):
    """benchmarks/bench_quality.py end to end on a seeded sample of 300 petitions: every row scored."""
    out = tmp_path / "quality.json"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_quality.py"), "--limit", "300",
                           "--backends", "char-svd", "--cache-dir", str(tmp_path / "cache"), "--json", str(out),
                           "--markdown", str(tmp_path / "quality.md")], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["documents"] == 300 and result["categories"] >= 10
    scored = {r["method"]: r for r in result["rows"] if "nmi" in r}
    assert set(scored) == {"textmine lda", "textmine lda, plain Kiwi tokens", "bare gensim LdaModel",
                           "bare tomotopy LDAModel", "textmine bertopic, char-svd",
                           "textmine bertopic, char-svd, outliers kept", "bare BERTopic, char-svd"}
    for r in scored.values():
        assert 0 <= r["nmi"] <= 1 and -1 <= r["ari"] <= 1 and 0 < r["diversity"] <= 1 and r["topics"] >= 2
    assert scored["textmine bertopic, char-svd"]["outliers"] <= 0.10 + 1e-9  # the default reassigns outliers
    assert "| textmine lda | default |" in (tmp_path / "quality.md").read_text(encoding="utf-8")


def test_dtm_rows_compare_the_plan_with_the_full_method(tmp_path):
    assert "dtm" in run_all.STAGES and "dtm" not in run_all.DEFAULT_STAGES
    mode = {"seconds": 120.0, "peak_rss_mb": 900.0, "k": 12, "k_seconds": 40.0, "nmi": 0.16, "c_npmi": -0.05,
            "training": {"seeds": {"42": {"iterations": 1000}, "43": {"iterations": 1000}}}}
    plan = mode | {"seconds": 30.0, "nmi": 0.49, "c_npmi": 0.17, "k_seconds": None,
                   "training": {"seeds": {"42": {"iterations": 900}, "43": {"iterations": 1000}}},
                   "large_corpus": {"documents_fitted": 2_000, "documents_inferred": 18_000, "docs_per_period": 200}}
    figures = {"docs": 20_000, "periods": 10, "long": 1, "modes": {"full": mode, "plan": plan},
               "plan_vs_full_nmi": 0.31}
    long_figures = figures | {"docs": 5_000, "periods": 30, "long": 10}
    results = tmp_path / "results"
    results.mkdir()
    (results / "dtm-20000.json").write_text(json.dumps(_record("dtm", 20_000, figures)), encoding="utf-8")
    (results / "dtm-long-5000.json").write_text(json.dumps(_record("dtm-long", 5_000, long_figures)), encoding="utf-8")
    table = run_all.render_table(run_all.load_results(results))
    assert ("| dtm (full method) | 20,000 | 120.0 s | 167 docs/s | 900 MB | – | NMI 0.160; c_npmi -0.050; k=12 chosen "
            "in 40.0 s; iterations per seed 1000/1000; 10 periods |") in table
    assert ("| dtm (plan) | 20,000 | 30.0 s | 667 docs/s | 900 MB | 0.25× full method | NMI 0.490; c_npmi 0.170; "
            "k=12 (LDA's); iterations per seed 900/1000; 10 periods; 2,000 fitted, 18,000 inferred; NMI with the "
            "full method's topics 0.310 |") in table
    assert "| dtm-long (plan) | 5,000 | 30.0 s | 167 docs/s | 900 MB | 0.25× full method | " in table
    assert "10 opinions a document, 30 periods" in table


def test_no_reruns_is_refused_before_anything_runs(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        run_all.main(["--sizes", "10k", "--stages", "e2e", "--reruns", "0", "--out", str(tmp_path),
                      "--work", str(tmp_path / "work")])
    assert stopped.value.code == 2 and "--reruns must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "work").exists()


def test_the_scaling_stage_is_asked_for_by_name_and_its_table_shows_each_speed_up():
    assert "scaling" in run_all.STAGES and "scaling" not in run_all.DEFAULT_STAGES
    spec = importlib.util.spec_from_file_location("bench_scaling", REPO / "benchmarks" / "bench_scaling.py")
    scaling = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scaling)
    tasks = {"tokenize": {"tasks": 20, "longest_task_seconds": 9.0}, "lda_grid": {"tasks": 18, "longest_task_seconds": 4.0},
             "lda_yearly": {"tasks": 10, "longest_task_seconds": 2.0}}
    runs = [{"workers": 1, "wall_seconds": 300.0, "stage_seconds": {"tokenize": 180.0, "lda": 60.0, "lda_yearly": 20.0},
             "stage_tasks": tasks},
            {"workers": 2, "wall_seconds": 200.0, "stage_seconds": {"tokenize": 100.0, "lda": 60.0, "lda_yearly": 10.0},
             "stage_tasks": tasks}]
    figures = {"runs": runs, "speedups": scaling.speedups(runs)}
    assert figures["speedups"] == {"2": {"stages": {"tokenize": 1.8, "lda": 1.0, "lda_yearly": 2.0}, "end_to_end": 1.5}}
    text = scaling.table(figures)
    assert "| **tokenize** | 180.0 s (20 tasks, longest 9.0 s) | 100.0 s (20 tasks, longest 9.0 s) | 1.80× |" in text
    # the global LDA stage shows its grid's tasks (a part of the stage), not the per-year stage's
    assert "| lda | 60.0 s (grid: 18 tasks, longest 4.0 s) | 60.0 s (grid: 18 tasks, longest 4.0 s) | 1.00× |" in text
    assert "| lda_yearly | 20.0 s (10 tasks, longest 2.0 s) |" in text
    assert "| **end to end (wall)** | 300.0 s | 200.0 s | 1.50× |" in text
    # its results are beside the others but not rows of the README's speed table
    assert run_all.table_rows([{"stage": "scaling", "size": 2000, "figures": figures}]) == []
