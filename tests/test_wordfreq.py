"""Word frequencies, TF-IDF and word clouds per period and phase."""
import math

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from textmine.analysis import wordfreq
from textmine.text.documents import Documents

PHASES = {"phases": [{"start": 2019, "end": 2020, "label": "진로·상담"}, {"start": 2021, "end": 2021, "label": "취업"}],
          "phase_starts": [2019, 2021]}


def _toy_documents() -> Documents:
    """Built like tests/test_seam.py's ``_toy_documents``, with hand-countable tokens."""
    tokens = {
        2019: [["상담", "진로", "상담"], ["진로", "설계"], ["상담"]],
        2020: [["진로", "취업"], ["상담", "상담", "진로"]],
        2021: [["취업", "성과", "취업"], ["취업", "지역"], ["성과", "지역"], ["가치", "나눔"]],
    }
    rows = [{"doc_id": f"d{y}-{i}", "year": y, "text": f"의견 {y} {i}"} for y, docs in tokens.items()
            for i in range(len(docs))]
    docs = pd.DataFrame(rows)
    unit_tokens = [t for docs_ in tokens.values() for t in docs_]
    return Documents(docs=docs, periods=docs["year"].tolist(), unit_tokens=unit_tokens,
                     unit_owner=list(range(len(docs))))


def _row(table, scope, term):
    rows = table[(table["scope"] == scope) & (table["term"] == term)]
    assert len(rows) == 1, (scope, term)
    return rows.iloc[0]


def test_counts_and_document_frequencies_are_exact():
    table = wordfreq.word_frequency(_toy_documents(), None, top_n=10)
    assert list(table.columns) == wordfreq.COLUMNS
    assert list(dict.fromkeys(table["scope"])) == ["2019", "2020", "2021"]
    assert set(table["scope_kind"]) == {"period"}
    expected = {("2019", "상담"): (3, 2, 3), ("2019", "진로"): (2, 2, 3), ("2019", "설계"): (1, 1, 3),
                ("2020", "상담"): (2, 1, 2), ("2020", "진로"): (2, 2, 2), ("2020", "취업"): (1, 1, 2),
                ("2021", "취업"): (3, 2, 4), ("2021", "성과"): (2, 2, 4), ("2021", "지역"): (2, 2, 4),
                ("2021", "가치"): (1, 1, 4), ("2021", "나눔"): (1, 1, 4)}
    for (scope, term), (count, doc_freq, n_docs) in expected.items():
        row = _row(table, scope, term)
        assert (row["count"], row["doc_freq"], row["n_docs"]) == (count, doc_freq, n_docs)
    assert len(table) == len(expected)


def test_tfidf_is_count_times_log_of_documents_over_document_frequency_within_the_scope():
    table = wordfreq.word_frequency(_toy_documents(), PHASES, top_n=10)
    for row in table.itertuples(index=False):
        assert row.tfidf == pytest.approx(row.count * math.log(row.n_docs / row.doc_freq), abs=1e-6)
    assert _row(table, "2019", "상담")["tfidf"] == pytest.approx(3 * math.log(3 / 2), abs=1e-6)
    assert _row(table, "2020", "진로")["tfidf"] == 0  # in every document of the scope
    assert _row(table, "phase1_2019-2020", "상담")["tfidf"] == pytest.approx(5 * math.log(5 / 3), abs=1e-6)


def test_phase_scopes_follow_the_phases_entry():
    table = wordfreq.word_frequency(_toy_documents(), PHASES, top_n=10)
    phases = table[table["scope_kind"] == "phase"]
    assert list(dict.fromkeys(phases["scope"])) == ["phase1_2019-2020", "phase2_2021-2021"]
    first = phases[phases["scope"] == "phase1_2019-2020"]
    assert set(first["n_docs"]) == {5}
    assert dict(zip(first["term"], first["count"])) == {"상담": 5, "진로": 4, "설계": 1, "취업": 1}
    assert dict(zip(first["term"], first["doc_freq"])) == {"상담": 3, "진로": 4, "설계": 1, "취업": 1}
    second = phases[phases["scope"] == "phase2_2021-2021"]
    period = table[table["scope"] == "2021"]
    pd.testing.assert_frame_equal(second.drop(columns=["scope_kind", "scope"]).reset_index(drop=True),
                                  period.drop(columns=["scope_kind", "scope"]).reset_index(drop=True))
    # a phase with no document of the corpus is an empty scope, not an error
    none = wordfreq.word_frequency(_toy_documents(), {"phases": [{"start": 2030, "end": 2031}]}, top_n=5)
    assert (none["scope_kind"] == "phase").sum() == 0


def test_ranks_break_ties_by_term_and_keep_the_top_by_count_and_by_tfidf():
    table = wordfreq.word_frequency(_toy_documents(), PHASES, top_n=2)
    y2021 = table[table["scope"] == "2021"]
    # counts 취업 3, 성과 2, 지역 2, 가치 1, 나눔 1: ties by term (성과 < 지역, 가치 < 나눔)
    full = wordfreq.word_frequency(_toy_documents(), None, top_n=10)
    ranks = full[full["scope"] == "2021"].set_index("term")["rank"].to_dict()
    assert ranks == {"취업": 1, "성과": 2, "지역": 3, "가치": 4, "나눔": 5}
    # TF-IDF: 성과 = 지역 = 2 ln 2 = 1.386, 취업 = 3 ln 2 = 2.079, 가치 = 나눔 = ln 4 = 1.386
    tfidf_ranks = full[full["scope"] == "2021"].set_index("term")["tfidf_rank"].to_dict()
    assert tfidf_ranks == {"취업": 1, "가치": 2, "나눔": 3, "성과": 4, "지역": 5}
    # top 2 by count (취업, 성과) and top 2 by TF-IDF (취업, 가치), in count-rank order
    assert list(y2021["term"]) == ["취업", "성과", "가치"]
    for _, rows in table.groupby("scope"):
        assert rows["rank"].is_unique and rows["tfidf_rank"].is_unique
        assert ((rows["rank"] <= 2) | (rows["tfidf_rank"] <= 2)).all()
        assert rows["rank"].is_monotonic_increasing


def test_units_of_one_document_count_as_one_document():
    docs = pd.DataFrame({"doc_id": ["a", "b"], "year": [2020, 2020], "text": ["x", "y"]})
    data = Documents(docs=docs, periods=[2020, 2020], unit_tokens=[["상담"], ["상담", "진로"], ["진로"]],
                     unit_owner=[0, 0, 1])
    table = wordfreq.word_frequency(data, None, top_n=5)
    assert _row(table, "2020", "상담")[["count", "doc_freq"]].tolist() == [2, 1]
    assert _row(table, "2020", "진로")[["count", "doc_freq"]].tolist() == [2, 2]


def test_finer_periods_are_scopes_and_phases_cover_them():
    docs = pd.DataFrame({"doc_id": list("abcd"), "year": [2019, 2019, 2020, 2020], "text": list("abcd")})
    data = Documents(docs=docs, periods=["2019-H1", "2019-H2", "2020-H1", "2020-H2"],
                     unit_tokens=[["상담"], ["진로"], ["취업"], ["성과"]], unit_owner=[0, 1, 2, 3])
    phases = {"phases": [{"start": "2019-H1", "end": "2019-H2"}, {"start": "2020-H1", "end": "2020-H2"}]}
    table = wordfreq.word_frequency(data, phases, top_n=5)
    assert list(dict.fromkeys(table["scope"])) == ["2019-H1", "2019-H2", "2020-H1", "2020-H2",
                                                   "phase1_2019-H1-2019-H2", "phase2_2020-H1-2020-H2"]
    assert set(table.loc[table["scope"] == "phase2_2020-H1-2020-H2", "term"]) == {"취업", "성과"}


def test_the_table_is_deterministic():
    a = wordfreq.word_frequency(_toy_documents(), PHASES, top_n=3)
    b = wordfreq.word_frequency(_toy_documents(), PHASES, top_n=3)
    pd.testing.assert_frame_equal(a, b)
    with pytest.raises(ValueError):
        wordfreq.word_frequency(_toy_documents(), PHASES, top_n=0)


def test_word_clouds_are_pngs_per_phase_and_the_same_every_time(tmp_path):
    table = wordfreq.word_frequency(_toy_documents(), PHASES, top_n=10)
    first = wordfreq.word_clouds(table, tmp_path / "a", size=(400, 300))
    second = wordfreq.word_clouds(table, tmp_path / "b", size=(400, 300))
    assert [p.name for p in first] == ["wordcloud_phase1_2019-2020.png", "wordcloud_phase2_2021-2021.png"]
    for a, b in zip(first, second):
        assert a.stat().st_size > 1000 and a.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert a.read_bytes() == b.read_bytes()
        pixels = np.asarray(Image.open(a).convert("RGB"))
        assert pixels.shape == (300, 400, 3) and (pixels < 200).any()  # something was drawn on white
    assert wordfreq.word_clouds(wordfreq.word_frequency(_toy_documents(), None, 5), tmp_path / "c") == []
    periods = wordfreq.word_clouds(table, tmp_path / "d", scope_kind="period", size=(300, 200))
    assert [p.name for p in periods] == ["wordcloud_2019.png", "wordcloud_2020.png", "wordcloud_2021.png"]


def test_the_report_section_renders_from_the_table_as_read_back(tmp_path):
    from textmine.report.report import environment

    data = _toy_documents()
    data.unit_tokens[0] = ["<b>상담</b>", "상담", "진로"]
    table = wordfreq.word_frequency(data, PHASES, top_n=10)
    table.to_csv(tmp_path / "word_frequency.csv", index=False, encoding="utf-8-sig")
    back = pd.read_csv(tmp_path / "word_frequency.csv", encoding="utf-8-sig")
    context = wordfreq.report_context(back, PHASES, top_n=3,
                                      images={"phase1_2019-2020": "data:image/png;base64,AAAA"})
    assert [p["scope"] for p in context["phases"]] == ["phase1_2019-2020", "phase2_2021-2021"]
    assert [r["term"] for r in context["phases"][0]["by_count"]] == ["상담", "진로", "<b>상담</b>"]
    assert [p["period"] for p in context["periods"]] == ["2019", "2020", "2021"]
    html = environment().get_template("wordfreq.html.j2").render(wordfreq=context)
    assert "단어 빈도와 TF-IDF" in html and "1기 2019–2020 · 진로·상담" in html and "워드클라우드" in html
    assert "&lt;b&gt;상담&lt;/b&gt;" in html and "<b>" not in html
    assert html.count('src="data:image/png;base64,AAAA"') == 1
    assert wordfreq.report_context(None) is None
    assert "만들지 않았습니다" in environment().get_template("wordfreq.html.j2").render(wordfreq=None)
