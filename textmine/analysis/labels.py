"""Topics renamed by the analyst (``textmine run --labels FILE``, ``textmine report RUN_DIR --labels FILE``).

Automatic labels are a topic's three most distinctive words ('진로·탐색·설계'); an analyst who
has read the opinions names them better ('진로 탐색 지원').  A labels file is TOML, one table per
model, topic id = name::

    [lda]
    3 = "성과 관리"
    "0" = "지역 청년 연계"

    [bertopic]
    -1 = "분류되지 않은 의견"

Ids are global topic ids (``topics.csv`` rows with scope ``global``); -1 is BERTopic's outliers.
Renaming touches the global topics only, wherever they appear: ``topics.csv`` global rows,
``trajectories.csv``, ``representative_docs.csv``, ``topics_over_time.csv`` and the characteristic
topics of ``phases.json``.  Per-year topics (``topics.csv`` rows of a year, ``lineage.csv``) have
ids of their own models, unrelated to the global ids, and keep their automatic labels; a phase's
label (built from top terms) is kept too.  Every renamed table keeps the automatic label in
``label_original``, and applying labels again starts from it, so a report can be rebuilt with
another labels file.
"""
from __future__ import annotations

import copy
import re
import unicodedata
from pathlib import Path

import pandas as pd

from textmine.core.errors import ConfigError
from textmine.core.files import read_toml
from textmine.core.registry import MODELS

MAX_NAME = 60
LABELS_FILE = "labels.toml"   # a run folder's copy of the labels it was written with
_ID = re.compile(r"^\s*-?\d+\s*$")
_FIX_FORMAT = 'write one table per model and topic id = "name" lines, e.g. [lda] then 3 = "성과 관리"'


def _models() -> tuple[str, ...]:
    return MODELS.names()


def load_labels(path: str | Path) -> dict[str, dict[int, str]]:
    """``{model: {topic id: name}}`` from a TOML labels file; a :class:`ConfigError` naming the file,
    the bad key or value and the fix for anything else."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("the labels file does not exist", file=path,
                          fix="pass --labels a TOML file such as labels.toml (" + _FIX_FORMAT + ")")
    raw = read_toml(path, nested_fix=_FIX_FORMAT, syntax_fix=_FIX_FORMAT + '; quote names with "..."')
    return validate_labels(raw, path)


def validate_labels(raw: dict, source: str | Path = "labels") -> dict[str, dict[int, str]]:
    """The checked, normalised labels of an already parsed TOML document (see :func:`load_labels`)."""
    models = _models()
    out: dict[str, dict[int, str]] = {}
    for model, table in raw.items():
        if not isinstance(table, dict):
            if _ID.match(model):
                raise ConfigError(f"topic {model} is outside a model table", file=source,
                                  fix=f"put it under a model's table header, one of: "
                                      f"{', '.join('[' + m + ']' for m in models)}")
            raise ConfigError(f"'{model}' is not a model table (got {_kind(table)})", file=source,
                              fix=f"use model tables only: {', '.join('[' + m + ']' for m in models)}")
        if model not in models:
            raise ConfigError(f"unknown model table [{model}]", file=source,
                              fix=f"name a table after a model: {', '.join(models)}")
        names: dict[int, str] = {}
        for key, value in table.items():
            where = f"[{model}] {key}"
            if not _ID.match(key):
                raise ConfigError(f"{where}: topic id '{key}' is not an integer", file=source,
                                  fix='use the topic number from topics.csv (global topics), e.g. 3 = "성과 관리", '
                                      "or -1 for outliers")
            topic = int(key)
            if topic < -1:
                raise ConfigError(f"{where}: topic id {topic} does not exist (ids are 0, 1, 2... and -1 for outliers)",
                                  file=source, fix="use the topic number from topics.csv (global topics)")
            if topic in names:
                raise ConfigError(f"{where}: topic {topic} is named twice", file=source,
                                  fix="keep one name per topic")
            names[topic] = _check_name(value, where, source)
        out[model] = names
    return out


def _kind(value) -> str:
    return {str: "text", int: "a number", float: "a number", bool: "true/false", list: "a list",
            dict: "a table"}.get(type(value), type(value).__name__)


def _check_name(value, where: str, source) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: the name must be text in quotes, got {_kind(value)} {value!r}", file=source,
                          fix=f'quote the name, e.g. {where.split("] ")[1]} = "성과 관리"')
    name = unicodedata.normalize("NFC", value).strip()
    if not name:
        raise ConfigError(f"{where}: the name is empty", file=source,
                          fix="write a name, or delete the line to keep the automatic label")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        raise ConfigError(f"{where}: the name {name!r} has a line break or control character", file=source,
                          fix="write the name on one line")
    if len(name) > MAX_NAME:
        raise ConfigError(f"{where}: the name is {len(name)} characters long, more than {MAX_NAME}", file=source,
                          fix=f"shorten it to at most {MAX_NAME} characters (it is a label in tables and charts)")
    return name


def merge_labels(*layers: dict[str, dict[int, str]] | None) -> dict[str, dict[int, str]]:
    """Later layers win per (model, topic): e.g. ``merge_labels(carried_from_previous_run, user_file)``."""
    out: dict[str, dict[int, str]] = {}
    for layer in layers:
        for model, names in (layer or {}).items():
            out.setdefault(model, {}).update(names)
    return out


def dump_labels(labels: dict[str, dict[int, str]]) -> str:
    """TOML text that :func:`load_labels` reads back (for a run folder's :data:`LABELS_FILE`)."""
    lines = ["# Topic names: [model] then topic id = \"name\" (global topic ids of topics.csv; -1 = outliers)"]
    for model, names in labels.items():
        if not names:
            continue
        lines += ["", f"[{model}]"]
        for topic, name in sorted(names.items()):
            escaped = name.replace("\\", "\\\\").replace('"', '\\"')
            lines.append(f'{topic} = "{escaped}"')
    return "\n".join(lines) + "\n"


def unknown_topics(labels: dict[str, dict[int, str]], topics: pd.DataFrame) -> list[str]:
    """Named topics a run does not have ("lda topic 14"), for a warning: a labels file written for
    another run may name ids this one lacks; they are ignored when applying."""
    glob = topics[topics["scope"].astype(str) == "global"] if "scope" in topics else topics
    have = {(m, int(t)) for m, t in zip(glob["model"], glob["topic"])}
    models = set(glob["model"])
    out = []
    for model, names in labels.items():
        for topic in sorted(names):
            if model not in models:
                out.append(f"{model} (not in this run)")
                break
            if (model, topic) not in have and not (topic == -1 and model in models):
                out.append(f"{model} topic {topic}")
    return out


def apply_labels(frame: pd.DataFrame | None, labels: dict[str, dict[int, str]] | None, model_col: str = "model",
                 topic_col: str = "topic", label_col: str = "label", scope_col: str = "scope") -> pd.DataFrame | None:
    """A copy of ``frame`` with the named topics' labels replaced and ``label_original`` added.

    For tables of global topics (``trajectories.csv``, ``representative_docs.csv``,
    ``topics_over_time.csv``) and ``topics.csv``, where only rows whose ``scope_col`` is "global"
    are renamed (when the frame has that column).  Starts from ``label_original`` when the frame
    already has it, so applying another file replaces the first one's names instead of stacking;
    with no labels the automatic labels are restored.
    """
    if frame is None:
        return None
    out = frame.copy()
    original_col = f"{label_col}_original"
    original = out[original_col] if original_col in out else out[label_col]
    out[label_col] = original
    if original_col not in out:
        pos = out.columns.get_loc(label_col) + 1
        out.insert(pos, original_col, original)
    if labels and len(out):
        rows = pd.Series(True, index=out.index)
        if scope_col in out:
            rows &= out[scope_col].astype(str) == "global"
        for model, names in labels.items():
            sel = rows & (out[model_col] == model)
            if not sel.any() or not names:
                continue
            renamed = out.loc[sel, topic_col].map(lambda t: names.get(int(t)) if pd.notna(t) else None)
            hit = renamed.notna()
            out.loc[renamed.index[hit], label_col] = renamed[hit]
    return out


def apply_labels_to_phases(phases: dict, labels: dict[str, dict[int, str]] | None) -> dict:
    """A copy of ``phases.json`` with renamed characteristic topics (each keeps ``label_original``).

    Phase labels (from top terms) stay; the consensus entry has no topics of its own.
    """
    out = copy.deepcopy(phases)
    for model, entry in out.items():
        if not isinstance(entry, dict):
            continue
        names = (labels or {}).get(model, {})
        for phase in entry.get("phases", []):
            for topic in phase.get("characteristic_topics", []) or []:
                original = topic.get("label_original", topic.get("label"))
                topic["label_original"] = original
                topic["label"] = names.get(int(topic["topic"]), original)
    return out


# ---------------------------------------------------------------- a run folder's names (the report)

def read_labels(run: Path) -> dict[str, dict[int, str]]:
    """The run folder's ``labels.toml`` (``{}`` when there is none)."""
    path = run / LABELS_FILE
    return load_labels(path) if path.is_file() else {}


def rename_run(data: dict, labels: dict[str, dict[int, str]]) -> None:
    """Apply ``labels`` to every table of a loaded run (``report.load_run``) that shows global topics."""
    if not labels:
        return
    for key in ("topics", "trajectories", "representatives", "over_time", "breakdowns", "effects"):
        if data.get(key) is not None and {"model", "topic", "label"} <= set(data[key].columns):
            data[key] = apply_labels(data[key], labels)
    data["phases"] = apply_labels_to_phases(data["phases"], labels)
