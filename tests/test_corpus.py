"""Corpus ingestion (docs/contract.md §1): formats, encodings, column recognition, normalisation."""
import json
import unicodedata

import pandas as pd
import pytest

from textmine.core.config import CorpusConfig
from textmine.core.errors import CorpusError
from textmine.io.corpus import load_corpus, parse_year, yearly_quality_table
from textmine.io.decode import decode_bytes
from textmine.text.normalize import hangul_ratio, hangul_ratios, normalize_text

from conftest import FIXTURES


def test_cp949_csv_with_korean_headers_is_read_without_flags():
    corpus = load_corpus(FIXTURES / "cp949_opinions.csv")
    report = corpus.files[0]
    assert report.encoding == "cp949"
    mapping = report.tables["-"]
    assert (mapping.id, mapping.year, mapping.text) == ("연번", "연도", "평가의견")
    docs = corpus.modelling_docs()
    assert docs["text"].iloc[0].startswith("재학생 대상 비교과")
    table = yearly_quality_table(corpus)
    assert table.loc[2019, "documents"] == 3
    assert table.loc[2021, "documents"] == 3
    assert table.loc[2021, "duplicate"] == 1 and table.loc[2021, "empty"] == 1
    assert corpus.counts()["modelled"] == 6


def test_utf8_with_and_without_bom(tmp_path):
    frame = pd.DataFrame({"ID": ["a", "b"], "year": [2020, 2021], "text": ["상담 체계 강화", "비교과 운영 개선"]})
    frame.to_csv(tmp_path / "bom.csv", index=False, encoding="utf-8-sig")
    frame.to_csv(tmp_path / "plain.csv", index=False, encoding="utf-8")
    for name, enc in (("bom.csv", "utf-8-sig"), ("plain.csv", "utf-8")):
        corpus = load_corpus(tmp_path / name)
        assert corpus.files[0].encoding == enc
        assert corpus.docs["doc_id"].tolist() == ["a", "b"]
        assert corpus.docs["year"].tolist() == [2020, 2021]


def test_utf16_text_is_detected():
    text, encoding = decode_bytes("연도,의견\n2020,상담 강화\n".encode("utf-16"), FIXTURES / "x.csv")
    assert encoding == "utf-16" and text.startswith("연도")


def test_tsv_with_other_recognised_names_and_metadata():
    corpus = load_corpus(FIXTURES / "opinions.tsv")
    mapping = corpus.files[0].tables["-"]
    assert (mapping.id, mapping.year, mapping.text) == ("번호", "평가년도", "개선의견")
    assert corpus.metadata_columns == ["대학명"]
    assert corpus.docs["대학명"].tolist() == ["가온대학교", "한빛대학교"]


def test_xlsx_sheets_named_by_year_and_dates(tmp_path):
    path = tmp_path / "opinions.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"연번": [1, 2], "의견": ["진로 탐색 확대", "상담 강화"]}).to_excel(writer, sheet_name="2017", index=False)
        pd.DataFrame({"연번": [1], "의견": ["성과 관리 고도화"]}).to_excel(writer, sheet_name="2022", index=False)
    corpus = load_corpus(path)
    assert corpus.docs["year"].tolist() == [2017, 2017, 2022]
    assert corpus.files[0].tables["2017"].year_from == "sheet name"
    # 연번 restarts on each sheet, so ids are made unique and traceable
    assert corpus.docs["doc_id"].is_unique

    dated = tmp_path / "dated.xlsx"
    pd.DataFrame({"작성일": pd.to_datetime(["2019-03-02", "2020-11-30"]), "내용": ["가", "나"]}).to_excel(dated, index=False)
    assert load_corpus(dated).docs["year"].tolist() == [2019, 2020]


def test_jsonl_json_and_parquet(tmp_path):
    records = [{"id": "x1", "date": "2018-05-01", "text": "현장실습 확대", "region": "부산"},
               {"id": "x2", "date": "2019.07.15", "text": "졸업생 관리", "region": "서울"}]
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records), encoding="utf-8")
    (tmp_path / "b.json").write_text(json.dumps({"data": records}, ensure_ascii=False), encoding="utf-8")
    pd.DataFrame(records).to_parquet(tmp_path / "c.parquet")
    for name in ("a.jsonl", "b.json", "c.parquet"):
        corpus = load_corpus(tmp_path / name)
        assert corpus.docs["year"].tolist() == [2018, 2019], name
        assert corpus.docs["region"].tolist() == ["부산", "서울"], name
        assert corpus.files[0].tables["-"].year_from == "date"


def test_txt_takes_year_from_file_name(tmp_path):
    (tmp_path / "2019.txt").write_text("상담 체계 강화\n\n비교과 운영 개선\n", encoding="utf-8")
    corpus = load_corpus(tmp_path / "2019.txt")
    assert corpus.docs["year"].tolist() == [2019, 2019]
    assert corpus.docs["source_row"].tolist() == [1, 3]  # line numbers a user can find


def test_folder_reads_every_supported_file_and_skips_sidecars(tmp_path):
    (tmp_path / "2019.txt").write_text("상담 체계 강화\n", encoding="utf-8")
    sub = tmp_path / "more"
    sub.mkdir()
    pd.DataFrame({"연도": [2020], "평가의견": ["졸업생 관리 강화"]}).to_csv(sub / "x.csv", index=False)
    (tmp_path / "truth.json").write_text("{}", encoding="utf-8")
    (tmp_path / "README.md").write_text("notes", encoding="utf-8")
    (tmp_path / "~$lock.csv").write_text("junk", encoding="utf-8")
    corpus = load_corpus(tmp_path)
    assert sorted(f.path for f in corpus.files) == ["2019.txt", "more/x.csv"]
    assert sorted(corpus.docs["year"]) == [2019, 2020]


def test_ids_colliding_across_yearly_files_are_prefixed(tmp_path):
    for year in (2019, 2020):
        pd.DataFrame({"연번": [1, 2], "연도": [year] * 2, "평가의견": [f"{year} 의견 하나", f"{year} 의견 둘"]}) \
            .to_csv(tmp_path / f"{year}.csv", index=False)
    ids = load_corpus(tmp_path).docs["doc_id"].tolist()
    assert ids == ["2019.csv/1", "2019.csv/2", "2020.csv/1", "2020.csv/2"]


def test_flags_and_corpus_toml_override_recognition(tmp_path):
    pd.DataFrame({"평가의견": ["짧음", "짧음"], "본문 전체": ["상담 체계 강화 필요", "비교과 운영 개선"],
                  "회계연도": [2019, 2020]}).to_csv(tmp_path / "x.csv", index=False)
    corpus = load_corpus(tmp_path, CorpusConfig(text_col="본문 전체", year_col="회계연도"))
    assert corpus.docs["text"].tolist() == ["상담 체계 강화 필요", "비교과 운영 개선"]
    (tmp_path / "corpus.toml").write_text('text_col = "본문 전체"\nyear_col = "회계연도"\n', encoding="utf-8")
    corpus = load_corpus(tmp_path)
    assert corpus.docs["text"].tolist() == ["상담 체계 강화 필요", "비교과 운영 개선"]
    assert "평가의견" in corpus.metadata_columns


def test_normalisation_nfc_whitespace_control_characters():
    decomposed = unicodedata.normalize("NFD", "상담")
    assert decomposed != "상담"
    assert normalize_text(f"  {decomposed}\u200b 체계\t\n강화\x07 ") == "상담 체계 강화"


def test_whitespace_collapses_exactly_as_a_regular_expression_would():
    import re
    import sys
    every_space = "".join(chr(c) for c in range(sys.maxunicode + 1) if re.fullmatch(r"\s", chr(c)))
    assert len(every_space) > 20  # Unicode spaces too: NBSP, ideographic space, line separators
    for text in [f"가{every_space}나", f"{every_space}상담\u3000 체계\u00a0강화{every_space}", "", "   ", "\x1c\x1dq"]:
        assert normalize_text(text) == re.sub(r"\s+", " ", _control_free(text)).strip()


def _control_free(text):
    from textmine.text.normalize import _CONTROL_RE
    return _CONTROL_RE.sub(" ", unicodedata.normalize("NFC", text))


def test_vectorised_hangul_ratio_equals_the_per_text_one():
    texts = ["상담 체계 강화", "", "   ", "😀 🙂", "English only", "abc 한국어 ㄱㄴ \u1100 123 _ é",
             "ＡＢＣ 가나", "\ud800 lone surrogate 가", "Ελληνικά και 한국어", "12345", "가" * 500 + "a"]
    texts = texts * 3
    expected = [hangul_ratio(text) for text in texts]
    assert hangul_ratios(texts).tolist() == expected
    assert hangul_ratios(texts, chunk_size=4).tolist() == expected  # chunks join exactly
    assert hangul_ratios([]).tolist() == []
    assert hangul_ratios(["", ""]).tolist() == [0.0, 0.0]


def test_duplicates_and_flags(tmp_path):
    pd.DataFrame({"연도": [2020] * 5, "의견": ["같은 의견입니다 상담", "같은 의견입니다 상담", "", "짧다",
                                              "English only opinion text"]}).to_csv(tmp_path / "x.csv", index=False)
    corpus = load_corpus(tmp_path / "x.csv")
    counts = corpus.counts()
    assert counts == {"rows_read": 5, "empty_dropped": 1, "duplicates_dropped": 1, "too_short": 1,
                      "non_korean": 1, "modelled": 3}


@pytest.mark.parametrize("value,year", [("2019", 2019), ("2019년", 2019), ("2019.0", 2019), (2019, 2019),
                                        ("２０１９", 2019), ("2019-05-31", 2019), ("2019년도", 2019)])
def test_parse_year_accepts_common_forms(value, year):
    assert parse_year(value, from_date=False) == year


@pytest.mark.parametrize("value", ["19", "2O19", "1850", "next year"])
def test_parse_year_rejects_non_years(value):
    with pytest.raises(ValueError):
        parse_year(value, from_date=False)


# ------------------------------------------------------------------ bad input


def _error(path, **kwargs) -> CorpusError:
    with pytest.raises(CorpusError) as info:
        load_corpus(path, **kwargs)
    return info.value


def test_missing_path(tmp_path):
    err = _error(tmp_path / "nope")
    assert "no such file or folder" in str(err) and "nope" in str(err) and err.fix


def test_unsupported_extension(tmp_path):
    (tmp_path / "x.docx").write_bytes(b"PK\x03\x04")
    err = _error(tmp_path / "x.docx")
    assert "unsupported file type '.docx'" in str(err) and ".csv" in err.fix


def test_folder_without_supported_files(tmp_path):
    (tmp_path / "notes.md").write_text("x")
    err = _error(tmp_path)
    assert "no supported files" in str(err)


def test_no_text_column_names_the_columns_and_the_flag(tmp_path):
    pd.DataFrame({"연도": [2020], "제목": ["상담 체계"]}).to_csv(tmp_path / "x.csv", index=False)
    err = _error(tmp_path / "x.csv")
    assert err.file.endswith("x.csv") and "연도, 제목" in str(err) and "--text-col" in err.fix
    assert "'제목'" in str(err)  # points at the likely text column


def test_no_year_column(tmp_path):
    pd.DataFrame({"평가의견": ["상담 체계"]}).to_csv(tmp_path / "opinions.csv", index=False)
    err = _error(tmp_path / "opinions.csv")
    assert "no year or date column" in str(err) and "--year-col" in err.fix


def test_year_that_is_not_a_year_names_row_and_column(tmp_path):
    pd.DataFrame({"연도": ["2019", "2O19"], "평가의견": ["상담", "비교과"]}).to_csv(tmp_path / "x.csv", index=False)
    err = _error(tmp_path / "x.csv")
    assert err.file.endswith("x.csv") and (err.row, err.column) == (3, "연도")
    assert "'2O19' is not a year" in str(err) and "four-digit year" in err.fix


def test_missing_year_for_an_opinion(tmp_path):
    pd.DataFrame({"연도": ["2019", ""], "평가의견": ["상담", "비교과"]}).to_csv(tmp_path / "x.csv", index=False)
    err = _error(tmp_path / "x.csv")
    assert err.row == 3 and "missing" in str(err)


def test_explicit_column_that_does_not_exist(tmp_path):
    pd.DataFrame({"연도": [2019], "평가의견": ["상담"]}).to_csv(tmp_path / "x.csv", index=False)
    err = _error(tmp_path / "x.csv", config=CorpusConfig(text_col="의견본문"))
    assert err.column == "의견본문" and "연도, 평가의견" in err.fix


@pytest.mark.parametrize("name,content", [("x.csv", b""), ("x.csv", "연도,평가의견\n".encode()),
                                          ("x.jsonl", b"\n\n"), ("2019.txt", b"  \n"), ("x.json", b"[]")])
def test_empty_files(tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    err = _error(tmp_path / name)
    assert "empty" in str(err) or "no rows" in str(err) or "no records" in str(err)
    assert err.file.endswith(name)


def test_xlsx_that_is_really_csv(tmp_path):
    (tmp_path / "x.xlsx").write_text("연도,평가의견\n2019,상담\n", encoding="utf-8")
    err = _error(tmp_path / "x.xlsx")
    assert "not an Excel workbook" in str(err) and ".csv" in err.fix


def test_parquet_that_is_not_parquet(tmp_path):
    (tmp_path / "x.parquet").write_text("연도,평가의견\n", encoding="utf-8")
    assert "not a Parquet file" in str(_error(tmp_path / "x.parquet"))


def test_csv_that_is_binary(tmp_path):
    (tmp_path / "x.csv").write_bytes(b"PK\x03\x04\x00\x00binary\x00")
    err = _error(tmp_path / "x.csv")
    assert "binary file" in str(err)


def test_csv_in_an_unknown_encoding(tmp_path):
    (tmp_path / "x.csv").write_bytes("year,text\n2019,café crème brûlée\n".encode("latin-1"))
    err = _error(tmp_path / "x.csv")
    assert "neither UTF-8 nor CP949" in str(err) and "UTF-8" in err.fix


def test_jsonl_bad_line(tmp_path):
    (tmp_path / "x.jsonl").write_text('{"year": 2019, "text": "상담"}\n{"year": 2019, text}\n', encoding="utf-8")
    err = _error(tmp_path / "x.jsonl")
    assert err.row == 2 and "not valid JSON" in str(err)


def test_txt_without_year_in_name(tmp_path):
    (tmp_path / "opinions.txt").write_text("상담 체계 강화\n", encoding="utf-8")
    err = _error(tmp_path / "opinions.txt")
    assert "2019.txt" in err.fix


def test_unparsable_csv(tmp_path):
    (tmp_path / "x.csv").write_text('연도,평가의견\n2019,"상담\n', encoding="utf-8")
    err = _error(tmp_path / "x.csv")
    assert "cannot be parsed as CSV" in str(err)


def test_corpus_toml_with_unknown_key(tmp_path):
    pd.DataFrame({"연도": [2019], "평가의견": ["상담"]}).to_csv(tmp_path / "x.csv", index=False)
    (tmp_path / "corpus.toml").write_text('txt_col = "x"\n', encoding="utf-8")
    err = _error(tmp_path)
    assert "txt_col" in str(err) and "text_col" in err.fix


def test_gzipped_csv(tmp_path):
    import gzip

    data = "연도,평가의견\n2019,상담 체계 강화\n".encode("cp949")
    (tmp_path / "x.csv.gz").write_bytes(gzip.compress(data))
    corpus = load_corpus(tmp_path / "x.csv.gz")
    assert corpus.files[0].format == "csv" and corpus.files[0].encoding == "cp949"
    assert corpus.docs["text"].tolist() == ["상담 체계 강화"]
    (tmp_path / "bad.csv.gz").write_bytes(b"not gzip at all")
    err = _error(tmp_path / "bad.csv.gz")
    assert "cannot be decompressed" in str(err)


def test_period_labels(tmp_path):
    from textmine.core.periods import period_labels

    pd.DataFrame({"작성일": ["2019-01-31", "2019.07.02", "2019년 11월 3일", "20191201"],
                  "내용": ["가가", "나나", "다다", "라라"]}).to_csv(tmp_path / "x.csv", index=False)
    docs = load_corpus(tmp_path / "x.csv").docs
    assert period_labels(docs, "year") == [2019] * 4
    assert period_labels(docs, "half") == ["2019-H1", "2019-H2", "2019-H2", "2019-H2"]
    assert period_labels(docs, "quarter") == ["2019-Q1", "2019-Q3", "2019-Q4", "2019-Q4"]
    assert period_labels(docs, "month") == ["2019-01", "2019-07", "2019-11", "2019-12"]


def test_period_labels_need_dates(tmp_path):
    from textmine.core.periods import period_labels

    pd.DataFrame({"연도": [2019], "평가의견": ["상담"]}).to_csv(tmp_path / "x.csv", index=False)
    with pytest.raises(CorpusError, match="needs a date"):
        period_labels(load_corpus(tmp_path / "x.csv").docs, "month")
    pd.DataFrame({"날짜": ["2019"], "평가의견": ["상담"]}).to_csv(tmp_path / "y.csv", index=False)
    with pytest.raises(CorpusError, match="has no month") as info:
        period_labels(load_corpus(tmp_path / "y.csv").docs, "quarter")
    assert info.value.row == 2


def test_spreadsheet_with_a_title_row_above_the_header(tmp_path):
    path = tmp_path / "평가의견_2019.xlsx"
    rows = [["2019년 대학일자리플러스센터 평가 개선조치 의견", None, None],
            [None, None, None],
            ["연번", "대학명", "평가의견"],
            [1, "가온대학교", "상담 체계를 강화할 것"],
            [2, "한빛대학교", "비교과 운영 개선 요망"]]
    pd.DataFrame(rows).to_excel(path, index=False, header=False)
    corpus = load_corpus(path)
    assert corpus.docs["text"].tolist() == ["상담 체계를 강화할 것", "비교과 운영 개선 요망"]
    assert corpus.docs["year"].tolist() == [2019, 2019]  # from the file name
    assert corpus.docs["대학명"].tolist() == ["가온대학교", "한빛대학교"]
    assert corpus.docs["source_row"].tolist() == [4, 5]  # the rows Excel shows


def test_csv_with_notes_above_the_header(tmp_path):
    text = "※ 2020년 평가 결과,,\n연번,연도,의견\n1,2020,상담 체계 강화\n2,2020,졸업생 관리\n"
    (tmp_path / "x.csv").write_text(text, encoding="utf-8")
    corpus = load_corpus(tmp_path / "x.csv")
    assert corpus.docs["text"].tolist() == ["상담 체계 강화", "졸업생 관리"]
    assert corpus.docs["source_row"].tolist() == [3, 4]


@pytest.mark.parametrize("value, missing", [
    (None, True), (float("nan"), True), (pd.NA, True), (pd.NaT, True), (pd.Series([1.5, None]).iloc[1], True),
    ("", False), ("nan", False), (0, False), (2019, False), ([None], False), ({"a": None}, False),
])
def test_one_notion_of_an_empty_cell(value, missing):
    from textmine.text.normalize import _is_missing

    assert _is_missing(value) is missing


def test_empty_cells_of_nullable_parquet_columns_are_empty_not_the_text_na(tmp_path):
    """pandas' nullable dtypes come back from Parquet with pd.NA / NaT, which str() would turn into '<NA>'."""
    frame = pd.DataFrame({
        "연번": pd.array(["a1", None, "a3"], dtype="string"),
        "연도": pd.array([2019, 2020, None], dtype="Int64"),
        "평가의견": ["진로 상담 체계를 강화할 것", "졸업생 사후 관리가 필요함", None],
        "대학명": pd.array(["가대학", None, "나대학"], dtype="string"),
        "작성일": pd.to_datetime(["2019-05-01", None, "2021-03-02"]),
    })
    frame.to_parquet(tmp_path / "c.parquet")
    docs = load_corpus(tmp_path / "c.parquet", CorpusConfig(year_col="연도")).docs
    assert docs["year"].tolist() == [2019, 2020, -1]  # the blank third row: no year, no text, flagged empty
    assert docs["is_empty"].tolist() == [False, False, True]
    assert docs["대학명"].iloc[0] == "가대학" and pd.isna(docs["대학명"].iloc[1])
    assert docs["작성일"].iloc[0].startswith("2019-05-01") and pd.isna(docs["작성일"].iloc[1])
    assert docs["source_id"].iloc[0] == "a1" and "<NA>" not in "".join(docs["doc_id"])
