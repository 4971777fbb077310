"""A written Korean summary of the phases, from the numbers alone (no language model).

For each phase of a model (or of the models' consensus, with one model's topic shares) one or two
sentences: its periods, its characteristic topics with their share, what rose and fell most
against the previous phase (in percentage points), and the boundary's confidence::

    1시기(2015–2017년)에는 ‘진로·탐색·설계’(비중 21.3%)와 ‘상담·심리’(14.0%)가 두드러졌다.
    2시기(2018–2020년)로 넘어가며 ‘비교과·실습’이 9.1%p 늘고 ‘진로·탐색·설계’가 12.4%p 줄었다(경계 신뢰도 1.00).
    이 시기에는 ...

Korean particles after a word depend on whether its last syllable, as read aloud, ends in a
consonant (받침): :func:`josa` decides them for Hangul, digits, Latin letters and "%", looking
through closing quotes and brackets ("‘상담’이", "‘성과 관리’가", "2019년 1분기(12건)가" is decided
by the word before the parenthesis when the caller passes that word).

Shares are the trajectories' period shares averaged over a phase's periods (the same number as
``share_inside`` in ``phases.json``); outliers (topic -1) are never named.
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from textmine.core.periods import period_parts

OPEN, CLOSE = "\u2018", "\u2019"   # ‘ ’
DASH = "\u2013"                    # –
MIN_CHANGE = 0.005                 # a rise or fall under 0.5%p is "no change"

# ---------------------------------------------------------------- particles

# The form used after a final consonant, for each alternating particle.
_AFTER_CONSONANT = {"은", "이", "을", "과", "으로", "아", "이나", "이랑", "이며", "이라", "이라고", "이어서", "이든",
                    "이야", "이에요", "이여", "으로서", "으로써", "으로부터", "이다", "이었다"}
# Digits as read in Sino-Korean (영 일 이 삼 사 오 육 칠 팔 구): final consonant, and whether it is ㄹ.
_DIGITS = {"0": "ㅇ", "1": "ㄹ", "2": "", "3": "ㅁ", "4": "", "5": "", "6": "ㄱ", "7": "ㄹ", "8": "ㄹ", "9": ""}
# Latin letters read one by one (에이, 비, 씨 ... 엘, 엠, 엔, 알 end in a consonant).
_LETTERS = {"l": "ㄹ", "m": "ㅁ", "n": "ㄴ", "r": "ㄹ"}
_SYMBOLS = {"%": ""}                 # 퍼센트
_SKIP = set("'\"\u2018\u2019\u201c\u201d)]}\u300d\u300f\u3009\u300b>.,!?\u2026~ \t")
_JONG = ["", "ㄱ", "ㄲ", "ㄳ", "ㄴ", "ㄵ", "ㄶ", "ㄷ", "ㄹ", "ㄺ", "ㄻ", "ㄼ", "ㄽ", "ㄾ", "ㄿ", "ㅀ", "ㅁ", "ㅂ", "ㅄ",
         "ㅅ", "ㅆ", "ㅇ", "ㅈ", "ㅊ", "ㅋ", "ㅌ", "ㅍ", "ㅎ"]   # the 28 final-consonant slots of a syllable


def final_consonant(word: str) -> str | None:
    """The final consonant (받침) of ``word`` as read aloud, as a jamo ("ㄴ", "ㄹ"...), "" for none,
    None when it cannot be told (a Han character...).

    Closing quotes, brackets, punctuation and spaces at the end are looked through.
    """
    text = word.rstrip()
    while text and text[-1] in _SKIP:
        text = text[:-1]
    if not text:
        return None
    ch = text[-1]
    if "\uac00" <= ch <= "\ud7a3":
        jong = (ord(ch) - 0xAC00) % 28
        return _JONG[jong]
    if ch in _DIGITS:
        return _DIGITS[ch]
    if ch in _SYMBOLS:
        return _SYMBOLS[ch]
    if ch.isascii() and ch.isalpha():
        return _LETTERS.get(ch.lower(), "")
    return None


def josa(word: str, pair: str) -> str:
    """The particle of ``pair`` ("은/는", "이/가", "을/를", "과/와", "으로/로"...; either order) that
    follows ``word``.  "으로/로" takes 로 after ㄹ as after a vowel.  When the last sound cannot
    be told, both forms: "이(가)", "(으)로".
    """
    a, _, b = pair.partition("/")
    if not b:
        raise ValueError(f"a particle pair is two forms with a slash, like 이/가: {pair!r}")
    with_final, without = (a, b) if a in _AFTER_CONSONANT or b not in _AFTER_CONSONANT else (b, a)
    final = final_consonant(word)
    if final is None:
        if with_final.startswith("으"):
            return f"({with_final[:-len(without)]}){without}" if with_final.endswith(without) \
                else f"{with_final}({without})"
        return f"{with_final}({without})"
    if final == "":
        return without
    if final == "ㄹ" and with_final.startswith("으") and with_final[1:] == without:
        return without
    return with_final


def attach(word: str, pair: str) -> str:
    """``word`` followed by its particle: attach("‘상담’", "이/가") -> "‘상담’이"."""
    return word + josa(word, pair)


def quoted(label: str) -> str:
    return f"{OPEN}{label}{CLOSE}"


# ---------------------------------------------------------------- periods

_PART_NAMES = {"half": lambda n: "상반기" if n == 1 else "하반기", "quarter": lambda n: f"{n}분기",
               "month": lambda n: f"{n}월"}


def _period_parts(period) -> tuple[str, str | None]:
    """(year, part within the year or None): 2019 -> ("2019", None), "2019-H1" -> ("2019", "상반기")."""
    year, unit, number = period_parts(period)
    return year, _PART_NAMES[unit](number) if unit else None


def format_period(period) -> str:
    """2019 -> "2019년", "2019-H1" -> "2019년 상반기", "2019-Q3" -> "2019년 3분기", "2019-07" -> "2019년 7월"."""
    year, part = _period_parts(period)
    if not year.isdigit():
        return year
    return f"{year}년" + (f" {part}" if part else "")


def format_span(start, end) -> str:
    """A phase's periods: "2015–2017년", "2015년", "2019년 상반기–2020년 하반기", "2019년 1분기–3분기"."""
    (y1, p1), (y2, p2) = _period_parts(start), _period_parts(end)
    if str(start) == str(end):
        return format_period(start)
    if p1 is None and p2 is None and y1.isdigit() and y2.isdigit():
        return f"{y1}{DASH}{y2}년"
    if y1 == y2 and p1 and p2 and y1.isdigit():
        return f"{y1}년 {p1}{DASH}{p2}"
    return f"{format_period(start)}{DASH}{format_period(end)}"


# ---------------------------------------------------------------- the narrative

def _pct(x: float) -> str:
    return f"{x * 100:.1f}%"


def _pp(x: float) -> str:
    return f"{abs(x) * 100:.1f}%p"


def _share_matrix(trajectories: pd.DataFrame, model: str) -> pd.DataFrame:
    t = trajectories[(trajectories["model"] == model) & (trajectories["topic"] >= 0)]
    if t.empty:
        return pd.DataFrame()
    m = t.pivot_table(index="period", columns="topic", values="share", aggfunc="mean")
    order = sorted(m.index, key=lambda p: (str(p).zfill(12) if str(p).isdigit() else str(p)))
    return m.loc[order].fillna(0.0)


def _label_lookup(model: str, trajectories: pd.DataFrame, labels) -> dict[int, str]:
    names: dict[int, str] = {}
    t = trajectories[trajectories["model"] == model]
    if "label" in t:
        for topic, label in zip(t["topic"], t["label"]):
            if isinstance(label, str) and label:
                names.setdefault(int(topic), label)
    if labels:
        chosen = labels.get(model, {}) if any(isinstance(v, dict) for v in labels.values()) else labels
        names.update({int(k): v for k, v in chosen.items()})
    return names


def _confidence(entry: dict, phase: dict, first: bool) -> float | None:
    if first:
        return None
    bc = entry.get("boundary_confidence") or {}
    value = bc.get(str(phase["start"]), phase.get("confidence"))
    return None if value is None else float(value)


def _positions(matrix: pd.DataFrame, phases: list[dict]) -> list[list]:
    """Each phase's periods (matrix index values) by position between its start and end."""
    keys = [str(p) for p in matrix.index]
    pos = {k: i for i, k in enumerate(keys)}
    out = []
    for p in phases:
        a, b = pos.get(str(p["start"])), pos.get(str(p["end"]))
        if a is None or b is None:
            # A start/end not among the trajectories' periods (e.g. "2019.0"): compare as text.
            sel = [i for i, k in enumerate(keys) if str(p["start"]) <= k <= str(p["end"])]
        else:
            sel = list(range(a, b + 1))
        out.append([matrix.index[i] for i in sel])
    return out


def _characteristic(phase: dict, inside: pd.Series, outside: pd.Series | None, n_topics: int,
                    use_json: bool) -> list[tuple[int, float]]:
    """(topic, share inside) of the phase's characteristic topics: ``phases.json``'s when the
    phases are the model's own, else those whose share rises most against the other phases."""
    if use_json and phase.get("characteristic_topics"):
        return [(int(c["topic"]), float(c.get("share_inside", inside.get(int(c["topic"]), 0.0))))
                for c in phase["characteristic_topics"] if int(c["topic"]) >= 0][:n_topics]
    lift = (inside - (outside if outside is not None else 0.0)).sort_values(ascending=False, kind="stable")
    chosen = [t for t in lift.index[:n_topics] if lift[t] > 0] or list(lift.index[:1])
    return [(int(t), float(inside[t])) for t in chosen]


def _listing(items: list[tuple[str, float]], first_share_word: bool = True) -> str:
    """‘A’(비중 21.3%)와 ‘B’(14.0%) — the particle before B decided by A's label."""
    parts = []
    for i, (label, share) in enumerate(items):
        text = f"{quoted(label)}({'비중 ' if i == 0 and first_share_word else ''}{_pct(share)})"
        if i < len(items) - 1:
            text += josa(label, "과/와") if i == len(items) - 2 else ","
        parts.append(text)
    return " ".join(parts)


def _subject(items: list[tuple[str, float]]) -> str:
    """The listing with the subject particle of its last label: "...(14.0%)가"."""
    return _listing(items) + josa(items[-1][0], "이/가")


def phase_narrative(phases: dict, trajectories: pd.DataFrame, model: str, labels: dict | None = None,
                    boundaries: str | None = None, n_topics: int = 2, min_change: float = MIN_CHANGE) -> list[str]:
    """One string (one or two Korean sentences) per phase of ``model``.

    ``phases`` is ``phases.json`` (or one model's entry of it); ``trajectories`` the rows of
    ``trajectories.csv`` (model, topic, label, period, share); ``labels`` renamed topics
    (``{topic: name}`` or :func:`textmine.analysis.labels.load_labels`' ``{model: {topic: name}}``; by
    default the trajectories' labels).  ``boundaries`` takes the phases from another entry
    (``"consensus"``) while the shares stay ``model``'s; the characteristic topics are then those
    whose share rises most against the other phases, as :func:`textmine.analysis.phases.characterise_phases`
    chooses them.  Changes under ``min_change`` (a share, 0.005 = 0.5%p) are not called a rise or
    fall.  Returns [] when the model has no phases or no trajectories.
    """
    key = boundaries or model
    entry = phases if "phases" in phases and isinstance(phases.get("phases"), list) else phases.get(key)
    if not entry or not entry.get("phases"):
        return []
    matrix = _share_matrix(trajectories, model)
    if matrix.empty:
        return []
    names = _label_lookup(model, trajectories, labels)
    own = boundaries is None or boundaries == model
    if own:
        for p in entry["phases"]:  # labels in phases.json (renamed there) when trajectories lack one
            for c in p.get("characteristic_topics") or []:
                names.setdefault(int(c["topic"]), c.get("label", ""))
    plist = entry["phases"]
    members = _positions(matrix, plist)
    means = [matrix.loc[m].mean(axis=0) if m else matrix.iloc[:0].sum(axis=0) for m in members]

    def name(t: int) -> str:
        return names.get(t) or f"토픽 {t}"

    out = []
    if len(plist) == 1:
        p = plist[0]
        chosen = _characteristic(p, means[0], None, n_topics, use_json=False)
        items = [(name(t), s) for t, s in chosen]
        out.append(f"분석 기간 전체({format_span(p['start'], p['end'])})가 한 시기로 묶였으며, "
                   f"{_listing(items)}의 비중이 가장 컸다.")
        return out
    for i, p in enumerate(plist):
        span = format_span(p["start"], p["end"])
        label = f"{i + 1}시기"
        others = [m for j, m in enumerate(members) if j != i]
        rest = matrix.loc[[x for m in others for x in m]].mean(axis=0) if any(others) else None
        chosen = _characteristic(p, means[i], rest, n_topics, use_json=own)
        items = [(name(t), s) for t, s in chosen]
        if i == 0:
            out.append(f"{label}({span})에는 {_subject(items)} 두드러졌다.")
            continue
        change = (means[i] - means[i - 1]).dropna()
        up = change.sort_values(ascending=False, kind="stable")
        down = change.sort_values(ascending=True, kind="stable")
        parts = []
        if len(up) and up.iloc[0] >= min_change:
            t = int(up.index[0])
            parts.append(f"{attach(quoted(name(t)), '이/가')} {_pp(up.iloc[0])} 늘")
        if len(down) and down.iloc[0] <= -min_change:
            t = int(down.index[0])
            parts.append(f"{attach(quoted(name(t)), '이/가')} {_pp(down.iloc[0])} 줄었다")
        if len(parts) == 2:
            moved = f"{parts[0]}고 {parts[1]}"
        elif parts and parts[0].endswith("늘"):
            moved = f"{parts[0]}었다"
        elif parts:
            moved = parts[0]
        else:
            moved = "토픽 비중에 큰 변화가 없었다"
        conf = _confidence(entry, p, first=False)
        conf_text = f"(경계 신뢰도 {conf:.2f})" if conf is not None else ""
        out.append(f"{label}({span}){josa(label, '으로/로')} 넘어가며 {moved}{conf_text}. "
                   f"이 시기에는 {_subject(items)} 두드러졌다.")
    return out


def narrative_context(phases: dict, trajectories: pd.DataFrame | None, models: Sequence[str],
                      labels: dict | None = None, boundaries: str | None = None, display=None) -> list[dict]:
    """What ``templates/narrative.html.j2`` shows: per model, ``{"model", "name", "sentences",
    "boundaries_name"}`` (``boundaries_name`` is None when the phases are the model's own).
    Models without sentences are left out."""
    if trajectories is None:
        return []
    display = display or (lambda m: m)
    out = []
    for model in models:
        sentences = phase_narrative(phases, trajectories, model, labels,
                                    boundaries if boundaries and boundaries in phases else None)
        if sentences:
            other = boundaries and boundaries != model and boundaries in phases
            out.append({"model": model, "name": display(model), "sentences": sentences,
                        "boundaries_name": ("모델 합의" if boundaries == "consensus" else display(boundaries))
                        if other else None})
    return out
