"""Text normalisation (NFC, control and zero-width characters removed, whitespace collapsed) and the share of
Hangul among a text's letters (the non-Korean flag)."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import numpy as np
import pandas as pd


_CONTROL_RE = re.compile(r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u200b-\u200f\u2028\u2029\ufeff]")


_HANGUL_RE = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")


_LETTER_RE = re.compile(r"[^\W\d_]")


def _is_missing(value: Any) -> bool:
    """An empty cell, as any reader gives it: None, NaN (csv/xlsx), pd.NA (nullable Parquet columns), NaT.

    Only scalars can be missing: a list or dict cell (from JSON) is a value.
    """
    if type(value) is str:  # most cells: skips pandas' checks, 0.8 s of a 100k-row read
        return False
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def _text_or(value: Any, default: Any) -> Any:
    """The cell as text, or ``default`` when it is empty."""
    return default if _is_missing(value) else str(value)


def normalize_text(value: Any) -> str:
    """NFC, no control (NUL included) or zero-width characters, single spaces."""
    if _is_missing(value):
        return ""
    text = unicodedata.normalize("NFC", str(value))
    text = _CONTROL_RE.sub(" ", text)
    # str.split() splits on exactly the characters re's \s matches (both use Py_UNICODE_ISSPACE),
    # and is twice as fast as re.sub(r"\s+", " ") + strip (0.6 s against 1.4 s on 100k opinions).
    return " ".join(text.split())


def hangul_ratio(text: str) -> float:
    """Hangul's share of the letters; 0 for a text without letters (emoji, digits, punctuation only)."""
    letters = len(_LETTER_RE.findall(text))
    return len(_HANGUL_RE.findall(text)) / letters if letters else 0.0


def hangul_ratios(texts: list[str], chunk_size: int = 20_000) -> np.ndarray:
    """``hangul_ratio`` of every text, equal to it, seven times faster (0.43 s against 3.0 s on 100k opinions).

    Each distinct character is classified once by the same two expressions, then every text's letters
    and Hangul are counted as differences of running sums over its code points. Chunks bound the code
    point array (4 bytes a character: ~16 MB for 20,000 opinions of 200 characters).
    """
    ratios = np.zeros(len(texts))
    for start in range(0, len(texts), chunk_size):
        part = texts[start:start + chunk_size]
        # surrogatepass: a lone surrogate (from a JSON escape) is a character like any other here.
        codes = np.frombuffer("".join(part).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        present = np.flatnonzero(np.bincount(codes)) if codes.size else np.zeros(0, dtype=np.int64)
        size = int(present[-1]) + 1 if present.size else 1
        is_letter, is_hangul = np.zeros(size, dtype=bool), np.zeros(size, dtype=bool)
        chars = [chr(code) for code in present]
        is_letter[present] = [bool(_LETTER_RE.match(char)) for char in chars]
        is_hangul[present] = [bool(_HANGUL_RE.match(char)) for char in chars]
        lengths = np.fromiter(map(len, part), dtype=np.int64, count=len(part))
        ends = np.cumsum(lengths)
        starts = ends - lengths
        letters_before = np.concatenate([[0], np.cumsum(is_letter[codes])])
        hangul_before = np.concatenate([[0], np.cumsum(is_hangul[codes])])
        letters = letters_before[ends] - letters_before[starts]
        hangul = hangul_before[ends] - hangul_before[starts]
        np.divide(hangul, letters, out=ratios[start:start + len(part)], where=letters > 0)
    return ratios
