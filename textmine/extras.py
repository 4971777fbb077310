"""What a run writes beside the topic models, and what the report reads back from it.

The flow's ``analyses`` stage calls :func:`write_analyses` once the models' files are written; it
adds to the run folder (docs/contract.md §3):

- ``doc_topics.parquet`` rewritten with each document's period and metadata columns, the same
  table as ``doc_topics.csv`` (UTF-8, one value per cell, for R and spreadsheet users), and
  ``documents.parquet`` (one row per modelled document: id, year, period, metadata and the
  PII-masked text, from which summary.xlsx's 문서별 토픽 sheet is rebuilt);
- ``topic_terms.csv``: ``topics.csv``'s list-valued cells as a long table (model, scope, topic,
  rank, term, weight, kind: ``top`` for the probability-ranked terms with their weights,
  ``relevant`` for the relevance-ranked terms, which have no weight);
- ``word_frequency.csv`` (:func:`textmine.wordfreq.word_frequency` over the periods and the
  consensus phases);
- ``networks/``: one GEXF per consensus phase, ``networks.xlsx``, ``nodes.csv`` and ``edges.csv``
  (:mod:`textmine.network`, weights and pruning from the ``[report]`` settings);
- with ``report.by``: ``breakdowns.csv`` and ``effects.csv`` for every model
  (:mod:`textmine.breakdown`; phases are the consensus phases);
- with ``report.previous``: ``topics.csv`` and ``trajectories.csv`` rewritten with the previous
  run's topic ids beside the new ones (:mod:`textmine.identity`);
- ``labels.toml``: the topic names the report uses (``report.labels``, over the names carried
  from ``report.previous``).

Charts (word clouds, network charts, a chart per model and metadata column) are drawn by the
report from these files (:func:`chart_specs`), so ``textmine report RUN_DIR`` redraws them without
refitting, and with renamed topics.  Nothing here imports Prefect.
"""
from __future__ import annotations

import html
import json
import math
import re
import shutil
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from textmine.errors import ConfigError, TextmineError

WORD_FREQUENCY = "word_frequency.csv"
NETWORKS = "networks"
NODES = "networks/nodes.csv"
EDGES = "networks/edges.csv"
NETWORK_XLSX = "networks/networks.xlsx"
BREAKDOWNS = "breakdowns.csv"
EFFECTS = "effects.csv"
DOC_TOPICS = "doc_topics.parquet"
DOC_TOPICS_CSV = "doc_topics.csv"
DOCUMENTS = "documents.parquet"
# documents.parquet in row groups of this many opinions: the workspace fetches a page's texts by id, and
# row-group statistics let DuckDB skip the groups that hold none of them (a topic page's first view of
# a 100,000-opinion run: 278 ms in one row group, 118 ms in groups of 5,000).
DOCUMENT_ROW_GROUP = 5000
TOPIC_TERMS = "topic_terms.csv"
TOPIC_TERM_COLUMNS = ["model", "scope", "topic", "rank", "term", "weight", "kind"]
# doc_topics columns the metadata must not overwrite
_DOC_TOPIC_COLUMNS = ("doc_id", "year", "model", "topic", "probability", "is_dominant", "period")


# ---------------------------------------------------------------- checks (also for preflight)

def metadata_columns(docs: pd.DataFrame) -> list[str]:
    """The corpus's own extra columns in ``docs`` (대학명, 지역...): not id, year, text, source or ingest flags."""
    from textmine.breakdown import NOT_METADATA

    return [c for c in docs.columns if c not in NOT_METADATA and not str(c).startswith(("_", "is_"))]


def check_by_columns(columns: Sequence[str], available: Sequence[str], source: str | Path | None = None) -> None:
    """A :class:`TextmineError` naming the first column of ``report.by`` (``--by``) the corpus lacks."""
    for col in columns:
        if col not in available:
            have = ", ".join(available) if available else "none"
            raise ConfigError(f"--by {col!r} (report.by) is not a metadata column of the corpus (it has: {have})",
                              file=source, fix="name one of the corpus's metadata columns, e.g. --by "
                                               + (available[0] if available else "지역") + ", or drop --by")


def check_previous(folder: str | Path) -> Path:
    """``folder`` as a previous run folder (``report.previous``, ``--previous``), or a :class:`TextmineError`."""
    path = Path(folder).expanduser()
    fix = "pass --previous the folder of a finished textmine run (the folder 'textmine run' printed last)"
    if not path.is_dir():
        raise ConfigError("the previous run folder does not exist", file=path, fix=fix)
    missing = [n for n in ("topics.csv", "phases.json") if not (path / n).is_file()]
    if missing:
        raise ConfigError(f"not a finished textmine run folder: {', '.join(missing)} missing", file=path, fix=fix)
    from textmine.identity import validate_previous

    return validate_previous(path)  # its files, columns, types and sizes: bounded work later


def check_report_options(config, metadata: Sequence[str] | None = None, source: str | Path | None = None) -> dict:
    """Everything of ``config.report`` that can be checked before the engine starts: the labels file
    parses, the previous run is a run folder, and (given the corpus's ``metadata`` columns) every
    ``report.by`` column exists.  Returns the labels (``{}`` without a file)."""
    from textmine import labels as labels_mod

    if metadata is not None:
        check_by_columns(config.report.by, list(metadata), source)
    if config.report.previous:
        check_previous(config.report.previous)
    return labels_mod.load_labels(config.report.labels) if config.report.labels else {}


# ---------------------------------------------------------------- writing the run folder's additions

def write_analyses(run, data, phases: dict, outputs: dict, config) -> dict:
    """Every addition of the module docstring into ``run`` (a :class:`textmine.runfolder.RunFolder` whose
    model files are written); returns what ``manifest.json`` records under ``analyses``: the files written
    and the settings of each part (the report reads them back)."""
    settings = config.report
    meta = metadata_columns(data.docs)
    user_labels = check_report_options(config, meta)  # before anything is written
    consensus = phases.get("consensus") or next(iter(phases.values()), None)
    record: dict[str, Any] = {"metadata_columns": meta, "phases_from": "consensus", "files": []}

    def wrote(*names: str) -> None:
        record["files"].extend(names)

    wrote(*write_document_tables(run, data, outputs, meta))
    run.write_csv(TOPIC_TERMS, topic_terms_table(pd.concat([o.topics for o in outputs.values()], ignore_index=True)))
    wrote(TOPIC_TERMS)

    if settings.wordfreq:
        from textmine import wordfreq

        run.write_csv(WORD_FREQUENCY, wordfreq.word_frequency(data, consensus, top_n=settings.wordfreq_top_n))
        wrote(WORD_FREQUENCY)
        record["word_frequency"] = {"top_n": settings.wordfreq_top_n}
    if settings.networks and consensus:
        record["networks"] = _write_networks(run, data, consensus, settings)
        wrote(*record["networks"].pop("written"))
    if settings.by:
        record["breakdowns"] = _write_breakdowns(run, data, consensus, outputs, config)
        wrote(BREAKDOWNS, EFFECTS)

    carried: dict = {}
    if settings.previous:
        record["identity"], carried = _write_identity(run, outputs, settings)
        wrote("topics.csv", "trajectories.csv")
    record["labels"] = _write_labels(run, user_labels, carried, settings.labels, outputs)
    if record["labels"]:
        wrote(record["labels"]["file"])
    return record


# The modules whose code makes the analyses: a change to any of them misses the analyses cache.
_ANALYSIS_MODULES = ("textmine.extras", "textmine.wordfreq", "textmine.network", "textmine.breakdown",
                     "textmine.identity", "textmine.labels")


def _frame_bytes(frame: pd.DataFrame) -> bytes:
    """The content of a table, fast (row hashes, ~0.1 s for 400,000 rows; CSV text took ~2 s)."""
    head = json.dumps([list(map(str, frame.columns)), list(map(str, frame.dtypes))]).encode()
    try:
        return head + pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()
    except TypeError:  # cells that cannot be hashed (lists): their text
        return head + frame.to_csv(index=False).encode()


def analyses_key(data, phases: dict, outputs: dict, config) -> str | None:
    """Key of :func:`write_analyses`'s files: what the models saw and gave (every table and matrix of
    each model's output), the phases, the whole config, the labels file and the code that writes them;
    None when the analyses read a previous run folder (``report.previous``), which the key cannot see."""
    import hashlib
    import importlib
    import inspect
    from importlib import metadata

    if config.report.previous:
        return None
    h = hashlib.sha256(f"{metadata.version('textmine')}|{data.digest()}".encode())
    h.update(_frame_bytes(data.docs))
    h.update(json.dumps(phases, sort_keys=True, ensure_ascii=False, default=str).encode())
    h.update(config.model_dump_json().encode())
    if config.report.labels:
        h.update(Path(config.report.labels).expanduser().read_bytes())
    for module in _ANALYSIS_MODULES:
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
    import os
    import uuid

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
    from textmine.store import mark_cache

    mark_cache(entry.parent.parent)
    tmp = entry.parent / f".{key}.{uuid.uuid4().hex}"
    for name in record["files"]:
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run.file(name), tmp / name)
    (tmp / "record.json").write_text(json.dumps(record, ensure_ascii=False, default=str), encoding="utf-8")
    shutil.rmtree(entry, ignore_errors=True)  # an incomplete entry left by a crash
    os.replace(tmp, entry)
    return {**record, "cache": "miss"}


def write_document_tables(run, data, outputs: dict, meta: list[str]) -> list[str]:
    """``doc_topics.parquet`` (rewritten) and ``doc_topics.csv`` with each document's period and metadata,
    and ``documents.parquet``.  Returns the files written."""
    docs = data.docs.drop_duplicates("doc_id").reset_index(drop=True)
    info = pd.DataFrame({"doc_id": data.docs["doc_id"].to_numpy(), "period": list(data.periods)})
    info = info.drop_duplicates("doc_id")
    renamed = {c: (f"{c}_meta" if c in _DOC_TOPIC_COLUMNS else c) for c in meta}
    extra = docs[["doc_id", *meta]].rename(columns=renamed)
    frames = [o.doc_topics for o in outputs.values() if o.doc_topics is not None]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["doc_id"])
    table = table.merge(info, on="doc_id", how="left", validate="many_to_one")
    table = table.merge(extra, on="doc_id", how="left", validate="many_to_one")
    run.write_parquet(DOC_TOPICS, table)
    run.write_csv(DOC_TOPICS_CSV, table)
    documents = docs[["doc_id", "year"]].merge(info, on="doc_id", how="left")
    documents = pd.concat([documents, extra.drop(columns="doc_id"), docs[["text"]]], axis=1)
    run.write_parquet(DOCUMENTS, documents, row_group_size=DOCUMENT_ROW_GROUP)
    return [DOC_TOPICS, DOC_TOPICS_CSV, DOCUMENTS]


def topic_terms_table(topics: pd.DataFrame) -> pd.DataFrame:
    """``topic_terms.csv``: one row per (model, scope, topic, term) from ``topics.csv``'s ``term_weights``
    (``kind`` = ``top``, rank by probability, with the weight) and ``relevant_terms`` (``kind`` =
    ``relevant``, rank by relevance, no weight)."""
    from textmine.identity import parse_term_weights

    rows = []
    for r in topics.to_dict("records"):
        key = {"model": r["model"], "scope": str(r["scope"]), "topic": int(r["topic"])}
        weights = parse_term_weights(r.get("term_weights"))
        if not weights and isinstance(r.get("top_terms"), str):
            weights = [(t.strip(), None) for t in r["top_terms"].split(",") if t.strip()]
        rows += [{**key, "rank": i, "term": t, "weight": w, "kind": "top"} for i, (t, w) in enumerate(weights, 1)]
        relevant = r.get("relevant_terms")
        if isinstance(relevant, str) and relevant.strip():
            terms = [t.strip() for t in relevant.split(",") if t.strip()]
            rows += [{**key, "rank": i, "term": t, "weight": None, "kind": "relevant"} for i, t in enumerate(terms, 1)]
    table = pd.DataFrame(rows, columns=TOPIC_TERM_COLUMNS)
    table["weight"] = pd.to_numeric(table["weight"])
    return table


def network_settings(settings) -> dict:
    """:func:`textmine.network.build_phase_networks`' keyword arguments from the ``[report]`` settings."""
    return {"top_n": settings.network_top_n, "weight": settings.network_weight, "unit": settings.network_unit,
            "min_count": settings.network_min_count, "top_k": settings.network_top_k or None,
            "max_edges": settings.network_max_edges or None, "concor_depth": settings.network_concor_depth}


def _write_networks(run, data, consensus: dict, settings) -> dict:
    from textmine import network

    nets = network.build_phase_networks(data, consensus, **network_settings(settings))
    written = []
    phases = []
    for net in nets:
        name = f"{NETWORKS}/{network.gexf_name(net)}"
        network.write_gexf(net, run.file(name))
        written.append(name)
        phases.append({"phase": net.phase, "scope": net.name, "gexf": name, "nodes": net.graph.number_of_nodes(),
                       "edges": net.graph.number_of_edges(), "contexts": net.n_contexts})
    network.write_network_xlsx(nets, run.file(NETWORK_XLSX))
    run.write_csv(NODES, network.nodes_long_table(nets))
    run.write_csv(EDGES, network.edges_long_table(nets))
    written += [NETWORK_XLSX, NODES, EDGES]
    used = nets[0].settings if nets else {**network_settings(settings), "min_weight": 0.0}
    return {"settings": used, "phases": phases, "xlsx": NETWORK_XLSX, "written": written}


def _write_breakdowns(run, data, consensus: dict | None, outputs: dict, config) -> dict:
    from textmine import breakdown

    s = config.report
    phase_of = breakdown.document_phases(data.periods, consensus) if consensus else None
    shares, effects = [], []
    for name, out in outputs.items():
        fitted = out.fitted
        labels = fitted.labels() + ([breakdown.OUTLIER_LABEL] if fitted.has_outliers else [])
        a, b = breakdown.breakdowns(name, fitted.doc_topic, labels, data.docs, s.by, phase_of,
                                    n_boot=s.breakdown_bootstrap, seed=config.run.seed, min_docs=s.breakdown_min_docs,
                                    has_outliers=fitted.has_outliers)
        shares.append(a)
        effects.append(b)
    run.write_csv(BREAKDOWNS, pd.concat(shares, ignore_index=True))
    run.write_csv(EFFECTS, pd.concat(effects, ignore_index=True))
    return {"columns": list(s.by), "bootstrap": s.breakdown_bootstrap, "min_docs": s.breakdown_min_docs,
            "level": 0.95}


def _write_identity(run, outputs: dict, settings) -> tuple[dict, dict]:
    from textmine import identity

    previous = check_previous(settings.previous)
    found = []
    for name, out in outputs.items():
        fitted = out.fitted
        ident = identity.identify_from_run(name, fitted.topic_word, fitted.vocabulary, previous,
                                           settings.identity_threshold, has_outliers=fitted.has_outliers)
        if ident is not None:
            found.append(ident)
    topics = pd.concat([o.topics for o in outputs.values()], ignore_index=True)
    frames = [o.trajectories for o in outputs.values()]
    trajectories = pd.concat(frames, ignore_index=True)
    topics, trajectories, _ = identity.apply_identity(topics, trajectories, found)
    run.write_csv("topics.csv", topics)
    run.write_csv("trajectories.csv", trajectories)
    summary = {"previous_run": str(previous.resolve()), "threshold": settings.identity_threshold,
               "models": _json_safe(identity.identity_summary(found)),
               "not_in_previous": [n for n in outputs if n not in {i.model for i in found}]}
    return summary, identity.carried_labels(found)


def _write_labels(run, user: dict, carried: dict, source: str | None, outputs: dict) -> dict | None:
    from textmine import labels as labels_mod

    names = labels_mod.merge_labels(carried, user)
    if not any(names.values()):
        return None
    if source and not carried:
        shutil.copyfile(Path(source).expanduser(), run.file(labels_mod.LABELS_FILE))  # the user's file as written
    else:
        run.file(labels_mod.LABELS_FILE).write_text(labels_mod.dump_labels(names), encoding="utf-8")
    topics = pd.concat([o.topics for o in outputs.values()], ignore_index=True)
    return {"file": labels_mod.LABELS_FILE, "source": str(Path(source).expanduser().resolve()) if source else None,
            "carried": {m: len(v) for m, v in carried.items()},
            "unknown": labels_mod.unknown_topics(names, topics)}


def _json_safe(value):
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        return _json_safe(value.item())
    return value


# ---------------------------------------------------------------- reading it back (the report)

def load_analyses(run: Path) -> dict:
    """The additions of a run folder as frames (CSV neutralisation undone: these are shown to people);
    a missing file is None."""
    from textmine.sanitize import restore_frame

    def csv(name, **kw):
        path = run / name
        return restore_frame(pd.read_csv(path, encoding="utf-8-sig", **kw)) if path.is_file() else None

    return {"word_frequency": csv(WORD_FREQUENCY, dtype={"scope": str, "term": str}),
            "nodes": csv(NODES, dtype={"term": str, "scope": str}),
            "edges": csv(EDGES, dtype={"source": str, "target": str, "scope": str}),
            "breakdowns": csv(BREAKDOWNS, dtype={"value": str, "column": str}),
            "effects": csv(EFFECTS, dtype={"value": str, "column": str}),
            "over_time": csv("topics_over_time.csv", dtype={"words": str})}


def read_labels(run: Path) -> dict:
    """The run folder's ``labels.toml`` (``{}`` when there is none)."""
    from textmine import labels as labels_mod

    path = run / labels_mod.LABELS_FILE
    return labels_mod.load_labels(path) if path.is_file() else {}


def rename(data: dict, labels: dict) -> None:
    """Apply ``labels`` to every table of a loaded run (``report.load_run``) that shows global topics."""
    from textmine import labels as labels_mod

    if not labels:
        return
    for key in ("topics", "trajectories", "representatives", "over_time", "breakdowns", "effects"):
        if data.get(key) is not None and {"model", "topic", "label"} <= set(data[key].columns):
            data[key] = labels_mod.apply_labels(data[key], labels)
    data["phases"] = labels_mod.apply_labels_to_phases(data["phases"], labels)


def settings_of(data: dict) -> dict:
    """``manifest.json``'s ``analyses`` entry (``{}`` for runs written before it)."""
    return (data.get("manifest") or {}).get("analyses") or {}


def consensus_entry(data: dict) -> dict | None:
    phases = data.get("phases") or {}
    return phases.get("consensus") or next(iter(phases.values()), None)


# ---------------------------------------------------------------- charts drawn from the files

def _safe_name(text: str) -> str:
    return re.sub(r"[^\w.-]+", "_", str(text))


def breakdown_chart_name(model: str, column: str) -> str:
    return f"breakdown_{_safe_name(model)}_{_safe_name(column)}.png"


def network_chart_name(phase: int) -> str:
    return f"network_phase{int(phase)}.png"


def draw_word_cloud(rows: pd.DataFrame, max_words: int = 100) -> bytes:
    """One scope's word cloud (:func:`textmine.wordfreq.word_clouds`) as PNG bytes."""
    import tempfile

    from textmine import wordfreq

    with tempfile.TemporaryDirectory() as tmp:
        files = wordfreq.word_clouds(rows, tmp, scope_kind=str(rows["scope_kind"].iloc[0]), max_words=max_words)
        return files[0].read_bytes() if files else b""


def network_from_tables(nodes: pd.DataFrame, edges: pd.DataFrame | None, settings: dict | None = None):
    """One phase's :class:`textmine.network.PhaseNetwork` rebuilt from its rows of ``networks/nodes.csv`` and
    ``edges.csv`` (nodes and edges in the written order, so the seeded layout draws the same picture)."""
    import networkx as nx

    from textmine import network

    first = nodes.iloc[0]
    graph = nx.Graph()
    table = nodes[network.NODE_COLUMNS].reset_index(drop=True)
    for r in table.to_dict("records"):
        graph.add_node(r["term"], label=r["term"], **{k: v for k, v in r.items() if k != "term"})
    rows = edges[network.EDGE_COLUMNS] if edges is not None and len(edges) \
        else pd.DataFrame(columns=network.EDGE_COLUMNS)
    for s, t, w, c, p in rows.itertuples(index=False):
        graph.add_edge(s, t, weight=float(w), count=int(c), npmi=float(p))
    return network.PhaseNetwork(phase=int(first["phase"]), start=first["start"], end=first["end"], label="",
                                graph=graph, nodes=table, edges=rows.reset_index(drop=True), matrix=pd.DataFrame(),
                                n_contexts=0, settings=dict(settings or {}))


def draw_network(nodes: pd.DataFrame, edges: pd.DataFrame | None, settings: dict, title: str):
    from textmine import network

    return network.plot_network(network_from_tables(nodes, edges, settings), title)


def draw_breakdown(shares: pd.DataFrame, effects: pd.DataFrame | None, title: str):
    """A value × topic chart of one (model, column): each cell's mean share (number) coloured by its
    difference from the other documents (%p); ▲/▼ where the 95% interval of that difference excludes 0."""
    from matplotlib.colors import TwoSlopeNorm

    from textmine import charts

    with charts.korean_style():
        topics = shares.drop_duplicates("topic")[["topic", "label"]]
        values = list(dict.fromkeys(shares["value"]))
        share = shares.pivot_table(index="value", columns="topic", values="share", aggfunc="first")
        share = share.reindex(index=values, columns=topics["topic"])
        diff = pd.DataFrame(0.0, index=share.index, columns=share.columns)
        mark = pd.DataFrame("", index=share.index, columns=share.columns)
        if effects is not None and len(effects):
            e = effects.set_index(["value", "topic"])
            for (v, t), r in e.iterrows():
                if v in diff.index and t in diff.columns:
                    diff.loc[v, t] = float(r["diff"])
                    if bool(r["excludes_zero"]):
                        mark.loc[v, t] = "▲" if r["diff"] > 0 else "▼"
        k, n = len(topics), len(values)
        fig, ax = charts._figure((max(8.0, 0.95 * k + 3.5), max(3.0, 0.42 * n + 2.2)))
        top = float(np.nanmax(np.abs(diff.to_numpy()))) if diff.size else 0.0
        top = top if top > 0 else 0.01
        im = ax.imshow(diff.to_numpy() * 100, aspect="auto", cmap="RdBu_r",
                       norm=TwoSlopeNorm(vcenter=0.0, vmin=-top * 100, vmax=top * 100))
        for (i, j), v in np.ndenumerate(share.to_numpy()):
            if not np.isnan(v):
                dark = abs(diff.iat[i, j]) > 0.6 * top
                ax.text(j, i, f"{v * 100:.0f}%{mark.iat[i, j]}", ha="center", va="center", fontsize=7.5,
                        color="white" if dark else "black")
        names = [f"T{t} {_short(l)}" for t, l in zip(topics["topic"], topics["label"])]
        ax.set_xticks(range(k), names, rotation=40, ha="right", fontsize=8)
        ax.set_yticks(range(n), [_short(v, 20) for v in values], fontsize=8)
        fig.colorbar(im, ax=ax, label="나머지 의견 대비 차이 (%p)", shrink=0.8)
        ax.set_title(title + "\n숫자: 토픽 비중 · 색: 나머지 의견과의 차이 · ▲▼: 95% 구간이 0을 포함하지 않음",
                     fontsize=10)
    return fig


def _short(text, n: int = 14) -> str:
    text = str(text)
    return text if len(text) <= n else text[:n - 1] + "…"


def chart_specs(data: dict, display: Callable[[str], str] = str) -> dict[str, tuple]:
    """``{file name under charts/: (draw, *inputs)}`` of every chart of the additions, drawn from the
    loaded files (``draw(*inputs)`` returns a Figure or PNG bytes)."""
    specs: dict[str, tuple] = {}
    freq = data.get("word_frequency")
    if freq is not None and len(freq):
        from textmine import wordfreq

        phase_rows = freq[freq["scope_kind"] == "phase"]
        for scope in dict.fromkeys(phase_rows["scope"]):
            rows = phase_rows[phase_rows["scope"] == scope].reset_index(drop=True)
            specs[wordfreq.cloud_file_name(scope)] = (draw_word_cloud, rows)
    nodes, edges = data.get("nodes"), data.get("edges")
    if nodes is not None and len(nodes):
        settings = (settings_of(data).get("networks") or {}).get("settings") or {}
        for scope in dict.fromkeys(nodes["scope"]):
            rows = nodes[nodes["scope"] == scope].reset_index(drop=True)
            links = edges[edges["scope"] == scope].reset_index(drop=True) if edges is not None else None
            first = rows.iloc[0]
            title = f"{int(first['phase'])}기 {first['start']}–{first['end']} 의미연결망"
            specs[network_chart_name(first["phase"])] = (draw_network, rows, links, settings, title)
    shares, effects = data.get("breakdowns"), data.get("effects")
    if shares is not None and len(shares):
        overall = shares[shares["phase"].isna() & shares["plotted"].astype(bool) & (shares["topic"] >= 0)]
        for (model, column), block in overall.groupby(["model", "column"], sort=False):
            e = None
            if effects is not None and len(effects):
                e = effects[(effects["model"] == model) & (effects["column"] == column) & effects["phase"].isna()
                            & (effects["topic"] >= 0)].reset_index(drop=True)
            specs[breakdown_chart_name(model, column)] = (draw_breakdown, block.reset_index(drop=True), e,
                                                          f"{display(model)} {column}별 토픽 비중")
    return specs


# ---------------------------------------------------------------- the report's sections

def report_sections(data: dict, image: Callable[[str], str | None], display: Callable[[str], str] = str,
                    plotly_loaded: bool = True) -> dict:
    """Template data of the additions' sections (wordfreq, networks, breakdowns, narrative, topic words
    over time, identity and the interactive views), from a loaded run; ``image(name)`` is a chart
    of ``charts/`` as a ``data:`` URI or None."""
    from textmine import breakdown, narrative, network, wordfreq

    models = [m for m in data["phases"] if m != "consensus"]
    consensus = consensus_entry(data)
    analyses = settings_of(data)
    out: dict[str, Any] = {}
    freq = data.get("word_frequency")
    out["wordfreq"] = wordfreq.report_context(
        freq, consensus, top_n=20,
        images={s: image(wordfreq.cloud_file_name(s)) for s in dict.fromkeys(freq["scope"])}) \
        if freq is not None and len(freq) else None
    nodes = data.get("nodes")
    net = analyses.get("networks") or {}
    if nodes is not None and len(nodes):
        images = {}
        for scope in dict.fromkeys(nodes["scope"]):
            images[scope] = image(network_chart_name(nodes.loc[nodes["scope"] == scope, "phase"].iloc[0]))
        files = {p["scope"]: p["gexf"] for p in net.get("phases", [])}
        out["networks"] = network.report_context(nodes, data.get("edges"), consensus, net.get("settings"), images,
                                                 files, net.get("xlsx"))
    else:
        out["networks"] = None
    shares = data.get("breakdowns")
    blocks = []
    if shares is not None and len(shares):
        blocks = breakdown.breakdown_context(shares, data.get("effects"), display=display)
        for block in blocks:
            block["image"] = image(breakdown_chart_name(block["model"], block["column"]))
    out["breakdowns"] = blocks
    out["breakdown_min_docs"] = (analyses.get("breakdowns") or {}).get("min_docs", 10)
    # The consensus boundaries with each model's shares; one model's own phases are its consensus.
    traj = data.get("trajectories")
    if traj is not None and "period" not in traj and "year" in traj:  # written before periods were recorded
        traj = traj.assign(period=traj["year"])
    out["narrative"] = narrative.narrative_context(data["phases"], traj, models,
                                                   boundaries="consensus" if len(models) > 1 else None,
                                                   display=display)
    out["over_time"] = over_time_context(data.get("over_time"), display)
    out["identity"] = identity_context(data, display)
    out["labels_note"] = labels_note(data)
    include_js = not plotly_loaded
    maps = []
    for model in models:
        fig = intertopic_map(data, model, f"{display(model)} 토픽 간 거리 지도", f"map-{model}", include_js)
        if fig is not None:
            include_js = False
            maps.append({"key": model, "name": display(model), "plot": fig})
    out["topic_maps"] = maps
    trees = []
    for model in models:
        fig = topic_hierarchy(data, model, f"{display(model)} 토픽 위계", f"tree-{model}", include_js)
        if fig is not None:
            include_js = False
            trees.append({"key": model, "name": display(model), "plot": fig})
    out["topic_trees"] = trees
    sankeys = []
    lineage = data.get("lineage")
    for model in models:
        if lineage is None or not (lineage["model"] == model).any():
            continue
        fig = lineage_sankey(lineage[lineage["model"] == model], f"{display(model)} 토픽 계보 흐름",
                             f"sankey-{model}", include_js)
        if fig is not None:
            include_js = False
            sankeys.append({"key": model, "name": display(model), "plot": fig})
    out["sankeys"] = sankeys
    return out


def over_time_context(table: pd.DataFrame | None, display: Callable[[str], str] = str, n_words: int = 4) -> list[dict]:
    """Per model, each topic's first ``n_words`` words in each period (``topics_over_time.csv``)."""
    if table is None or table.empty:
        return []
    out = []
    for model, rows in table.groupby("model", sort=False):
        periods = sorted(dict.fromkeys(rows["period"]), key=_period_key)
        topics = []
        for topic, g in rows.groupby("topic", sort=True):
            words = {str(p): ", ".join([w.strip() for w in str(ws).split(",") if w.strip()][:n_words])
                     for p, ws in zip(g["period"], g["words"].fillna(""))}
            topics.append({"topic": int(topic), "label": str(g["label"].iloc[0]),
                           "cells": [words.get(str(p), "") for p in periods]})
        out.append({"key": model, "name": display(model), "periods": [str(p) for p in periods], "topics": topics,
                    "n_words": n_words})
    return out


def _period_key(p):
    text = str(p)
    return (0, float(text), "") if re.fullmatch(r"-?\d+(\.\d+)?", text) else (1, 0.0, text)


def identity_context(data: dict, display: Callable[[str], str] = str) -> dict | None:
    """The previous run and, per model, its kept / new / vanished topics (``manifest.json``'s
    ``analyses.identity``, with the labels the topics have now)."""
    info = settings_of(data).get("identity")
    if not info:
        return None
    from textmine.identity import IDENTITY_KO

    topics = data.get("topics")
    models = []
    for entry in info.get("models", []):
        model = entry["model"]
        rows = topics[(topics["model"] == model) & (topics["scope"].astype(str) == "global")] \
            if topics is not None else pd.DataFrame()
        label = dict(zip(rows.get("topic", []), rows.get("label", [])))
        models.append({"key": model, "name": display(model), "source": entry.get("source"),
                       "kept": len(entry.get("kept", [])),
                       "new": [{"topic": n["topic"], "label": label.get(n["topic"], ""),
                                "similarity": n.get("similarity")} for n in entry.get("new", [])],
                       "vanished": entry.get("vanished", [])})
    return {"previous_run": info.get("previous_run"), "previous_name": Path(str(info.get("previous_run"))).name,
            "threshold": info.get("threshold"), "models": models, "kinds": IDENTITY_KO,
            "not_in_previous": [display(m) for m in info.get("not_in_previous", [])]}


def labels_note(data: dict) -> dict | None:
    labels = data.get("labels") or {}
    if not any(labels.values()):
        return None
    return {"n": sum(len(v) for v in labels.values()), "unknown": data.get("labels_unknown") or []}


# ---------------------------------------------------------------- interactive views (plotly, offline)

def classical_mds(distances: np.ndarray, dims: int = 2) -> np.ndarray:
    """Torgerson's classical MDS of a symmetric distance matrix: points whose Euclidean distances
    approximate it (the eigenvectors of the double-centred squared distances); signs fixed so that
    each axis's largest coordinate is positive (the same input gives the same picture)."""
    d = np.asarray(distances, dtype=float)
    n = d.shape[0]
    if n == 0:
        return np.zeros((0, dims))
    j = np.eye(n) - np.ones((n, n)) / n
    b = -0.5 * j @ (d ** 2) @ j
    values, vectors = np.linalg.eigh(b)
    order = np.argsort(values)[::-1][:dims]
    coords = vectors[:, order] * np.sqrt(np.clip(values[order], 0, None))
    for k in range(coords.shape[1]):
        i = int(np.argmax(np.abs(coords[:, k])))
        if coords[i, k] < 0:
            coords[:, k] *= -1
    if coords.shape[1] < dims:
        coords = np.hstack([coords, np.zeros((n, dims - coords.shape[1]))])
    return coords


def jensen_shannon(topic_word: np.ndarray) -> np.ndarray:
    """Jensen-Shannon distances (base 2, 0 to 1) between the rows of a topic-word matrix."""
    from textmine.topics import topic_similarity

    rows = np.asarray(topic_word, dtype=float) + 1e-12
    return np.clip(1.0 - topic_similarity(rows, rows), 0.0, 1.0)


def _topic_rows(data: dict, model: str):
    """(topic ids, topic-word matrix) of the run's global topics: the saved model's arrays, else the
    term weights of topics.csv (as :func:`textmine.identity.load_previous_topics` reads any run)."""
    from textmine.identity import load_previous_topics

    try:
        prev = load_previous_topics(data["path"], model)
    except (TextmineError, OSError, ValueError, KeyError):
        return None
    if prev is None or prev.topic_word.shape[0] < 3:
        return None
    return prev.topic_ids, prev.topic_word


def intertopic_map(data: dict, model: str, title: str, div_id: str, include_js: bool):
    """An intertopic distance map (LDAvis' view): topics as circles placed by classical MDS of the
    Jensen-Shannon distances between their word distributions, area by prevalence (mean share over
    the periods); hovering shows the topic's terms.  None when the run lacks what it needs.

    Returned as :class:`Markup` for the same reasons as ``report._plotly_trajectories``: plotly
    serialises the data as JSON with ``<``, ``>``, ``/`` escaped, texts from the run are
    HTML-escaped before they go in (plotly.js reads hover text as a subset of HTML), and
    ``div_id`` is reduced to ``[a-z0-9_-]``."""
    import plotly.graph_objects as go
    from markupsafe import Markup

    found = _topic_rows(data, model)
    topics = data.get("topics")
    if found is None or topics is None:
        return None
    ids, topic_word = found
    coords = classical_mds(jensen_shannon(topic_word))
    glob = topics[(topics["model"] == model) & (topics["scope"].astype(str) == "global")].set_index("topic")
    traj = data.get("trajectories")
    share = {}
    if traj is not None:
        t = traj[traj["model"] == model]
        share = t.groupby("topic")["share"].mean().to_dict()
    labels = [str(glob["label"].get(t, f"토픽 {t}")) for t in ids]
    terms = [str(glob["top_terms"].get(t, "")) if "top_terms" in glob else "" for t in ids]
    prevalence = np.array([float(share.get(t, 0.0)) for t in ids])
    if prevalence.sum() <= 0 and "size" in glob:
        prevalence = np.array([float(glob["size"].get(t, 0)) for t in ids])
        prevalence = prevalence / max(prevalence.sum(), 1.0)
    size = 14 + 70 * np.sqrt(prevalence / max(prevalence.max(), 1e-9))
    hover = [html.escape(f"T{t} {l}") + "<br>" + html.escape(f"평균 비중 {p:.1%}") + "<br>" + html.escape(w)
             for t, l, p, w in zip(ids, labels, prevalence, terms)]
    fig = go.Figure(go.Scatter(
        x=coords[:, 0].round(6).tolist(), y=coords[:, 1].round(6).tolist(), mode="markers+text",
        text=[str(t) for t in ids], textposition="middle center", hovertext=hover, hoverinfo="text",
        marker=dict(size=size.round(2).tolist(), color=prevalence.round(6).tolist(), colorscale="Blues",
                    opacity=0.75, line=dict(width=1, color="#1f3b63"), showscale=False)))
    fig.update_layout(title=html.escape(title), height=520, showlegend=False, margin=dict(l=40, r=20, t=60, b=40),
                      xaxis=dict(title="MDS 1", zeroline=True, showticklabels=False),
                      yaxis=dict(title="MDS 2", zeroline=True, showticklabels=False, scaleanchor="x"),
                      font=dict(family="NanumGothic, 'Malgun Gothic', sans-serif"))
    return Markup(fig.to_html(full_html=False, include_plotlyjs="inline" if include_js else False,
                              div_id=re.sub(r"[^a-z0-9_-]", "-", div_id.lower())))


def topic_hierarchy(data: dict, model: str, title: str, div_id: str, include_js: bool):
    """The topics' hierarchy as a dendrogram (BERTopic's ``visualize_hierarchy`` view, for any model):
    average-linkage clustering of the Jensen-Shannon distances between topic-word rows, so the reader
    sees which topics would merge first.  Markup for the reasons given in :func:`intertopic_map`."""
    import plotly.figure_factory as ff
    from markupsafe import Markup
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import squareform

    found = _topic_rows(data, model)
    topics = data.get("topics")
    if found is None or topics is None:
        return None
    ids, topic_word = found
    glob = topics[(topics["model"] == model) & (topics["scope"].astype(str) == "global")].set_index("topic")
    labels = [html.escape(f"T{t} {glob['label'].get(t, '')}") for t in ids]
    condensed = squareform(jensen_shannon(topic_word), checks=False)

    def link(_):
        return linkage(condensed, method="average", optimal_ordering=True)

    fig = ff.create_dendrogram(np.asarray(topic_word), orientation="left", labels=labels, linkagefun=link,
                               distfun=lambda x: condensed)
    fig.update_layout(title=html.escape(title), height=max(320, 26 * len(ids)), showlegend=False,
                      margin=dict(l=220, r=20, t=60, b=40), xaxis=dict(title="젠슨-섀넌 거리"),
                      font=dict(family="NanumGothic, 'Malgun Gothic', sans-serif"))
    return Markup(fig.to_html(full_html=False, include_plotlyjs="inline" if include_js else False,
                              div_id=re.sub(r"[^a-z0-9_-]", "-", div_id.lower())))


def lineage_sankey(lineage: pd.DataFrame, title: str, div_id: str, include_js: bool, min_share: float = 0.0):
    """The yearly topics' links (``lineage.csv``: continue, split, merge) as a plotly Sankey: a node per
    (year, topic), laid out by year, a link's width the share of the later topic.  Same safety as
    :func:`intertopic_map`."""
    import plotly.graph_objects as go
    from markupsafe import Markup

    links = lineage[lineage["kind"].isin(["continue", "split", "merge"])].dropna(subset=["from_topic", "to_topic"])
    if links.empty:
        return None
    nodes: dict[tuple, dict] = {}
    for r in links.itertuples():
        nodes.setdefault((r.from_year, int(r.from_topic)), {"label": r.from_label})
        nodes.setdefault((r.to_year, int(r.to_topic)), {"label": r.to_label})
    order = sorted(nodes, key=lambda k: (_period_key(k[0]), k[1]))
    index = {k: i for i, k in enumerate(order)}
    years = sorted({k[0] for k in order}, key=_period_key)
    col = {y: i for i, y in enumerate(years)}
    x = [0.001 + 0.998 * col[k[0]] / max(len(years) - 1, 1) for k in order]
    names = [html.escape(f"{k[0]} T{k[1]} {_short(nodes[k]['label'], 18)}") for k in order]
    kinds = {"continue": "이어짐", "split": "분화", "merge": "통합"}
    value = [max(float(s) if pd.notna(s) else 0.0, 0.005) for s in links["to_share"]]
    fig = go.Figure(go.Sankey(
        arrangement="snap",
        node=dict(label=names, x=x, pad=8, thickness=12, hovertemplate="%{label}<extra></extra>"),
        link=dict(source=[index[(r.from_year, int(r.from_topic))] for r in links.itertuples()],
                  target=[index[(r.to_year, int(r.to_topic))] for r in links.itertuples()],
                  value=value, customdata=[html.escape(kinds.get(k, k)) + (f" (유사도 {s:.2f})" if pd.notna(s) else "")
                                           for k, s in zip(links["kind"], links["similarity"])],
                  hovertemplate="%{customdata}<extra></extra>")))
    fig.update_layout(title=html.escape(title), height=max(420, 26 * max(len(order) // max(len(years), 1), 1) + 200),
                      margin=dict(l=20, r=20, t=60, b=20), font=dict(family="NanumGothic, 'Malgun Gothic', sans-serif",
                                                                       size=10))
    return Markup(fig.to_html(full_html=False, include_plotlyjs="inline" if include_js else False,
                              div_id=re.sub(r"[^a-z0-9_-]", "-", div_id.lower())))


# ---------------------------------------------------------------- summary.xlsx's 문서별 토픽 sheet

def document_sheet(run: Path, topics: pd.DataFrame | None, max_rows: int, display: Callable[[str], str] = str,
                   models: Sequence[str] | None = None) -> tuple[pd.DataFrame | None, int]:
    """One row per document (the first ``max_rows`` in year order): id, year, metadata, and per model its
    dominant topic, that topic's label (renamed when ``topics`` is) and probability, then the
    PII-masked text.  Returns (the sheet, or None without ``documents.parquet`` / ``doc_topics.parquet``,
    and the number of documents in the run)."""
    docs_path, topics_path = run / DOCUMENTS, run / DOC_TOPICS
    if max_rows <= 0 or not docs_path.is_file() or not topics_path.is_file():
        return None, 0
    docs = pd.read_parquet(docs_path)
    total = len(docs)
    docs = docs.head(max_rows)
    dominant = pd.read_parquet(topics_path, columns=["doc_id", "model", "topic", "probability", "is_dominant"])
    dominant = dominant[dominant["is_dominant"] & dominant["doc_id"].isin(set(docs["doc_id"]))]
    sheet = docs.drop(columns=["text", "period"], errors="ignore")
    if "period" in docs and not docs["period"].astype(str).equals(docs["year"].astype(str)):
        sheet.insert(2, "기간", docs["period"].astype(str))
    names = {}
    if topics is not None:
        glob = topics[topics["scope"].astype(str) == "global"]
        names = {(m, int(t)): str(l) for m, t, l in zip(glob["model"], glob["topic"], glob["label"])}
    for model in (models or list(dict.fromkeys(dominant["model"]))):
        d = dominant[dominant["model"] == model].drop_duplicates("doc_id").set_index("doc_id")
        name = display(model)
        topic = d["topic"].reindex(sheet["doc_id"])
        sheet[f"{name} 토픽"] = topic.astype("Int64").to_numpy()
        sheet[f"{name} 레이블"] = [names.get((model, int(t)), "이상치" if t == -1 else "") if pd.notna(t) else ""
                                 for t in topic]
        sheet[f"{name} 확률"] = d["probability"].reindex(sheet["doc_id"]).to_numpy()
    sheet["text"] = docs["text"].to_numpy()
    return sheet, total
