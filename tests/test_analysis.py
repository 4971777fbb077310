"""The run folder's additions (the registered analyses, textmine.analysis.analysis) and the report built from them,
without Prefect.

A toy run is written the way the flow writes it (runfolder.write_outputs, then analysis.write_analyses,
then report.build_outputs) from documents with metadata and a toy model summarized by the generic
step, so every file, column and sheet can be checked in a few seconds.
"""
import json

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from textmine.analysis import analysis, identity, summaries, wordfreq
from textmine.core.config import LdaConfig, load_config
from textmine.core.errors import TextmineError
from textmine.models.topicmodel import FittedTopics, TopicModel
from textmine.outputs import runfolder
from textmine.report import interactive, report
from textmine.text.documents import Documents

YEARS = (2019, 2020, 2021, 2022)
VOCAB = ["상담", "진로", "취업", "성과", "지역", "청년", "실습", "비교과", "홍보", "예산", "졸업생", "기업"]
REGIONS = ["서울", "부산", "대구"]


def _documents(n_per_year=24) -> Documents:
    rng = np.random.default_rng(3)
    rows, tokens = [], []
    for y in YEARS:
        for i in range(n_per_year):
            region = REGIONS[i % 3]
            rows.append({"doc_id": f"{y}-{i:03d}", "year": y, "text": ("-" if i == 0 else "") + f"의견 {y} {i}",
                         "source_file": "x.csv", "is_empty": False, "지역": region, "대학명": f"대학{i % 4}"})
            # early years talk of counselling, later ones of employment; 서울 more of 성과
            base = VOCAB[:4] if y < 2021 else VOCAB[2:8]
            words = list(rng.choice(base, size=5)) + list(rng.choice(VOCAB, size=2))
            if region == "서울":
                words += ["성과", "성과"]
            tokens.append([str(w) for w in words])
    docs = pd.DataFrame(rows)
    return Documents(docs=docs, periods=docs["year"].tolist(), unit_tokens=tokens, unit_owner=list(range(len(docs))))


def _fitted(data: Documents, k=3, seed=0) -> FittedTopics:
    rng = np.random.default_rng(seed)
    doc_topic = rng.dirichlet(np.ones(k), size=len(data))
    seoul = (data.docs["지역"] == "서울").to_numpy()
    doc_topic[seoul, 0] += 1.0  # 서울 talks more of topic 0
    doc_topic /= doc_topic.sum(axis=1, keepdims=True)
    topic_word = rng.dirichlet(np.full(len(VOCAB), 0.3), size=k)
    terms = [[(VOCAB[i], float(topic_word[t, i])) for i in np.argsort(-topic_word[t])[:5]] for t in range(k)]
    return FittedTopics(doc_topic=doc_topic, topic_terms=terms, topic_word=topic_word, vocabulary=VOCAB,
                        quality={"num_topics": k})


class _Toy(TopicModel):
    name, settings_section, settings_class = "lda", "lda", LdaConfig

    def fit(self, data, warm_start=None):
        return _fitted(data)


PHASES = {"lda": {"phases": [{"start": 2019, "end": 2020, "label": "상담·진로"},
                             {"start": 2021, "end": 2022, "label": "취업·성과"}],
                  "phase_starts": [2019, 2021], "method": "fixed at 2"},
          "consensus": {"phases": [{"start": 2019, "end": 2020, "label": "상담·진로", "confidence": 1.0},
                                   {"start": 2021, "end": 2022, "label": "취업·성과", "confidence": 0.9}],
                        "phase_starts": [2019, 2021], "boundary_confidence": {"2021": 0.9},
                        "method": "majority vote over models (lda)"}}


def _write_run(out, config, name="run-a"):
    """A finished toy run folder, written as the flow writes it."""
    data = _documents()
    fitted = _fitted(data)
    output = summaries.summarize(_Toy(config), fitted, {}, data, config)
    outputs = {"lda": output}
    with runfolder.RunFolder(out, name) as run:
        manifest = {"run_id": name, "config": config.to_dict(), "seed": config.run.seed,
                    "documents_per_year": {str(y): 24 for y in YEARS}, "models": {"lda": "LDA"}}
        runfolder.write_outputs(run, list(outputs.values()), PHASES, {"models": {"lda": fitted.quality}})
        manifest["analyses"] = analysis.write_analyses(run, data, PHASES, outputs, config)
        run.write_json("manifest.json", manifest)
    return run.final, manifest["analyses"]


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("analyses")
    labels = out / "names.toml"
    labels.write_text('[lda]\n0 = "성과 관리"\n', encoding="utf-8")
    config = load_config(None, {"report.by": "지역,대학명", "report.labels": str(labels),
                                "report.breakdown_bootstrap": "50", "report.network_top_n": "10",
                                "report.breakdown_min_docs": "5"})
    folder, record = _write_run(out, config)
    report.build_outputs(folder)
    return folder, record, config


def test_files_and_what_the_manifest_records(toy_run):
    folder, record, _ = toy_run
    for name in ("doc_topics.parquet", "doc_topics.csv", "documents.parquet", "topic_terms.csv",
                 "word_frequency.csv", "breakdowns.csv", "effects.csv", "labels.toml", "networks/networks.xlsx",
                 "networks/nodes.csv", "networks/edges.csv", "networks/phase1_2019-2020.gexf",
                 "networks/phase2_2021-2022.gexf"):
        assert (folder / name).is_file(), name
        assert name in record["files"]
    assert record["networks"]["settings"]["weight"] == "npmi" and record["networks"]["settings"]["top_n"] == 10
    assert record["breakdowns"]["columns"] == ["지역", "대학명"]
    assert record["labels"]["source"].endswith("names.toml") and record["labels"]["unknown"] == []
    assert json.loads(json.dumps(record)) == record  # plain JSON for manifest.json


def test_doc_topics_carry_metadata_and_match_the_csv(toy_run):
    folder, _, _ = toy_run
    table = pd.read_parquet(folder / "doc_topics.parquet")
    assert {"doc_id", "year", "model", "topic", "probability", "is_dominant", "period", "지역", "대학명"} <= set(table)
    assert not {"text", "source_file", "is_empty"} & set(table)
    assert table.groupby("doc_id")["is_dominant"].sum().eq(1).all()
    csv = pd.read_csv(folder / "doc_topics.csv", encoding="utf-8-sig")
    assert len(csv) == len(table) and list(csv.columns) == list(table.columns)
    docs = pd.read_parquet(folder / "documents.parquet")
    assert len(docs) == 96 and docs["text"].iloc[0].startswith("-")  # the masked text, as it is


def test_topic_terms_is_the_long_form_of_topics_csv(toy_run):
    folder, _, _ = toy_run
    terms = pd.read_csv(folder / "topic_terms.csv", encoding="utf-8-sig")
    assert list(terms.columns) == ["model", "scope", "topic", "rank", "term", "weight", "kind"]
    top = terms[terms["kind"] == "top"]
    assert len(top) == 3 * 5 and top.groupby("topic")["rank"].max().eq(5).all()
    topics = pd.read_csv(folder / "topics.csv", encoding="utf-8-sig")
    first = top[top["topic"] == 0].sort_values("rank")["term"].tolist()
    assert ", ".join(first) == topics.loc[topics["topic"] == 0, "top_terms"].iloc[0]


def test_word_frequency_and_networks(toy_run):
    folder, _, _ = toy_run
    freq = pd.read_csv(folder / "word_frequency.csv", encoding="utf-8-sig")
    assert set(freq["scope"]) == {"2019", "2020", "2021", "2022", "phase1_2019-2020", "phase2_2021-2022"}
    graph = nx.read_gexf(folder / "networks" / "phase2_2021-2022.gexf")
    assert graph.number_of_nodes() == 10 and "성과" in graph
    nodes = pd.read_csv(folder / "networks" / "nodes.csv", encoding="utf-8-sig")
    edges = pd.read_csv(folder / "networks" / "edges.csv", encoding="utf-8-sig")
    assert {"phase", "scope", "term", "degree", "betweenness", "concor_block"} <= set(nodes)
    assert {"phase", "scope", "source", "target", "weight", "count", "npmi"} <= set(edges)
    assert (edges["weight"] == edges["npmi"]).all()  # NPMI weights by default
    book = load_workbook(folder / "networks" / "networks.xlsx", read_only=True)
    assert book.sheetnames[0] == "시기 개요" and any(n.endswith("동시출현") for n in book.sheetnames)


def test_breakdowns_and_effects(toy_run):
    folder, _, _ = toy_run
    shares = pd.read_csv(folder / "breakdowns.csv", encoding="utf-8-sig")
    assert {"model", "column", "value", "phase", "topic", "label", "share", "low", "high", "n_docs"} <= set(shares)
    overall = shares[shares["phase"].isna()]
    assert set(overall["column"]) == {"지역", "대학명"} and set(shares["phase"].dropna()) == {1, 2}
    sums = overall.groupby(["column", "value"])["share"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0, atol=1e-5)
    effects = pd.read_csv(folder / "effects.csv", encoding="utf-8-sig")
    seoul = effects[(effects["value"] == "서울") & effects["phase"].isna() & (effects["topic"] == 0)].iloc[0]
    assert seoul["diff"] > 0 and seoul["low"] > 0 and bool(seoul["excludes_zero"])


def test_report_shows_every_addition_with_the_labels(toy_run):
    folder, _, _ = toy_run
    page = (folder / "report.html").read_text(encoding="utf-8")
    for section in ("narrative", "wordfreq", "networks", "breakdowns"):
        assert f"id='{section}'" in page, section
    assert "성과 관리" in page and "1시기(2019–2020년)" in page
    assert "phase1_2019-2020.gexf" in page and "지역" in page
    assert "map-lda" in page  # the intertopic distance map
    charts = {p.name for p in (folder / "charts").glob("*.png")}
    assert {"wordcloud_phase1_2019-2020.png", "network_phase2.png", "breakdown_lda_지역.png",
            "breakdown_lda_대학명.png"} <= charts
    book = load_workbook(folder / "summary.xlsx", read_only=True)
    assert {"메타데이터별 토픽", "메타데이터 차이", "문서별 토픽"} <= set(book.sheetnames)
    per_doc = pd.read_excel(folder / "summary.xlsx", sheet_name="문서별 토픽", engine="openpyxl")
    assert {"문서 ID", "연도", "지역", "LDA 토픽", "LDA 레이블", "LDA 확률", "의견(개인정보 가림)"} <= set(per_doc)
    assert len(per_doc) == 96 and "성과 관리" in set(per_doc["LDA 레이블"])
    topics = pd.read_excel(folder / "summary.xlsx", sheet_name="토픽", engine="openpyxl")
    assert topics.loc[topics["토픽"] == 0, "레이블"].iloc[0] == "성과 관리" and "자동 레이블" in topics


def test_document_sheet_is_bounded_and_says_so(toy_run, tmp_path):
    data = report.load_run(toy_run[0])
    data["manifest"]["config"]["report"]["doc_sheet_rows"] = 10
    report.write_xlsx(data, tmp_path / "summary.xlsx")
    sheet = pd.read_excel(tmp_path / "summary.xlsx", sheet_name="문서별 토픽", engine="openpyxl")
    assert len(sheet) == 11 and sheet.iloc[-1, 0] == "처음 10건만 실었습니다 (전체 96건: doc_topics.csv)"


def test_the_report_shows_texts_without_the_csv_neutralisation(toy_run, tmp_path):
    import shutil

    from textmine.outputs.sanitize import neutralize_frame

    folder = tmp_path / "copy"
    shutil.copytree(toy_run[0], folder)
    reps = pd.read_csv(folder / "representative_docs.csv", encoding="utf-8-sig").assign(text="- 첫 항목")
    neutralize_frame(reps, csv=True).to_csv(folder / "representative_docs.csv", index=False, encoding="utf-8-sig")
    assert pd.read_csv(folder / "representative_docs.csv", encoding="utf-8-sig")["text"].eq("'- 첫 항목").all()
    assert report.load_run(folder)["representatives"]["text"].eq("- 첫 항목").all()


def test_previous_run_keeps_identical_topics_and_carries_names(toy_run, tmp_path):
    first, _, config = toy_run
    again = config.model_copy(update={"report": config.report.model_copy(
        update={"previous": str(first), "labels": None})})
    folder, record = _write_run(tmp_path, again, "run-b")
    topics = pd.read_csv(folder / "topics.csv", encoding="utf-8-sig")
    glob = topics[topics["scope"] == "global"]
    assert (glob["identity"] == "kept").all() and (glob["previous_topic"] == glob["topic"]).all()
    assert record["identity"]["models"][0]["vanished"] == [] and record["labels"]["carried"] == {"lda": 1}
    assert '0 = "성과 관리"' in (folder / "labels.toml").read_text(encoding="utf-8")
    assert "identity" in pd.read_csv(folder / "trajectories.csv", encoding="utf-8-sig")


def test_a_missing_by_column_names_the_available_ones(tmp_path):
    config = load_config(None, {"report.by": "평가위원"})
    with pytest.raises(TextmineError) as info:
        _write_run(tmp_path, config)
    assert "평가위원" in str(info.value) and "지역, 대학명" in str(info.value)
    assert not list(tmp_path.iterdir())  # nothing left behind


def test_previous_must_be_a_run_folder(tmp_path):
    with pytest.raises(TextmineError) as info:
        identity.check_previous(tmp_path)
    assert "not a finished textmine run folder" in str(info.value) and "what to do" in str(info.value)


def test_classical_mds_recovers_distances():
    points = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
    d = np.linalg.norm(points[:, None] - points[None], axis=2)
    coords = interactive.classical_mds(d)
    np.testing.assert_allclose(np.linalg.norm(coords[:, None] - coords[None], axis=2), d, atol=1e-9)


def test_topic_hierarchy_is_a_dendrogram_of_every_topic():
    """The hierarchy view: one leaf per global topic, labels escaped, no script of its own."""
    rng = np.random.default_rng(1)
    topic_word = rng.dirichlet(np.ones(30) * 0.2, size=5)
    topics = pd.DataFrame({"model": "lda", "scope": "global", "topic": range(5),
                           "label": ["<b>진로</b>", "상담", "취업", "지역", "성과"]})
    data = {"topics": topics}
    original = interactive._topic_rows
    interactive._topic_rows = lambda d, m: (list(range(5)), topic_word)
    try:
        html_out = str(interactive.topic_hierarchy(data, "lda", "LDA 토픽 위계", "tree-lda", include_js=False))
    finally:
        interactive._topic_rows = original
    assert 'id="tree-lda"' in html_out and "&lt;b&gt;" in html_out and "<b>진로</b>" not in html_out
    assert all(f"T{t}" in html_out for t in range(5))


def _analyses_through_cache(out, config, cache_dir, name, phases=PHASES):
    data = _documents()
    outputs = {"lda": summaries.summarize(_Toy(config), _fitted(data), {}, data, config)}
    with runfolder.RunFolder(out, name) as run:
        record = analysis.cached_write_analyses(run, data, phases, outputs, config, cache_dir)
    return run.final, record


def test_analyses_cache_gives_the_same_files_and_misses_on_any_change(tmp_path):
    config = load_config(None, {"report.by": "지역", "report.breakdown_bootstrap": "20"})
    cache_dir = tmp_path / "cache"
    first, record = _analyses_through_cache(tmp_path / "out", config, cache_dir, "cold")
    [entry] = list((cache_dir / "analyses").iterdir())
    (entry / wordfreq.WORD_FREQUENCY).write_text("from the cache\n", encoding="utf-8")  # proves the copy
    again, same = _analyses_through_cache(tmp_path / "out", config, cache_dir, "warm")
    assert (record.pop("cache"), same.pop("cache")) == ("miss", "hit")
    assert same == json.loads(json.dumps(record)) and len(record["files"]) >= 8
    assert (again / wordfreq.WORD_FREQUENCY).read_text(encoding="utf-8") == "from the cache\n"
    for name in record["files"]:
        if name != wordfreq.WORD_FREQUENCY:
            assert (again / name).read_bytes() == (first / name).read_bytes(), name
    # another phase boundary, or another setting, writes them again
    moved = json.loads(json.dumps(PHASES))
    moved["consensus"]["phase_starts"] = [2019, 2022]
    fresh, _ = _analyses_through_cache(tmp_path / "out", config, cache_dir, "moved", moved)
    assert (fresh / wordfreq.WORD_FREQUENCY).read_text(encoding="utf-8") != "from the cache\n"
    other = load_config(None, {"report.by": "지역", "report.breakdown_bootstrap": "20", "report.wordfreq_top_n": "5"})
    _analyses_through_cache(tmp_path / "out", other, cache_dir, "other")
    assert len(list((cache_dir / "analyses").iterdir())) == 3


def test_analyses_with_a_previous_run_are_not_cached(toy_run, tmp_path):
    folder, _, _ = toy_run
    config = load_config(None, {"report.previous": str(folder)})
    _, record = _analyses_through_cache(tmp_path / "out", config, tmp_path / "cache", "new")
    assert record["cache"].startswith("off (report.previous")
    assert not (tmp_path / "cache" / "analyses").exists()
