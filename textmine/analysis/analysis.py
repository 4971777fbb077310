"""The analysis seam: what a run writes beside the topic models, and what the report reads back from it.

An analysis is a small :class:`Analysis` subclass registered in :data:`textmine.core.registry.ANALYSES`
(document tables, word frequency, networks, topics by metadata, topic identity, labels).  Each one

- is enabled by settings (:meth:`Analysis.enabled`) and checks its options before the engine starts
  (:meth:`Analysis.check`, called by preflight);
- writes its files into the run folder once the models' files are written (:meth:`Analysis.write`,
  which returns the files and what ``manifest.json`` records under ``analyses.<name>``);
- reads them back for the report (:meth:`Analysis.load`), names the charts drawn from them
  (:meth:`Analysis.charts`) and gives its section's template data (:meth:`Analysis.context`, shown by
  :attr:`Analysis.template`).

This module is the driver: the flow's ``analyses`` stage calls :func:`cached_write_analyses`, the
report calls :func:`load_analyses`, :func:`chart_specs` and :func:`report_sections`; each loops over
the registry, so a new analysis is its module and one registry line (+ its template and settings).
The analyses' cache key hashes the code of every registered analysis's modules
(:meth:`Analysis.code_modules`), so no list of modules is kept by hand.  Nothing here imports Prefect.
"""
from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import math
import shutil
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from textmine.core.cachedir import mark_cache
from textmine.core.files import publish
from textmine.core.registry import ANALYSES
from textmine.outputs.sanitize import restore_frame

# Columns of the documents that are not the corpus's own metadata (ingest flags start with is_ or _).
NOT_METADATA = {"doc_id", "year", "text", "date", "period", "source_file", "source_row", "source_table", "source_id"}


@dataclass
class Written:
    """What :meth:`Analysis.write` wrote: the files (relative to the run folder, in order) and the entry
    ``manifest.json`` records under ``analyses.<name>`` (for an analysis with :attr:`Analysis.recorded`)."""
    files: list[str] = field(default_factory=list)
    record: dict | None = None


class Analysis:
    """One addition to the run folder and its section of the report (see the module docstring).

    ``name`` is its registry name and its key in ``manifest.json``'s ``analyses``; its registry entry's
    display name is its section's title (the report's navigation), ``anchor`` the section's id;
    ``template`` its section template (None: it has no
    section of its own, its :meth:`context` feeds other sections); ``template_dir`` a folder holding
    that template when it is not one of textmine's (an analysis outside the package)."""

    name: str = ""
    anchor: str = ""
    template: str | None = None
    template_dir: Path | None = None
    recorded: bool = True   # False: manifest.json records its files only

    @property
    def title(self) -> str:
        return ANALYSES.display(self.name)

    def enabled(self, config) -> bool:
        return True

    def check(self, config, metadata: Sequence[str] | None, source: str | Path | None) -> None:
        """Refuse (:class:`textmine.core.errors.TextmineError`) options that cannot work, before the engine starts;
        ``metadata`` is the corpus's metadata columns (None when not known)."""

    def write(self, run, documents, phases: dict, outputs: dict, config) -> Written | None:
        """Write into ``run`` (a :class:`textmine.outputs.runfolder.RunFolder`); None when there was nothing to write."""
        raise NotImplementedError

    def load(self, run: Path) -> dict:
        """Its files read back as frames (keys added to the loaded run); a missing file is None."""
        return {}

    def charts(self, data: dict, display: Callable[[str], str]) -> dict[str, tuple]:
        """``{file name under charts/: (draw, *inputs)}``, drawn from the loaded run (``draw(*inputs)`` returns
        a Figure or PNG bytes)."""
        return {}

    def context(self, data: dict, image: Callable[[str], str | None], display: Callable[[str], str]) -> dict:
        """Template data from the loaded run; ``image(name)`` is a chart of ``charts/`` as a ``data:`` URI."""
        return {}

    def linked(self, context: dict) -> bool:
        """Whether the report's navigation links to its section (``context``: the page's template data)."""
        return True

    def code_modules(self) -> tuple[str, ...]:
        """The modules whose code makes its files (the analyses' cache key hashes them)."""
        return (type(self).__module__,)


def analyses() -> list[Analysis]:
    """An instance of every registered analysis, in registration order."""
    return [ANALYSES.get(name)() for name in ANALYSES]


def read_table(run: Path, name: str, **dtype) -> pd.DataFrame | None:
    """A CSV of the run folder as shown to people (spreadsheet neutralisation undone); None when missing."""
    path = run / name
    return restore_frame(pd.read_csv(path, encoding="utf-8-sig", dtype=dtype or None)) if path.is_file() else None


def metadata_columns(docs: pd.DataFrame) -> list[str]:
    """The corpus's own extra columns in ``docs`` (대학명, 지역...): not id, year, text, source or ingest flags."""
    return [c for c in docs.columns if c not in NOT_METADATA and not str(c).startswith(("_", "is_"))]


def consensus_of(phases: dict) -> dict | None:
    """The phases the analyses use: the consensus, or the only model's."""
    return phases.get("consensus") or next(iter(phases.values()), None)


def settings_of(data: dict) -> dict:
    """``manifest.json``'s ``analyses`` entry of a loaded run (``{}`` for runs written before it)."""
    return (data.get("manifest") or {}).get("analyses") or {}


def json_safe(value):
    """``value`` as plain JSON (NaN -> None, numpy scalars -> Python)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        return json_safe(value.item())
    return value


# ---------------------------------------------------------------- checks (also for preflight)

def check_analyses(config, metadata: Sequence[str] | None = None, source: str | Path | None = None) -> None:
    """Every registered analysis's :meth:`Analysis.check`: options that can be checked before the engine starts."""
    for analysis in analyses():
        analysis.check(config, metadata, source)


# ---------------------------------------------------------------- writing the run folder's additions

def write_analyses(run, data, phases: dict, outputs: dict, config) -> dict:
    """Every enabled analysis into ``run`` (a :class:`textmine.outputs.runfolder.RunFolder` whose model files are
    written); returns what ``manifest.json`` records under ``analyses``: the files written and each
    analysis's record (the report reads them back)."""
    meta = metadata_columns(data.docs)
    check_analyses(config, meta)  # before anything is written
    record: dict[str, Any] = {"metadata_columns": meta, "phases_from": "consensus", "files": []}
    for analysis in analyses():
        if not analysis.enabled(config):
            continue
        written = analysis.write(run, data, phases, outputs, config)
        if written is None:
            continue
        record["files"].extend(written.files)
        if analysis.recorded:
            record[analysis.name] = written.record
    return record


def _frame_bytes(frame: pd.DataFrame) -> bytes:
    """The content of a table, fast (row hashes, ~0.1 s for 400,000 rows; CSV text took ~2 s)."""
    head = json.dumps([list(map(str, frame.columns)), list(map(str, frame.dtypes))]).encode()
    try:
        return head + pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()
    except TypeError:  # cells that cannot be hashed (lists): their text
        return head + frame.to_csv(index=False).encode()


def code_modules() -> list[str]:
    """The modules whose code makes the analyses: this driver and every registered analysis's own."""
    found = {__name__}
    for analysis in analyses():
        found.update(analysis.code_modules())
    return sorted(found)


def analyses_key(data, phases: dict, outputs: dict, config) -> str | None:
    """Key of :func:`write_analyses`'s files: what the models saw and gave (every table and matrix of
    each model's output), the phases, the whole config, the labels file and the code that writes them;
    None when the analyses read a previous run folder (``report.previous``), which the key cannot see."""
    if config.report.previous:
        return None
    h = hashlib.sha256(f"{metadata.version('textmine')}|{data.digest()}".encode())
    h.update(_frame_bytes(data.docs))
    h.update(json.dumps(phases, sort_keys=True, ensure_ascii=False, default=str).encode())
    # run.reuse_finished decides whether a finished run is copied, nothing in the files
    h.update(config.model_dump_json(exclude={"run": {"reuse_finished"}}).encode())
    if config.report.labels:
        h.update(Path(config.report.labels).expanduser().read_bytes())
    for module in code_modules():
        h.update(module.encode())
        h.update(inspect.getsource(importlib.import_module(module)).encode())
    for name in sorted(outputs):
        out = outputs[name]
        h.update(name.encode())
        for value in (out.trajectories, out.topics, out.doc_topics, out.representative, out.lineage,
                      out.topics_over_time):
            h.update(b"-" if value is None else _frame_bytes(value))
        for matrix in (out.fitted.doc_topic, out.fitted.topic_word):
            h.update(np.ascontiguousarray(matrix).tobytes())
        h.update(json.dumps([out.fitted.labels(), out.quality], sort_keys=True, ensure_ascii=False,
                            default=str).encode())
    return h.hexdigest()


def cached_write_analyses(run, data, phases: dict, outputs: dict, config, cache_dir) -> dict:
    """:func:`write_analyses` through ``<cache_dir>/analyses/``: a rerun with the same inputs copies the
    files written before (10 s of a 100,000-opinion rerun, 122 s at 1,000,000, went into writing
    the 400,000-row document tables and the networks again)."""
    key = analyses_key(data, phases, outputs, config) if cache_dir is not None else None
    if key is None:
        return {**write_analyses(run, data, phases, outputs, config),
                "cache": "off" if cache_dir is None else "off (report.previous: another run folder is read)"}
    entry = Path(cache_dir).expanduser() / "analyses" / key
    try:
        record = json.loads((entry / "record.json").read_text(encoding="utf-8"))
        for name in record["files"]:
            run.file(name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(entry / name, run.file(name))
        return {**record, "cache": "hit"}
    except (OSError, ValueError, KeyError, TypeError):  # no entry, or one that is incomplete: write them
        pass
    record = write_analyses(run, data, phases, outputs, config)
    mark_cache(entry.parent.parent)
    with publish(entry) as tmp:  # replaces an incomplete entry left by a crash
        for name in record["files"]:
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(run.file(name), tmp / name)
        (tmp / "record.json").write_text(json.dumps(record, ensure_ascii=False, default=str), encoding="utf-8")
    return {**record, "cache": "miss"}


# ---------------------------------------------------------------- reading it back (the report)

def load_analyses(run: Path) -> dict:
    """Every registered analysis's files of a run folder as frames (a missing file is None)."""
    loaded: dict = {}
    for analysis in analyses():
        loaded.update(analysis.load(run))
    return loaded


def chart_specs(data: dict, display: Callable[[str], str] = str) -> dict[str, tuple]:
    """``{file name under charts/: (draw, *inputs)}`` of every analysis's charts, from the loaded run."""
    specs: dict[str, tuple] = {}
    for analysis in analyses():
        specs.update(analysis.charts(data, display))
    return specs


def report_sections(data: dict, image: Callable[[str], str | None], display: Callable[[str], str] = str) -> dict:
    """Every analysis's template data, and ``analysis_sections``: the sections the page shows, in
    registration order (template, anchor, title, whether the navigation links to it)."""
    context: dict[str, Any] = {}
    shown = []
    for analysis in analyses():
        context.update(analysis.context(data, image, display))
        if analysis.template:
            shown.append(analysis)
    context["analysis_sections"] = [{"template": a.template, "anchor": a.anchor, "title": a.title,
                                     "linked": a.linked(context)} for a in shown]
    return context


def template_dirs() -> list[Path]:
    """Folders of the registered analyses' own templates (those not shipped in ``textmine/report/templates``)."""
    return [Path(a.template_dir) for a in analyses() if a.template_dir]
