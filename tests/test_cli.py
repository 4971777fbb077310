"""The textmine command: validate, synth, and run's handling of bad input."""
import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from conftest import FIXTURES, REPO, run_cli
from textmine.core.config import load_config
from textmine.core.errors import TextmineError
from textmine.preflight import check_run


def test_validate_cp949_korean_headers_without_flags(capsys):
    code, out, err = run_cli(["validate", FIXTURES / "cp949_opinions.csv"], capsys)
    assert code == 0, err
    assert "encoding cp949" in out and "text='평가의견'" in out and "'연도'" in out
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line[:4].isdigit()}
    assert lines["2019"][0] == "3" and lines["2020"][0] == "2" and lines["2021"][0] == "3"
    assert "6 opinions would be modelled" in out


def test_validate_json(capsys):
    code, out, _ = run_cli(["validate", FIXTURES / "cp949_opinions.csv", "--json"], capsys)
    report = json.loads(out)
    assert code == 0 and report["counts"]["duplicates_dropped"] == 1
    assert {r["year"]: r["documents"] for r in report["per_year"]}["2021"] == 3


def test_synth_writes_a_corpus(tmp_path, capsys):
    code, out, _ = run_cli(["synth", tmp_path / "c", "--seed", "4", "--docs-per-year", "10", "--years",
                            "2013-2024", "--phases", "4"], capsys)
    assert code == 0
    truth = json.loads((tmp_path / "c" / "truth.json").read_text(encoding="utf-8"))
    assert truth["phase_starts"] == [2013, 2016, 2019, 2022]


@pytest.mark.parametrize("years", ["2015", "2020-2015"])
def test_synth_bad_years(tmp_path, capsys, years):
    code, _, err = run_cli(["synth", tmp_path / "c", "--years", years], capsys)
    assert code == 2 and "--years" in err and "Traceback" not in err


def _assert_clean_failure(code, err, out_dir, *needles):
    assert code == 2
    assert err.startswith("textmine: error: ") and "what to do:" in err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err
    assert not out_dir.exists() or not any(out_dir.iterdir())


def test_run_missing_corpus(tmp_path, capsys):
    code, _, err = run_cli(["run", tmp_path / "nope", "--out", tmp_path / "out"], capsys)
    _assert_clean_failure(code, err, tmp_path / "out", "nope", "no such file or folder")


def test_run_unsupported_file(tmp_path, capsys):
    (tmp_path / "x.docx").write_bytes(b"PK\x03\x04")
    code, _, err = run_cli(["run", tmp_path / "x.docx", "--out", tmp_path / "out"], capsys)
    _assert_clean_failure(code, err, tmp_path / "out", "x.docx", "unsupported")


def test_run_broken_hwp_file(tmp_path, capsys):
    (tmp_path / "x.hwp").write_bytes(b"\xd0\xcf\x11\xe0")
    code, _, err = run_cli(["run", tmp_path / "x.hwp", "--out", tmp_path / "out"], capsys)
    _assert_clean_failure(code, err, tmp_path / "out", "x.hwp", "not an HWP 5 document")


def test_run_folder_without_supported_files(tmp_path, capsys):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "notes.md").write_text("x")
    code, _, err = run_cli(["run", tmp_path / "c", "--out", tmp_path / "out"], capsys)
    _assert_clean_failure(code, err, tmp_path / "out", "no supported files")


def test_run_bad_config(tmp_path, capsys):
    code, _, err = run_cli(["run", "--set", "lda.num_topics=many", "--out", tmp_path / "out"], capsys)
    _assert_clean_failure(code, err, tmp_path / "out", "lda.num_topics")


@pytest.mark.parametrize("case", ["no_text", "bad_year", "empty", "fake_xlsx"])
def test_run_bad_corpus_is_refused_before_the_flow_starts(tmp_path, capsys, case):
    """The corpus check (textmine.preflight) reads every file before the engine starts: no flow run begins."""
    corpus = tmp_path / "c"
    corpus.mkdir()
    if case == "no_text":
        pd.DataFrame({"연도": [2019], "제목": ["상담"]}).to_csv(corpus / "a.csv", index=False)
        needles = ["a.csv", "--text-col"]
    elif case == "bad_year":
        pd.DataFrame({"연도": ["2019", "19년"], "평가의견": ["상담", "비교과"]}).to_csv(corpus / "a.csv", index=False)
        needles = ["a.csv", "row 3", "column '연도'"]
    elif case == "empty":
        (corpus / "2019.csv").write_bytes(b"")
        needles = ["2019.csv", "empty"]
    else:
        (corpus / "a.xlsx").write_text("연도,평가의견\n2019,상담\n", encoding="utf-8")
        needles = ["a.xlsx", "not an Excel workbook"]
    code, _, err = run_cli(["run", corpus, "--out", tmp_path / "out"], capsys)
    _assert_clean_failure(code, err, tmp_path / "out", *needles)
    # the corpus check alone refuses it with the same message: the command stopped before the engine started
    with pytest.raises(TextmineError) as info:
        check_run(corpus, load_config(None, {"run.out_dir": str(tmp_path / "out2")}))
    assert err.splitlines()[0] == f"textmine: error: {info.value}".splitlines()[0]


def _last_error(err: str) -> str:
    return err[err.rindex("textmine: error: "):]


@pytest.mark.slow
def test_subprocess_error_inside_the_flow_has_no_traceback(tmp_path):
    """A real process on Prefect's ephemeral engine, with a corpus the corpus check accepts but whose opinions hold
    no word: the flow starts and its tokenize stage refuses the corpus; Prefect's own logging must not print a
    traceback, and the message is the last thing said."""
    corpus = tmp_path / "c"
    corpus.mkdir()
    texts = [f"{1000 + i} {'!!!' if i % 2 else '###'} {i * 7}" for i in range(40)]  # distinct: none is a duplicate
    pd.DataFrame({"연도": [2019, 2020] * 20, "평가의견": texts}).to_csv(corpus / "a.csv", index=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    proc = subprocess.run([sys.executable, "-m", "flows.pipeline", str(corpus), "--out", str(tmp_path / "out"),
                           "--set", f"run.cache_dir={tmp_path / 'cache'}"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "Beginning flow run" in proc.stderr and "tokenize" in proc.stderr  # the flow ran up to its tokenize stage
    assert "Traceback" not in proc.stderr
    message = _last_error(proc.stderr)
    assert "no opinion has any word" in message and "what to do:" in message
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
