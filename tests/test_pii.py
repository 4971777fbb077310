"""PII masking: phone numbers, e-mail, resident registration numbers, names before titles."""
import pytest

from textmine.pii import PLACEHOLDERS, PiiMasker
from textmine.tokenize import kiwi_for, load_profile


@pytest.fixture(scope="module")
def masker():
    profile = load_profile()
    return PiiMasker(profile.pii_titles, ["박보검"], kiwi_for(profile, 1))


@pytest.mark.parametrize("text,secret", [
    ("연락처 010-1234-5678로 문의", "010-1234-5678"),
    ("연락처 010 1234 5678", "010 1234 5678"),
    ("센터 02-123-4567", "02-123-4567"),
    ("+82-10-9876-5432 로 연락", "10-9876-5432"),
    ("메일 hong.gildong@univ.ac.kr 로", "hong.gildong@univ.ac.kr"),
    ("주민번호 900101-1234567 기재", "900101-1234567"),
    ("홍길동 팀장이 상담을 맡음", "홍길동"),
    ("김민수 컨설턴트의 상담", "김민수"),
    ("박서연 선생님께 문의", "박서연"),
    ("센터장 최영호 교수와 면담", "최영호"),
    ("이지은 학생 사례", "이지은"),
    ("김민수님 감사", "김민수"),
    ("박보검이 말함", "박보검"),
    ("남궁민수 위원 의견", "남궁민수"),
])
def test_pii_is_masked(masker, text, secret):
    masked, report = masker.mask_texts([text])
    assert secret not in masked[0]
    assert sum(report.as_dict().values()) == 1
    assert any(p in masked[0] for p in PLACEHOLDERS.values())


@pytest.mark.parametrize("text", [
    "취업 컨설턴트 충원 필요", "정보 담당자 배치", "전공 교수 연계", "기관 담당자 협의", "재학생 상담",
    "고학년 학생 지원", "신입생 학생 대상", "2019-2020 실적 12,345건", "예산 1,234,567원 집행", "사업비 2020-12-31 정산",
])
def test_ordinary_text_is_left_alone(masker, text):
    masked, report = masker.mask_texts([text])
    assert masked == [text] and sum(report.as_dict().values()) == 0
