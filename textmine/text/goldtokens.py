"""Token-level precision and recall of the tokenizer against a gold set.

A gold file (``tests/data/korean_gold.tsv``) holds lines of ``kind <TAB> sentence <TAB> expected
tokens``; ``#`` starts a comment.  Tokens are compared as multisets per sentence: a token the
tokenizer gives twice counts twice.  Scores are reported overall and per kind (negation, derived,
programme, number, acronym, typo, spacing, style), so a change to the profile shows where it helps.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence


@dataclass(frozen=True)
class GoldSentence:
    kind: str
    text: str
    expected: tuple[str, ...]


@dataclass
class TokenScore:
    matched: int = 0
    produced: int = 0
    expected: int = 0

    @property
    def precision(self) -> float:
        return self.matched / self.produced if self.produced else 1.0

    @property
    def recall(self) -> float:
        return self.matched / self.expected if self.expected else 1.0

    def add(self, expected: Sequence[str], produced: Sequence[str]) -> None:
        self.matched += sum((Counter(expected) & Counter(produced)).values())
        self.produced += len(produced)
        self.expected += len(expected)


def read_gold(path: str | Path) -> list[GoldSentence]:
    sentences = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise ValueError(f"{path}:{number}: expected kind<TAB>sentence<TAB>tokens, got {len(parts)} fields")
        sentences.append(GoldSentence(parts[0], parts[1], tuple(parts[2].split())))
    return sentences


def score_tokens(gold: Sequence[GoldSentence], produced: Sequence[Sequence[str]]) -> dict[str, TokenScore]:
    """{"all": overall score, kind: score of that kind's sentences}."""
    scores: dict[str, TokenScore] = {"all": TokenScore()}
    for sentence, tokens in zip(gold, produced, strict=True):
        scores["all"].add(sentence.expected, tokens)
        scores.setdefault(sentence.kind, TokenScore()).add(sentence.expected, tokens)
    return scores


def misses(gold: Sequence[GoldSentence], produced: Sequence[Sequence[str]]) -> list[tuple[str, list[str], list[str]]]:
    """(sentence, expected but missing, produced but not expected) for every sentence that differs."""
    out = []
    for sentence, tokens in zip(gold, produced, strict=True):
        expected, got = Counter(sentence.expected), Counter(tokens)
        if expected != got:
            out.append((sentence.text, sorted((expected - got).elements()), sorted((got - expected).elements())))
    return out
