"""Masking of personal information before anything is written.

Evaluator text and citizens' petitions can carry phone numbers, e-mail
addresses, resident registration numbers (주민등록번호) and names of staff or
students ("홍길동 팀장", "김민수 컨설턴트").  :func:`mask_texts` replaces them
with the placeholders Korean documents conventionally use for redaction, which
tokenize to nothing, and counts what it replaced.

Names are found by a title that follows them (from the profile: 팀장,
컨설턴트, 교수...) and kept from over-masking by two checks: the candidate
starts with a Korean surname, and Kiwi, reading it in context, tags it as a
proper noun with nothing but nouns after it (so "정보 담당자", "전공 교수" and
"이에 컨설턴트" stay, "정민호 교수" goes).  Names the
profile lists are masked wherever they occur.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

PLACEHOLDERS = {"rrn": "******-*******", "phone": "***-****-****", "email": "***@***", "name": "○○○"}

# Resident registration number: YYMMDD-GXXXXXX with a valid month/day and gender digit.
_RRN = re.compile(r"(?<!\d)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\s?-\s?[1-8]\d{6}(?!\d)")
_PHONE = re.compile(
    r"(?<![\d-])(?:\+82[\s-]?|0)(?:1[016789]|2|[3-6][1-5]|70|50\d)[\s.-]?\d{3,4}[\s.-]?\d{4}(?![\d-])"
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
SURNAMES = set(
    "김 이 박 최 정 강 조 윤 장 임 한 오 서 신 권 황 안 송 류 유 전 홍 고 문 양 손 배 백 허 남 심 노 하 곽 성 차 주 우 구 민 "
    "나 진 지 엄 채 원 천 방 공 현 함 변 염 여 추 도 소 석 선 설 마 길 연 위 표 명 기 반 왕 금 옥 육 인 맹 제 모 탁 국 어 "
    "은 편 용 예 경 봉 사 부 가 복 태 목 형 계 피 두 감 음 빈 동 온 호 범 좌 팽 승 간 상 시 갈 단 견 당".split()
)
COMPOUND_SURNAMES = ("남궁", "황보", "제갈", "선우", "독고", "사공", "서문")


@dataclass
class MaskReport:
    counts: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, int]:
        return {k: int(self.counts.get(k, 0)) for k in PLACEHOLDERS}


class PiiMasker:
    """Masks PII in texts; build once (it may use Kiwi) and call :meth:`mask_texts`."""

    def __init__(self, titles: Sequence[str], names: Sequence[str] = (), kiwi=None):
        self.kiwi = kiwi
        self.names = sorted({n for n in names if n}, key=len, reverse=True)
        alternatives = "|".join(sorted(map(re.escape, titles), key=len, reverse=True)) or "(?!)"
        # A 2-4 syllable word (not glued to a preceding syllable) followed by a title.
        self._titled = re.compile(rf"(?<![가-힣])([가-힣]{{2,4}})(\s?)({alternatives})")
        self._listed = re.compile("|".join(map(re.escape, self.names))) if self.names else None
        self._decided: dict[str, bool] = {}  # the same "word title" phrases recur across opinions

    def _is_name(self, word: str, phrase: str) -> bool:
        if not (word[0] in SURNAMES or word.startswith(COMPOUND_SURNAMES)):
            return False
        if self.kiwi is None:
            return len(word) == 3
        # Tagged in context ("박서연 선생님"): alone, Kiwi reads unknown names as common nouns.
        inside = [t for t in self.kiwi.tokenize(phrase) if t.start < len(word)]
        # A name reads as a proper noun, possibly split (최영/NNP + 호/NNG); a word with a
        # particle or ending (이에, 배치되어, 전략과) or a common noun (정보, 전공) is not one.
        return bool(inside) and inside[0].tag == "NNP" and all(t.tag in ("NNP", "NNG") for t in inside)

    def mask(self, text: str, report: MaskReport) -> str:
        for kind, pattern in (("rrn", _RRN), ("email", _EMAIL), ("phone", _PHONE)):
            text, n = pattern.subn(PLACEHOLDERS[kind], text)
            report.counts[kind] += n
        if self._listed is not None:
            text, n = self._listed.subn(PLACEHOLDERS["name"], text)
            report.counts["name"] += n

        def replace(match: re.Match) -> str:
            word, phrase = match.group(1), match.group(0)
            if phrase not in self._decided:
                self._decided[phrase] = self._is_name(word, phrase)
            if self._decided[phrase]:
                report.counts["name"] += 1
                return PLACEHOLDERS["name"] + match.group(2) + match.group(3)
            return match.group(0)

        return self._titled.sub(replace, text)

    def mask_texts(self, texts: Sequence[str]) -> tuple[list[str], MaskReport]:
        report = MaskReport()
        return [self.mask(t, report) for t in texts], report
