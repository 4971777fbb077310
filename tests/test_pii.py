"""PII masking: phone numbers, e-mail, resident registration numbers, names next to titles."""
import re

import pytest

from textmine.pii import PLACEHOLDERS, PiiMasker, normalise
from textmine.tokenize import kiwi_for, load_profile


@pytest.fixture(scope="module")
def masker():
    profile = load_profile()
    return PiiMasker(profile.pii_titles, ["박보검"], kiwi_for(profile, 1))


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
