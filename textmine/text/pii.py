"""Masking of personal information before anything is written.

Evaluator text and citizens' petitions can carry phone numbers, e-mail
addresses, resident registration numbers (주민등록번호) and names of staff or
students ("홍길동 팀장", "김민수 컨설턴트").  :func:`mask_texts` replaces them
with the placeholders Korean documents conventionally use for redaction, which
tokenize to nothing, and counts what it replaced, per kind (rrn, phone, email,
name: the keys of ``MaskReport.as_dict`` that the manifest and the report show).

People write the same number many ways, so matching runs on a *normalised copy*
of the text: full-width ASCII (``０１０－１２３４``, U+FF01..U+FF5E) becomes
ASCII, the dash family (‐ ‑ ‒ – — ― − ﹣ and the Hangul ㅡ typed as a dash)
becomes ``-`` and odd spaces become a space.  The mapping is one character to
one character, so a match in the copy is the same span in the original, and the
original span is what gets replaced.

- Phones: mobile (010, 011, 016-019), Seoul (02), area codes (031-064), 070 and
  050x numbers, with an optional ``+82`` (and ``(0)``), the prefix optionally in
  brackets or closed by ``)`` (``(010)6789-0123``, ``02)123-4567``), separated by
  spaces, dots or hyphens with spaces around them, or nothing.  Never inside a
  longer run of digits, so years (2019-2020), dates (2019.05.31), amounts and
  account numbers are left alone.
- Resident registration numbers: YYMMDD + a gender/century digit 1-8 + six
  digits (or six ``*``), with or without a hyphen; the date must exist.  Written
  as a bare 13-digit run, the century the gender digit implies must also give a
  past date, so arbitrary 13-digit numbers are left alone.
- Names: a surname-initial word before a title from the profile (``홍길동 팀장``,
  ``김민수님``, ``홍길동팀장님``), after one (``팀장 홍길동``, ``팀장님 홍길동이``,
  ``담당자: 홍길동``) or with the title in brackets (``김철수(팀장)``, ``김철수 (팀장)``).
  Kiwi decides, reading the candidate with about 20 characters before it and the word
  after it (alone, it takes verb forms such as 하니, 가서 for proper nouns and unknown
  names for common nouns):
  - the candidate is a proper noun (NNP), possibly split into a proper noun and
    one-syllable pieces (최영/NNP + 호/NNG, 이규/NNP + 현/MM), or a word Kiwi does not know
    (an unknown NNG) of a name's shape, three syllables (four after 남궁, 황보...); a known
    common noun (정보, 지원금), a longer common noun inside (김+교수, 문+대통령) or a particle
    glued to a name before a title (이에 컨설턴트) is not one;
  - the title is whole words of Kiwi's reading: 학생 inside 대학생, 위원 inside 위원회, 원장
    inside 국기원장 are no titles;
  - place and institution names that read as proper nouns and start with a surname
    syllable (한국, 서울시, 경기도, 서울대, 고양지검 ...) and a few proper nouns (예수, 부처)
    are never names.
  Names the profile lists are masked wherever they occur.  Names with no title next to
  them (``저는 홍길동입니다``) are not found: that needs a named-entity model.

Kiwi reads the candidates of a batch of texts in one call (:meth:`PiiMasker.mask_texts`):
a call per candidate costs more in overhead than in analysis.
"""
from __future__ import annotations

import calendar
import datetime
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

PLACEHOLDERS = {"rrn": "******-*******", "phone": "***-****-****", "email": "***@***", "name": "○○○"}

# ---------------------------------------------------------------- normalisation (1:1 in length)

_NORMALISE = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}  # full-width ASCII -> ASCII
_NORMALISE.update({ord(c): "-" for c in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\u3161"})
_NORMALISE.update({ord(c): " " for c in "\u00a0\u2002\u2003\u2009\u202f\u3000"})


_ODD = re.compile("[" + re.escape("".join(map(chr, _NORMALISE))) + "]")


def normalise(text: str) -> str:
    """The copy of ``text`` that patterns are matched on: same length, character for character."""
    # Most texts have none of these characters: finding that out is much faster than translating.
    return text.translate(_NORMALISE) if _ODD.search(text) else text


# ---------------------------------------------------------------- numbers and addresses

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")

# YYMMDD, optional separator, gender/century digit, six digits (or already starred out: the birth
# date and gender alone still identify).  The date is checked in _valid_rrn.
_RRN = re.compile(r"(?<!\d)(\d{2})(\d{2})(\d{2})([ \t]*-[ \t]*|[ \t]{1,2}|)([1-8])(\d{6}|\*{6})(?!\d)")

_GAP = r"(?:[ \t]{0,2}[-.][ \t]{0,2}|[ \t]{1,2})?"  # between the parts of a phone number
_CODE = r"(?:1[016789]|2|3[1-3]|4[1-4]|5[1-5]|6[1-4]|70|50[2-8])"  # after the leading 0
_PHONE = re.compile(
    rf"""(?<!\d)(?<!\d[-.])               # not the tail of a longer number (2019-02-..., 1.02...)
    (?:\(?\+[ \t]?82\)?{_GAP}(?:\([ \t]?0[ \t]?\)[ \t]?|0)?\(?{_CODE}\)?   # +82-10, +82-(0)10, +82 2
      |\(?0{_CODE}\)                      # (010)..., (02) ..., 02)...
      |0{_CODE})
    {_GAP}\d{{3,4}}{_GAP}\d{{4}}
    (?![0-9A-Za-z])(?!-\d)                # nor the head of one (or of a URL's id: 0200000000AKR...)
    """,
    re.X,
)


def _valid_rrn(m: re.Match) -> bool:
    yy, mm, dd, sep, gender = int(m[1]), int(m[2]), int(m[3]), m[4], int(m[5])
    if not 1 <= mm <= 12:
        return False
    century = 1900 if gender in (1, 2, 5, 6) else 2000  # 5-8: foreigners' registration numbers
    if "-" in sep:
        # Written as an RRN: the date must exist (29 February allowed whatever the year).
        return 1 <= dd <= calendar.monthrange(2000, mm)[1]
    # A bare digit run is only an RRN if it has the whole structure: a real, past date in the
    # century the gender digit gives.  The check digit is not required: numbers issued from
    # October 2020 have random last digits and no checksum, so requiring it would miss them.
    year = century + yy
    if dd < 1 or dd > calendar.monthrange(year, mm)[1]:
        return False
    return datetime.date(year, mm, dd) <= datetime.date.today()


# ---------------------------------------------------------------- names

SURNAMES = set(
    "김 이 박 최 정 강 조 윤 장 임 한 오 서 신 권 황 안 송 류 유 전 홍 고 문 양 손 배 백 허 남 심 노 하 곽 성 차 주 우 구 민 "
    "나 진 지 엄 채 원 천 방 공 현 함 변 염 여 추 도 소 석 선 설 마 길 연 위 표 명 기 반 왕 금 옥 육 인 맹 제 모 탁 국 어 "
    "은 편 용 예 경 봉 사 부 가 복 태 목 형 계 피 두 감 음 빈 동 온 호 범 좌 팽 승 간 상 시 갈 단 견 당".split()
)
COMPOUND_SURNAMES = ("남궁", "황보", "제갈", "선우", "독고", "사공", "서문")
# Proper nouns that start with a surname syllable but name places (Kiwi tags them NNP like names):
# countries, provinces, cities, and their 시/도/대(학교) forms.  Never masked as names.
_PLACES = set(
    "한국 남한 서울 부산 인천 대구 대전 광주 울산 세종 경기 강원 충북 충남 전북 전남 경북 경남 제주 수원 성남 "
    "고양 용인 부천 안산 안양 남양주 화성 평택 시흥 김포 김해 창원 진주 포항 경주 구미 안동 원주 춘천 강릉 청주 천안 "
    "전주 익산 군산 목포 여수 순천 제천 충주 공주 서산 당진 아산 논산 정읍 남원 김제 상주 문경 영주 영천 경산 양산 "
    "거제 통영 사천 밀양 동해 삼척 태백 속초 하남 광명 오산 이천 안성 의왕 군포 과천 구리 동두천 양주 포천 여주 "
    "미국 중국 일본 영국 독일 호주 인도 태국 베트남 대만 북한 국회 정부 고려 연세 성균관 한양 중앙 경희 서강 건국 "
    "동국 홍익 숭실 국민 세종 단국 인하 아주 부경 한성 한림 한동 상명 명지 가천 유럽 신촌 강남 종로 여의도 명동".split()
)
# ... and what is made of them: 서울시, 경기도, 고려대, 한국어, 한국인, 고양지검, 한국노총.
_PLACE_SUFFIXES = ("", "시", "도", "군", "구", "대", "대학", "대학교", "권", "청", "교대", "여대", "어", "인", "계",
                   "지검", "지법", "시청", "도청", "구청", "노총", "경찰서", "교육청")

# What may follow a name inside its word: particles, 님/씨 (XSN or NNB), 이다, endings, punctuation.
_TAIL_OK = ("J", "X", "E", "VCP", "NNB", "S", "W")


# Proper nouns Kiwi reads as NNP before 님 or a title that are not people one would mask.
_NOT_NAMES = {"예수", "부처", "하나", "석가", "성모", "성도", "선주"}
# One-syllable pieces Kiwi may split a name into after its first proper noun: 최영/NNP + 호/NNG,
# 박/NNP + 기/NNG + 영/NR, 강/NNP + 모/NP, 김/NNP + 민/NNG + 지/XSN, 이규/NNP + 현/MM; never 님, 씨, 들.
_NAME_PART = ("NNG", "NNB", "NR", "NP", "XSN", "MM")
_NOT_NAME_PARTS = {"님", "씨", "들", "군", "양", "측", "등"}
_HANGUL_RUN = re.compile(r"[가-힣]*")
_SPACE = re.compile(r"\s")
_NEXT_WORD = re.compile(r"[ \t]{1,2}[가-힣]{1,10}|")
_CONTEXT = 20  # characters of context Kiwi reads before a candidate name
SURE = "sure"  # a name is expected here (after a signature's label, in brackets after a phone number)
_PARTICLES = set("이가은는을를의와과도께에")  # one-syllable particles glued to a name (마서진이)
# Former or present holder of a title: 홍길동 前 팀장, 홍길동(전 센터장), 現 팀장 홍길동.
_FORMER = "(?:前|現|전|현|전임)"
# What joins several names before one title: 홍길동·김철수 팀장, 홍길동, 김철수 컨설턴트, 홍길동/김철수 위원.
_LIST_BEFORE = re.compile(r"(?<![가-힣0-9])([가-힣]{2,4})[ \t]*(?:[·‧・,、/]|및)[ \t]*$")
_LIST_REACH = 16  # characters looked back for the previous name of a list (4 syllables + separator + spaces)
# A name in brackets after a phone number: 010-1234-5678(홍길동), 02-123-4567 [김철수].
_BRACKETED = re.compile(r"[ \t]?([(\[])[ \t]?([가-힣]{2,4})[ \t]?[)\]]")
# Bare-name mode: a proper noun of a name's shape whose last syllable is not one that ends the place
# and organisation names Kiwi tags NNP (서울시, 강원도, 은평구, 민노총, 한기총, 민주당, 교육청 ...).
# On 300 held-out petitions this filter took the share of non-names among the spans from 67 % to 23 %
# (research note embeddings-korean.md, part C).
# 회 (하나회, 상인회) was added here: 2 of 40 spans checked on the petitions (seed 1).
_PLACE_ENDINGS = set("시도구군읍면로길총협당청회")


def _is_place(word: str) -> bool:
    return any(word.endswith(s) and word[: len(word) - len(s)] in _PLACES for s in _PLACE_SUFFIXES)


def _surname_initial(word: str) -> bool:
    return word[0] in SURNAMES or word.startswith(COMPOUND_SURNAMES)


@dataclass
class MaskReport:
    counts: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, int]:
        return {k: int(self.counts.get(k, 0)) for k in PLACEHOLDERS}


class PiiMasker:
    """Masks PII in texts; build once (it may use Kiwi) and call :meth:`mask_texts`."""

    def __init__(self, titles: Sequence[str], names: Sequence[str] = (), kiwi=None, *,
                 signatures: Sequence[str] = (), bare_names: bool = False):
        self.kiwi = kiwi
        self.bare_names = bare_names and kiwi is not None
        self.names = sorted({n for n in names if n}, key=len, reverse=True)
        self.titles = tuple(sorted({t for t in titles if t}, key=len, reverse=True))
        self.signatures = frozenset(s for s in signatures if s)
        alternatives = "|".join(map(re.escape, self.titles)) or "(?!)"
        # Titles that can stand before a name (not the one-syllable suffixes 님, 씨), and the labels of a
        # signature, which only ever stand before one (작성: 홍길동, 작성자 홍길동, 담당: 홍길동).
        before = {t for t in self.titles if len(t) > 1} | {s for s in signatures if len(s) > 1}
        leading = "|".join(map(re.escape, sorted(before, key=len, reverse=True))) or "(?!)"
        # A 2-4 syllable word (not glued to a preceding syllable or number) followed by a title,
        # directly, after a space, a slash or in brackets (김철수(팀장), 김철수 (팀장), 홍길동/팀장), the
        # title possibly a former or present one (홍길동 前 팀장, 홍길동(전 센터장)).  Every split of
        # the syllables is tried (김정은위원장: 김정은 + 위원장, not 김정은위 + 원장); Kiwi decides.
        title_at = rf"(?:\s?|[ \t]?[(/][ \t]?)(?:{_FORMER}[ \t]?)?({alternatives})"
        self._titled = re.compile(rf"(?<![가-힣0-9])[가-힣]{{2,4}}{title_at}")
        self._title_at = re.compile(title_at)
        # A title (팀장, 팀장님) or a signature's label then a separator then a word: 팀장 홍길동,
        # 담당자: 홍길동, 팀장(홍길동), 팀장/홍길동, [작성자] : 홍길동.
        self._leading = re.compile(rf"({leading})(?:님)?\]?(?:[ \t]*[:(/][ \t]*|[ \t]+)([가-힣]{{2,10}})")
        self._bare: dict[str, list[tuple[int, int]]] = {}  # bare-name spans of the texts of a batch
        self._listed = re.compile("|".join(map(re.escape, self.names))) if self.names else None
        self._decided: dict[tuple, int] = {}  # Kiwi's verdicts; the same phrases recur across opinions
        self._pending: set[tuple] | None = None  # collecting what Kiwi should read, in one batch
        self._unknown: dict[int, bool] = {}  # Kiwi morpheme id -> an unknown word's placeholder

    # ------------------------------------------------------------ name checks

    def _name_length(self, norm: str, start: int, word_end: int, title: tuple[int, int], after: bool | str) -> int:
        """Length of the person's name at ``norm[start:word_end]`` next to the title at ``title``, or 0.

        ``after``: the name follows the title (팀장 홍길동이) and may carry a particle, whose length
        Kiwi decides; otherwise the name is exactly the word before the title (홍길동 팀장).  ``SURE``:
        it follows a signature's label or a phone number, where a word of a name's shape is one.
        """
        t_start, t_end = title
        if not _surname_initial(norm[start:]) or norm[start:word_end] in self.titles:
            return 0  # not a surname first, or a title itself (부팀장 계장님, 팀원 위원)
        if self.kiwi is None:  # no Kiwi: a three-syllable word only
            return 3 if word_end - start == 3 and not _is_place(norm[start:word_end]) else 0
        # Kiwi reads the candidate with the words around it: alone, it takes unknown names for
        # common nouns and verb forms (하니, 가서, 안고) for proper nouns.
        w_start = max(0, min(start, t_start) - _CONTEXT)
        if w_start > 0 and (space := _SPACE.search(norm, w_start, min(start, t_start))):
            w_start = space.end()  # never cut a word in half
        w_end = max(word_end, t_end)
        w_end += len(_HANGUL_RUN.match(norm, w_end)[0])
        w_end += len(_NEXT_WORD.match(norm, w_end)[0])  # and the next word: right context helps Kiwi too
        key = (norm[w_start:w_end], start - w_start, word_end - w_start, t_start - w_start, t_end - w_start, after)
        if key in self._decided:
            return self._decided[key]
        if self._pending is not None:  # first pass of mask_texts: read later, with the others
            self._pending.add(key)
            return 0
        self._decided[key] = self._read_name(self.kiwi.tokenize(key[0]), *key)
        return self._decided[key]

    def _read_name(self, tokens, window: str, start: int, word_end: int, t_start: int, t_end: int,
                   after: bool | str) -> int:
        starts = {t.start for t in tokens}
        ends = {t.start + t.len for t in tokens}
        # The title must be whole words of Kiwi's reading: not 학생 inside 대학생, 위원 inside
        # 위원회, 원장 inside 국기원장 (국기원/NNP + 장).
        if t_start not in starts or t_end not in ends:
            return 0
        n = self._read_tagged(tokens, window, start, word_end, after)
        if n or not after:
            return n
        # Kiwi reads rare names as syllables (편/NNB + 주/NNG + 아/NNG, 최/XPN + 민/NNG + 호/NNB) or as
        # one unknown word with the particle (마서진이/NNG).  After a signature's label or in brackets
        # after a phone number (after == SURE) the shape decides; after a title only the unknown word.
        return self._shaped_name(tokens, window, start, loose=after == SURE)

    def _shaped_name(self, tokens, window: str, start: int, loose: bool) -> int:
        """A word of a name's shape (three syllables starting with a surname, four after 남궁 ...),
        possibly with a one-syllable particle, in which Kiwi finds no word it knows of two syllables
        or more; ``loose`` False: only when Kiwi reads it as one unknown word."""
        run = _HANGUL_RUN.match(window, start)[0]
        size = 4 if run.startswith(COMPOUND_SURNAMES) else 3
        if len(run) == size + 1 and run[-1] in _PARTICLES:
            run = run[:size]
        name = run
        if len(name) != size or not _surname_initial(name) or _is_place(name) or name in _NOT_NAMES:
            return 0
        inside = [t for t in tokens if t.start < start + size and t.start + t.len > start]
        if not loose:
            return size if len(inside) == 1 and inside[0].len == len(_HANGUL_RUN.match(window, start)[0]) \
                and inside[0].tag in ("NNG", "NNP") and self._unknown_word(inside[0]) else 0
        if any(t.len >= 2 and not self._unknown_word(t) for t in inside) or inside[0].tag in ("MM", "NR"):
            return 0  # a word Kiwi knows, or a count (한/MM 명/NNB)
        return size

    def _read_tagged(self, tokens, window: str, start: int, word_end: int, after: bool | str) -> int:
        rest = [t for t in tokens if t.start >= start]
        if not rest or rest[0].start != start or not (rest[0].tag == "NNP" or self._unknown_name(rest[0])):
            return 0
        # A name reads as a proper noun, possibly split (최영/NNP + 호/NNG); a word with a
        # particle or ending (이에, 배치되어, 전략과) or a longer common noun (정보, 전공, 김+교수,
        # 문+대통령) is not one.
        end, limit = start + rest[0].len, len(window) if after else word_end
        if (rest[0].tag == "NNP" and rest[0].len == 1 and rest[0].form in SURNAMES and len(rest) > 1
                and rest[1].start == end and rest[1].len == 2 and rest[1].tag in ("NNG", "NNP")
                and rest[1].form not in self.titles and end + 2 <= limit):
            # A surname and a given name Kiwi knows as a word: 김/NNP + 철수/NNG (withdrawal).
            end += 2
            rest = rest[1:]
        rest = rest[1:]
        while rest and rest[0].start == end and rest[0].start + rest[0].len <= limit and self._name_part(rest[0]):
            end = rest[0].start + rest[0].len
            rest = rest[1:]
        name = window[start:end]
        if not 2 <= len(name) <= 4 or _is_place(name) or name in _NOT_NAMES:
            return 0
        if not after:
            return len(name) if end == word_end else 0
        if rest and rest[0].start == end and not rest[0].tag.startswith(_TAIL_OK):
            # Glued to another noun or a verb: not a name, unless that is a title (홍길동팀장).
            if not window[end:].startswith(self.titles):
                return 0
        return len(name)

    def _name_part(self, token) -> bool:
        """Whether ``token``, glued to a name's first proper noun, continues the name."""
        if token.form in self.titles:
            return False
        return token.tag == "NNP" or (token.tag in _NAME_PART and token.len == 1 and token.form not in _NOT_NAME_PARTS)

    def _unknown_name(self, token) -> bool:
        """An unknown word of a name's shape: Kiwi tags words it does not know, like most people's
        names, NNG or NNP by context (박서연/NNG at the end of a text, 박서연/NNP before a title);
        a known common noun (지원금, 연구실) is not one.  Three syllables, or four after a
        two-syllable surname, and not followed by anything but a particle (checked by the caller)."""
        if token.tag != "NNG" or not (token.len == 3 or (token.len == 4 and token.form.startswith(COMPOUND_SURNAMES))):
            return False
        return self._unknown_word(token)

    def _unknown_word(self, token) -> bool:
        """Whether Kiwi does not know ``token`` (an unknown word's placeholder morpheme)."""
        if token.id not in self._unknown:
            try:
                self._unknown[token.id] = self.kiwi.morpheme(token.id).form == ""
            except Exception:  # not a Kiwi we know how to ask
                self._unknown[token.id] = False
        return self._unknown[token.id]

    # ------------------------------------------------------------ masking

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """The ``(start, end, kind)`` spans of ``text`` to mask, sorted and non-overlapping."""
        norm = normalise(text)
        taken: list[tuple[int, int, str]] = []

        def claim(start: int, end: int, kind: str) -> None:
            if end > start and all(end <= s or start >= e for s, e, _ in taken):
                taken.append((start, end, kind))

        for m in _EMAIL.finditer(norm):
            claim(m.start(), m.end(), "email")
        for m in _RRN.finditer(norm):
            if _valid_rrn(m):
                claim(m.start(), m.end(), "rrn")
        for m in _PHONE.finditer(norm):
            claim(m.start(), m.end(), "phone")
            # A name in brackets right after the number: 010-1234-5678(홍길동).
            if (b := _BRACKETED.match(norm, m.end())) and (
                    n := self._name_length(norm, b.start(2), b.end(), b.span(1), after=SURE)):
                claim(b.start(2), b.start(2) + n, "name")
        if self._listed is not None:
            for m in self._listed.finditer(norm):
                claim(m.start(), m.end(), "name")
        for w in self._titled.finditer(norm):
            start = w.start()
            for end in range(start + 2, start + 5):
                if end > len(norm) or not "가" <= norm[end - 1] <= "힣":
                    break
                if (t := self._title_at.match(norm, end)) and (
                        n := self._name_length(norm, start, end, t.span(1), after=False)):
                    claim(start, start + n, "name")
                    self._list_before(norm, start, t.span(1), claim)
                    break
        pos = 0
        while m := self._leading.search(norm, pos):
            word_end = m.start(2) + len(_HANGUL_RUN.match(norm, m.start(2))[0])
            sure = SURE if m[1] in self.signatures else True
            if n := self._name_length(norm, m.start(2), word_end, m.span(1), after=sure):
                claim(m.start(2), m.start(2) + n, "name")
                pos = m.end()
            else:  # the word may itself be a title before a name: 담당 팀장 홍길동
                pos = m.start(2)
        for start, end in self._bare.get(text, ()):
            claim(start, end, "name")
        return sorted(taken)

    def _list_before(self, norm: str, start: int, title: tuple[int, int], claim) -> None:
        """The other names of a list before one title (홍길동·김철수 팀장, 홍길동, 김철수 컨설턴트): each
        word before a separator is a name when Kiwi reads it as one, read with the same title."""
        while m := _LIST_BEFORE.search(norm, max(0, start - _LIST_REACH), start):
            n = self._name_length(norm, m.start(1), m.end(1), title, after=False)
            if n:
                claim(m.start(1), m.start(1) + n, "name")
            elif self._pending is None:  # decided: not a name, and the list ends here
                return
            start = m.start(1)  # first pass: every member is a candidate for the batch

    def mask(self, text: str, report: MaskReport) -> str:
        pieces, pos = [], 0
        for start, end, kind in self.spans(text):
            pieces += [text[pos:start], PLACEHOLDERS[kind]]
            pos = end
            report.counts[kind] += 1
        return "".join(pieces) + text[pos:]

    def mask_texts(self, texts: Sequence[str], batch: int = 2000) -> tuple[list[str], MaskReport]:
        report = MaskReport()
        out: list[str] = []
        for i in range(0, len(texts), batch):
            chunk = texts[i:i + batch]
            if self.kiwi is not None:
                self._read_in_batch(chunk)
            if self.bare_names:
                self._bare = {t: self._bare_spans(t, tokens) for t, tokens in zip(chunk, self.kiwi.tokenize(chunk))}
            out += [self.mask(t, report) for t in chunk]
            self._bare = {}
        return out, report

    def _bare_spans(self, text: str, tokens) -> list[tuple[int, int]]:
        """Names with no title (opt-in, ``pii.bare_names``): a proper noun, possibly split into a proper
        noun and one-syllable pieces (최영/NNP + 호/NNG), of a name's shape (three syllables starting with
        a surname, four after 남궁, 황보 ...), not glued to a syllable before it, not a place or an
        organisation (_is_place, _PLACE_ENDINGS) and not one of _NOT_NAMES."""
        found, i = [], 0
        while i < len(tokens):
            t = tokens[i]
            i += 1
            if t.tag != "NNP":
                continue
            end = t.start + t.len
            while i < len(tokens) and tokens[i].start == end and end - t.start < 4 and self._name_part(tokens[i]):
                end = tokens[i].start + tokens[i].len
                i += 1
            name = text[t.start:end]
            compound = name.startswith(COMPOUND_SURNAMES)
            if len(name) != (4 if compound else 3) or not re.fullmatch("[가-힣]+", name):
                continue
            if not (compound or name[0] in SURNAMES) or name[-1] in _PLACE_ENDINGS:
                continue
            if _is_place(name) or name in _NOT_NAMES or (t.start and "가" <= text[t.start - 1] <= "힣"):
                continue
            found.append((t.start, end))
        return found

    def _read_in_batch(self, texts: Sequence[str]) -> None:
        """Kiwi's verdict on every candidate name of ``texts``, from one call (its worker threads; a
        call per candidate costs more in overhead than in analysis).  The first pass finds a superset
        of the candidates the masking pass asks about: told nothing is a name, it tries every one."""
        if len(self._decided) > 200_000:
            self._decided.clear()
        self._pending = set()
        try:
            for text in texts:
                self.spans(text)
            keys = sorted(self._pending)
        finally:
            self._pending = None
        for key, tokens in zip(keys, self.kiwi.tokenize([k[0] for k in keys])):
            self._decided[key] = self._read_name(tokens, *key)


# ---------------------------------------------------------------- metadata


def _normal_header(name: str) -> str:
    return re.sub(r"[\s_()\[\]·:-]", "", str(name)).lower()


def _holds_text(values) -> bool:
    """Whether a column holds words (not only numbers, dates or empty cells)."""
    for v in values:
        if isinstance(v, str) and v.strip() and not re.fullmatch(r"[\d\s.,:/-]+", v):
            return True
    return False


def name_columns(docs, metadata: Sequence[str], headers: Sequence[str], names: Sequence[str]) -> list[str]:
    """The metadata columns of person names: a header holding one of ``headers`` (평가위원, 작성자명,
    담당자(성명); Latin words must be the whole header: ``name``, not ``program_name``) or a value
    among the profile's ``names``; a column of numbers only (컨설턴트 수) is none."""
    hangul = [_normal_header(h) for h in headers if re.search("[가-힣]", h)]
    latin = {_normal_header(h) for h in headers if not re.search("[가-힣]", h)}
    listed = set(names)
    found = []
    for col in metadata:
        header = _normal_header(col)
        values = docs[col].dropna().unique()
        if not _holds_text(values):
            continue
        if header in latin or any(h and h in header for h in hangul) or (listed and listed & set(map(str, values))):
            found.append(col)
    return found


def protect_metadata(docs, metadata: Sequence[str], *, headers: Sequence[str], names: Sequence[str],
                     keep: Sequence[str], mask) -> tuple[object, dict]:
    """Metadata as it may be written: the columns of person names left out (unless ``keep`` names them:
    report.by or pii.keep_columns), every other text column masked value by value like the opinions.

    ``mask(values)`` returns (masked values, counts per kind); it is called once, with the distinct
    text values of all those columns (sorted: the same corpus, the same call, a cache hit on a rerun),
    and only if there are any.  Returns the frame and what was done (``left_out``: column names;
    ``masked``: counts per kind), which the manifest records."""
    from pandas.api.types import is_object_dtype, is_string_dtype

    people = [c for c in name_columns(docs, metadata, headers, names) if c not in set(keep)]
    docs = docs.drop(columns=people)
    columns = [c for c in metadata if c not in people and c not in set(keep)
               and (is_object_dtype(docs[c]) or is_string_dtype(docs[c]))]
    values = sorted({v for c in columns for v in docs[c].dropna().unique() if isinstance(v, str) and v})
    counts = {k: 0 for k in PLACEHOLDERS}
    if values:
        masked, counts = mask(values)
        changed = {v: m for v, m in zip(values, masked) if v != m}
        for col in columns if changed else ():
            docs[col] = docs[col].map(lambda v: changed.get(v, v) if isinstance(v, str) else v)
    return docs, {"left_out": people, "masked": dict(counts)}
