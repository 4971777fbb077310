"""What analysts read: report.html in a real headless Chromium, summary.xlsx, textmine report."""
import re
import shutil
import subprocess

import pandas as pd
import pytest
from openpyxl import load_workbook

from flows.pipeline import run_pipeline
from textmine.config import load_config

from conftest import run_cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--virtual-time-budget=15000"]


@pytest.fixture(scope="module")
def run_folder(prefect_harness, small_synth, tmp_path_factory):
    out = tmp_path_factory.mktemp("report-runs")
    return run_pipeline(small_synth, load_config(None, {
        "run.out_dir": str(out), "run.cache_dir": str(out / "cache"), "lda.passes": "5", "lda.k_grid": "8,10,12",
        "lda.seeds": "2", "embed.backend": "char-svd", "bertopic.seeds": "2"}))


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


def test_summary_xlsx_has_korean_sheets_and_headers(run_folder):
    book = load_workbook(run_folder / "summary.xlsx")
    assert book.sheetnames == ["토픽", "추이", "시기", "계보", "대표 의견"]
    topics = book["토픽"]
    headers = [c.value for c in topics[1]]
    assert headers[:4] == ["모델", "범위", "토픽", "레이블"]
    assert topics.column_dimensions["E"].width > 10  # sized to the Korean terms
    reps = pd.read_excel(run_folder / "summary.xlsx", sheet_name="대표 의견")
    assert {"의견(개인정보 가림)", "확률"} <= set(reps.columns) and len(reps) > 0


def test_every_chart_is_written(run_folder):
    names = {p.name for p in (run_folder / "charts").glob("*.png")}
    assert names == {f"{chart}_{model}.png" for model in ("lda", "bertopic") for chart in (
        "trajectories", "stacked", "heatmap", "phase_terms", "model_selection", "lineage")}


def test_textmine_report_rebuilds_without_refitting(run_folder, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(run_folder, copy)
    for p in [copy / "report.html", copy / "summary.xlsx", *(copy / "charts").glob("*.png")]:
        p.unlink()
    code, out, _ = run_cli(["report", copy], capsys)
    assert code == 0
    assert (copy / "report.html").is_file() and (copy / "summary.xlsx").is_file()
    assert len(list((copy / "charts").glob("*.png"))) == 12  # six charts per model
    assert (copy / "report.html").stat().st_size > 100_000


def test_textmine_report_on_a_folder_that_is_not_a_run(tmp_path, capsys):
    code, _, err = run_cli(["report", tmp_path], capsys)
    assert code == 2 and "not a finished run folder" in err and "what to do" in err


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
