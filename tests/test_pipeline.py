"""The Prefect flow end to end on a real (temporary) Prefect server."""
import json

import numpy as np
import pandas as pd
import pytest

from conftest import flow_config
from flows.pipeline import run_pipeline
from textmine.core.errors import CorpusError

CHARTS = ("trajectories", "stacked", "heatmap", "phase_terms", "model_selection", "lineage")
EXPECTED = {"manifest.json", "topics.csv", "trajectories.csv", "phases.json", "doc_topics.parquet",
            "evaluation.json", "lineage.csv", "representative_docs.csv", "report.html", "summary.xlsx",
            "topics_over_time.csv", *(f"charts/{c}_{m}.png" for c in CHARTS for m in ("lda", "bertopic")),
            # what analysts of Korean text mining expect beside the topics (word frequency, networks), and
            # the tidy tables R and spreadsheet users read
            "doc_topics.csv", "documents.parquet", "topic_terms.csv", "word_frequency.csv", "networks/networks.xlsx",
            "networks/nodes.csv", "networks/edges.csv",
            *(f"networks/phase{n}_{a}-{b}.gexf" for n, a, b in ((1, 2015, 2017), (2, 2018, 2020), (3, 2021, 2024))),
            *(f"charts/wordcloud_phase{n}_{a}-{b}.png" for n, a, b in ((1, 2015, 2017), (2, 2018, 2020), (3, 2021, 2024))),
            *(f"charts/network_phase{n}.png" for n in (1, 2, 3))}


@pytest.fixture(scope="module")
def two_runs(small_runs):
    """Two whole runs (LDA and BERTopic) with the same seed: the session's, which the report tests read too."""
    return small_runs


@pytest.mark.slow
def test_run_folder_contents(two_runs, small_synth):
    (folder, _), out = two_runs
    files = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert {f for f in files if not f.startswith("models/")} == EXPECTED
    saved = {p.name for p in (folder / "models").iterdir()}
    assert {"bertopic-global", "lda-global"} <= saved and len(saved) >= 18  # global + per-year models
    assert (folder / "models" / "lda-global" / "topic_word.npy").is_file()
    assert not [f for f in files if f.endswith((".pkl", ".pickle"))]
    assert set(json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["outputs"]) == files
    assert not [p for p in out.iterdir() if p.name.startswith(".partial")]

    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    for key in ("run_id", "started", "finished", "config", "seed", "packages", "stage_seconds",
                "documents", "documents_per_year", "corpus"):
        assert key in manifest
    assert manifest["run_id"] == folder.name
    assert manifest["config"]["lda"]["passes"] == 5
    assert len(manifest["corpus"]["files"]) == 10 and all(len(f["sha256"]) == 64 for f in manifest["corpus"]["files"])
    assert set(manifest["stage_seconds"]) >= {"ingest", "mask_pii", "tokenize", "lda", "lda_yearly", "summarize_lda",
                                              "save_lda", "embed", "bertopic", "bertopic_yearly", "summarize_bertopic",
                                              "save_bertopic", "phases", "evaluate", "write", "report"}
    assert manifest["models"] == {"lda": "LDA", "bertopic": "BERTopic"}
    assert manifest["embedding"]["backend"] == "char-svd" and manifest["embedding"]["version"]
    assert manifest["packages"]["bertopic"] != "not installed"
    assert sum(manifest["documents_per_year"].values()) == manifest["documents"]["modelled"]

    traj = pd.read_csv(folder / "trajectories.csv")
    outliers = traj[traj["topic"] == -1]
    assert set(outliers["model"]) == {"bertopic"} and outliers.groupby("year").size().eq(1).all()
    sums = traj.groupby(["model", "year"])[["share", "doc_share"]].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0, atol=1e-6)
    assert sorted(traj["year"].unique()) == list(range(2015, 2025))
    assert (traj["share_lo"] <= traj["share"] + 1e-6).all() and (traj["share"] <= traj["share_hi"] + 1e-6).all()

    lineage = pd.read_csv(folder / "lineage.csv")
    assert set(lineage["kind"]) <= {"continue", "split", "merge", "birth", "death"}
    assert (lineage["to_year"] - lineage["from_year"]).between(1, 2).all()
    linked = lineage[lineage["kind"].isin(["continue", "split", "merge"])]
    assert (linked["similarity"] >= 0.6).all()

    topics_all = pd.read_csv(folder / "topics.csv")
    assert set(topics_all["model"]) == {"lda", "bertopic"}
    topics = topics_all[topics_all["model"] == "lda"]
    assert list(topics.columns) == ["model", "scope", "topic", "label", "top_terms", "term_weights",
                                    "relevant_terms", "size", "global_topic", "global_similarity"]
    per_year = topics[topics["scope"] != "global"]
    assert per_year["global_topic"].between(0, len(topics[topics["scope"] == "global"]) - 1).all()
    assert per_year["global_similarity"].between(0, 1).all()
    global_topics = topics[topics["scope"] == "global"]
    assert global_topics["size"].sum() == manifest["documents"]["modelled"]
    yearly = topics[topics["scope"] != "global"]
    modelled = json.loads((folder / "evaluation.json").read_text(encoding="utf-8"))["models"]["lda"]["yearly_models"]
    small = {y for y, k in modelled.items() if isinstance(k, str)}
    assert all(manifest["documents_per_year"][y] < 30 for y in small) and len(small) < 3  # small years reported
    assert set(yearly["scope"].astype(str)) == set(modelled) - small
    for year, group in yearly.groupby("scope"):  # per-year models cover that year's documents
        assert group["size"].sum() == manifest["documents_per_year"][str(year)]
        assert len(group) == modelled[str(year)]["num_topics"]

    all_docs = pd.read_parquet(folder / "doc_topics.parquet")
    for _, docs in all_docs.groupby("model"):
        assert docs.loc[docs["is_dominant"], "doc_id"].is_unique
        assert docs["doc_id"].nunique() == manifest["documents"]["modelled"]

    phases = json.loads((folder / "phases.json").read_text(encoding="utf-8"))
    assert set(phases) == {"lda", "bertopic", "consensus"}
    for entry in phases.values():
        assert entry["phase_starts"][0] == 2015 and entry["phases"][-1]["end"] == 2024
        assert all(0 <= p["confidence"] <= 1 for p in entry["phases"])
    assert phases["lda"]["replicates"] == 2 * 50  # two seeds × 50 bootstrap replicates

    evaluation = json.loads((folder / "evaluation.json").read_text(encoding="utf-8"))
    lda = evaluation["models"]["lda"]
    assert -1 <= lda["coherence_c_npmi"] <= 1 and 0 <= lda["coherence_c_v"] <= 1 and 0 < lda["topic_diversity"] <= 1
    assert [r["k"] for r in lda["k_selection"]] == [8, 10, 12] and lda["num_topics"] in (8, 10, 12)
    assert len(lda["stability"]["per_topic"]) == lda["num_topics"]
    assert 0 <= lda["topic_agreement"]["nmi"] <= 1
    assert (folder / "charts/trajectories_lda.png").read_bytes()[:4] == b"\x89PNG"

    bt = evaluation["models"]["bertopic"]
    assert bt["outliers"]["after"] <= 0.10 and set(bt["outliers"]["per_year_after"]) == set(manifest["documents_per_year"])
    assert bt["num_topics"] >= 2 and len(bt["stability"]["per_topic"]) == bt["num_topics"]
    assert bt["embedding"]["backend"] == "char-svd" and 0 <= bt["topic_agreement"]["nmi"] <= 1
    assert [r["min_cluster_size"] for r in bt["k_selection"]] == sorted(r["min_cluster_size"] for r in bt["k_selection"])
    bt_topics = topics_all[(topics_all["model"] == "bertopic") & (topics_all["scope"] == "global")]
    assert len(bt_topics) == bt["num_topics"]
    assert bt_topics["size"].sum() + round(bt["outliers"]["after"] * manifest["documents"]["modelled"]) == \
        manifest["documents"]["modelled"]
    over_time = pd.read_csv(folder / "topics_over_time.csv")
    assert set(over_time["period"]) == set(range(2015, 2025)) and over_time["words"].notna().all()


@pytest.mark.slow
def test_a_local_dask_cluster_gives_the_local_runners_outputs(two_runs, small_synth, tmp_path):
    """Per-year fits on two Dask workers (paths cross the process boundary, not arrays) change nothing."""
    (local, _), out = two_runs
    dask = run_pipeline(small_synth, flow_config(tmp_path / "dask", **{
        "run.models": "lda,bertopic", "run.task_runner": "dask", "run.max_workers": "2",
        "run.cache_dir": str(tmp_path / "dask-cache")}))
    for name in ("topics.csv", "trajectories.csv", "phases.json", "lineage.csv", "topics_over_time.csv"):
        assert (local / name).read_bytes() == (dask / name).read_bytes(), name


@pytest.mark.slow
def test_planted_phases_are_recovered(two_runs, small_synth):
    (folder, _), _ = two_runs
    truth = json.loads((small_synth / "truth.json").read_text(encoding="utf-8"))
    phases = json.loads((folder / "phases.json").read_text(encoding="utf-8"))
    assert phases["lda"]["phase_starts"] == truth["phase_starts"]
    assert phases["bertopic"]["phase_starts"] == truth["phase_starts"]
    assert phases["consensus"]["phase_starts"] == truth["phase_starts"]


@pytest.mark.slow
def test_same_seed_gives_identical_outputs(two_runs):
    (a, b), _ = two_runs
    assert a != b
    for name in ("topics.csv", "trajectories.csv", "phases.json", "topics_over_time.csv", "lineage.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    pd.testing.assert_frame_equal(pd.read_parquet(a / "doc_topics.parquet"), pd.read_parquet(b / "doc_topics.parquet"))


@pytest.fixture(scope="module")
def dynamic_runs(prefect_harness, small_synth, tmp_path_factory):
    """The tomotopy LDA engine and the dynamic topic model, twice with the same seed."""
    out = tmp_path_factory.mktemp("dynamic")
    # the second on the first's caches, not a copy of it (run.reuse_finished: textmine.outputs.rerun)
    return [run_pipeline(small_synth, flow_config(out, **{"run.models": "lda,dtm", "lda.backend": "tomotopy",
                                                          "dtm.seeds": "2", "run.reuse_finished": reuse}))
            for reuse in ("true", "false")]


@pytest.mark.slow
def test_tomotopy_lda_and_dtm_run_through_the_same_seam(dynamic_runs, small_synth):
    a, b = dynamic_runs
    for name in ("topics.csv", "trajectories.csv", "phases.json", "topics_over_time.csv", "lineage.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    truth = json.loads((small_synth / "truth.json").read_text(encoding="utf-8"))
    phases = json.loads((a / "phases.json").read_text(encoding="utf-8"))
    assert phases["lda"]["phase_starts"] == phases["dtm"]["phase_starts"] == truth["phase_starts"]
    evaluation = json.loads((a / "evaluation.json").read_text(encoding="utf-8"))
    assert evaluation["models"]["lda"]["engine"] == "tomotopy"
    assert evaluation["models"]["dtm"]["topic_agreement"]["nmi"] > 0.3
    over_time = pd.read_csv(a / "topics_over_time.csv")
    dtm = over_time[over_time["model"] == "dtm"]
    k = evaluation["models"]["dtm"]["num_topics"]
    assert len(dtm) == k * 10  # every topic's own words in every year
    assert dtm.groupby("topic")["words"].nunique().max() > 1  # the words change over the periods
    traj = pd.read_csv(a / "trajectories.csv")
    np.testing.assert_allclose(traj.groupby(["model", "year"])["share"].sum(), 1.0, atol=1e-6)
    assert {"lda-global", "dtm-global"} <= {p.name for p in (a / "models").iterdir()}
    assert (a / "models" / "lda-global" / "model.tomotopy.bin").is_file()
    assert (a / "charts" / "trajectories_dtm.png").is_file() and "DTM" in (a / "report.html").read_text(encoding="utf-8")


def test_flow_parameters_are_the_typed_config():
    """The Prefect UI renders its run form from this schema: every config section with defaults and descriptions."""
    from prefect.utilities.callables import parameter_schema

    from flows.pipeline import textmine_pipeline

    schema = parameter_schema(textmine_pipeline.fn).model_dump()
    assert schema["required"] == ["corpus"]
    config = schema["properties"]["config"]
    definitions = schema["definitions"]
    ref = config.get("$ref") or config["allOf"][0]["$ref"]
    sections = definitions[ref.split("/")[-1]]["properties"]
    assert set(sections) >= {"corpus", "tokenize", "lda", "embed", "bertopic", "dtm", "align", "phases", "run"}
    lda_fields = definitions["LdaConfig"]["properties"]
    assert lda_fields["backend"]["default"] == "gensim" and lda_fields["backend"]["description"]
    assert set(definitions["RunConfig"]["properties"]["models"]["items"]["enum"]) == {"lda", "bertopic", "dtm"}


@pytest.mark.slow
def test_failed_run_leaves_no_folder(prefect_harness, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    pd.DataFrame({"연도": [2019] * 3, "평가의견": ["상담 체계 강화"] * 3}).to_csv(corpus / "a.csv", index=False)
    pd.DataFrame({"연도": ["2020", "이천이십"], "평가의견": ["비교과", "실습"]}).to_csv(corpus / "b.csv", index=False)
    out = tmp_path / "out"
    with pytest.raises(CorpusError) as info:
        run_pipeline(corpus, flow_config(out))
    assert info.value.row == 3 and info.value.column == "연도"
    assert not out.exists() or not any(out.iterdir())


def _manifest(folder):
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


@pytest.mark.slow
def test_warm_rerun_never_calls_kiwi_and_a_new_year_only_tokenizes_that_year(prefect_harness, small_synth,
                                                                              tmp_path, monkeypatch):
    import shutil

    import textmine.text.tokenize

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in small_synth.glob("opinions_*.csv"):
        if "2024" not in path.name:
            shutil.copy(path, corpus / path.name)
    config = flow_config(tmp_path / "out", **{"run.cache_dir": str(tmp_path / "cache"), "corpus.cache": "true"})
    cold = run_pipeline(corpus, config)
    assert _manifest(cold)["token_cache"]["misses"] == list(range(2015, 2024))

    shutil.copy(small_synth / "opinions_2024.csv", corpus / "opinions_2024.csv")
    grown = run_pipeline(corpus, config)
    assert _manifest(grown)["token_cache"] == {"hits": list(range(2015, 2024)), "misses": [2024]}

    def no_kiwi(*args, **kwargs):
        raise AssertionError("Kiwi was called on a warm rerun")

    monkeypatch.setattr(textmine.text.tokenize, "tokenize_units", no_kiwi)
    warm = run_pipeline(corpus, config.model_copy(update={"run": config.run.model_copy(update={"reuse_finished": False})}))
    assert _manifest(warm)["token_cache"]["misses"] == []
    assert (warm / "topics.csv").read_bytes() == (grown / "topics.csv").read_bytes()
    # the corpus read and the analyses come back from the cache too, the same files
    assert [_manifest(f)["corpus_cache"] for f in (cold, grown, warm)] == ["miss", "miss", "hit"]
    assert [_manifest(f)["analyses"]["cache"] for f in (cold, grown, warm)] == ["miss", "miss", "hit"]
    for name in ("doc_topics.csv", "documents.parquet", "word_frequency.csv", "networks/edges.csv"):
        assert (warm / name).read_bytes() == (grown / name).read_bytes(), name


PII = ["010-2345-6789", "kim.sujin@example.ac.kr", "850315-2345678", "김수진", "이현우", "6789-0123", "8503152345678",
       "1234 - 5678", "+82-10-5555", "02)123-4567", "０１０", "홍길동", "김철수", "박영희"]


@pytest.mark.slow
def test_no_planted_pii_reaches_any_output(prefect_harness, small_synth, tmp_path):
    import shutil

    corpus = tmp_path / "corpus"
    shutil.copytree(small_synth, corpus)
    frame = pd.read_csv(corpus / "opinions_2019.csv", dtype=str)
    for i in range(0, 40):
        frame.loc[i, "평가의견"] += (" 김수진 팀장이 상담을 전담함. 이현우 컨설턴트 면담 실시."
                                 " 문의 010-2345-6789, kim.sujin@example.ac.kr, 주민번호 850315-2345678."
                                 " 연락처 (010)6789-0123, 8503152345678, 010 - 1234 - 5678, +82-10-5555-1234,"
                                 " +82-(0)10-5555-6789, 02)123-4567, ０１０－２２２２－３３３３."
                                 " 팀장 홍길동이 확인함. 김철수(팀장) 배석. 박영희 주무관 참석.")
    frame.to_csv(corpus / "opinions_2019.csv", index=False, encoding="utf-8-sig")
    cache_dir = tmp_path / "cache"
    folder = run_pipeline(corpus, flow_config(tmp_path / "out", **{"run.cache_dir": str(cache_dir),
                                                               "run.models": "lda,bertopic"}))
    assert (folder / "models" / "bertopic-global" / "topics.json").is_file()
    masked = _manifest(folder)["pii_masked"]
    assert masked["phone"] == 40 * 7 and masked["email"] == 40 and masked["rrn"] == 40 * 2 and masked["name"] == 40 * 5

    assert _manifest(folder)["corpus_cache"] == "off"  # it would hold the unmasked texts: opt-in only
    texts = []
    for path in list(folder.rglob("*")) + list(cache_dir.rglob("*")):
        if path.suffix == ".parquet":
            texts.append(pd.read_parquet(path).astype(str).to_string())
        elif path.suffix == ".xlsx":
            texts += [f.astype(str).to_string() for f in pd.read_excel(path, sheet_name=None).values()]
        elif path.suffix == ".npz":  # UMAP layouts (numbers, a JSON header) and word tables (words)
            with np.load(path) as stored:
                texts += [str(stored[name].tolist()) for name in stored.files if stored[name].dtype.kind == "U"]
        elif path.is_file() and path.suffix not in (".png", ".npy", ".safetensors"):  # numbers only
            texts.append(path.read_text(encoding="utf-8-sig"))
    # ... and what the Prefect UI shows: every artifact of the run.
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        texts += [str(a.data) + str(a.description) for a in client.read_artifacts()]
    assert texts
    for secret in PII:
        assert not any(secret in t for t in texts), secret
