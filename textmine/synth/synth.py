"""Synthetic University Job Plus Center evaluation opinions with planted phases.

The real opinions are not public.  This generator writes opinions that read
like committee members' improvement notes and plants a known structure in them:
the phase topics (``synth_vocab.PHASE_TOPICS``) rise and fall in contiguous
blocks of years, while background topics (staffing, budget...) are present every
year.  ``truth.json`` records the phase starts and each opinion's main topic, so
the pipeline can be scored against what was planted.  Same seed, same corpus,
whether written as CSV or as Parquet (year by year, for millions of opinions).
"""
from __future__ import annotations

import json
import math
import os
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from pathlib import Path

import numpy as np
import pandas as pd

from textmine.core.errors import TextmineError
from textmine.synth import synth_vocab as V

GENERATOR_VERSION = "2"


@dataclass
class SynthSpec:
    seed: int = 20260
    first_year: int = 2015
    last_year: int = 2024
    n_phases: int = 3
    # Mean opinions per year; None keeps the programme's own growth (about 80 to 300).
    docs_per_year: int | None = None
    # Share of a year's topic mass held by the current phase's topics; the rest
    # goes to background topics and to the previous and next phases' topics.
    active_mass: float = 0.55
    previous_mass: float = 0.12
    next_mass: float = 0.03
    typo_rate: float = 0.03
    spacing_error_rate: float = 0.05
    copy_paste_rate: float = 0.004
    blank_rate: float = 0.002

    @property
    def years(self) -> list[int]:
        return list(range(self.first_year, self.last_year + 1))


def phase_years(years: list[int], n_phases: int) -> list[list[int]]:
    """Split years into contiguous phases, later phases taking the remainder.

    2015-2024 in three phases gives 2015-17, 2018-20, 2021-24, as in the study.
    """
    base, extra = divmod(len(years), n_phases)
    sizes = [base] * (n_phases - extra) + [base + 1] * extra
    blocks, start = [], 0
    for size in sizes:
        blocks.append(years[start:start + size])
        start += size
    return blocks


@lru_cache(maxsize=4096)
def _has_batchim(word: str) -> bool:
    last = word.rstrip()[-1]
    return "가" <= last <= "힣" and (ord(last) - 0xAC00) % 28 != 0


@lru_cache(maxsize=4096)
def _obj(word: str) -> str:
    return word + ("을" if _has_batchim(word) else "를")


@lru_cache(maxsize=4096)
def _subj(word: str) -> str:
    return word + ("이" if _has_batchim(word) else "가")


class OpinionWriter:
    """Writes one opinion sentence at a time from a topic's vocabulary.

    Speed matters at a million opinions, but so does the random stream: every draw is made in
    the same order as always, and only the pure-Python work around the draws is cached.
    """

    def __init__(self, rng: np.random.Generator, spec: SynthSpec):
        self.rng = rng
        self.spec = spec
        self._integers = rng.integers
        self._random = rng.random
        self._synonym_start: dict[str, int] = {}
        self._others: dict[tuple[str, str], list[str]] = {}

    def choice(self, items):
        return items[int(self._integers(len(items)))]

    def sentence(self, topic: str) -> str:
        t = V.TOPICS[topic]
        choice = self.choice
        form = self._random()
        action = choice(t["actions"])
        verbal = _verbal(choice(V.VERBAL_ENDINGS), action)
        nominal = _nominal(choice(V.NOMINAL_ENDINGS), action)
        obj = self._synonyms(choice(t["objects"]))
        finding = self._synonyms(choice(t["findings"]))
        if form < 0.30:
            text = f"{choice(t['contexts'])} {_obj(obj)} {verbal}"
        elif form < 0.45:
            text = f"{choice(t['contexts'])} {obj} {nominal}"
        elif form < 0.65:
            text = f"{finding}. 이에 {_obj(obj)} {verbal}" if self._random() < 0.6 else \
                f"{finding}. 따라서 {obj} {nominal}"
        elif form < 0.80:
            text = finding
        elif form < 0.92:
            others = self._others.get((topic, obj))
            if others is None:  # the objects other than this one (a synonym-replaced one excludes none)
                others = self._others[(topic, obj)] = [o for o in t["objects"] if o != obj]
            other = self._synonyms(choice(others))
            text = f"{obj}{'과' if _has_batchim(obj) else '와'} {other}의 연계를 {verbal}"
        else:
            text = f"{obj}의 운영 실적을 점검하고 {verbal}"
        return self._noise(choice(V.CONNECTORS) + text) + "."

    def _synonyms(self, text: str) -> str:
        # Synonyms before the first one the phrase contains cannot match (the text is unchanged
        # until then), so the scan starts there; most phrases contain none and return at once.
        start = self._synonym_start.get(text)
        if start is None:
            start = next((k for k, (canonical, _) in enumerate(_SYNONYMS) if canonical in text), len(_SYNONYMS))
            self._synonym_start[text] = start
        for canonical, variants in _SYNONYMS[start:]:
            if canonical in text:
                text = text.replace(canonical, self.choice(variants))
        return text

    def _noise(self, text: str) -> str:
        if self._random() < self.spec.typo_rate:
            hits = [w for w in V.TYPOS if w in text]
            if hits:
                word = self.choice(hits)
                text = text.replace(word, V.TYPOS[word], 1)
        if self._random() < self.spec.spacing_error_rate:
            spaces = [i for i, c in enumerate(text) if c == " "]
            if spaces:  # a dropped space, the commonest spacing error
                i = self.choice(spaces)
                text = text[:i] + text[i + 1:]
        return text


_SYNONYMS = list(V.SYNONYMS.items())


@lru_cache(maxsize=4096)
def _verbal(ending: str, action: str) -> str:
    return ending.replace("{X}", action)


@lru_cache(maxsize=4096)
def _nominal(ending: str, action: str) -> str:
    return ending.replace("{X}{이가}", _subj(action)).replace("{X}", action)


def cumulative(probs: list[float]) -> list[float]:
    """``np.cumsum(p) / its last value``, as numpy's sampler computes it (a sequential sum)."""
    cdf = list(accumulate(probs))
    last = cdf[-1]
    return [c / last for c in cdf]


def sample_without_replacement(random, probs: list[float], size: int, cdf: list[float] | None = None) -> list[int]:
    """The indices ``rng.choice(len(probs), size, replace=False, p=probs)`` returns, drawn the same way.

    numpy's sampler draws ``size`` uniforms (``random`` is ``rng.random``), maps each through the
    cumulative distribution, keeps the distinct indices in order of first appearance, and draws
    again for the missing ones with the found indices' probabilities set to zero.  The same steps
    on a short Python list take a fraction of the time of the numpy call (arrays, ``np.unique``)
    and consume the same random numbers, so the corpus does not change; tests/test_synth.py
    checks this against ``rng.choice``.  ``cdf`` is the normalised cumulative sum of ``probs``
    when the caller already has it.
    """
    p = list(probs)
    found: list[int] = []
    while len(found) < size:
        xs = [random() for _ in range(size - len(found))]
        if found or cdf is None:
            for f in found:
                p[f] = 0.0
            cdf = cumulative(p)
        for x in xs:
            i = bisect_right(cdf, x)
            if i not in found:
                found.append(i)
    return found


def year_topic_weights(spec: SynthSpec, rng: np.random.Generator) -> dict[int, dict[str, float]]:
    """The planted topic distribution of each year."""
    groups = V.PHASE_GROUPS[spec.n_phases]
    blocks = phase_years(spec.years, spec.n_phases)
    background = 1.0 - spec.active_mass - spec.previous_mass - spec.next_mass
    weights: dict[int, dict[str, float]] = {}
    for p, block in enumerate(blocks):
        for year in block:
            w = {t: background / len(V.BACKGROUND_TOPICS) for t in V.BACKGROUND_TOPICS}
            spare = 0.0
            for q, group in enumerate(groups):
                mass = {p: spec.active_mass, p - 1: spec.previous_mass, p + 1: spec.next_mass}.get(q, 0.0)
                if q < p - 1:
                    mass = spec.previous_mass / 4  # older phases fade but do not vanish
                for topic in group:
                    w[topic] = mass / len(group)
            if p == 0:
                spare += spec.previous_mass
            if p == len(blocks) - 1:
                spare += spec.next_mass
            for topic in groups[p]:  # the first/last phase have no neighbour on one side
                w[topic] += spare / len(groups[p])
            # Year-to-year wobble within a phase, as real priorities drift a little.
            jitter = {t: v * math.exp(rng.normal(0, 0.12)) for t, v in w.items()}
            total = sum(jitter.values())
            weights[year] = {t: v / total for t, v in jitter.items()}
    return weights


def yearly_volumes(spec: SynthSpec, rng: np.random.Generator) -> dict[int, int]:
    """Centres grew from a few dozen to over a hundred; opinions follow, unevenly."""
    n = len(spec.years)
    centres = [28 + 95 / (1 + math.exp(-(i - 0.35 * n) / (0.13 * n))) for i in range(n)]
    evaluators = rng.uniform(2.2, 2.8, size=n)
    raw = np.array(centres) * evaluators
    if spec.docs_per_year is not None:
        raw = raw * spec.docs_per_year / raw.mean()
    return {y: max(3, int(round(v))) for y, v in zip(spec.years, raw)}


def _university_names(rng: np.random.Generator, count: int) -> list[tuple[str, str]]:
    names: list[tuple[str, str]] = []
    seen = set()
    while len(names) < count:
        name = str(rng.choice(V.NAME_SYLLABLES)) + str(rng.choice(V.NAME_SUFFIXES))
        if name in seen:
            name = f"{name}({len(names) + 1})"
        seen.add(name)
        names.append((name, str(rng.choice(V.REGIONS))))
    return names


COLUMNS = ["연번", "연도", "대학명", "지역", "평가위원", "평가영역", "평가의견"]
FORMATS = ("csv", "parquet")
_N_TOPICS = [1, 2, 2, 3, 3, 3]  # how many topics an opinion mixes, drawn uniformly


class CorpusGenerator:
    """The corpus of a spec, one year at a time from a single random stream.

    ``years()`` yields ``(year, columns)`` (column name -> list of values, in ``COLUMNS``
    order) so a million opinions never sit in memory at once; ``truth()`` is complete once
    ``years()`` is exhausted.  The draws are those of the one-shot generator before it, so a
    seed writes the same corpus in any format and at any size.
    """

    def __init__(self, spec: SynthSpec):
        self.spec = spec
        rng = self.rng = np.random.default_rng(spec.seed)
        if spec.n_phases not in V.PHASE_GROUPS:
            raise TextmineError(f"the generator plants 1 to {max(V.PHASE_GROUPS)} phases, not {spec.n_phases}",
                                fix=f"use --phases between 1 and {max(V.PHASE_GROUPS)}")
        if len(spec.years) < 2 * spec.n_phases:
            raise TextmineError(
                f"{len(spec.years)} years cannot hold {spec.n_phases} phases of at least two years",
                fix="widen --years or plant fewer phases",
            )
        self.weights = year_topic_weights(spec, rng)
        self.volumes = yearly_volumes(spec, rng)
        self.writer = OpinionWriter(rng, spec)
        # Opinions per centre grow with --docs-per-year; the programme never had more than a few hundred centres.
        self.universities = _university_names(rng, min(max(self.volumes.values()) // 2 + 10, 300))
        self.evaluators = [f"위원{chr(ord('A') + i // 10)}{i % 10:02d}" for i in range(40)]
        self.doc_topic: dict[str, str] = {}
        self._next_year = 0

    @property
    def n_docs(self) -> int:
        return sum(self.volumes.values())

    def years(self) -> Iterator[tuple[int, dict[str, list]]]:
        if self._next_year:
            raise RuntimeError("a CorpusGenerator yields its years once; make a new one to start again")
        spec, rng, writer, doc_topic = self.spec, self.rng, self.writer, self.doc_topic
        integers, random, choice = rng.integers, rng.random, writer.choice
        universities, evaluators = self.universities, self.evaluators
        for year in spec.years:
            self._next_year = year
            topics = list(self.weights[year])
            probs = [self.weights[year][t] for t in topics]
            cdf = cumulative(probs)
            n_centres = max(1, min(self.volumes[year] // 2, len(universities)))
            ids, texts, unis, regions, raters, sections = [], [], [], [], [], []
            for i in range(self.volumes[year]):
                n_topics = _N_TOPICS[int(integers(6))]  # rng.choice(_N_TOPICS), the same draw
                chosen = [topics[k] for k in sample_without_replacement(random, probs, n_topics, cdf)]
                counts = [int(integers(2, 5))] + [int(integers(1, 3)) for _ in chosen[1:]]
                sentences, seen = [], set()
                for topic, count in zip(chosen, counts):
                    for _ in range(count):
                        sentence = writer.sentence(topic)
                        for _retry in range(3):  # evaluators do not repeat themselves verbatim
                            if sentence not in seen:
                                break
                            sentence = writer.sentence(topic)
                        sentences.append(sentence)
                        seen.add(sentence)
                # The main topic leads; the rest follow in a shuffled order, as opinions wander.
                tail = sentences[1:]
                rng.shuffle(tail)
                bullet = choice(V.BULLETS)
                sep = "\n" if bullet else " "
                text = sep.join(bullet + s for s in sentences[:1] + tail)
                doc_id = f"{year}-{i + 1:04d}"
                main = chosen[0]
                uni, region = universities[int(integers(n_centres))]
                section = V.SECTIONS[main] if random() < 0.7 else choice(V.ALL_SECTIONS)
                ids.append(doc_id)
                unis.append(uni)
                regions.append(region)
                raters.append(choice(evaluators))
                sections.append(section)
                texts.append(text)
                doc_topic[doc_id] = main
                # Forms come back with an opinion pasted twice or a blank opinion field.
                if text and random() < spec.copy_paste_rate and i > 0 and texts[-2]:
                    texts[-1] = texts[-2]
                    doc_topic[doc_id] = doc_topic[ids[-2]]
                elif random() < spec.blank_rate:
                    texts[-1] = ""
                    del doc_topic[doc_id]
            yield year, {"연번": ids, "연도": [year] * len(ids), "대학명": unis, "지역": regions,
                         "평가위원": raters, "평가영역": sections, "평가의견": texts}
        self._next_year = spec.last_year + 1

    def truth(self) -> dict:
        spec = self.spec
        if self._next_year <= spec.last_year:
            raise RuntimeError("the truth is known once every year has been generated")
        groups = V.PHASE_GROUPS[spec.n_phases]
        blocks = phase_years(spec.years, spec.n_phases)
        return {
            "synthetic": True,
            "generator": {"name": "textmine.synth.synth", "version": GENERATOR_VERSION, "seed": spec.seed,
                          "years": [spec.first_year, spec.last_year], "n_phases": spec.n_phases,
                          "docs_per_year": spec.docs_per_year},
            "phase_starts": [b[0] for b in blocks],
            "phases": [{"start": b[0], "end": b[-1], "name": "·".join(V.PHASE_NAMES[t] for t in g),
                        "topics": list(g)} for b, g in zip(blocks, groups)],
            "topics": {k: v["name"] for k, v in V.TOPICS.items()},
            "year_topic_weights": {str(y): {t: round(w, 4) for t, w in ws.items()}
                                   for y, ws in self.weights.items()},
            "doc_topic": self.doc_topic,
        }


def generate_corpus(spec: SynthSpec) -> tuple[pd.DataFrame, dict]:
    """Opinions as a DataFrame with Korean headers, and the truth dictionary (small corpora, tests)."""
    gen = CorpusGenerator(spec)
    columns: dict[str, list] = {c: [] for c in COLUMNS}
    for _year, part in gen.years():
        for c in COLUMNS:
            columns[c].extend(part[c])
    return pd.DataFrame(columns), gen.truth()


def _write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """``write(temp)`` beside ``path``, then rename: an interrupted write leaves no half file.

    The temporary name ends in .tmp, which no corpus reader or folder watcher picks up.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_parquet(columns: dict[str, list], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({c: pa.array(columns[c], type=pa.int64() if c == "연도" else pa.string()) for c in COLUMNS})
    pq.write_table(table, path, compression="zstd")


def write_corpus(out_dir: str | Path, spec: SynthSpec, format: str = "csv",
                 on_year: Callable[[int, int], object] | None = None) -> Path:
    """One file per year plus truth.json; each year is written as soon as it is generated.

    ``format`` "csv" writes UTF-8 (BOM, as Excel writes it) ``opinions_YEAR.csv``; "parquet"
    writes zstd-compressed ``opinions_YEAR.parquet``, for large corpora (a million opinions
    in a few minutes, one year in memory at a time).  ``on_year(year, n_docs)`` is called
    after each year's file is in place.
    """
    if format not in FORMATS:
        raise TextmineError(f"unknown synth format {format!r}", fix=f"use one of {', '.join(FORMATS)}")
    gen = CorpusGenerator(spec)  # a spec it cannot plant stops here, before any folder is made
    out = Path(out_dir)
    other = next(f for f in FORMATS if f != format)
    clash = sorted(p.name for y in spec.years if (p := out / f"opinions_{y}.{other}").exists())
    if clash:
        raise TextmineError(f"{out} already holds {', '.join(clash[:3])}{' ...' if len(clash) > 3 else ''}; "
                            f"{format} files beside them would be read as a second copy of the corpus",
                            fix="write to an empty folder, or remove the old files first")
    out.mkdir(parents=True, exist_ok=True)
    for year, columns in gen.years():
        path = out / f"opinions_{year}.{format}"
        if format == "csv":
            frame = pd.DataFrame(columns)
            _write_atomically(path, lambda tmp: frame.to_csv(tmp, index=False, encoding="utf-8-sig"))
            del frame
        else:
            _write_atomically(path, lambda tmp: _write_parquet(columns, tmp))
        n = len(columns["연번"])
        del columns  # one year in memory at a time
        if on_year is not None:
            on_year(year, n)
    text = json.dumps(gen.truth(), ensure_ascii=False, indent=1)
    _write_atomically(out / "truth.json", lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return out
