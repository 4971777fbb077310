"""A researcher's round trip through the real flow: a run with topics by 지역 and named topics, the report
rebuilt with other names, and a rerun matched to the first run (stable topic identity).

One small LDA-only flow run and one rerun (its fits come from the model cache) on the small synthetic
corpus keep this module quick.
"""
import json

import networkx as nx
import pandas as pd
import pytest
from openpyxl import load_workbook

from conftest import run_cli

# Two real flow runs (one reusing the other's fits): part of the full suite, not the quick loop.
pytestmark = pytest.mark.slow


def _topic_labels(folder):
    """The 토픽 sheet's (topic -> label) of the global LDA topics in summary.xlsx."""
    sheet = pd.read_excel(folder / "summary.xlsx", sheet_name="토픽", engine="openpyxl")
    glob = sheet[(sheet["범위"] == "global") & (sheet["모델"] == "LDA")]
    return dict(zip(glob["토픽"], glob["레이블"]))


@pytest.fixture(scope="module")
def rounds(prefect_harness, small_synth, tmp_path_factory):
    from flows.pipeline import run_pipeline
    from textmine.core.config import load_config

    out = tmp_path_factory.mktemp("researcher")
    names = out / "names.toml"
    names.write_text('[lda]\n0 = "첫째 이름"\n1 = "둘째 이름"\n', encoding="utf-8")
    settings = {"run.out_dir": str(out / "runs"), "run.cache_dir": str(out / "cache"), "run.models": "lda",
                "lda.k_grid": "8,10", "lda.seeds": "1", "lda.passes": "3", "report.breakdown_bootstrap": "50"}
    first = run_pipeline(small_synth, load_config(None, {**settings, "report.by": "지역",
                                                         "report.labels": str(names)}))
    seen = {"page": (first / "report.html").read_text(encoding="utf-8"), "labels": _topic_labels(first)}
    return {"out": out, "first": first, "seen": seen, "settings": settings, "small_synth": small_synth}


def test_run_breaks_topics_down_by_region(rounds):
    first = rounds["first"]
    shares = pd.read_csv(first / "breakdowns.csv", encoding="utf-8-sig")
    assert {"model", "column", "value", "phase", "topic", "label", "share", "low", "high", "n_docs"} <= set(shares)
    assert set(shares["column"]) == {"지역"} and len(set(shares["value"])) >= 5
    assert shares["phase"].isna().any() and shares["phase"].notna().any()  # overall and per phase
    effects = pd.read_csv(first / "effects.csv", encoding="utf-8-sig")
    assert {"value", "topic", "diff", "low", "high", "excludes_zero"} <= set(effects)
    assert (first / "charts" / "breakdown_lda_지역.png").is_file()
    assert "메타데이터별 토픽" in load_workbook(first / "summary.xlsx", read_only=True).sheetnames
    manifest = json.loads((first / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["analyses"]["breakdowns"]["columns"] == ["지역"]
    assert "breakdowns.csv" in manifest["outputs"] and "analyses" in manifest["stage_seconds"]


def test_run_writes_word_frequencies_networks_and_document_tables(rounds):
    first = rounds["first"]
    freq = pd.read_csv(first / "word_frequency.csv", encoding="utf-8-sig")
    assert {"period", "phase"} == set(freq["scope_kind"])
    gexf = sorted((first / "networks").glob("phase*.gexf"))
    assert gexf and nx.read_gexf(gexf[0]).number_of_nodes() == 50
    for name in ("networks/networks.xlsx", "networks/nodes.csv", "networks/edges.csv", "doc_topics.csv",
                 "topic_terms.csv", "charts/network_phase1.png", "charts/wordcloud_" + gexf[0].stem + ".png"):
        assert (first / name).is_file(), name
    doc_topics = pd.read_parquet(first / "doc_topics.parquet")
    assert {"지역", "대학명", "period"} <= set(doc_topics)
    sheet = load_workbook(first / "summary.xlsx", read_only=True)["문서별 토픽"]
    modelled = json.loads((first / "manifest.json").read_text(encoding="utf-8"))["documents"]["modelled"]
    assert sheet.max_row == modelled + 1 == len(pd.read_parquet(first / "documents.parquet")) + 1  # and a header


def test_report_opens_with_the_narrative_and_uses_the_labels(rounds):
    page, labels = rounds["seen"]["page"], rounds["seen"]["labels"]
    assert "id='narrative'" in page and "1시기(" in page and "두드러졌다" in page
    assert page.index("id='narrative'") < page.index("id='summary'")
    for section in ("wordfreq", "networks", "breakdowns"):
        assert f"id='{section}'" in page
    assert "첫째 이름" in page and labels[0] == "첫째 이름" and labels[1] == "둘째 이름"
    assert (rounds["first"] / "labels.toml").is_file()


def test_report_rebuilt_with_other_labels_then_rerun_keeps_topic_identity(rounds, capsys):
    from flows.pipeline import run_pipeline
    from textmine.core.config import load_config

    first = rounds["first"]
    other = rounds["out"] / "other.toml"
    other.write_text('[lda]\n1 = "다른 이름"\n', encoding="utf-8")
    code, out, err = run_cli(["report", first, "--labels", other], capsys)
    assert code == 0, err
    page = (first / "report.html").read_text(encoding="utf-8")
    assert "다른 이름" in page and "첫째 이름" not in page
    labels = _topic_labels(first)
    assert labels[1] == "다른 이름" and labels[0] != "첫째 이름"  # topic 0 back to its automatic label
    assert (first / "labels.toml").read_text(encoding="utf-8") == other.read_text(encoding="utf-8")

    code, _, err = run_cli(["report", first, "--labels", rounds["out"] / "missing.toml"], capsys)
    assert code == 2 and "does not exist" in err

    second = run_pipeline(rounds["small_synth"], load_config(None, {**rounds["settings"],
                                                                   "report.previous": str(first)}))
    topics = pd.read_csv(second / "topics.csv", encoding="utf-8-sig")
    glob = topics[topics["scope"] == "global"]
    assert {"previous_topic", "previous_label", "identity"} <= set(topics)
    assert (glob["identity"] == "kept").all() and (glob["previous_topic"] == glob["topic"]).all()
    assert topics.loc[topics["scope"] != "global", "identity"].isna().all()
    assert _topic_labels(second)[1] == "다른 이름"  # the first run's name carried over
    assert "유지 (이전 T1 다른 이름" in (second / "report.html").read_text(encoding="utf-8")
    assert not (second / "breakdowns.csv").exists()  # no --by, no breakdowns


def test_previous_that_is_not_a_run_folder_is_refused_before_anything_starts(tmp_path, capsys):
    from flows.cli import main

    with pytest.raises(SystemExit) as info:  # argparse refuses the flag: exit status 2
        main(["run", "--previous", str(tmp_path), "--out", str(tmp_path / "out")])
    assert info.value.code == 2 and "not a finished textmine run folder" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
