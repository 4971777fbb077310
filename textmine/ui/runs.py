"""Run folders under a runs folder: found, checked and read for the workspace's pages.

A run id comes from a URL, so it never reaches the file system unchecked: it must look like a
folder name textmine writes (letters, digits, ``-``, ``_``, ``.``; no ``..``, no leading dot, so no
``.partial-`` folder), and the folder it names must be a real child of the runs folder (a symlink
that leads elsewhere is refused).  Runs are read with :func:`textmine.report.report.load_run`, the same
reader the report uses (so the names of ``labels.toml`` are applied), and kept in a small cache
keyed by the files' modification times: a renamed topic or a rebuilt run is read again.
"""
from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from textmine.core.registry import MODELS

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# What every run folder has had since the first version; without them a folder is not shown as a run.
REQUIRED = ("manifest.json", "phases.json", "topics.csv", "trajectories.csv")
# What later versions added; a run without them still opens, and its page says what is missing.
OPTIONAL = {"documents.parquet": "의견 검색과 토픽별 의견 목록", "doc_topics.parquet": "토픽별 의견 목록",
            "lineage.csv": "토픽 계보", "breakdowns.csv": "메타데이터별 비중(--by)",
            "word_frequency.csv": "단어 빈도", "models": "관련도(λ) 슬라이더의 단어 확률"}
# Loaded runs kept in memory: a run's tables (without the opinions) are a few MB even at 1M opinions;
# 8 bounds the app's memory whatever the number of runs listed.
LOADED_RUNS = 8


def _expected(name: str, manifest: dict) -> bool:
    """Whether a run of this textmine would have written ``name``: the breakdowns only when the run
    was asked for them (``--by``, recorded in the manifest's analyses), the rest always."""
    if name == "breakdowns.csv":
        return "breakdowns" in ((manifest or {}).get("analyses") or {})
    return True


class PageError(Exception):
    """Something the user asked for that cannot be shown: an HTTP status and a Korean message."""

    def __init__(self, status: int, message: str, hint: str | None = None):
        super().__init__(message)
        self.status, self.message, self.hint = status, message, hint


@dataclass
class RunSummary:
    """One row of the runs list."""

    run_id: str
    status: str                      # 완료 / 진행 중 / 불완전
    started: str = ""
    corpus: str = ""
    corpus_path: str = ""
    models: list[str] = field(default_factory=list)
    documents: int | None = None
    years: str = ""
    phases: list[dict] = field(default_factory=list)   # per model: name, starts with confidence
    started_by: str = "기록 없음"
    missing: list[str] = field(default_factory=list)
    sort_key: str = ""


def _json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
        return value if isinstance(value, dict) else {}
    except (OSError, ValueError):
        return {}


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _display(model: str) -> str:
    try:
        return MODELS.display(model)
    except Exception:  # a model of another textmine version: its key is its name
        return model


# manifest.json's started_by (flows.pipeline.started_by); runs written before it say 기록 없음
STARTED_BY = {"cli": "명령줄(textmine run)", "schedule": "일정(cron)", "watch": "파일 감시",
              "deployment": "Prefect UI·배포 실행"}


def summarize(folder: Path) -> RunSummary:
    manifest = _json(folder / "manifest.json")
    phases = _json(folder / "phases.json")
    missing = [n for n in REQUIRED if not (folder / n).is_file()]
    started = str(manifest.get("started") or "")
    try:
        shown = datetime.fromisoformat(started).strftime("%Y-%m-%d %H:%M") if started else ""
    except ValueError:
        shown = started
    per_year = manifest.get("documents_per_year") or {}
    years = sorted(per_year, key=str)
    phase_rows = []
    for model, entry in phases.items():
        if not isinstance(entry, dict):
            continue
        conf = entry.get("boundary_confidence") or {}
        starts = []
        for p in entry.get("phases") or []:
            c = p.get("confidence", conf.get(str(p.get("start"))))
            starts.append({"start": p.get("start"), "confidence": c})
        phase_rows.append({"model": model, "name": "모델 합의" if model == "consensus" else _display(model),
                           "starts": starts})
    corpus = (manifest.get("corpus") or {}).get("path") or ""
    return RunSummary(
        run_id=folder.name, status="불완전" if missing else "완료",
        started=shown, corpus=Path(str(corpus)).name if corpus else "", corpus_path=str(corpus),
        sort_key=started or folder.name,
        models=[_display(m) for m in (manifest.get("models") or {})],
        documents=(manifest.get("documents") or {}).get("modelled"),
        years=f"{years[0]}–{years[-1]}" if years else "", phases=phase_rows,
        started_by=STARTED_BY.get(str(manifest.get("started_by")), "기록 없음"), missing=missing)


class RunStore:
    """The run folders under ``root``: listing, checked lookup, cached loading."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().resolve()
        self._lock = threading.Lock()
        self._summaries: dict[str, tuple[tuple, RunSummary]] = {}
        self._loaded: OrderedDict[str, tuple[tuple, dict]] = OrderedDict()
        self.run_locks: dict[str, threading.Lock] = {}

    # ------------------------------------------------------------ finding
    def path(self, run_id: str) -> Path:
        """The folder of ``run_id``, or a 404 :class:`PageError` (never a path outside the runs folder)."""
        if not isinstance(run_id, str) or not RUN_ID.match(run_id) or ".." in run_id:
            raise PageError(404, "실행 ID가 올바르지 않습니다.", "실행 목록에서 실행을 고르세요.")
        folder = self.root / run_id
        if folder.is_symlink():
            target = folder.resolve()
            if target.parent != self.root:
                raise PageError(404, "실행 폴더가 실행 목록 폴더 밖을 가리킵니다.", "실행 목록에서 실행을 고르세요.")
        if not folder.is_dir() or folder.resolve().parent != self.root:
            raise PageError(404, f"실행 '{run_id}'이(가) 없습니다.", "실행 목록에서 실행을 고르세요.")
        missing = [n for n in REQUIRED if not (folder / n).is_file()]
        if missing:
            raise PageError(404, f"실행 '{run_id}'은(는) 끝난 실행 폴더가 아닙니다: {', '.join(missing)} 없음.",
                            "실행이 끝날 때까지 기다리거나 다른 실행을 고르세요.")
        return folder

    def list(self) -> list[RunSummary]:
        """Every run folder, newest first; folders being written (``.partial-``) as 진행 중."""
        out = []
        if not self.root.is_dir():
            return out
        for child in self.root.iterdir():
            name = child.name
            partial = name.startswith(".partial-")
            if (name.startswith(".") and not partial) or not child.is_dir():
                continue
            if child.is_symlink() and child.resolve().parent != self.root:
                continue
            if partial:
                out.append(RunSummary(run_id=name[len(".partial-"):], status="진행 중", sort_key=name[len(".partial-"):]))
                continue
            if not RUN_ID.match(name) or not any((child / n).is_file() for n in REQUIRED):
                continue
            key = tuple(_mtime(child / n) for n in ("manifest.json", "phases.json"))
            cached = self._summaries.get(name)
            if cached is None or cached[0] != key:
                cached = (key, summarize(child))
                self._summaries[name] = cached
            out.append(cached[1])
        return sorted(out, key=lambda s: s.sort_key, reverse=True)

    # ------------------------------------------------------------ loading
    def load(self, run_id: str) -> dict:
        """``report.load_run`` of the run (labels applied), with ``models`` (keys) and ``display``."""
        from textmine.report import report

        folder = self.path(run_id)
        key = tuple(_mtime(folder / n) for n in ("manifest.json", "topics.csv", "trajectories.csv", "labels.toml"))
        with self._lock:
            hit = self._loaded.get(run_id)
            if hit is not None and hit[0] == key:
                self._loaded.move_to_end(run_id)
                return hit[1]
        try:
            data = report.load_run(folder)
        except Exception as exc:  # a damaged or foreign folder: say so instead of a traceback
            # One line of what went wrong (a TextmineError's second line is its fix: the hint).
            detail = str(exc).split("\n")[0]
            raise PageError(422, f"실행 '{run_id}'의 파일을 읽지 못했습니다: {type(exc).__name__}: {detail}",
                            getattr(exc, "fix", None) or "실행 폴더가 손상되었는지 확인하세요.") from None
        data["run_id"] = run_id
        data["models"] = report.models_of(data)
        data["missing"] = [{"file": n, "what": what} for n, what in OPTIONAL.items()
                           if not (folder / n).exists() and _expected(n, data["manifest"])]
        with self._lock:
            self._loaded[run_id] = (key, data)
            while len(self._loaded) > LOADED_RUNS:
                self._loaded.popitem(last=False)
        return data

    def later_runs(self, run_id: str) -> list[RunSummary]:
        """The finished runs of the same corpus that started after ``run_id``, oldest first."""
        runs = self.list()
        this = next((r for r in runs if r.run_id == run_id), None)
        if this is None or not this.corpus_path:
            return []
        return sorted((r for r in runs if r.status == "완료" and r.corpus_path == this.corpus_path
                       and r.sort_key > this.sort_key), key=lambda r: r.sort_key)

    def forget(self, run_id: str) -> None:
        with self._lock:
            self._loaded.pop(run_id, None)
            self._summaries.pop(run_id, None)

    def lock(self, run_id: str) -> threading.Lock:
        with self._lock:
            return self.run_locks.setdefault(run_id, threading.Lock())


def global_topics(data: dict, model: str) -> pd.DataFrame:
    """The model's global topics (``topics.csv`` rows of scope ``global``), ordered by id."""
    topics = data.get("topics")
    if topics is None or not len(topics):
        return pd.DataFrame(columns=["model", "topic", "label"])
    rows = topics[(topics["model"] == model) & (topics["scope"].astype(str) == "global")]
    return rows.sort_values("topic")


def plain(value: Any) -> Any:
    """Numbers and missing values of pandas as JSON-ready Python values."""
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value.item() if hasattr(value, "item") else value
