"""Synthetic University Job Plus Center evaluation opinions with planted phases.

The real opinions are not public.  This generator writes opinions that read
like committee members' improvement notes and plants a known structure in them:
the phase topics (``synth_vocab.PHASE_TOPICS``) rise and fall in contiguous
blocks of years, while background topics (staffing, budget...) are present every
year.  ``truth.json`` records the phase starts and each opinion's main topic, so
the pipeline can be scored against what was planted.  Same seed, same corpus.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from textmine import synth_vocab as V
from textmine.errors import TextmineError

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


def _has_batchim(word: str) -> bool:
    last = word.rstrip()[-1]
    return "가" <= last <= "힣" and (ord(last) - 0xAC00) % 28 != 0


def _obj(word: str) -> str:
    return word + ("을" if _has_batchim(word) else "를")


def _subj(word: str) -> str:
    return word + ("이" if _has_batchim(word) else "가")


class OpinionWriter:
    """Writes one opinion sentence at a time from a topic's vocabulary."""

    def __init__(self, rng: np.random.Generator, spec: SynthSpec):
        self.rng = rng
        self.spec = spec

    def choice(self, items):
        return items[int(self.rng.integers(len(items)))]

    def sentence(self, topic: str) -> str:
        t = V.TOPICS[topic]
        form = self.rng.random()
        action = self.choice(t["actions"])
        verbal = self.choice(V.VERBAL_ENDINGS).replace("{X}", action)
        nominal = self.choice(V.NOMINAL_ENDINGS).replace("{X}{이가}", _subj(action)).replace("{X}", action)
        obj = self._synonyms(self.choice(t["objects"]))
        finding = self._synonyms(self.choice(t["findings"]))
        if form < 0.30:
            text = f"{self.choice(t['contexts'])} {_obj(obj)} {verbal}"
        elif form < 0.45:
            text = f"{self.choice(t['contexts'])} {obj} {nominal}"
        elif form < 0.65:
            text = f"{finding}. 이에 {_obj(obj)} {verbal}" if self.rng.random() < 0.6 else \
                f"{finding}. 따라서 {obj} {nominal}"
        elif form < 0.80:
            text = finding
        elif form < 0.92:
            other = self._synonyms(self.choice([o for o in t["objects"] if o != obj]))
            text = f"{obj}{'과' if _has_batchim(obj) else '와'} {other}의 연계를 {verbal}"
        else:
            text = f"{obj}의 운영 실적을 점검하고 {verbal}"
        return self._noise(self.choice(V.CONNECTORS) + text) + "."

    def _synonyms(self, text: str) -> str:
        for canonical, variants in V.SYNONYMS.items():
            if canonical in text:
                text = text.replace(canonical, self.choice(variants))
        return text

    def _noise(self, text: str) -> str:
        if self.rng.random() < self.spec.typo_rate:
            hits = [w for w in V.TYPOS if w in text]
            if hits:
                word = self.choice(hits)
                text = text.replace(word, V.TYPOS[word], 1)
        if self.rng.random() < self.spec.spacing_error_rate:
            spaces = [i for i, c in enumerate(text) if c == " "]
            if spaces:  # a dropped space, the commonest spacing error
                i = self.choice(spaces)
                text = text[:i] + text[i + 1:]
        return text


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


def generate_corpus(spec: SynthSpec) -> tuple[pd.DataFrame, dict]:
    """Opinions as a DataFrame with Korean headers, and the truth dictionary."""
    rng = np.random.default_rng(spec.seed)
    if spec.n_phases not in V.PHASE_GROUPS:
        raise TextmineError(f"the generator plants 1 to {max(V.PHASE_GROUPS)} phases, not {spec.n_phases}",
                            fix=f"use --phases between 1 and {max(V.PHASE_GROUPS)}")
    if len(spec.years) < 2 * spec.n_phases:
        raise TextmineError(
            f"{len(spec.years)} years cannot hold {spec.n_phases} phases of at least two years",
            fix="widen --years or plant fewer phases",
        )
    weights = year_topic_weights(spec, rng)
    volumes = yearly_volumes(spec, rng)
    writer = OpinionWriter(rng, spec)
    # Opinions per centre grow with --docs-per-year; the programme never had more than a few hundred centres.
    universities = _university_names(rng, min(max(volumes.values()) // 2 + 10, 300))
    evaluators = [f"위원{chr(ord('A') + i // 10)}{i % 10:02d}" for i in range(40)]

    rows, doc_topic = [], {}
    for year in spec.years:
        topics = list(weights[year])
        probs = np.array([weights[year][t] for t in topics])
        n_centres = max(1, min(volumes[year] // 2, len(universities)))
        for i in range(volumes[year]):
            n_topics = int(rng.choice([1, 2, 2, 3, 3, 3]))
            chosen = list(rng.choice(topics, size=n_topics, replace=False, p=probs))
            counts = [int(rng.integers(2, 5))] + [int(rng.integers(1, 3)) for _ in chosen[1:]]
            sentences = []
            for topic, count in zip(chosen, counts):
                for _ in range(count):
                    sentence = writer.sentence(topic)
                    for _retry in range(3):  # evaluators do not repeat themselves verbatim
                        if all(sentence != s for _, s in sentences):
                            break
                        sentence = writer.sentence(topic)
                    sentences.append((topic, sentence))
            # The main topic leads; the rest follow in a shuffled order, as opinions wander.
            head, tail = sentences[:1], sentences[1:]
            rng.shuffle(tail)
            bullet = writer.choice(V.BULLETS)
            sep = "\n" if bullet else " "
            text = sep.join(bullet + s for _, s in head + tail)
            doc_id = f"{year}-{i + 1:04d}"
            main = chosen[0]
            uni, region = universities[int(rng.integers(n_centres))]
            section = V.SECTIONS[main] if rng.random() < 0.7 else writer.choice(V.ALL_SECTIONS)
            rows.append({"연번": doc_id, "연도": year, "대학명": uni, "지역": region,
                         "평가위원": writer.choice(evaluators), "평가영역": section, "평가의견": text})
            doc_topic[doc_id] = main
            # Forms come back with an opinion pasted twice or a blank opinion field.
            if rows[-1]["평가의견"] and rng.random() < spec.copy_paste_rate and i > 0 and rows[-2]["평가의견"]:
                rows[-1]["평가의견"] = rows[-2]["평가의견"]
                doc_topic[doc_id] = doc_topic[rows[-2]["연번"]]
            elif rng.random() < spec.blank_rate:
                rows[-1]["평가의견"] = ""
                del doc_topic[doc_id]

    groups = V.PHASE_GROUPS[spec.n_phases]
    blocks = phase_years(spec.years, spec.n_phases)
    truth = {
        "synthetic": True,
        "generator": {"name": "textmine.synth", "version": GENERATOR_VERSION, "seed": spec.seed,
                      "years": [spec.first_year, spec.last_year], "n_phases": spec.n_phases,
                      "docs_per_year": spec.docs_per_year},
        "phase_starts": [b[0] for b in blocks],
        "phases": [{"start": b[0], "end": b[-1], "name": "·".join(V.PHASE_NAMES[t] for t in g),
                    "topics": list(g)} for b, g in zip(blocks, groups)],
        "topics": {k: v["name"] for k, v in V.TOPICS.items()},
        "year_topic_weights": {str(y): {t: round(w, 4) for t, w in ws.items()} for y, ws in weights.items()},
        "doc_topic": doc_topic,
    }
    return pd.DataFrame(rows), truth


def write_corpus(out_dir: str | Path, spec: SynthSpec) -> Path:
    """One UTF-8 (BOM, as Excel writes it) CSV per year plus truth.json."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frame, truth = generate_corpus(spec)
    for year, part in frame.groupby("연도"):
        part.to_csv(out / f"opinions_{year}.csv", index=False, encoding="utf-8-sig")
    (out / "truth.json").write_text(json.dumps(truth, ensure_ascii=False, indent=1), encoding="utf-8")
    return out
