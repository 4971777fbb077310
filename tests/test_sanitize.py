"""Formula (CSV) injection: no text that reaches a CSV of the run folder or summary.xlsx starts like a formula."""
import csv
import zipfile

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from textmine.outputs.runfolder import RunFolder
from textmine.outputs.sanitize import FORMULA_START, neutralize_cell, neutralize_frame
from textmine.report import report

HOSTILE = ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "\n=1", "＝1", "＋1", "－1", "＠A1",
           "  =1+1", "-1"]
KOREAN = "상담 인력 확충이 필요함"


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _starts_like_formula(value: str) -> bool:
    stripped = value.lstrip(" \u00a0\u3000")
    return bool(stripped) and stripped[0] in FORMULA_START


@pytest.mark.parametrize("value", HOSTILE)
def test_dangerous_text_gets_a_quote(value):
    assert neutralize_cell(value) == "'" + value


@pytest.mark.parametrize("value", [KOREAN, "", "'=already quoted", "1+1", "a=b", "(-1)", -0.5, -1, 3, None, np.nan,
                                   True, ["=1"]])
def test_everything_else_is_unchanged(value):
    out = neutralize_cell(value)
    assert out is value or (isinstance(value, float) and np.isnan(out))


def test_quoting_twice_adds_one_quote():
    assert neutralize_cell(neutralize_cell("=1")) == "'=1"


def _hostile_frame() -> pd.DataFrame:
    n = len(HOSTILE) + 1
    return pd.DataFrame({
        "model": ["lda"] * n,
        "doc_id": ["=cmd|' /C calc'!A0"] + [f"D{i}" for i in range(1, n)],
        "text": HOSTILE + [KOREAN],
        "probability": [-0.5 + 0.1 * i for i in range(n)],  # negative numbers stay numbers
        "topic": [-1] + list(range(n - 1)),
        "mixed": ["-1", 2, 3.5, None] + ["x"] * (n - 4),
    })


def test_neutralize_frame_leaves_numbers_alone():
    frame = _hostile_frame()
    out = neutralize_frame(frame)
    assert out["probability"].tolist() == frame["probability"].tolist()
    assert out["topic"].tolist() == frame["topic"].tolist()
    assert out.dtypes.to_dict() == frame.dtypes.to_dict()
    assert out["text"].tolist() == ["'" + v for v in HOSTILE] + [KOREAN]
    assert out["mixed"].tolist()[:4] == ["'-1", 2, 3.5, None]
    assert frame["text"].tolist()[0] == HOSTILE[0]  # the input is not modified
    categorical = neutralize_frame(frame.astype({"text": "category"}))
    assert categorical["text"].tolist()[0] == "'" + HOSTILE[0]
    assert neutralize_frame(None) is None
    assert list(neutralize_frame(pd.DataFrame({"=x": ["a"]})).columns) == ["'=x"]


def _write_run(tmp_path) -> RunFolder:
    """A run folder written by RunFolder, with a hostile opinion, label, term and doc id everywhere."""
    frame = _hostile_frame()
    topics = pd.DataFrame({"model": ["lda", "lda"], "scope": ["global", "global"], "topic": [0, 1],
                           "label": ["=HYPERLINK(\"http://x\",\"y\")", KOREAN], "top_terms": ["@a, b", "상담, 진로"],
                           "size": [10, 20]})
    trajectories = pd.DataFrame({"model": ["lda"] * 3, "year": [2019, 2019, 2020], "topic": [-1, 0, 1],
                                 "label": ["+outliers", KOREAN, "-trend"], "share": [0.1, -0.25, 0.65],
                                 "share_lo": [-0.05, -0.3, 0.6], "share_hi": [0.2, -0.2, 0.7]})
    lineage = pd.DataFrame({"model": ["lda"], "from_year": [2019], "from_topic": [0], "to_year": [2020],
                            "to_topic": [1], "similarity": [0.8], "kind": ["continue"], "from_label": ["=1"],
                            "to_label": ["－1"], "from_share": [0.4], "to_share": [0.4], "chain": [0],
                            "chain_label": ["@chain"]})
    phases = {"lda": {"phases": [{"start": 2019, "end": 2020, "label": "=HYPERLINK(\"http://x\",\"y\")",
                                  "confidence": 1.0, "top_terms": ["=1", "상담"]}]}}
    with RunFolder(tmp_path / "out") as run:
        run.write_csv("representative_docs.csv", frame)
        run.write_csv("topics.csv", topics)
        run.write_csv("trajectories.csv", trajectories)
        run.write_csv("lineage.csv", lineage)
        run.write_json("phases.json", phases)
    return run


def test_csv_written_by_the_run_folder_has_no_formula_field(tmp_path):
    run = _write_run(tmp_path)
    for path in run.final.glob("*.csv"):
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.reader(handle))
        assert len({len(row) for row in rows}) == 1, path.name  # no field broke its row
        fields = [f for row in rows for f in row]
        # A field may start with "-" only as a number: Excel reads -0.5 as a number, not a formula.
        assert fields and not [f for f in fields if _starts_like_formula(f) and not _is_number(f)], path.name
        if path.name in ("representative_docs.csv", "trajectories.csv"):
            assert any(f.startswith("-") and _is_number(f) for f in fields)  # negative numbers, as numbers
    back = pd.read_csv(run.final / "representative_docs.csv", encoding="utf-8-sig")
    assert back["probability"].dtype == float and back["probability"].min() < 0
    assert back["topic"].tolist()[0] == -1
    assert back["text"].tolist() == ["'" + v.replace("\r", "\n") for v in HOSTILE] + [KOREAN]
    assert pd.read_csv(run.final / "trajectories.csv", encoding="utf-8-sig")["share"].tolist() == [0.1, -0.25, 0.65]


def _check_workbook(path):
    book = load_workbook(path)
    numbers = 0
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    assert not _starts_like_formula(cell.value), (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, (int, float)) and not isinstance(cell.value, bool):
                    assert cell.data_type == "n"
                    numbers += 1
    with zipfile.ZipFile(path) as archive:  # and no formula element anywhere in the file
        assert not any("<f>" in archive.read(n).decode("utf-8") or "<f " in archive.read(n).decode("utf-8")
                       for n in archive.namelist() if n.startswith("xl/worksheets/"))
    return book, numbers


def test_xlsx_from_a_run_folder_has_no_formula_and_keeps_numbers(tmp_path):
    run = _write_run(tmp_path)
    data = report.load_run(run.final)
    path = report.write_xlsx(data, tmp_path / "summary.xlsx")
    book, numbers = _check_workbook(path)
    assert numbers > 10
    assert _column(book["추이"], "비중") == [0.1, -0.25, 0.65]
    assert _column(book["추이"], "토픽") == [-1, 0, 1]
    texts = _column(book["대표 의견"], "의견(개인정보 가림)")
    assert texts[0] == "'" + HOSTILE[0] and texts[-1] == KOREAN
    assert "'\n=1" in texts  # the carriage return of "\r=1" became a line feed inside its cell
    assert _column(book["대표 의견"], "확률")[0] == pytest.approx(-0.5)


def _column(sheet, header: str) -> list:
    names = [c.value for c in sheet[1]]
    return [row[names.index(header)] for row in sheet.iter_rows(min_row=2, values_only=True)]


def test_xlsx_from_raw_frames_is_neutralized_too(tmp_path):
    """write_xlsx neutralizes on its own: frames that never went through a CSV (and the phases from JSON)."""
    frame = _hostile_frame()
    data = {"topics": pd.DataFrame({"model": ["lda"], "scope": ["global"], "topic": [0], "label": ["=1+1"],
                                    "size": [3]}),
            "trajectories": pd.DataFrame({"model": ["lda"], "year": [2019], "topic": [-1], "label": ["@x"],
                                          "share": [-0.5]}),
            "phases": {"lda": {"phases": [{"start": 2019, "end": 2020, "label": "=HYPERLINK(\"http://x\",\"y\")",
                                           "top_terms": ["+a", "b"]}]}},
            "lineage": None, "representatives": frame}
    path = report.write_xlsx(data, tmp_path / "raw.xlsx")
    book, _ = _check_workbook(path)
    assert _column(book["시기"], "레이블") == ["'=HYPERLINK(\"http://x\",\"y\")"]
    assert _column(book["시기"], "주요어(확률)") == ["'+a, b"]
    assert _column(book["추이"], "비중") == [-0.5]
    assert _column(book["추이"], "토픽") == [-1]
    assert frame["text"].tolist()[0] == HOSTILE[0]  # the caller's frame is untouched


def test_restore_undoes_the_quote_for_non_spreadsheet_readers(tmp_path):
    """report.html and later runs read the CSVs back: restore_frame gives the texts as they were."""
    from textmine.outputs.sanitize import restore_cell, restore_frame

    run = _write_run(tmp_path)
    back = restore_frame(pd.read_csv(run.final / "representative_docs.csv", encoding="utf-8-sig"))
    assert back["text"].tolist() == [v.replace("\r", "\n") for v in HOSTILE] + [KOREAN]
    assert back["probability"].min() == pytest.approx(-0.5)
    assert restore_cell("'상담") == "'상담" and restore_cell(-1) == -1
    assert restore_cell(neutralize_cell("- 무엇보다 예산 점검")) == "- 무엇보다 예산 점검"


def test_xlsx_written_before_from_the_same_sheets_comes_from_the_cache(tmp_path):
    run = _write_run(tmp_path)
    data = report.load_run(run.final)
    cache = tmp_path / "cache"
    first = report.write_xlsx(data, tmp_path / "first.xlsx", cache)
    stored = list((cache / "xlsx").glob("*.xlsx"))
    assert len(stored) == 1 and stored[0].read_bytes() == first.read_bytes()
    again = report.write_xlsx(data, tmp_path / "again.xlsx", cache)
    assert again.read_bytes() == first.read_bytes()
    data["topics"] = data["topics"].assign(label="바뀐 이름")  # other sheets: another entry
    report.write_xlsx(data, tmp_path / "changed.xlsx", cache)
    assert len(list((cache / "xlsx").glob("*.xlsx"))) == 2
    _check_workbook(tmp_path / "changed.xlsx")
