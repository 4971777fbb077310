"""Topics by metadata: each value's topic shares, and how each value differs from the others.

An analyst asks "do opinions on 수도권 universities talk about 성과 관리 more than the rest?".
:func:`topic_breakdown` answers the first half (each value's mean document-topic probability with a
bootstrap interval, over all years and within each phase) and :func:`covariate_effects` the second
(each value against all the other documents, per topic, with a bootstrap interval for the
difference and whether it excludes zero).

Relation to stm's ``estimateEffect``
------------------------------------
stm fits topic prevalence *with* the covariates (a structural prior on the document-topic
proportions) and ``estimateEffect`` then regresses the proportions on the covariates, carrying the
topic model's own uncertainty through the "method of composition": proportions are drawn from the
global approximation of the posterior, a regression is fitted to each draw, and the coefficients'
spread combines both sources.  Here the model is fitted *without* covariates (LDA, BERTopic or DTM
do not see the metadata), and the effect is a plain difference of means (a value's mean share
minus the mean share of all other documents) with a nonparametric bootstrap over documents.  So:

- no regression adjustment: a difference by 지역 may be a difference by year (if regions entered
  the programme in different years), or by any other column; the per-phase rows hold the time
  period fixed, which removes the largest such confound in this data, but nothing else is
  adjusted for;
- the interval covers sampling of documents only, not the uncertainty of the fitted topics
  (textmine reports that separately as seed stability);
- no prior pulls small groups toward the overall mean, which is why values with fewer than
  ``min_docs`` documents are reported but not plotted.

Bootstrap: documents are resampled with replacement within each (value, phase) group, the same
replicates serving the shares and the differences.  "The rest" of a value is resampled within
each of its values (a stratified bootstrap, keeping each value's size as observed).  Resampling
counts each document's draws per replicate and group (one bincount) and sums by one matrix product, so 10,000
documents × 20 topics × 200 replicates (10 values, 3 phases) takes about half a second per table
on 2 shared cores.

Missing values (None, NaN, empty or blank text) are kept as their own value, ``(없음)``: dropping
them would silently change "the rest" every other value is compared with, and how many opinions
lack the field is itself worth reading.

Plain functions over plain arrays (no Prefect): the flow passes ``FittedTopics.doc_topic``, its
labels, a metadata column of ``Documents.docs`` and :func:`document_phases` of the periods.
"""
from __future__ import annotations

import math
import re
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from textmine.analysis.analysis import NOT_METADATA, Analysis, Written, consensus_of, read_table, settings_of
from textmine.core.errors import ConfigError

BREAKDOWNS = "breakdowns.csv"
EFFECTS = "effects.csv"
OUTLIER = -1
OUTLIER_LABEL = "이상치 (outliers)"
MISSING = "(없음)"

BREAKDOWN_COLUMNS = ["model", "column", "value", "phase", "topic", "label", "share", "low", "high", "n_docs",
                     "plotted"]
EFFECT_COLUMNS = ["model", "column", "value", "phase", "topic", "label", "share", "rest_share", "diff", "low",
                  "high", "excludes_zero", "n_docs", "n_rest", "plotted"]


# ---------------------------------------------------------------- inputs

def normalise_values(values: Sequence) -> list[str]:
    """Each document's value as text; None / NaN / empty or blank text -> ``(없음)``.

    Whole floats read as integers (a column read as float because of a gap: 3.0 -> "3").
    """
    out = []
    for v in values:
        if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, (float, np.floating)) and math.isnan(v)):
            out.append(MISSING)
        elif isinstance(v, (float, np.floating)) and float(v).is_integer():
            out.append(str(int(v)))
        else:
            text = str(v).strip()
            out.append(text if text and text.lower() != "nan" else MISSING)
    return out


def document_phases(periods: Sequence, phases_entry: dict) -> list[int | None]:
    """Each document's phase number (1, 2, ...) from its period and a ``phases.json`` entry.

    Periods are compared by position in the entry's ``periods`` list when it has one (finer units
    such as "2019-H1" sort as text), else numerically by start/end; a period outside every phase
    gets None.
    """
    phases = phases_entry.get("phases", [])
    order = [str(p) for p in phases_entry.get("periods") or []]
    pos = {p: i for i, p in enumerate(order)}
    spans = []
    for n, p in enumerate(phases, start=1):
        s, e = str(p["start"]), str(p["end"])
        if s in pos and e in pos:
            spans.append((pos[s], pos[e], n))
        else:
            spans.append((p["start"], p["end"], n))
    out: list[int | None] = []
    for period in periods:
        key = pos.get(str(period), period) if pos else period
        found = None
        for a, b, n in spans:
            try:
                if a <= key <= b:
                    found = n
                    break
            except TypeError:
                continue
        out.append(found)
    return out


def candidate_columns(docs: pd.DataFrame, max_values: int = 50, min_values: int = 2) -> list[str]:
    """Metadata columns worth breaking down by: not id/year/text/source/ingest flags, 2 to
    ``max_values`` distinct values.

    A column with a distinct value per document (free text, ids) says nothing per value.
    """
    out = []
    for col in docs.columns:
        if col in NOT_METADATA or str(col).startswith(("_", "is_")):  # is_empty, is_duplicate...: ingest flags
            continue
        n = len(set(normalise_values(docs[col].tolist())) - {MISSING})
        if min_values <= n <= max_values:
            out.append(col)
    return out


def _topic_ids(n_cols: int, labels: Sequence[str], has_outliers: bool | None) -> tuple[list[int], list[str]]:
    """Topic ids and labels of the doc_topic columns; a last outlier column is topic -1."""
    labels = list(labels)
    if has_outliers is None:
        has_outliers = len(labels) == n_cols - 1
    k = n_cols - 1 if has_outliers else n_cols
    if len(labels) < k:
        raise ValueError(f"{len(labels)} labels for {k} topics")
    ids = list(range(k)) + ([OUTLIER] if has_outliers else [])
    names = labels[:k] + ([labels[k] if len(labels) > k else OUTLIER_LABEL] if has_outliers else [])
    return ids, names


# ---------------------------------------------------------------- bootstrap core

def _group_seed(seed: int, value: str, phase: int | None) -> np.random.Generator:
    """A generator per (value, phase): a value's replicates do not change when other values do."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(value.encode("utf-8")),
                                  0 if phase is None else int(phase) + 1])


def _boot_sums(x: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot × topics) sums of ``x``'s rows resampled with replacement: each replicate's draws
    become counts per document (one bincount), and one matrix product sums the rows."""
    n = x.shape[0]
    if n == 0:
        return np.zeros((n_boot, x.shape[1]))
    draws = rng.integers(0, n, size=(n_boot, n))
    counts = np.bincount((np.arange(n_boot)[:, None] * n + draws).ravel(), minlength=n_boot * n)
    return counts.reshape(n_boot, n).astype(x.dtype) @ x


def _groups(values: list[str], phases: list) -> list[tuple[str, int | None, np.ndarray]]:
    """(value, phase, document indices) for every value overall (phase None) and within each phase."""
    v = np.asarray(values, dtype=object)
    ph = np.array([-1 if p is None or pd.isna(p) else int(p) for p in phases], dtype=int)
    out = []
    for value in _value_order(values):
        idx = np.flatnonzero(v == value)
        out.append((value, None, idx))
        for p in sorted(set(ph[idx].tolist()) - {-1}):
            out.append((value, p, idx[ph[idx] == p]))
    return out


def _value_order(values: list[str]) -> list[str]:
    """Values by number of documents (most first), then name; ``(없음)`` last."""
    counts = pd.Series(values).value_counts()
    return sorted(counts.index, key=lambda v: (v == MISSING, -int(counts[v]), str(v)))


def _replicates(doc_topic: np.ndarray, values: list[str], phases: list, n_boot: int, seed: int):
    """Per group: (value, phase, n, mean shares, bootstrap sums)."""
    x = np.asarray(doc_topic, dtype=float)
    out = []
    for value, phase, idx in _groups(values, phases):
        sub = x[idx]
        out.append((value, phase, len(idx), sub.mean(axis=0) if len(idx) else np.zeros(x.shape[1]),
                    sub.sum(axis=0), _boot_sums(sub, n_boot, _group_seed(seed, value, phase))))
    return out


def _check(doc_topic: np.ndarray, values: Sequence, phases: Sequence | None, n_boot: int) -> tuple[list, list]:
    n = np.asarray(doc_topic).shape[0]
    values = normalise_values(values)
    phases = list(phases) if phases is not None else [None] * n
    if len(values) != n or len(phases) != n:
        raise ValueError(f"{n} documents but {len(values)} values and {len(phases)} phases")
    if n_boot < 1:
        raise ValueError("n_boot must be at least 1")
    return values, phases


def _percentiles(reps: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    alpha = (1 - level) / 2
    return np.quantile(reps, alpha, axis=0), np.quantile(reps, 1 - alpha, axis=0)


# ---------------------------------------------------------------- tables

def topic_breakdown(model: str, doc_topic: np.ndarray, labels: Sequence[str], values: Sequence,
                    periods_to_phase: Sequence[int | None] | None, column: str, n_boot: int = 200, seed: int = 42,
                    min_docs: int = 10, level: float = 0.95, has_outliers: bool | None = None) -> pd.DataFrame:
    """Each value's mean topic shares with bootstrap intervals, overall and per phase.

    ``doc_topic`` is documents × topics (a last outlier column when ``has_outliers``; by default
    inferred from one label fewer than columns), ``values`` the column's value per document,
    ``periods_to_phase`` each document's phase number or None (see :func:`document_phases`).

    One row per (value, phase, topic): ``phase`` is <NA> for the whole period, else the phase
    number; ``share`` the mean document-topic probability over the value's documents; ``low`` /
    ``high`` the ``level`` percentile interval of ``n_boot`` resamples of those documents;
    ``plotted`` False when the group has fewer than ``min_docs`` documents (reported, not drawn).
    Deterministic for a seed.
    """
    values, phases = _check(doc_topic, values, periods_to_phase, n_boot)
    ids, names = _topic_ids(np.asarray(doc_topic).shape[1], labels, has_outliers)
    frames = []
    for value, phase, n, mean, _, boot in _replicates(doc_topic, values, phases, n_boot, seed):
        low, high = _percentiles(boot / max(n, 1), level)
        frames.append(pd.DataFrame({
            "model": model, "column": column, "value": value, "phase": phase, "topic": ids, "label": names,
            "share": mean, "low": low, "high": high, "n_docs": n, "plotted": n >= min_docs}))
    return _finish(frames, BREAKDOWN_COLUMNS, ["share", "low", "high"])


def covariate_effects(model: str, doc_topic: np.ndarray, labels: Sequence[str], values: Sequence,
                      periods_to_phase: Sequence[int | None] | None, column: str, n_boot: int = 200, seed: int = 42,
                      min_docs: int = 10, level: float = 0.95, has_outliers: bool | None = None) -> pd.DataFrame:
    """Each value against all other documents: the difference in mean share per topic.

    ``diff`` = share of the value's documents − share of the rest (in the same phase for the
    per-phase rows), ``low``/``high`` its ``level`` percentile bootstrap interval, and
    ``excludes_zero`` whether the interval lies wholly above or below 0 (a difference the
    documents support, not a causal effect: see the module docstring for how this relates to
    stm's ``estimateEffect``, and what it does not adjust for).  ``plotted`` is False when the
    value or the rest has fewer than ``min_docs`` documents.  A column with one value has no rest
    and gives no rows.  Same replicates as :func:`topic_breakdown` for the same seed.
    """
    values, phases = _check(doc_topic, values, periods_to_phase, n_boot)
    ids, names = _topic_ids(np.asarray(doc_topic).shape[1], labels, has_outliers)
    reps = _replicates(doc_topic, values, phases, n_boot, seed)
    # Totals per phase (None = whole period) over every value: the rest is total minus the value.
    totals: dict = {}
    for value, phase, n, _, sums, boot in reps:
        t = totals.setdefault(phase, [0, 0.0, 0.0])
        t[0] += n
        t[1] = t[1] + sums
        t[2] = t[2] + boot
    frames = []
    for value, phase, n, mean, sums, boot in reps:
        total_n, total_sums, total_boot = totals[phase]
        n_rest = total_n - n
        if n == 0 or n_rest == 0:
            continue
        rest = (total_sums - sums) / n_rest
        diff_reps = boot / n - (total_boot - boot) / n_rest
        low, high = _percentiles(diff_reps, level)
        frames.append(pd.DataFrame({
            "model": model, "column": column, "value": value, "phase": phase, "topic": ids, "label": names,
            "share": mean, "rest_share": rest, "diff": mean - rest, "low": low, "high": high,
            "excludes_zero": (low > 0) | (high < 0), "n_docs": n, "n_rest": n_rest,
            "plotted": (n >= min_docs) & (n_rest >= min_docs)}))
    return _finish(frames, EFFECT_COLUMNS, ["share", "rest_share", "diff", "low", "high"])


def _finish(frames: list[pd.DataFrame], columns: list[str], rounded: list[str]) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="Int64" if c == "phase" else object) for c in columns})
    table = pd.concat(frames, ignore_index=True)[columns]
    table["phase"] = table["phase"].astype("Int64")  # <NA> = the whole period: an empty cell in CSV
    table["topic"] = table["topic"].astype(int)
    table["n_docs"] = table["n_docs"].astype(int)
    for col in rounded:
        table[col] = table[col].astype(float).round(6)
    return table


def breakdowns(model: str, doc_topic: np.ndarray, labels: Sequence[str], docs: pd.DataFrame,
               columns: Sequence[str], periods_to_phase: Sequence[int | None] | None, n_boot: int = 200,
               seed: int = 42, min_docs: int = 10, level: float = 0.95,
               has_outliers: bool | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`topic_breakdown` and :func:`covariate_effects` of several metadata columns of ``docs``
    (rows in ``doc_topic`` order), concatenated: (breakdowns.csv rows, effects.csv rows)."""
    shares, effects = [], []
    for col in columns:
        args = (model, doc_topic, labels, docs[col].tolist(), periods_to_phase, col, n_boot, seed, min_docs, level,
                has_outliers)
        shares.append(topic_breakdown(*args))
        effects.append(covariate_effects(*args))
    return (pd.concat(shares, ignore_index=True) if shares else _finish([], BREAKDOWN_COLUMNS, []),
            pd.concat(effects, ignore_index=True) if effects else _finish([], EFFECT_COLUMNS, []))


# ---------------------------------------------------------------- the report's section

def breakdown_context(shares: pd.DataFrame, effects: pd.DataFrame | None, display=None,
                      include_outliers: bool = False, max_effects: int = 30) -> list[dict]:
    """What ``templates/breakdowns.html.j2`` shows, one block per (model, column), whole period only.

    Each block: ``name`` (the model's display name), ``model``, ``column``, ``topics`` (list of
    {topic, label} for the table's columns), ``rows`` (plotted values: {value, n_docs, cells:
    [{share, low, high} per topic]}), ``hidden`` (values under ``min_docs``: {value, n_docs}),
    ``effects`` (differences whose interval excludes zero, largest first, at most ``max_effects``:
    {value, topic, label, share, rest_share, diff, low, high, n_docs}; shares as fractions),
    ``image`` (None; the lead may set a chart's data URI).
    """
    display = display or (lambda m: m)
    out = []
    overall = shares[shares["phase"].isna()] if len(shares) else shares
    if not include_outliers and len(overall):
        overall = overall[overall["topic"] >= 0]
    for (model, column), block in overall.groupby(["model", "column"], sort=False):
        topics = block.drop_duplicates("topic")[["topic", "label"]]
        rows, hidden = [], []
        for value, g in block.groupby("value", sort=False):
            g = g.set_index("topic").loc[topics["topic"]]
            n = int(g["n_docs"].iloc[0])
            if bool(g["plotted"].iloc[0]):
                rows.append({"value": value, "n_docs": n,
                             "cells": [{"share": float(r.share), "low": float(r.low), "high": float(r.high)}
                                       for r in g.itertuples()]})
            else:
                hidden.append({"value": value, "n_docs": n})
        found = []
        if effects is not None and len(effects):
            e = effects[(effects["model"] == model) & (effects["column"] == column) & effects["phase"].isna()
                        & effects["excludes_zero"].astype(bool) & effects["plotted"].astype(bool)]
            if not include_outliers:
                e = e[e["topic"] >= 0]
            e = e.reindex(e["diff"].abs().sort_values(ascending=False).index).head(max_effects)
            found = [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
                     for r in e[["value", "topic", "label", "share", "rest_share", "diff", "low", "high",
                                 "n_docs"]].to_dict("records")]
        out.append({"model": model, "name": display(model), "column": column,
                    "topics": topics.to_dict("records"), "rows": rows, "hidden": hidden, "effects": found,
                    "image": None})
    return out


# ---------------------------------------------------------------- the analysis (textmine.analysis.analysis)

def check_by_columns(columns: Sequence[str], available: Sequence[str], source: str | Path | None = None) -> None:
    """A :class:`TextmineError` naming the first column of ``report.by`` (``--by``) the corpus lacks."""
    for col in columns:
        if col not in available:
            have = ", ".join(available) if available else "none"
            raise ConfigError(f"--by {col!r} (report.by) is not a metadata column of the corpus (it has: {have})",
                              file=source, fix="name one of the corpus's metadata columns, e.g. --by "
                                               + (available[0] if available else "지역") + ", or drop --by")


def breakdown_chart_name(model: str, column: str) -> str:
    safe = [re.sub(r"[^\w.-]+", "_", str(text)) for text in (model, column)]
    return f"breakdown_{safe[0]}_{safe[1]}.png"


class Breakdowns(Analysis):
    """Topic shares by metadata column (``report.by``, ``--by``): ``breakdowns.csv`` and ``effects.csv`` for
    every model (phases are the consensus phases), a chart per model and column, and the report's
    메타데이터별 토픽 section (linked only when there is one)."""

    name = "breakdowns"
    anchor = "breakdowns"
    template = "breakdowns.html.j2"

    def enabled(self, config) -> bool:
        return bool(config.report.by)

    def check(self, config, metadata, source) -> None:
        if metadata is not None:
            check_by_columns(config.report.by, list(metadata), source)

    def write(self, run, documents, phases, outputs, config) -> Written:
        s = config.report
        consensus = consensus_of(phases)
        phase_of = document_phases(documents.periods, consensus) if consensus else None
        shares, effects = [], []
        for name, out in outputs.items():
            fitted = out.fitted
            labels = fitted.labels() + ([OUTLIER_LABEL] if fitted.has_outliers else [])
            a, b = breakdowns(name, fitted.doc_topic, labels, documents.docs, s.by, phase_of,
                              n_boot=s.breakdown_bootstrap, seed=config.run.seed, min_docs=s.breakdown_min_docs,
                              has_outliers=fitted.has_outliers)
            shares.append(a)
            effects.append(b)
        run.write_csv(BREAKDOWNS, pd.concat(shares, ignore_index=True))
        run.write_csv(EFFECTS, pd.concat(effects, ignore_index=True))
        return Written([BREAKDOWNS, EFFECTS], {"columns": list(s.by), "bootstrap": s.breakdown_bootstrap,
                                               "min_docs": s.breakdown_min_docs, "level": 0.95})

    def load(self, run: Path) -> dict:
        return {"breakdowns": read_table(run, BREAKDOWNS, value=str, column=str),
                "effects": read_table(run, EFFECTS, value=str, column=str)}

    def charts(self, data, display) -> dict[str, tuple]:
        shares, effects = data.get("breakdowns"), data.get("effects")
        if shares is None or not len(shares):
            return {}
        from textmine.outputs import charts

        specs = {}
        overall = shares[shares["phase"].isna() & shares["plotted"].astype(bool) & (shares["topic"] >= 0)]
        for (model, column), block in overall.groupby(["model", "column"], sort=False):
            e = None
            if effects is not None and len(effects):
                e = effects[(effects["model"] == model) & (effects["column"] == column) & effects["phase"].isna()
                            & (effects["topic"] >= 0)].reset_index(drop=True)
            specs[breakdown_chart_name(model, column)] = (charts.plot_breakdown, block.reset_index(drop=True), e,
                                                          f"{display(model)} {column}별 토픽 비중")
        return specs

    def context(self, data, image, display) -> dict:
        shares = data.get("breakdowns")
        blocks = []
        if shares is not None and len(shares):
            blocks = breakdown_context(shares, data.get("effects"), display=display)
            for block in blocks:
                block["image"] = image(breakdown_chart_name(block["model"], block["column"]))
        return {"breakdowns": blocks,
                "breakdown_min_docs": (settings_of(data).get("breakdowns") or {}).get("min_docs", 10)}

    def linked(self, context: dict) -> bool:
        return bool(context.get("breakdowns"))
