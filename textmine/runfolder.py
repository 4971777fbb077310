"""The run folder (SPEC §3): one new folder per run, written atomically.

Files are written into a hidden ``.partial-<run id>`` folder beside the final
one and renamed into place only when the run succeeds, so a failed run leaves
nothing that looks complete (and nothing at all: the partial folder is removed).
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from textmine.lda import topic_label


def new_run_id(now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return f"run-{now:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


class RunFolder:
    """Context manager: ``with RunFolder(out_dir) as run: run.write_json(...)``."""

    def __init__(self, out_dir: str | Path, run_id: str | None = None):
        self.out_dir = Path(out_dir)
        self.run_id = run_id or new_run_id()
        self.final = self.out_dir / self.run_id
        self.path = self.out_dir / f".partial-{self.run_id}"

    def __enter__(self) -> "RunFolder":
        if self.final.exists():
            raise FileExistsError(f"run folder {self.final} already exists")
        self.path.mkdir(parents=True, exist_ok=False)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            os.replace(self.path, self.final)
        else:
            shutil.rmtree(self.path, ignore_errors=True)

    def file(self, name: str) -> Path:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def write_json(self, name: str, data: Any) -> Path:
        target = self.file(name)
        target.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=_json_default), encoding="utf-8")
        return target

    def write_csv(self, name: str, frame: pd.DataFrame) -> Path:
        target = self.file(name)
        # UTF-8 with BOM so that Excel opens Korean CSVs correctly.
        frame.to_csv(target, index=False, encoding="utf-8-sig", lineterminator="\n")
        return target

    def write_parquet(self, name: str, frame: pd.DataFrame) -> Path:
        target = self.file(name)
        frame.to_parquet(target, index=False)
        return target


def _json_default(value: Any):
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def topics_table(model: str, topic_terms: list[list[tuple[str, float]]], sizes, scope: str = "global",
                 relevant: list[list[str]] | None = None, n_label_terms: int = 3) -> pd.DataFrame:
    """``topics.csv`` rows: model, scope, topic, label, top terms (with weights), distinctive terms, size.

    The label is built from the distinctive (relevance-ranked) terms when given,
    since the most probable terms are often shared by several topics.
    """
    rows = []
    for k, terms in enumerate(topic_terms):
        label_terms = relevant[k] if relevant else [t for t, _ in terms]
        rows.append({
            "model": model, "scope": scope, "topic": k, "label": topic_label(label_terms, n_label_terms),
            "top_terms": ", ".join(t for t, _ in terms),
            "term_weights": "; ".join(f"{t}:{w:.4f}" for t, w in terms),
            "relevant_terms": ", ".join(relevant[k]) if relevant else "",
            "size": int(sizes[k]),
        })
    return pd.DataFrame(rows)


def doc_topics_table(model: str, doc_ids, years, doc_topic, min_probability: float = 0.01,
                     topic_ids=None) -> pd.DataFrame:
    """``doc_topics.parquet`` rows: each document's topic probabilities (small ones omitted, the top one kept).

    ``topic_ids`` names the columns when they are not 0..k-1 (BERTopic's last column is outlier -1).
    """
    import numpy as np

    dominant = doc_topic.argmax(axis=1)
    rows, cols = np.nonzero((doc_topic >= min_probability) | (np.arange(doc_topic.shape[1]) == dominant[:, None]))
    return pd.DataFrame({
        "doc_id": np.asarray(doc_ids, dtype=object)[rows], "year": np.asarray(years)[rows], "model": model,
        "topic": (np.asarray(topic_ids)[cols] if topic_ids is not None else cols).astype(int), "probability": doc_topic[rows, cols].round(6),
        "is_dominant": cols == dominant[rows],
    })
