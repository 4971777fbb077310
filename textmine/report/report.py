"""What analysts read: charts, a self-contained ``report.html`` and ``summary.xlsx``.

Everything is built from the files of a finished run folder, so
``textmine report RUN_DIR`` rebuilds it without refitting, and the flow calls
the same :func:`build_outputs` as its last stage.  The HTML inlines plotly.js
and every image: it opens offline.

The page is written by Jinja2 templates in ``textmine/report/templates/`` (``report.html.j2``
and one template per section; Korean names of stages, kinds of personal information and
lineage links in ``names.j2``).  The page's Korean wording lives there, where it can be
edited without touching Python (the texts drawn inside the charts stay with the chart
code); this module only prepares plain data (lists of dicts, numbers, display names from
:mod:`textmine.core.registry`) for them.  Autoescaping is on, so
every text that comes from the corpus or a model (labels, terms, opinions, file
names) is escaped; the only pre-built HTML handed to the templates is
:class:`~markupsafe.Markup` for the plotly charts and the inlined font (see
:func:`_plotly_trajectories` and :func:`_font_face` for why they are safe).
"""
from __future__ import annotations

import base64
import contextlib
import html
import json
import logging
import re
import shutil
from importlib import metadata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, StrictUndefined
from markupsafe import Markup

from textmine.analysis import analysis, doctables, labels as labels_mod
from textmine.analysis.identity import IDENTITY_KO
from textmine.core.cachedir import mark_cache
from textmine.core.errors import TextmineError
from textmine.core.files import publish
from textmine.core.registry import MODELS, PHASE_DETECTORS
from textmine.outputs import charts
from textmine.outputs.sanitize import restore_frame
from textmine.outputs.xlsx import Sheet, write_workbook
from textmine.report import interactive, narrative

log = logging.getLogger(__name__)

SHEET_HEADERS = {
    "model": "모델", "scope": "범위", "topic": "토픽", "label": "레이블", "top_terms": "주요어(확률)",
    "term_weights": "주요어 가중치", "relevant_terms": "특징어(relevance)", "size": "문서 수",
    "global_topic": "대응 전역 토픽", "global_similarity": "유사도", "year": "연도", "period": "기간",
    "share": "비중", "doc_share": "문서 비중", "n_docs": "문서 수", "share_lo": "비중 하한", "share_hi": "비중 상한",
    "doc_share_lo": "문서 비중 하한", "doc_share_hi": "문서 비중 상한", "from_year": "이전 연도",
    "from_topic": "이전 토픽", "to_year": "다음 연도", "to_topic": "다음 토픽", "similarity": "유사도", "kind": "유형",
    "from_label": "이전 레이블", "to_label": "다음 레이블", "from_share": "이전 비중", "to_share": "다음 비중",
    "chain": "계보", "chain_label": "계보 이름", "phase": "시기", "start": "시작", "end": "끝",
    "confidence": "신뢰도", "doc_id": "문서 ID", "probability": "확률", "text": "의견(개인정보 가림)",
    "label_original": "자동 레이블", "previous_topic": "이전 실행 토픽", "previous_label": "이전 실행 레이블",
    "previous_similarity": "이전 실행 유사도", "identity": "이전 실행 대비", "column": "메타데이터", "value": "값",
    "low": "하한", "high": "상한", "rest_share": "나머지 비중", "diff": "차이", "excludes_zero": "구간이 0 제외",
    "n_rest": "나머지 문서 수", "plotted": "보고서 표시", "words": "단어", "frequency": "빈도",
}
# summary.xlsx only; the report's wording for lineage kinds is in templates/names.j2.
KIND_KO = {"continue": "이어짐", "split": "분화", "merge": "통합", "birth": "등장", "death": "소멸"}

TEMPLATE = "report.html.j2"


def load_run(run_dir: str | Path, labels_file: str | Path | None = None) -> dict:
    """A run folder's files as frames and dicts, ready to show: the CSVs' spreadsheet neutralisation
    undone (:func:`textmine.outputs.sanitize.restore_frame`; the xlsx writer neutralises again), every registered
    analysis's files read (:func:`textmine.analysis.analysis.load_analyses`), and the run's ``labels.toml`` applied
    to every table, phase entry and chart input that shows a global topic (the files keep the automatic
    labels)."""
    run = Path(run_dir)

    def csv(name):
        path = run / name
        try:
            return restore_frame(pd.read_csv(path, encoding="utf-8-sig")) if path.is_file() else None
        except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
            raise _damaged(path, exc) from None

    def js(name):
        path = run / name
        try:
            value = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        except (ValueError, UnicodeDecodeError) as exc:
            raise _damaged(path, exc) from None
        if not isinstance(value, dict):
            raise _damaged(path, TypeError(f"a JSON {type(value).__name__}, not an object"))
        return value

    data = {"path": run, "manifest": js("manifest.json"), "phases": js("phases.json"),
            "evaluation": js("evaluation.json"), "topics": csv("topics.csv"), "trajectories": csv("trajectories.csv"),
            "lineage": csv("lineage.csv"), "representatives": csv("representative_docs.csv"),
            "over_time": analysis.read_table(run, "topics_over_time.csv", words=str), **analysis.load_analyses(run)}
    names = labels_mod.load_labels(labels_file) if labels_file else labels_mod.read_labels(run)
    data["labels"] = names
    data["out"] = run  # where charts are drawn and read (build_outputs draws into a staging folder)
    data["labels_unknown"] = labels_mod.unknown_topics(names, data["topics"]) \
        if names and data["topics"] is not None else []
    labels_mod.rename_run(data, names)
    return data


def _damaged(path: Path, exc: Exception):
    return TextmineError(f"the run folder's file cannot be read ({exc.__class__.__name__}: {exc})", file=path,
                         fix="rerun 'textmine run' (or restore the file); nothing of the report was changed")


def models_of(data: dict) -> list[str]:
    return [m for m in data["phases"] if m != "consensus"]


# ---------------------------------------------------------------- typed views of the run's JSON

@dataclass(frozen=True)
class Quality:
    """One model's entry of ``evaluation.json``.

    Every model has the :func:`textmine.models.quality.quality_summary` keys; the rest are optional
    (``outliers``/``embedding``/``min_cluster_size`` only for BERTopic, ``phase_boundaries`` and
    ``topic_agreement`` only when the corpus has truth), so each accessor returns ``None`` (or an
    empty list) when its key is missing or null.
    """

    raw: dict

    @classmethod
    def of(cls, evaluation: dict, model: str) -> "Quality":
        return cls((evaluation.get("models") or {}).get(model) or {})

    def _part(self, key: str) -> dict:
        value = self.raw.get(key)
        return value if isinstance(value, dict) else {}

    def get(self, key: str) -> Any:
        return self.raw.get(key)

    @property
    def stability_mean(self) -> float | None:
        return self._part("stability").get("mean")

    @property
    def stability_per_topic(self) -> list:
        return self._part("stability").get("per_topic") or []

    @property
    def k_selection(self) -> list[dict]:
        return self.raw.get("k_selection") or []

    @property
    def agreement(self) -> dict | None:
        return self._part("topic_agreement") or None

    @property
    def boundaries(self) -> dict | None:
        return self._part("phase_boundaries") or None

    @property
    def outliers(self) -> dict | None:
        return self._part("outliers") or None

    @property
    def embedding(self) -> dict | None:
        return self._part("embedding") or None


@dataclass(frozen=True)
class PhaseEntry:
    """One entry of ``phases.json``: a model's phases, or the ``consensus`` of the models."""

    key: str
    raw: dict

    @property
    def is_consensus(self) -> bool:
        return self.key == "consensus"

    @property
    def phases(self) -> list[dict]:
        return self.raw.get("phases") or []

    @property
    def starts(self) -> list:
        return self.raw.get("phase_starts") or [p["start"] for p in self.phases]

    @property
    def method(self) -> str:
        return self.raw.get("method") or ""

    @property
    def detector(self) -> str | None:
        """The registry name of the detector (``phases.method``); None for entries written before it was recorded."""
        return self.raw.get("detector")

    @property
    def n_phases(self) -> int:
        return int(self.raw.get("n_phases") or len(self.phases))

    @property
    def candidates(self) -> list[int]:
        """The numbers of phases the detector scored (the keys of ``selection``)."""
        return sorted(int(k) for k in (self.raw.get("selection") or {}))

    @property
    def chosen_by_bic(self) -> bool:
        """Whether the number of phases was chosen by BIC rather than fixed by config.

        The method text says which ("number of phases by BIC" / "fixed at N"); ``selection`` has
        scores for every candidate either way, so several candidates alone only decide when the
        text says neither."""
        if "fixed" in self.method:
            return False
        return "BIC" in self.method or len(self.candidates) > 1


# ---------------------------------------------------------------- charts

def render_charts(data: dict, cache_dir: str | Path | None = None, helper=None) -> list[str]:
    """Every PNG chart of the run into ``charts/``; returns their paths relative to the run folder.

    With ``cache_dir``, a chart drawn before from the same inputs is copied from
    ``<cache_dir>/charts/`` instead of drawn again (drawing is most of a rerun's report time:
    ~0.4-4 s a chart at 200 dpi on 2 cores).  The others are drawn here and, with ``helper``
    (:func:`chart_helper`), in a helper process at the same time (:func:`draw_charts`)."""
    run = data.get("out", data["path"])
    jobs = []
    for model in models_of(data):
        traj = data["trajectories"][data["trajectories"]["model"] == model]
        phases = data["phases"][model]["phases"]
        name = MODELS.display(model)
        # Each chart: its drawing function and the inputs it is drawn from (the cache key).
        figures = {
            f"trajectories_{model}.png": (charts.plot_topic_trajectories, traj, phases, f"{name} 토픽 비중 추이와 시기 구분"),
            f"stacked_{model}.png": (charts.plot_stacked_shares, traj, f"{name} 토픽 구성의 변화"),
            f"heatmap_{model}.png": (charts.plot_share_heatmap, traj, f"{name} 기간 × 토픽 비중"),
            f"phase_terms_{model}.png": (charts.plot_phase_terms, phases, f"{name} 시기별 특징 토픽"),
        }
        selection = Quality.of(data["evaluation"], model).k_selection
        if len(selection) > 1:
            figures[f"model_selection_{model}.png"] = (charts.plot_model_selection, selection, f"{name} 토픽 수 선택")
        lineage = data["lineage"]
        if lineage is not None and (lineage["model"] == model).any():
            figures[f"lineage_{model}.png"] = (charts.plot_lineage, lineage[lineage["model"] == model],
                                               f"{name} 연도별 토픽 계보")
        jobs += [(filename, draw, inputs) for filename, (draw, *inputs) in figures.items()]
    # The analyses' charts (word clouds, networks, topics by metadata), from their files.
    jobs += [(filename, draw, inputs) for filename, (draw, *inputs)
             in analysis.chart_specs(data, MODELS.display).items()]
    drawn = draw_charts([(run / "charts" / filename, draw, inputs) for filename, draw, inputs in jobs], cache_dir,
                        helper)
    return [f"charts/{filename}" for (filename, _, _), done in zip(jobs, drawn) if done]


# A helper process starts in ~1.2 s (Python, textmine's charts, matplotlib, the Korean font) and a chart
# takes 0.1-0.6 s to draw (bundled corpus: 17 charts, 5.2 s drawn one after another; session 12), so it
# pays from a few charts on: fewer than this many are drawn here alone.
CHART_HELPER_MIN_CHARTS = 6


@contextlib.contextmanager
def chart_helper(enabled: bool = True) -> Iterator[Any]:
    """One helper process that draws charts beside this one (:func:`draw_charts`), started at once so that
    it has loaded the drawing code and the Korean font while the run's files are read; None with one core.
    It dies with this process and is ended when the block ends."""
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    from textmine.core.parallel import end_workers, start_worker

    if not enabled or (os.cpu_count() or 1) < 2:
        yield None
        return
    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                               initializer=start_worker, initargs=(os.getpid(), None))
    try:
        pool.submit(charts.korean_font)
        yield pool
    finally:
        end_workers(pool)


def draw_charts(jobs: list[tuple[Path, Any, list]], cache_dir, helper=None) -> list[bool]:
    """Each ``(target, draw, inputs)``: ``draw(*inputs)`` saved as ``target`` or copied from the chart cache;
    returns whether each was written (False: nothing to draw).

    The charts the cache does not hold are drawn in this process from the first on and, when there are at
    least CHART_HELPER_MIN_CHARTS, by the ``helper`` process (:func:`chart_helper`) from the last on: each
    chart is drawn by whichever gets to it first (one the helper has not started is taken back here), so
    neither waits on the other.  A chart is the same file wherever it is drawn (tests/test_report.py)."""
    import pickle
    from concurrent.futures.process import BrokenProcessPool

    written: list[bool | None] = [None] * len(jobs)
    todo, keys = [], {}
    for i, (target, draw, inputs) in enumerate(jobs):
        cached = _cached_file(cache_dir, "charts", draw, inputs, ".png",
                              extra=f"{metadata.version('matplotlib')}|{charts.DPI}")
        keys[i] = cached
        if cached is not None and cached.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                shutil.copyfile(cached, target)
                written[i] = True
                continue
            except FileNotFoundError:  # removed meanwhile (a concurrent cache prune): draw it
                pass
        todo.append(i)
    futures = {}
    if helper is not None and len(todo) >= CHART_HELPER_MIN_CHARTS:
        for i in reversed(todo):  # the helper takes them from the last on
            try:
                pickle.dumps(jobs[i][1:])
            except Exception:  # noqa: BLE001 - a chart that cannot travel (a local function) is drawn here
                continue
            try:
                futures[i] = helper.submit(draw_chart, *jobs[i])
            except (BrokenProcessPool, RuntimeError):  # the helper is gone already: all drawn here
                futures.clear()
                break
    for i in todo:
        if i in futures and not futures[i].cancel():
            continue  # the helper has it
        written[i] = draw_chart(*jobs[i])
    helped = [i for i, future in futures.items() if written[i] is None]
    for i in helped:
        try:
            written[i] = futures[i].result()
        except BrokenProcessPool:  # the helper died (killed, out of memory): its charts are drawn here
            log.warning("the chart helper process ended early; drawing %s here", jobs[i][0].name)
            written[i] = draw_chart(*jobs[i])
    log.info("charts: %d from the cache, %d drawn here, %d by the helper process", len(jobs) - len(todo),
             len(todo) - len(helped), len(helped))
    for i in todo:
        if written[i] and keys[i] is not None:
            _store_file(jobs[i][0], keys[i])
    return [bool(w) for w in written]


def draw_chart(target: Path, draw, inputs: list) -> bool:
    """``draw(*inputs)`` (a Figure, or PNG bytes) saved as ``target``; False when there was nothing to draw."""
    result = draw(*inputs)
    if isinstance(result, (bytes, bytearray)):
        if not result:
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(result)
    else:
        charts.save_figure(result, target)
    return True


def _cached_file(cache_dir, kind: str, make, inputs: list, suffix: str, extra: str = "") -> Path | None:
    """Where an output made by ``make`` from ``inputs`` (frames, JSON-able values, or (name, frame)
    pairs) is kept under ``<cache_dir>/<kind>/``: keyed by the inputs' content, the making function's
    name and source, textmine's version and ``extra`` (the drawing library's version...)."""
    if cache_dir is None:
        return None
    import hashlib
    import inspect

    h = hashlib.sha256(f"{make.__module__}.{make.__qualname__}|{metadata.version('textmine')}|{extra}".encode())
    h.update(inspect.getsource(make).encode())  # a change to the code that makes it is a miss
    for value in inputs:
        name, value = value if isinstance(value, tuple) else ("", value)
        h.update(name.encode())
        h.update((value.to_csv(index=False) if isinstance(value, pd.DataFrame)
                  else json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)).encode())
    return Path(cache_dir).expanduser() / kind / f"{h.hexdigest()}{suffix}"


def _store_file(source: Path, cached: Path) -> None:
    mark_cache(cached.parent.parent)
    with publish(cached) as tmp:
        shutil.copyfile(source, tmp)


def _image(run: Path, filename: str) -> str | None:
    """A chart of ``charts/`` as a ``data:`` URI, or None when it was not drawn.

    Passed to the templates as a plain string: autoescaping leaves it unchanged (the base64
    alphabet has none of ``& < > " '``), so it needs no :class:`Markup`."""
    path = run / "charts" / filename
    if not path.is_file():
        return None
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _plotly_trajectories(traj: pd.DataFrame, phases: list[dict], title: str, div_id: str,
                         include_js: bool) -> Markup:
    """The interactive trajectory chart as an HTML fragment (plotly's ``<div>`` and ``<script>``).

    Marked safe for the templates on purpose, and safe because: the script is plotly.js itself
    (library code), the figure's data is serialised by plotly as JSON with ``<``, ``>`` and ``/``
    written as ``\\u003c``... so no text can close the ``<script>``; the texts that come from the
    corpus (topic labels, period names) are HTML-escaped before they go in, because plotly.js
    reads trace names as a small subset of HTML (it shows the entities as the characters);
    and ``div_id`` is reduced to ``[a-z0-9_-]`` here.
    """
    import plotly.graph_objects as go

    table = traj[traj["topic"] >= 0].copy()
    key = "period" if "period" in table else "year"
    periods = sorted(table[key].unique(), key=str)
    pos = {str(p): i for i, p in enumerate(periods)}
    x = list(range(len(periods)))
    ticks = [html.escape(str(p)) for p in periods]
    fig = go.Figure()
    for i, phase in enumerate(phases):
        fig.add_vrect(x0=pos.get(str(phase["start"]), 0) - 0.5, x1=pos.get(str(phase["end"]), len(x) - 1) + 0.5,
                      fillcolor=["#eeeeee", "#dde8f5"][i % 2], opacity=0.6, line_width=0, layer="below",
                      annotation_text=f"{i + 1}기" + (f" (신뢰도 {phase['confidence']:.2f})"
                                                     if "confidence" in phase and i else ""),
                      annotation_position="top left")
    for topic, group in table.groupby("topic"):
        group = group.set_index(key).reindex(periods)
        name = html.escape(f"T{topic} {group['label'].dropna().iloc[0]}")
        if "share_lo" in group:
            fig.add_trace(go.Scatter(x=x + x[::-1], y=list(group["share_hi"]) + list(group["share_lo"])[::-1],
                                     fill="toself", line=dict(width=0), opacity=0.15, hoverinfo="skip",
                                     showlegend=False, legendgroup=name))
        fig.add_trace(go.Scatter(x=x, y=list(group["share"]), mode="lines+markers", name=name, legendgroup=name,
                                 text=ticks, hovertemplate="%{text}: %{y:.3f}"))
    fig.update_layout(title=html.escape(title), xaxis_title="기간", yaxis_title="토픽 비중", height=520,
                      margin=dict(l=50, r=20, t=60, b=40), font=dict(family="NanumGothic, 'Malgun Gothic', sans-serif"))
    fig.update_xaxes(tickmode="array", tickvals=x, ticktext=ticks, range=[-0.5, len(x) - 0.5])
    return Markup(fig.to_html(full_html=False, include_plotlyjs="inline" if include_js else False,
                              div_id=re.sub(r"[^a-z0-9_-]", "-", div_id.lower())))


def _font_face(text: str) -> Markup:
    """The bundled NanumGothic inlined, so Hangul renders on machines without a Korean font.

    Subset to the characters of the page (a few hundred KB instead of 2 MB), and
    without the VTT hinting tables (TSI*) that browsers' font sanitiser rejects.
    Returned as :class:`Markup` for the ``<style>`` element: it is a fixed CSS rule around
    base64 data, nothing from the run.
    """
    import importlib.util
    import io

    from fontTools import subset
    from fontTools.ttLib import TTFont

    spec = importlib.util.find_spec(charts.FONT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return Markup("")
    font = TTFont(Path(list(spec.submodule_search_locations)[0]) / "fonts" / charts.FONT_FILES[0])
    for table in [t for t in font.keys() if t.startswith("TSI")]:
        del font[table]
    options = subset.Options()
    options.hinting = False
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes={ord(c) for c in set(text)} | set(range(32, 127)))
    subsetter.subset(font)
    buffer = io.BytesIO()
    font.save(buffer)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return Markup(f"@font-face{{font-family:'NanumGothic';src:url(data:font/ttf;base64,{data}) format('truetype');}}")


# ---------------------------------------------------------------- the page's data

def _plain(value: Any) -> Any:
    """A table cell as a plain Python value: NaN -> None, numpy scalars -> Python."""
    if value is None or (not isinstance(value, (list, dict, str)) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def _records(frame: pd.DataFrame | None) -> list[dict]:
    if frame is None:
        return []
    return [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _of_model(frame: pd.DataFrame | None, model: str) -> pd.DataFrame | None:
    if frame is None or "model" not in frame:
        return None
    return frame[frame["model"] == model]


def _stage_rows(seconds: dict, models: list[str]) -> list[dict]:
    """``stage_seconds`` as rows.  The flow's per-model stages (``lda``, ``lda_yearly``,
    ``summarize_lda``, ``save_lda``) become a kind of stage (``fit``, ``fit_yearly``, ``summarize``,
    ``save``) plus the model's display name; any other key is its own kind."""
    per_model = {}
    for m in models:
        for key, kind in ((m, "fit"), (f"{m}_yearly", "fit_yearly"), (f"summarize_{m}", "summarize"),
                          (f"save_{m}", "save")):
            per_model[key] = (kind, MODELS.display(m))
    rows = []
    for key, value in (seconds or {}).items():
        stage, model = per_model.get(key, (key, None))
        rows.append({"key": key, "stage": stage, "model": model, "seconds": float(value)})
    return rows


def _summary(data: dict, models: list[str]) -> dict:
    m = data["manifest"]
    per_year = m.get("documents_per_year") or {}
    # Per-model stage keys are recognised for every model the run or the registry knows.
    stages = _stage_rows(m.get("stage_seconds"), list(dict.fromkeys([*models, *MODELS, *(m.get("models") or {})])))
    pii = [{"kind": kind, "count": int(n)} for kind, n in (m.get("pii_masked") or {}).items()]
    return {
        "run_id": m.get("run_id") or data["path"].name,
        "corpus_path": (m.get("corpus") or {}).get("path", ""),
        "synthetic": bool((data["evaluation"].get("truth") or {}).get("synthetic")),
        "documents": m.get("documents") or {},
        "first_year": min(per_year, default=None), "last_year": max(per_year, default=None),
        "per_year": [{"year": y, "n": n} for y, n in per_year.items()],
        "models": [MODELS.display(model) for model in models],
        "seed": m.get("seed"),
        "time_unit": ((m.get("config") or {}).get("align") or {}).get("time_unit", "year"),
        "stages": stages, "stage_total": sum(r["seconds"] for r in stages),
        "pii": pii, "pii_total": sum(r["count"] for r in pii),
        "large_corpus": (m.get("scale") or {}).get("switches") or [],
    }


def _phases(data: dict, models: list[str]) -> list[dict]:
    out = []
    for key, raw in data["phases"].items():
        entry = PhaseEntry(key, raw)
        out.append({
            "key": key, "name": MODELS.display(key), "is_consensus": entry.is_consensus,
            "method": entry.method, "detector": entry.detector,
            "detector_name": PHASE_DETECTORS.display(entry.detector) if entry.detector else None,
            "n_phases": entry.n_phases, "by_bic": entry.chosen_by_bic, "candidates": entry.candidates,
            "voters": [MODELS.display(m) for m in models],
            "phases": [{"n": i + 1, "start": _plain(p.get("start")), "end": _plain(p.get("end")),
                        "label": p.get("label", ""), "confidence": p.get("confidence"),
                        "top_terms": ", ".join(map(str, p.get("top_terms", [])))} for i, p in enumerate(entry.phases)],
            "image": None if entry.is_consensus else _image(data.get("out", data["path"]), f"phase_terms_{key}.png"),
        })
    return out


def _trajectories(data: dict, models: list[str]) -> list[dict]:
    out = []
    for model in models:
        name = MODELS.display(model)
        traj = _of_model(data["trajectories"], model)
        plot = None
        if traj is not None and len(traj):
            plot = _plotly_trajectories(traj, data["phases"][model]["phases"], f"{name} 토픽 비중 추이",
                                        f"traj-{model}", include_js=not any(o["plot"] for o in out))
        out.append({"key": model, "name": name, "plot": plot,
                    "stacked": _image(data.get("out", data["path"]), f"stacked_{model}.png"),
                    "heatmap": _image(data.get("out", data["path"]), f"heatmap_{model}.png")})
    return out


def _lineage(data: dict, models: list[str]) -> list[dict] | None:
    """Models with yearly links; None when the run has no ``lineage.csv``."""
    if data["lineage"] is None:
        return None
    out = []
    for model in models:
        lin = _of_model(data["lineage"], model)
        if lin is None or lin.empty:
            continue
        out.append({"key": model, "name": MODELS.display(model),
                    "image": _image(data.get("out", data["path"]), f"lineage_{model}.png"),
                    "counts": [{"kind": k, "n": int(n)} for k, n in lin["kind"].value_counts().items()],
                    "events": _records(lin[lin["kind"].isin(["birth", "death"])])})
    return out


def _topics(data: dict, models: list[str]) -> list[dict]:
    out = []
    for model in models:
        frame = _of_model(data["topics"], model)
        rows = _records(frame[frame["scope"] == "global"] if frame is not None else None)
        stability = Quality.of(data["evaluation"], model).stability_per_topic
        for row in rows:
            t = row.get("topic")
            row["stability"] = stability[t] if isinstance(t, int) and 0 <= t < len(stability) else None
        reps = _of_model(data["representatives"], model)
        out.append({"key": model, "name": MODELS.display(model), "topics": rows,
                    "representatives": None if reps is None else _records(reps)})
    return out


def _comparison(data: dict, models: list[str]) -> list[dict]:
    out = []
    for model in models:
        q = Quality.of(data["evaluation"], model)
        agreement = q.agreement or {}
        out.append({"key": model, "name": MODELS.display(model), "k": q.get("num_topics"),
                    "c_v": q.get("coherence_c_v"), "c_npmi": q.get("coherence_c_npmi"),
                    "diversity": q.get("topic_diversity"), "stability": q.stability_mean,
                    "nmi": agreement.get("nmi"), "ari": agreement.get("ari"),
                    "phases": ", ".join(map(str, PhaseEntry(model, data["phases"][model]).starts))})
    return out


def _evaluation(data: dict, models: list[str]) -> dict:
    ev = data["evaluation"]
    per_model = []
    for model in models:
        q = Quality.of(ev, model)
        per_model.append({"key": model, "name": MODELS.display(model),
                          "selection": _image(data.get("out", data["path"]), f"model_selection_{model}.png"),
                          "embedding": q.embedding, "min_cluster_size": q.get("min_cluster_size"),
                          "representation": q.get("representation"), "outliers": q.outliers})
    truth = []
    for model in (ev.get("models") or {}):  # the consensus too, where the corpus has truth
        q = Quality.of(ev, model)
        if q.boundaries or q.agreement:
            truth.append({"key": model, "name": MODELS.display(model), "is_consensus": model == "consensus",
                          "boundaries": q.boundaries, "agreement": q.agreement})
    return {"evaluation": per_model, "has_truth": bool(ev.get("truth")), "truth": truth}


def page_context(data: dict) -> dict:
    """Everything the templates show, section by section, as plain data (lists of dicts, numbers,
    display names); the only HTML in it is the plotly charts (:class:`Markup`)."""
    models = models_of(data)
    trajectories = _trajectories(data, models)
    added = analysis.report_sections(data, lambda name: _image(data.get("out", data["path"]), name), MODELS.display)
    # The consensus boundaries with each model's shares; one model's own phases are its consensus.
    traj = data.get("trajectories")
    if traj is not None and "period" not in traj and "year" in traj:  # written before periods were recorded
        traj = traj.assign(period=traj["year"])
    added["narrative"] = narrative.narrative_context(data["phases"], traj, models,
                                                     boundaries="consensus" if len(models) > 1 else None,
                                                     display=MODELS.display)
    added["over_time"] = interactive.over_time_context(data.get("over_time"), MODELS.display)
    added.update(interactive.plotly_views(data, models, MODELS.display,
                                          plotly_loaded=any(t["plot"] for t in trajectories)))
    return {**_summary(data, models), "phases": _phases(data, models), "trajectories": trajectories,
            "lineage": _lineage(data, models), "topics": _topics(data, models),
            "comparison": _comparison(data, models), **_evaluation(data, models), **added}


# ---------------------------------------------------------------- templates

def _number(value: Any, digits: int | None = None) -> str:
    """``1234`` -> ``1,234``; floats to ``digits`` decimals (as stored when None); missing -> ``?``."""
    if value is None or value == "":
        return "?"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if digits is not None:
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def _percent(value: Any, digits: int = 1) -> str:
    return "?" if value is None else f"{value:.{digits}%}"


def environment() -> Environment:
    """The Jinja2 environment of the report's templates (package data of ``textmine``, then the folders of
    registered analyses that ship their own section template: :attr:`textmine.analysis.analysis.Analysis.template_dir`).

    Autoescape is on for every template: a value is shown as text unless Python deliberately
    hands it over as :class:`Markup`.  Undefined names fail loudly instead of rendering blank.
    """
    loader = ChoiceLoader([PackageLoader("textmine.report", "templates"),
                           *(FileSystemLoader(str(folder)) for folder in analysis.template_dirs())])
    env = Environment(loader=loader, autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["number"] = _number
    env.filters["percent"] = _percent
    return env


def build_html(data: dict) -> str:
    """``report.html`` of a loaded run (:func:`load_run`)."""
    template = environment().get_template(TEMPLATE)
    context = page_context(data)
    # The font is subset to the characters of the page, so the page is rendered once without it.
    draft = template.render(context, font_face=Markup(""))
    return template.render(context, font_face=_font_face(draft))


# ---------------------------------------------------------------- xlsx and the whole set

def write_xlsx(data: dict, path: Path, cache_dir: str | Path | None = None) -> Path:
    """``summary.xlsx``: topics, trajectories, phases, lineage, representative opinions; Korean headers.

    With ``cache_dir``, a workbook written before from the same sheets is copied instead (openpyxl
    took 41 s of a 45 s rerun report on 100,000 opinions, for the 100,000-row document sheet)."""
    sheets = xlsx_sheets(data)
    cached = _cached_file(cache_dir, "xlsx", _write_sheets, list(sheets.items()), ".xlsx")
    if cached is not None and cached.is_file():
        shutil.copyfile(cached, path)
        return path
    _write_sheets(sheets, path)
    if cached is not None:
        _store_file(path, cached)
    return path


def xlsx_sheets(data: dict) -> dict[str, pd.DataFrame]:
    """The sheets of ``summary.xlsx`` by Korean name, as frames."""
    topics = data["topics"]
    if topics is not None and "identity" in topics:
        topics = topics.assign(identity=topics["identity"].map(lambda v: IDENTITY_KO.get(v, v)))
    sheets = {"토픽": topics, "추이": data["trajectories"]}
    phase_rows = [{"model": model, "phase": i + 1, "start": p["start"], "end": p["end"], "label": p.get("label", ""),
                   "confidence": p.get("confidence"), "top_terms": ", ".join(p.get("top_terms", []))}
                  for model, entry in data["phases"].items() for i, p in enumerate(entry["phases"])]
    sheets["시기"] = pd.DataFrame(phase_rows)
    if data["lineage"] is not None:
        sheets["계보"] = data["lineage"].assign(kind=data["lineage"]["kind"].map(KIND_KO))
    if data["representatives"] is not None:
        sheets["대표 의견"] = data["representatives"]
    for key, name in (("breakdowns", "메타데이터별 토픽"), ("effects", "메타데이터 차이")):
        if data.get(key) is not None:
            sheets[name] = data[key]
    max_rows = int(((data.get("manifest", {}).get("config") or {}).get("report") or {}).get("doc_sheet_rows", 100_000))
    # The per-document sheet is read from the run folder's documents (a run folder's data only).
    per_doc, total = doctables.document_sheet(data["path"], data["topics"], max_rows, MODELS.display, models_of(data)) \
        if "path" in data else (None, 0)
    if per_doc is not None:
        if total > len(per_doc):  # said in the sheet itself: the rest is in doc_topics.csv
            note = {per_doc.columns[0]: f"처음 {len(per_doc):,}건만 실었습니다 (전체 {total:,}건: doc_topics.csv)"}
            per_doc = pd.concat([per_doc, pd.DataFrame([note])], ignore_index=True)
        sheets["문서별 토픽"] = per_doc
    return sheets


def _write_sheets(sheets: dict[str, pd.DataFrame], path: Path) -> None:
    """The workbook (:func:`textmine.outputs.xlsx.write_workbook`: no cell is a formula, widths fitted), with the
    models' display names and Korean headers."""
    write_workbook(path, [Sheet(name, (frame.assign(model=frame["model"].map(MODELS.display)) if "model" in frame
                                       else frame).rename(columns=SHEET_HEADERS))
                          for name, frame in sheets.items()])


def build_outputs(run_dir: str | Path, cache_dir: str | Path | None = None,
                  labels_file: str | Path | None = None, helper=None) -> list[str]:
    """Charts, report.html and summary.xlsx from the files of a run folder (charts drawn before from
    the same inputs come from ``cache_dir``), with ``labels_file``'s names when given.

    All of it is made in a staging folder inside the run folder and swapped in only when all of it
    succeeded (then ``labels_file`` is copied in as the run's labels.toml): a damaged run folder is
    one clear error and leaves the previous report, charts and labels as they were.  ``helper``: a chart
    helper process already started (:func:`chart_helper`); otherwise one is started here."""
    import uuid

    run = Path(run_dir)
    staging = run / f".report-{uuid.uuid4().hex}"
    try:
        if cache_dir is not None:
            mark_cache(cache_dir)
        try:
            # a helper started here begins while the run's files are read
            with contextlib.nullcontext(helper) if helper is not None else chart_helper() as helper:
                data = load_run(run, labels_file)
                (staging / "charts").mkdir(parents=True)
                data["out"] = staging
                written = render_charts(data, cache_dir, helper)
            (staging / "report.html").write_text(build_html(data), encoding="utf-8")
            write_xlsx(data, staging / "summary.xlsx", cache_dir)
        except (KeyError, ValueError, TypeError, IndexError, AttributeError) as exc:
            # a file of the run that parsed but lacks what a run writes (a column, a key, a type)
            raise TextmineError(f"the run folder's files do not make a report ({exc.__class__.__name__}: {exc})",
                                file=run, fix="rerun 'textmine run' (or restore its files); nothing of the report "
                                              "was changed") from None
        if labels_file and Path(labels_file).resolve() != (run / labels_mod.LABELS_FILE).resolve():
            shutil.copyfile(labels_file, staging / labels_mod.LABELS_FILE)
        _swap_in(staging, run)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written + ["report.html", "summary.xlsx"]


def _swap_in(staging: Path, run: Path) -> None:
    """The staged charts folder replaces ``charts/`` (the old one renamed aside, then removed), then the
    staged files replace theirs, each by one rename."""
    import uuid

    charts_dir, old = run / "charts", run / f".charts-old-{uuid.uuid4().hex}"
    if charts_dir.exists():
        charts_dir.rename(old)
    (staging / "charts").rename(charts_dir)
    shutil.rmtree(old, ignore_errors=True)
    for path in staging.iterdir():
        if path.is_file():
            path.replace(run / path.name)
