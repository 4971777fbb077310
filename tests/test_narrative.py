"""The written Korean summary of the phases, and Korean particles."""
import pandas as pd
import pytest

from textmine.report.narrative import (
    attach, final_consonant, format_period, format_span, josa, narrative_context, phase_narrative)

LABELS = {0: "진로 탐색", 1: "상담·비교과", 2: "지역 청년", 3: "성과 관리", -1: "이상치 (outliers)"}
# Planted phase means (2015-17, 2018-20, 2021-23); the outliers jump most and must never be named.
MEANS = {0: (0.50, 0.20, 0.22), 1: (0.20, 0.45, 0.10), 2: (0.10, 0.15, 0.15), 3: (0.10, 0.10, 0.43),
         -1: (0.10, 0.10, 0.50)}
YEARS = list(range(2015, 2024))


def trajectories(periods=YEARS, means=MEANS, model="lda", per_phase=3):
    rows = []
    for i, period in enumerate(periods):
        phase, offset = divmod(i, per_phase)
        wobble = (offset - (per_phase - 1) / 2) * 0.01  # -0.01, 0, +0.01: the phase mean stays planted
        for topic, m in means.items():
            rows.append({"model": model, "topic": topic, "label": LABELS[topic], "period": period,
                         "year": int(str(period)[:4]), "share": m[phase] + wobble})
    return pd.DataFrame(rows)


def char(topic, share):
    return {"topic": topic, "label": LABELS[topic], "share_inside": share, "share_outside": 0.0}


PHASES = {
    "lda": {"phases": [
        {"start": 2015, "end": 2017, "label": "x", "characteristic_topics": [char(0, 0.5), char(2, 0.1)],
         "confidence": 1.0},
        {"start": 2018, "end": 2020, "label": "y", "characteristic_topics": [char(1, 0.45)], "confidence": 0.94},
        {"start": 2021, "end": 2023, "label": "z", "characteristic_topics": [char(3, 0.43), char(0, 0.22)],
         "confidence": 0.72}],
        "phase_starts": [2015, 2018, 2021], "boundary_confidence": {"2018": 0.94, "2021": 0.72},
        "periods": YEARS, "n_phases": 3},
    "consensus": {"phases": [{"start": 2015, "end": 2017, "confidence": 1.0},
                             {"start": 2018, "end": 2020, "confidence": 0.5},
                             {"start": 2021, "end": 2023, "confidence": 0.833}],
                  "boundary_confidence": {"2018": 0.5, "2021": 0.833}, "phase_starts": [2015, 2018, 2021]},
}


def test_three_phases_name_the_right_topics_signs_and_numbers():
    out = phase_narrative(PHASES, trajectories(), "lda")
    assert out == [
        "1시기(2015–2017년)에는 ‘진로 탐색’(비중 50.0%)과 ‘지역 청년’(10.0%)이 두드러졌다.",
        "2시기(2018–2020년)로 넘어가며 ‘상담·비교과’가 25.0%p 늘고 ‘진로 탐색’이 30.0%p 줄었다(경계 신뢰도 0.94). "
        "이 시기에는 ‘상담·비교과’(비중 45.0%)가 두드러졌다.",
        "3시기(2021–2023년)로 넘어가며 ‘성과 관리’가 33.0%p 늘고 ‘상담·비교과’가 35.0%p 줄었다(경계 신뢰도 0.72). "
        "이 시기에는 ‘성과 관리’(비중 43.0%)와 ‘진로 탐색’(22.0%)이 두드러졌다.",
    ]
    assert all("이상치" not in s for s in out)
    # one model's entry works as well as the whole phases.json
    assert phase_narrative(PHASES["lda"], trajectories(), "lda") == out


def test_renamed_labels_change_names_and_particles():
    out = phase_narrative(PHASES, trajectories(), "lda", labels={"lda": {1: "상담 운영"}})
    assert "‘상담 운영’이 25.0%p 늘고" in out[1] and "‘상담 운영’(비중 45.0%)이 두드러졌다" in out[1]
    out = phase_narrative(PHASES, trajectories(), "lda", labels={0: "진로"})
    assert out[0].startswith("1시기(2015–2017년)에는 ‘진로’(비중 50.0%)와 ‘지역 청년’(10.0%)이")


def test_consensus_boundaries_with_a_models_shares():
    out = phase_narrative(PHASES, trajectories(), "lda", boundaries="consensus")
    assert "(경계 신뢰도 0.50)" in out[1] and "(경계 신뢰도 0.83)" in out[2]
    # characteristic topics from the shares: the largest rise against the other phases
    assert out[2].endswith("이 시기에는 ‘성과 관리’(비중 43.0%)와 ‘지역 청년’(15.0%)이 두드러졌다.")
    assert out[0].startswith("1시기(2015–2017년)에는 ‘진로 탐색’(비중 50.0%)")
    ctx = narrative_context(PHASES, trajectories(), ["lda"], boundaries="consensus", display=str.upper)
    assert ctx[0]["name"] == "LDA" and ctx[0]["boundaries_name"] == "모델 합의" and ctx[0]["sentences"] == out


def test_one_phase():
    one = {"lda": {"phases": [{"start": 2015, "end": 2023, "characteristic_topics": [char(0, 0.31)]}],
                   "boundary_confidence": {}, "periods": YEARS}}
    assert phase_narrative(one, trajectories(), "lda") == [
        "분석 기간 전체(2015–2023년)가 한 시기로 묶였으며, ‘진로 탐색’(비중 30.7%)과 ‘상담·비교과’(25.0%)의 비중이 가장 컸다."]


def test_finer_periods():
    halves = [f"{y}-H{h}" for y in (2019, 2020, 2021) for h in (1, 2)]
    means = {t: m[:3] for t, m in MEANS.items()}
    traj = trajectories(halves, means, per_phase=2)
    phases = {"lda": {"phases": [{"start": "2019-H1", "end": "2019-H2", "characteristic_topics": [char(0, 0.5)]},
                                 {"start": "2020-H1", "end": "2020-H2", "characteristic_topics": [char(1, 0.45)]},
                                 {"start": "2021-H1", "end": "2021-H2", "characteristic_topics": [char(3, 0.43)]}],
                      "boundary_confidence": {"2020-H1": 1.0, "2021-H1": 0.8}, "periods": halves}}
    out = phase_narrative(phases, traj, "lda")
    assert out[0].startswith("1시기(2019년 상반기–하반기)에는 ‘진로 탐색’(비중 50.0%)이")
    assert out[1].startswith("2시기(2020년 상반기–하반기)로 넘어가며 ‘상담·비교과’가 25.0%p 늘고")
    assert "(경계 신뢰도 0.80)" in out[2]


def test_no_change_and_only_a_fall():
    flat = {t: (m[0], m[0], m[0]) for t, m in MEANS.items()}
    out = phase_narrative(PHASES, trajectories(means=flat), "lda")
    assert out[1].startswith("2시기(2018–2020년)로 넘어가며 토픽 비중에 큰 변화가 없었다(경계 신뢰도 0.94).")
    fall = {0: (0.5, 0.3, 0.3), 1: (0.2, 0.2, 0.2)}
    out = phase_narrative(PHASES, trajectories(means=fall), "lda")
    assert "넘어가며 ‘진로 탐색’이 20.0%p 줄었다(경계 신뢰도 0.94)." in out[1]
    rise = {0: (0.5, 0.7, 0.7), 1: (0.2, 0.2, 0.2)}
    assert "넘어가며 ‘진로 탐색’이 20.0%p 늘었다(경계 신뢰도 0.94)." in phase_narrative(PHASES, trajectories(means=rise),
                                                                                  "lda")[1]


def test_missing_model_gives_nothing():
    assert phase_narrative(PHASES, trajectories(), "dtm") == []
    assert phase_narrative({"dtm": PHASES["lda"]}, trajectories(), "dtm") == []  # no dtm trajectories
    assert narrative_context(PHASES, None, ["lda"]) == []


@pytest.mark.parametrize("word, pair, expected", [
    ("사과", "은/는", "는"), ("상담", "은/는", "은"), ("상담", "는/은", "은"),
    ("‘상담·심리’", "이/가", "가"), ("‘성과 관리’", "이/가", "가"), ("‘진로 탐색’", "이/가", "이"),
    ("‘진로·탐색·설계’", "과/와", "와"), ("‘지역 청년’", "과/와", "과"), ("「성과」", "을/를", "를"),
    ("서울", "으로/로", "로"), ("부산", "으로/로", "으로"), ("학교", "으로/로", "로"),
    # digits as read: 영 일 이 삼 사 오 육 칠 팔 구
    ("0", "이/가", "이"), ("1", "이/가", "이"), ("2", "이/가", "가"), ("3", "이/가", "이"), ("4", "이/가", "가"),
    ("5", "이/가", "가"), ("6", "이/가", "이"), ("7", "이/가", "이"), ("8", "이/가", "이"), ("9", "이/가", "가"),
    ("2019", "은/는", "는"), ("2020", "은/는", "은"), ("1", "으로/로", "로"), ("3", "으로/로", "으로"),
    ("21.3%", "이/가", "가"), ("9.1%p", "이/가", "가"), ("‘상위 10%’", "과/와", "와"),
    ("SNS", "을/를", "를"), ("HTML", "을/를", "을"), ("HTML", "으로/로", "로"), ("IT", "이/가", "가"),
    ("漢", "이/가", "이(가)"), ("漢", "으로/로", "(으)로"), ("", "은/는", "은(는)"),
])
def test_josa(word, pair, expected):
    assert josa(word, pair) == expected


def test_josa_helpers():
    assert attach("‘상담’", "이/가") == "‘상담’이"
    assert final_consonant("닭") == "ㄺ" and final_consonant("나") == "" and final_consonant("물") == "ㄹ"
    with pytest.raises(ValueError):
        josa("상담", "이")


def test_period_formats():
    assert format_period(2019) == "2019년" and format_period("2019-H2") == "2019년 하반기"
    assert format_period("2019-Q3") == "2019년 3분기" and format_period("2019-07") == "2019년 7월"
    assert format_span(2015, 2017) == "2015–2017년" and format_span(2015, 2015) == "2015년"
    assert format_span("2019-H2", "2020-H1") == "2019년 하반기–2020년 상반기"
    assert format_span("2019-Q1", "2019-Q3") == "2019년 1분기–3분기"


def test_template_renders_the_paragraph_escaped():
    from textmine.report.report import environment

    ctx = narrative_context(PHASES, trajectories(), ["lda"], display=lambda m: "LDA")
    ctx[0]["sentences"].append("<script>alert(1)</script>")
    html = environment().get_template("narrative.html.j2").render(narrative=ctx)
    assert "한눈에 보기" in html and "‘상담·비교과’가 25.0%p 늘고" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<h3>" not in html  # one model: no per-model heading
    assert environment().get_template("narrative.html.j2").render(narrative=[]).strip() == ""
    assert environment().get_template("narrative.html.j2").render().strip() == ""
