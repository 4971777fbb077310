"""Naming a topic from the browser: the run's ``labels.toml`` rewritten, its report rebuilt.

The new file is written beside the old one and moved over it in one step (``os.replace``), so a
reader sees the old names or the new ones, never half a file; the file it replaces is kept as
``labels.toml.<UTC time>`` beside it.  Then report.html and summary.xlsx are rebuilt by
:func:`textmine.report.report.build_outputs`, the code ``textmine report --labels`` runs.
"""
from __future__ import annotations

import os
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path

from textmine.analysis import labels as labels_mod
from textmine.analysis.identity import DEFAULT_THRESHOLD, identify, load_previous_topics
from textmine.core.errors import TextmineError
from textmine.ui.runs import PageError


def rename_topic(folder: Path, model: str, topic: int, name: str) -> dict[str, dict[int, str]]:
    """Give ``model``'s global ``topic`` the name ``name`` in ``folder`` (a checked run folder); returns the
    run's labels after it.  A bad name is a 400 :class:`PageError` and changes nothing."""
    try:
        wanted = labels_mod.validate_labels({model: {str(topic): name}}, "이름")
    except TextmineError as exc:
        raise PageError(400, f"이름을 쓸 수 없습니다: {exc.problem}", exc.fix) from None
    merged = labels_mod.merge_labels(current_labels(folder), wanted)
    save_labels(folder, merged)
    return merged


def current_labels(folder: Path) -> dict[str, dict[int, str]]:
    target = folder / labels_mod.LABELS_FILE
    try:
        return labels_mod.load_labels(target) if target.is_file() else {}
    except TextmineError as exc:
        raise PageError(409, f"실행 {folder.name}의 labels.toml을 읽지 못했습니다: {exc.problem}",
                        "파일을 고치거나 지운 뒤 다시 하세요.") from None


def save_labels(folder: Path, labels: dict[str, dict[int, str]]) -> None:
    """``labels.toml`` of ``folder`` replaced in one step (the previous file kept beside it), then the report
    and workbook rebuilt."""
    target = folder / labels_mod.LABELS_FILE
    tmp = folder / f".{labels_mod.LABELS_FILE}.{uuid.uuid4().hex}"
    with open(tmp, "w", encoding="utf-8") as out:
        out.write(labels_mod.dump_labels(labels))
        out.flush()
        os.fsync(out.fileno())
    if target.is_file():
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        shutil.copy2(target, folder / f"{labels_mod.LABELS_FILE}.{stamp}")
    os.replace(tmp, target)
    from textmine.report.report import build_outputs

    try:
        build_outputs(folder)
    except Exception as exc:  # the names are saved; say what did not follow them
        raise PageError(500, f"이름은 labels.toml에 저장했지만 report.html과 summary.xlsx를 다시 만들지 못했습니다: "
                             f"{type(exc).__name__}: {exc}",
                        f"터미널에서 textmine report {folder} 를 실행해 보세요.") from None


def carry_labels(source: Path, target: Path) -> int:
    """The names of ``source``'s topics given to the topics of the later run ``target`` that are the same
    topics (:func:`textmine.analysis.identity.identify`, the matching of ``--previous``); a name ``target`` already
    gave a topic stays.  Returns how many names were carried (0: nothing written)."""
    if not current_labels(source):
        return 0
    carried: dict[str, dict[int, str]] = {}
    for model in current_labels(source):
        previous, later = load_previous_topics(source, model), load_previous_topics(target, model)
        if previous is None or later is None:
            continue
        found = identify(model, later.topic_word, later.vocabulary, previous, DEFAULT_THRESHOLD)
        names = {later.topic_ids[i]: name for i, name in found.carried_labels.items()}
        if names:
            carried[model] = names
    existing = current_labels(target)
    merged = labels_mod.merge_labels(carried, existing)
    if merged == existing:
        return 0
    save_labels(target, merged)
    return sum(1 for m, names in carried.items() for t in names if t not in existing.get(m, {}))


def earlier_versions(folder: Path) -> list[str]:
    """The kept earlier ``labels.toml`` files, newest first."""
    return sorted((p.name for p in folder.glob(f"{labels_mod.LABELS_FILE}.*") if not p.name.startswith(".")),
                  reverse=True)
