"""PII masking: phone numbers, e-mail, resident registration numbers, names next to titles."""
import re

import pytest

from textmine.text.pii import PLACEHOLDERS, PiiMasker, normalise
from textmine.text.tokenize import kiwi_for, load_profile


@pytest.fixture(scope="module")
def masker():
    profile = load_profile()
    return PiiMasker(profile.pii_titles, ["박보검"], kiwi_for(profile, 1), signatures=profile.pii_list("signatures"))


def _pieces(secret: str) -> list[str]:
    """What must not survive of a secret: its digit groups (normalised) or its Hangul name."""
    digits = re.findall(r"\d{3,}", normalise(secret))
    return digits or [secret]


@pytest.mark.parametrize("text,secret,kind", [
    ("연락처 010-1234-5678로 문의", "010-1234-5678", "phone"),
    ("연락처 010 1234 5678", "010 1234 5678", "phone"),
    ("센터 02-123-4567", "02-123-4567", "phone"),
    ("+82-10-9876-5432 로 연락", "10-9876-5432", "phone"),
    ("메일 hong.gildong@univ.ac.kr 로", "hong.gildong@univ.ac.kr", "email"),
    ("주민번호 900101-1234567 기재", "900101-1234567", "rrn"),
    ("홍길동 팀장이 상담을 맡음", "홍길동", "name"),
    ("김민수 컨설턴트의 상담", "김민수", "name"),
    ("박서연 선생님께 문의", "박서연", "name"),
    ("센터장 최영호 교수와 면담", "최영호", "name"),
    ("이지은 학생 사례", "이지은", "name"),
    ("김민수님 감사", "김민수", "name"),
    ("박보검이 말함", "박보검", "name"),
    ("남궁민수 위원 의견", "남궁민수", "name"),
    # phones: brackets, country code, spaced hyphens, dots, no separator, full-width, other dashes
    ("문의 (010)6789-0123 으로", "(010)6789-0123", "phone"),
    ("문의 (010) 6789-0123", "(010) 6789-0123", "phone"),
    ("센터 02)123-4567 로", "02)123-4567", "phone"),
    ("센터 (02) 123-4567", "(02) 123-4567", "phone"),
    ("연락처 010 - 1234 - 5678 입니다", "010 - 1234 - 5678", "phone"),
    ("+82-10-1234-5678 로 연락", "+82-10-1234-5678", "phone"),
    ("+82-(0)10-1234-5678 로 연락", "+82-(0)10-1234-5678", "phone"),
    ("+82 2 123 4567 (서울)", "+82 2 123 4567", "phone"),
    ("연락 ０１０－１２３４－５６７８ 로", "０１０－１２３４－５６７８", "phone"),
    ("연락 010–1234–5678 로", "010–1234–5678", "phone"),
    ("연락 010.1234.5678 로", "010.1234.5678", "phone"),
    ("연락 01012345678 로", "01012345678", "phone"),
    ("지역 031-123-4567 사무실", "031-123-4567", "phone"),
    ("전화 070-1234-5678 로", "070-1234-5678", "phone"),
    # resident registration numbers: without the hyphen, spaced, full-width, half starred out
    ("주민번호 8503152345678 기재", "8503152345678", "rrn"),
    ("주민번호 850315 - 2345678 기재", "850315 - 2345678", "rrn"),
    ("주민번호 ８５０３１５－２３４５６７８", "８５０３１５－２３４５６７８", "rrn"),
    ("주민번호 020229-4123456 기재", "020229-4123456", "rrn"),
    ("등록번호 850315-2****** 기재", "850315-2", "rrn"),
    # names after a title, with the title in brackets, and the titles the profile gained
    ("팀장 홍길동이 상담을 맡음", "홍길동", "name"),
    ("팀장님 홍길동에게 문의", "홍길동", "name"),
    ("담당자: 최수정", "최수정", "name"),
    ("김철수(팀장)이 말함", "김철수", "name"),
    ("김철수 (팀장) 면담", "김철수", "name"),
    ("주무관 박지훈 연락", "박지훈", "name"),
    ("박지훈 주무관 연락", "박지훈", "name"),
    ("김영희 사무관 의견", "김영희", "name"),
    ("이민호 연구원 참여", "이민호", "name"),
    ("정다은 교사 면담", "정다은", "name"),
    ("홍길동팀장님 면담", "홍길동", "name"),
    ("김정은위원장과 회담", "김정은", "name"),
    # the titles of a Job Plus Center's staff and evaluators (issue 25)
    ("취업지원관 홍길동이 상담", "홍길동", "name"),
    ("박지훈 취업지원관 배치", "박지훈", "name"),
    ("전담인력 김철수 채용", "김철수", "name"),
    ("부팀장 박민지가 운영", "박민지", "name"),
    ("팀원 박민지가 운영", "박민지", "name"),
    ("前 팀장 최민호 면담", "최민호", "name"),
    ("최민호 前 팀장 면담", "최민호", "name"),
    ("최민호(전 센터장) 면담", "최민호", "name"),
    ("김영수 부센터장 의견", "김영수", "name"),
    ("평가위원 김영수 의견", "김영수", "name"),
    ("정다은 직업상담사 상담", "정다은", "name"),
    ("정다은 진로상담사 상담", "정다은", "name"),
    # a title after a slash, a signature, a name in brackets after a phone number
    ("홍길동/팀장 의견", "홍길동", "name"),
    ("팀장/홍길동 의견", "홍길동", "name"),
    ("작성: 홍길동", "홍길동", "name"),
    ("작성자 홍길동", "홍길동", "name"),
    ("담당: 홍길동", "홍길동", "name"),
    ("성명 : 박서연", "박서연", "name"),
    # rare names Kiwi reads as syllables or with their particle: the shape decides after a signature's
    # label or a phone number, an unknown word does after a title
    ("결과 작성: 최민호. 만족도 조사", "최민호", "name"),
    ("결과 취업지원관 마서진이 상담", "마서진", "name"),
])
def test_pii_is_masked(masker, text, secret, kind):
    masked, report = masker.mask_texts([text])
    for piece in _pieces(secret):
        assert piece not in normalise(masked[0]), (piece, masked[0])
    assert report.as_dict() == {k: int(k == kind) for k in PLACEHOLDERS}
    assert PLACEHOLDERS[kind] in masked[0]


@pytest.mark.parametrize("text", [
    "취업 컨설턴트 충원 필요", "정보 담당자 배치", "전공 교수 연계", "기관 담당자 협의", "재학생 상담",
    "고학년 학생 지원", "신입생 학생 대상", "2019-2020 실적 12,345건", "예산 1,234,567원 집행", "사업비 2020-12-31 정산",
    # numbers that look a little like phones or resident numbers
    "2019.05.31 기준", "2019. 5. 31. 접수", "2017-2019 3개년 평균", "2019 - 2020 학년도", "회계 110-123-456789 계좌",
    "총 1234567890123건", "고유번호 9913322345678", "851315-1234567 오기", "850231-1234567 오기",
    "번호 3012313123456 (미래의 날짜)", "대표번호 1588-1234", "기사 https://news.example.com/0200000000AKR2017 참조",
    "민원 1AA-1708-263827 접수", "사업비 1,010,1234원",
    # words next to titles that are not names
    "팀장 정보 공유", "교수 연구실 운영", "학생 지원금 지급", "대학생 서울대 진학", "서울대 학생 지원",
    "한국 학생 지원", "서울시 직원 면담", "위원회 구성", "이에 컨설턴트 배치", "김교수님 강의", "문대통령님께",
])
def test_ordinary_text_is_left_alone(masker, text):
    masked, report = masker.mask_texts([text])
    assert masked == [text] and sum(report.as_dict().values()) == 0


@pytest.mark.parametrize("text,names", [
    ("홍길동·김철수 팀장이 상담", ["홍길동", "김철수"]),
    ("홍길동, 김철수 컨설턴트가 참여", ["홍길동", "김철수"]),
    ("홍길동·김철수·박영희 위원 의견", ["홍길동", "김철수", "박영희"]),
    ("홍길동/김철수 평가위원", ["홍길동", "김철수"]),
    ("정다은 및 박서연 취업지원관", ["정다은", "박서연"]),
])
def test_several_names_before_one_title(masker, text, names):
    """Every name of a list before one title is masked, each checked by Kiwi like a single one."""
    masked, report = masker.mask_texts([text])
    assert not any(n in masked[0] for n in names), masked[0]
    assert report.as_dict()["name"] == len(names)


def test_a_name_in_brackets_after_a_phone_number(masker):
    masked, report = masker.mask_texts(["문의 010-1234-5678(홍길동)", "센터 02-123-4567 [김철수]",
                                        "대표 02-123-4567(대표)", "문의 010-1234-5678(평일)",
                                        "결과 문의 010-1234-5678(편주아). 만족도"])
    assert masked == ["문의 ***-****-****(○○○)", "센터 ***-****-**** [○○○]", "대표 ***-****-****(대표)",
                      "문의 ***-****-****(평일)", "결과 문의 ***-****-****(○○○). 만족도"]
    assert report.as_dict() == {"rrn": 0, "phone": 5, "email": 0, "name": 3}


@pytest.mark.parametrize("text", [
    "서울·경기 팀장 회의", "교육, 상담 컨설턴트 배치", "팀장/팀원 역할 분담", "작성 시 유의", "보고서 작성: 각 팀",
    "담당: 취업지원", "담당: 진로팀", "작성: 한명이", "성명 기재 필요", "팀장 한명이 담당", "교수 회의록 작성", "취업지원관 배치 확대", "전담인력 충원", "상담, 진로 컨설턴트 확충",
])
def test_new_forms_leave_ordinary_text_alone(masker, text):
    masked, report = masker.mask_texts([text])
    assert masked == [text] and sum(report.as_dict().values()) == 0


def test_domain_titles_are_the_profile_default():
    profile = load_profile()
    for title in ("취업지원관", "전담인력", "부팀장", "팀원", "컨설턴트", "취업컨설턴트", "진로상담사", "직업상담사",
                  "센터장", "부센터장", "평가위원"):
        assert title in profile.pii_titles, title
    assert {"작성", "작성자", "담당"} <= set(profile.pii_list("signatures"))


@pytest.fixture(scope="module")
def bare_masker():
    profile = load_profile()
    return PiiMasker(profile.pii_titles, [], kiwi_for(profile, 1), signatures=profile.pii_list("signatures"),
                     bare_names=True)


def test_bare_names_are_masked_only_in_bare_mode(masker, bare_masker):
    """pii.bare_names: a proper noun of a name's shape, with no title; places and organisations are not."""
    text = "이번에 박지영이 상담을 받았고 저는 탁수린입니다. 서울시와 강원도, 민노총, 한국어 교육은 그대로"
    plain, _ = masker.mask_texts([text])
    assert plain == [text]
    bare, report = bare_masker.mask_texts([text])
    assert "박지영" not in bare[0] and "탁수린" not in bare[0], bare[0]
    for word in ("서울시", "강원도", "민노총", "한국어"):
        assert word in bare[0], (word, bare[0])
    assert report.as_dict()["name"] == 2


def test_bare_mode_keeps_the_titled_forms(bare_masker):
    masked, _ = bare_masker.mask_texts(["홍길동·김철수 팀장이 상담", "작성: 박서연"])
    assert masked == ["○○○·○○○ 팀장이 상담", "작성: ○○○"]


def test_name_columns_are_left_out_unless_kept():
    import pandas as pd

    from textmine.text.pii import protect_metadata

    profile = load_profile()
    docs = pd.DataFrame({"text": ["가", "나"], "평가위원": ["홍길동", "김철수"], "작성자명": ["박서연", "이민호"],
                         "비고": ["김민수 컨설턴트 의견", "없음"], "검토": ["최영희", "정다은"], "지역": ["서울", "부산"],
                         "컨설턴트 수": [3, 4], "program_name": ["취업캠프", "모의면접"]})
    calls = []

    def mask(values):
        calls.append(values)
        masked, report = PiiMasker(profile.pii_titles, [], kiwi_for(profile, 1)).mask_texts(values)
        return masked, report.as_dict()

    out, record = protect_metadata(docs, list(docs.columns[1:]), headers=profile.pii_list("name_columns"),
                                   names=["최영희"], keep=["작성자명"], mask=mask)
    # 평가위원 by its header, 검토 by a value the profile lists; 작성자명 kept as asked; numbers are no names
    assert record["left_out"] == ["평가위원", "검토"]
    assert list(out.columns) == ["text", "작성자명", "비고", "지역", "컨설턴트 수", "program_name"]
    assert out["비고"].tolist() == ["○○○ 컨설턴트 의견", "없음"] and record["masked"]["name"] == 1
    assert out["작성자명"].tolist() == ["박서연", "이민호"]
    # one call with the distinct text values of the masked columns, sorted (a PII cache entry on a rerun)
    assert calls == [sorted(["김민수 컨설턴트 의견", "없음", "서울", "부산", "취업캠프", "모의면접"])]


def test_profile_pii_options_are_checked(tmp_path):
    from textmine.core.errors import ConfigError

    (tmp_path / "profile.toml").write_text('[pii]\nsignature = ["작성"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown \[pii\] option\(s\): signature"):
        load_profile(tmp_path)
    (tmp_path / "profile.toml").write_text('[pii]\nname_columns = "평가위원"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="name_columns must be a list of words"):
        load_profile(tmp_path)


def test_counts_per_kind_over_many_texts(masker):
    texts = [
        "홍길동 팀장(010-1234-5678)과 팀장 김수진이 상담, 메일 a.b@example.ac.kr",
        "주민번호 8503152345678, 연락처 (02)123-4567, ０１０－９８７６－５４３２",
        "2019-2020 실적 정리",
    ]
    masked, report = masker.mask_texts(texts)
    assert report.as_dict() == {"rrn": 1, "phone": 3, "email": 1, "name": 2}
    assert masked[2] == texts[2]
    for secret in ("홍길동", "김수진", "1234-5678", "example", "8503152345678", "123-4567", "９８７６"):
        assert not any(secret in m for m in masked), secret


def test_only_the_masked_spans_change(masker):
    """Matching runs on a normalised copy; the original characters around a match are kept."""
    text = "“연락처：０１０－１２３４－５６７８” — 문의는 팀장님 홍길동에게 (ｅｍａｉｌ 없음)"
    masked, _ = masker.mask_texts([text])
    assert masked == ["“연락처：***-****-****” — 문의는 팀장님 ○○○에게 (ｅｍａｉｌ 없음)"]


def test_normalise_keeps_length():
    text = "０１０－１２３４—５６７８ㅡ９\u3000Ａ＠ｂ．ｃｏ"
    assert normalise(text) == "010-1234-5678-9 A@b.co"
    assert len(normalise(text)) == len(text)


def test_without_kiwi_three_syllable_names_only():
    plain = PiiMasker(["팀장"])
    masked, report = plain.mask_texts(["홍길동 팀장, 정보 팀장, 연락 010-1234-5678"])
    assert masked == ["○○○ 팀장, 정보 팀장, 연락 ***-****-****"]
    assert report.as_dict() == {"rrn": 0, "phone": 1, "email": 0, "name": 1}
