"""What analysts read: report.html in a real headless Chromium, summary.xlsx, textmine report.

The first tests run the real flow once (slow); the template tests further down write a small
run folder by hand and render it without Prefect, in about a second each.
"""
import json
import re
import shutil
import subprocess
import sys
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from textmine.core.registry import MODELS, PHASE_DETECTORS
from textmine.report import report

from conftest import REPO, run_cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--virtual-time-budget=15000"]


@pytest.fixture(scope="module")
def run_folder(small_runs):
    """A whole run of the flow (LDA and BERTopic on the small corpus): the session's first run (tests/conftest.py),
    which the flow tests check too, so it is run once."""
    (first, _), _ = small_runs
    return first


@pytest.mark.slow
def test_report_is_self_contained(run_folder):
    page = (run_folder / "report.html").read_text(encoding="utf-8")
    assert "<script src=" not in page and "http://" not in page.split("<script")[0]
    assert not re.search(r"""src=["']https?://""", page)  # nothing fetched from the network
    for section in ("summary", "phases", "trajectories", "lineage", "topics", "models", "evaluation"):
        assert f"id='{section}'" in page
    assert "합성(synthetic) 데이터" in page and "신뢰도" in page and "대표 의견" in page
    assert "BERTopic 토픽 비중 추이" in page and "이상치(토픽 -1) 비율" in page and "임베딩 char-svd" in page
    assert page.count("data:image/png;base64,") >= 5


def _chromium(args, tmp_path):
    user_dir = tmp_path / "chrome-profile"
    proc = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={user_dir}", "--enable-logging=stderr", "--v=0",
                           *args], capture_output=True, text=True, timeout=180)
    return proc


@pytest.mark.slow
def test_report_opens_in_chromium_with_charts_and_no_javascript_errors(run_folder, tmp_path):
    assert CHROMIUM, "Debian's chromium is needed: run scripts/setup-test.sh"
    url = (run_folder / "report.html").as_uri()
    dom = _chromium(["--dump-dom", url], tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    console_errors = [line for line in dom.stderr.splitlines()
                      if "CONSOLE" in line and ("Uncaught" in line or "Error" in line or "rror" in line)]
    assert not console_errors, console_errors
    # the inlined Korean font was accepted by the browser's font sanitiser (else Hangul shows as boxes)
    assert not [line for line in dom.stderr.splitlines() if "Failed to decode downloaded font" in line or "OTS" in line]
    # plotly drew the interactive chart (its SVG exists only after the script ran)
    assert dom.stdout.count('class="main-svg"') >= 1
    assert "traj-lda" in dom.stdout
    shot = tmp_path / "report.png"
    result = _chromium([f"--screenshot={shot}", "--window-size=1400,2400", url], tmp_path)
    assert result.returncode == 0 and shot.stat().st_size > 50_000


@pytest.mark.slow
def test_summary_xlsx_has_korean_sheets_and_headers(run_folder):
    book = load_workbook(run_folder / "summary.xlsx")
    assert book.sheetnames == ["토픽", "추이", "시기", "계보", "대표 의견", "문서별 토픽"]
    topics = book["토픽"]
    headers = [c.value for c in topics[1]]
    assert headers[:4] == ["모델", "범위", "토픽", "레이블"]
    assert topics.column_dimensions["E"].width > 10  # sized to the Korean terms
    reps = pd.read_excel(run_folder / "summary.xlsx", sheet_name="대표 의견")
    assert {"의견(개인정보 가림)", "확률"} <= set(reps.columns) and len(reps) > 0


@pytest.mark.slow
def test_every_chart_is_written(run_folder):
    names = {p.name for p in (run_folder / "charts").glob("*.png")}
    model_charts = {f"{chart}_{model}.png" for model in ("lda", "bertopic") for chart in (
        "trajectories", "stacked", "heatmap", "phase_terms", "model_selection", "lineage")}
    phases = json.loads((run_folder / "phases.json").read_text(encoding="utf-8"))["consensus"]["phases"]
    per_phase = {f"wordcloud_phase{i}_{p['start']}-{p['end']}.png" for i, p in enumerate(phases, 1)} | \
                {f"network_phase{i}.png" for i in range(1, len(phases) + 1)}
    assert names == model_charts | per_phase


@pytest.mark.slow
def test_charts_drawn_beside_a_helper_process_are_the_same_files(run_folder, tmp_path, caplog):
    """The report draws its charts in this process and a helper at once (report.draw_charts): the PNGs are
    byte for byte those drawn here alone, and the helper drew some of them."""
    import time

    files = {}
    for helped in (False, True, "killed"):
        data = report.load_run(run_folder)
        data["out"] = tmp_path / str(helped)
        with caplog.at_level("INFO", logger="textmine.report.report"), report.chart_helper(bool(helped)) as helper:
            if helped == "killed":  # a helper that died (out of memory, killed): its charts are drawn here
                time.sleep(1)
                for process in list(helper._processes.values()):
                    process.kill()
                    process.join()
            written = report.render_charts(data, None, helper)
        files[helped] = {name: (data["out"] / name).read_bytes() for name in written}
    assert files[True] == files[False] == files["killed"] and len(files[True]) >= report.CHART_HELPER_MIN_CHARTS
    by_helper = [int(m) for m in re.findall(r"(\d+) by the helper process", caplog.text)]
    assert by_helper[0] == 0 and by_helper[1] > 0, caplog.text


@pytest.mark.slow
def test_textmine_report_rebuilds_without_refitting(run_folder, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(run_folder, copy)
    for p in [copy / "report.html", copy / "summary.xlsx", *(copy / "charts").glob("*.png")]:
        p.unlink()
    code, out, _ = run_cli(["report", copy], capsys)
    assert code == 0
    assert (copy / "report.html").is_file() and (copy / "summary.xlsx").is_file()
    drawn = {p.name for p in (copy / "charts").glob("*.png")}
    assert drawn == {p.name for p in (run_folder / "charts").glob("*.png")}  # every chart, from the files alone
    assert (copy / "report.html").stat().st_size > 100_000


def test_textmine_report_on_a_folder_that_is_not_a_run(tmp_path, capsys):
    code, _, err = run_cli(["report", tmp_path], capsys)
    assert code == 2 and "not a finished run folder" in err and "what to do" in err


@pytest.mark.slow
def test_prefect_artifacts_are_published(run_folder):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async def fetch():
        async with get_client() as client:
            return await client.read_artifacts(artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["textmine-summary", "textmine-phases", "textmine-topics",
                                            "textmine-progress"])))

    import asyncio

    artifacts = asyncio.run(fetch())
    summary = [a for a in artifacts if a.key == "textmine-summary" and run_folder.name in a.data]
    assert len(summary) == 1
    ours = {a.key: a for a in artifacts if a.flow_run_id == summary[0].flow_run_id}
    assert set(ours) == {"textmine-summary", "textmine-phases", "textmine-topics", "textmine-progress"}
    assert ours["textmine-progress"].data == 100.0
    assert "신뢰도" in summary[0].data


# ---------------------------------------------------------------- templates, on a hand-written run folder

EVIL = '<script>alert(1)</script>"onerror='
YEARS = list(range(2015, 2021))


def _phase_entry(detector="segmentation", fixed=None, label="진로·탐색·설계"):
    text = {"segmentation": "optimal segmentation (dynamic programming)", "binseg": "greedy binary segmentation"}
    return {
        "phases": [{"start": 2015, "end": 2017, "label": label, "top_terms": ["진로", "탐색"], "confidence": 1.0,
                    "characteristic_topics": [{"topic": 0, "label": label, "share_inside": 0.5, "share_outside": 0.2}]},
                   {"start": 2018, "end": 2020, "label": "상담·재학생", "top_terms": ["상담"], "confidence": 0.8,
                    "characteristic_topics": [{"topic": 1, "label": "상담·재학생", "share_inside": 0.6,
                                               "share_outside": 0.3}]}],
        "phase_starts": [2015, 2018], "boundary_confidence": {"2018": 0.8}, "periods": YEARS,
        "detector": detector, "n_phases": 2,
        "method": f"{text.get(detector, detector)} of Hellinger-transformed topic shares; "
                  + (f"number of phases fixed at {fixed}" if fixed else "number of phases by BIC"),
        "selection": {"1": {"bic": 9.0}, "2": {"bic": 4.0}, "3": {"bic": 6.0}},
    }


def write_run(folder: Path, models=("lda", "bertopic", "dtm"), text="진로·탐색·설계", corpus="/data/의견.xlsx") -> Path:
    """A small finished run folder, as the flow writes it: JSON files and the CSV tables."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {
        "run_id": "20260101-000000-test", "corpus": {"path": corpus}, "seed": 7,
        "config": {"align": {"time_unit": "year"}}, "models": {m: MODELS.display(m) for m in models},
        "documents": {"modelled": 1234, "rows_read": 1300, "empty_dropped": 3, "duplicates_dropped": 60,
                      "no_tokens_skipped": 3},
        "documents_per_year": {str(y): 200 for y in YEARS},
        "stage_seconds": {"ingest": 1.5, "mask_pii": 0.5, "tokenize": 12.0, "lda": 30.0, "lda_yearly": 10.0,
                          "summarize_lda": 1.0, "phases": 2.0, "mystery_stage": 0.75},
        "pii_masked": {"phone": 4, "email": 2, "rrn": 1, "name": 12},
    }
    phases = {m: _phase_entry(label=text) for m in models}
    phases["consensus"] = {"phases": [{"start": 2015, "end": 2017, "label": text, "confidence": 1.0},
                                      {"start": 2018, "end": 2020, "label": "상담·재학생", "confidence": 0.8}],
                           "phase_starts": [2015, 2018], "method": f"majority vote over models ({', '.join(models)})"}
    evaluation = {"truth": {"phase_starts": [2015, 2018], "synthetic": True}, "models": {}}
    for m in models:
        q = {"num_topics": 2, "selected_by": "fixed", "coherence_c_v": 0.51, "coherence_c_npmi": 0.05,
             "topic_diversity": 0.9, "stability": {"mean": 0.8, "per_topic": [0.9, 0.7], "seeds": 2},
             "k_selection": [],
             "phase_boundaries": {"detected": [2015, 2018], "planted": [2015, 2018], "exact": True,
                                  "mean_abs_year_error": 0.0},
             "topic_agreement": {"documents": 1234, "nmi": 0.7, "ari": 0.6}}
        if m == "bertopic":  # the keys only BERTopic writes
            q |= {"embedding": {"name": "char-svd", "version": "1", "dimensions": 64}, "min_cluster_size": 10,
                  "representation": "c-tf-idf",
                  "outliers": {"before": 0.3, "after": 0.05, "target": 0.1, "strategy": "embeddings"}}
        evaluation["models"][m] = q
    labels = [text, "상담·재학생"]
    topics, trajectories, lineage, representatives = [], [], [], []
    for m in models:
        for t in range(2):
            topics.append({"model": m, "scope": "global", "topic": t, "label": labels[t], "top_terms": "진로, 탐색",
                           "relevant_terms": "진로, 설계", "size": 600})
            for i, y in enumerate(YEARS):
                share = 0.3 + 0.05 * i if t == 0 else 0.7 - 0.05 * i
                trajectories.append({"model": m, "year": y, "topic": t, "label": labels[t], "share": share,
                                     "share_lo": share - 0.05, "share_hi": share + 0.05})
            representatives.append({"model": m, "topic": t, "label": labels[t], "doc_id": f"D{t}", "year": 2016,
                                    "probability": 0.91, "text": f"대표 의견: {text}"})
        for y in YEARS[:-1]:
            lineage.append({"model": m, "from_year": y, "from_topic": 0, "to_year": y + 1, "to_topic": 0,
                            "similarity": 0.8, "kind": "continue", "from_label": text, "to_label": text,
                            "from_share": 0.4, "to_share": 0.4, "chain": 0, "chain_label": text})
        lineage.append({"model": m, "from_year": 2017, "from_topic": None, "to_year": 2018, "to_topic": 1,
                        "similarity": None, "kind": "birth", "from_label": None, "to_label": "상담·재학생",
                        "from_share": None, "to_share": 0.3, "chain": 1, "chain_label": "상담·재학생"})
    for name, value in (("manifest.json", manifest), ("phases.json", phases), ("evaluation.json", evaluation)):
        (folder / name).write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")
    for name, rows in (("topics.csv", topics), ("trajectories.csv", trajectories), ("lineage.csv", lineage),
                       ("representative_docs.csv", representatives)):
        pd.DataFrame(rows).to_csv(folder / name, index=False, encoding="utf-8-sig")
    return folder


class _Tables(HTMLParser):
    """The text of every table cell of a page, as {section id: [rows]}."""

    def __init__(self):
        super().__init__()
        self.sections, self.section, self.row, self.cell = {}, None, None, None

    def handle_starttag(self, tag, attrs):
        if tag == "section":
            self.section = dict(attrs).get("id")
            self.sections.setdefault(self.section, [])
        elif tag == "tr":
            self.row = []
        elif tag in ("td", "th"):
            self.cell = ""

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.row is not None:
            self.row.append(self.cell.strip())
            self.cell = None
        elif tag == "tr" and self.section:
            self.sections[self.section].append(self.row)
            self.row = None


def _rows(page: str, section: str) -> list[list[str]]:
    parser = _Tables()
    parser.feed(page)
    return parser.sections[section]


def _section(page: str, section: str) -> str:
    return page.split(f"<section id='{section}'>")[1].split("</section>")[0]


def test_text_from_the_corpus_and_the_models_is_escaped(tmp_path):
    run = write_run(tmp_path / "run", text=EVIL, corpus='/data/<img src=x onerror="alert(2)">.xlsx')
    lineage = pd.read_csv(run / "lineage.csv", encoding="utf-8-sig")
    lineage.loc[lineage["kind"] == "birth", "to_label"] = EVIL  # the lineage table lists births and deaths
    lineage.to_csv(run / "lineage.csv", index=False, encoding="utf-8-sig")
    page = report.build_html(report.load_run(run))
    assert "<script>alert(1)" not in page and '"onerror=' not in page and "<img src=x" not in page
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;&#34;onerror="
    for section in ("phases", "lineage", "topics"):  # labels, phase labels, chain names, opinions
        assert escaped in _section(page, section), section
    assert f"대표 의견: {escaped}" in page
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;.xlsx" in page
    # the interactive chart carries the labels in its script as JSON (nothing there can close the
    # <script>), escaped for plotly.js, which reads trace names as a little HTML
    plotly = _section(page, "trajectories")
    assert plotly.count("<script") == plotly.count("</script>")
    assert '"name":"T0 &lt;script&gt;alert(1)&lt;\\u002fscript&gt;&quot;onerror="' in plotly


def test_summary_shows_stage_times_and_masked_pii_as_korean_tables(tmp_path):
    page = report.build_html(report.load_run(write_run(tmp_path / "run")))
    rows = _rows(page, "summary")
    for row in (["단계", "시간(초)"], ["읽기", "1.5"], ["개인정보 가림", "0.5"], ["형태소 분석", "12.0"],
                ["LDA 전역 모델 적합", "30.0"], ["LDA 연도별 모델 적합", "10.0"], ["시기 구분", "2.0"],
                ["mystery_stage", "0.8"], ["합계", "57.8"]):
        assert row in rows, row
    for row in (["종류", "가린 건수"], ["전화번호", "4"], ["이메일", "2"], ["주민등록번호", "1"], ["이름", "12"],
                ["합계", "19"]):
        assert row in rows, row
    summary = _section(page, "summary")
    assert '"phone"' not in summary and "&#34;phone&#34;" not in summary and "stage_seconds" not in summary
    assert "의견 1,234건" in summary and "모델 LDA, BERTopic, DTM" in summary and "합성(synthetic) 데이터" in summary


def test_phase_method_is_a_korean_sentence(tmp_path):
    from textmine.analysis.phases import consensus_phases, detect_phases

    run = write_run(tmp_path / "run", models=("lda", "dtm"))
    shares = pd.DataFrame({0: [0.8] * 4 + [0.2] * 4, 1: [0.2] * 4 + [0.8] * 4}, index=range(2015, 2023))
    terms, labels = {0: ["진로", "탐색"], 1: ["상담", "학생"]}, {0: "진로·탐색", 1: "상담·학생"}
    phases = {"lda": detect_phases(shares, "auto", 2, 3, terms, labels, method="segmentation"),
              "dtm": detect_phases(shares, 2, 2, 3, terms, labels, method="binseg")}
    phases["consensus"] = consensus_phases(phases)
    (run / "phases.json").write_text(json.dumps(phases, ensure_ascii=False), encoding="utf-8")
    section = _section(report.build_html(report.load_run(run)), "phases")
    lda, rest = section.split("<h3>LDA</h3>")[1].split("<h3>DTM</h3>")
    dtm, consensus = rest.split("<h3>모델 합의</h3>")
    assert f"시기 구분 방법: {PHASE_DETECTORS.display('segmentation')}" in lda
    assert "시기 수 2개는 BIC(베이즈 정보 기준)로 골랐습니다" in lda and "고정" not in lda
    assert f"시기 구분 방법: {PHASE_DETECTORS.display('binseg')}" in dtm
    assert "설정에서 2개로 고정했습니다" in dtm and "BIC(베이즈" not in dtm
    assert "(LDA, DTM)의 다수결" in consensus
    assert "<td>1기</td><td>2015</td><td>2018</td>" in lda


def test_any_registered_model_is_shown_by_its_display_name(tmp_path):
    run = write_run(tmp_path / "run", models=("lda", "bertopic", "dtm", "mystery"))
    page = report.build_html(report.load_run(run))
    assert MODELS.display("dtm") == "DTM"
    for name in ("LDA", "BERTopic", "DTM", "mystery"):  # a model the registry does not know: its raw name
        assert f"<h3>{name} 전역 토픽</h3>" in page
        assert f"{name} 토픽 비중 추이" in page
    assert [r[0] for r in _rows(page, "models")][1:] == ["LDA", "BERTopic", "DTM", "mystery"]
    assert "traj-dtm" in page and "DTM 추이" not in page
    # the optional evaluation keys are BERTopic's only
    evaluation = _section(page, "evaluation")
    assert evaluation.count("이상치(토픽 -1) 비율") == 1 and "BERTopic: 임베딩 char-svd" in evaluation
    assert "DTM: 토픽–정답 일치 NMI 0.7" in evaluation


def test_textmine_report_on_a_hand_written_run_folder(tmp_path, capsys):
    run = write_run(tmp_path / "run", models=("dtm",))
    code, _, err = run_cli(["report", run], capsys)
    assert code == 0, err
    assert {p.name for p in (run / "charts").glob("*.png")} == {
        f"{chart}_dtm.png" for chart in ("trajectories", "stacked", "heatmap", "phase_terms", "lineage")}
    page = (run / "report.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 5 and "@font-face" in page
    phases = pd.read_excel(run / "summary.xlsx", sheet_name="시기")
    assert set(phases["모델"]) == {"DTM", "consensus"}


def test_templates_are_found_in_the_installed_package(tmp_path):
    """A wheel of the project carries the templates (package data), and the report renders from it."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for package in ("textmine", "flows"):
        shutil.copytree(REPO / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    build = subprocess.run([sys.executable, "-c", "from setuptools import build_meta; "
                            "print(build_meta.build_wheel('dist'))"], cwd=source, capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = source / "dist" / build.stdout.strip().splitlines()[-1]
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert {"textmine/report/templates/report.html.j2", "textmine/report/templates/summary.html.j2",
                "textmine/report/templates/names.j2", "textmine/report/templates/report.css"} <= names
        archive.extractall(tmp_path / "site")
    run = write_run(tmp_path / "run", models=("lda",))
    script = ("import sys, textmine, textmine.report.report as r; "
              f"assert textmine.__file__.startswith({str(tmp_path / 'site')!r}), textmine.__file__; "
              "page = r.build_html(r.load_run(sys.argv[1])); "
              "assert \"id='evaluation'\" in page and '전화번호' in page; print('ok')")
    rendered = subprocess.run([sys.executable, "-c", script, str(run)], capture_output=True, text=True,
                              env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin",
                                   "HOME": str(tmp_path)}, cwd=tmp_path)
    assert rendered.returncode == 0 and rendered.stdout.strip() == "ok", rendered.stderr[-2000:]


def test_large_corpus_switches_are_listed_in_korean_in_the_summary(tmp_path):
    import json as _json

    from textmine.core import scale
    from textmine.core.config import load_config

    run = write_run(tmp_path / "run")
    manifest = _json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    plan = scale.plan(100_000, {y: 10_000 for y in range(2015, 2025)}, load_config())
    manifest["scale"] = plan.record()
    (run / "manifest.json").write_text(_json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    summary = _section(report.build_html(report.load_run(run)), "summary")
    assert "대규모 코퍼스 처리" in summary and "scale.mode = off" in summary
    assert "층화 표본 10,000건" in summary and "나머지 98,000건은 c-TF-IDF로" in summary
    small = _section(report.build_html(report.load_run(write_run(tmp_path / "small"))), "summary")
    assert "대규모 코퍼스 처리" not in small
