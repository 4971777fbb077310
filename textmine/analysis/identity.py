"""Stable topic identity across reruns (``textmine run --previous RUN_DIR``).

A rerun (a new year of opinions, another seed, a changed profile) numbers its topics afresh:
topic 3 of last month's run may be topic 7 today.  This module matches the new run's global
topics to a previous run's by their words and records the match beside the new ids (which are
kept: every file of the new run stays self-consistent), so the report can say which topics are
the same as before, which are new ("새 토픽") and which previous topics found no match
("사라진 토픽"), and a previous run's renamed labels can be carried over.

How topics are matched: both runs' topic-word weights are laid on the union of their
vocabularies (a word missing from one run weighs 0 there), compared by cosine similarity
(:func:`textmine.models.topics.cosine_similarity`), paired one-to-one by the Hungarian method
(:func:`scipy.optimize.linear_sum_assignment`, maximising the total similarity), and a pair
counts only at or above ``threshold``.

Why 0.5 (``DEFAULT_THRESHOLD``): the bundled corpus's LDA (k = 12, and k = 10 / 14) fitted with
five different seeds, every pair of fits matched this way.  Pairs naming the same theme scored
0.60–1.00 (most above 0.9; the lowest were 홍보 topics whose secondary words moved), pairs the
Hungarian method was forced to make between different themes (a topic one fit has and the other
has not) scored 0.09–0.45, and similarities outside the pairing had a 95th percentile of
0.19–0.31.  0.5 sits in the gap.  On top-10 term vectors only (the ``topics.csv`` fallback, both
sides cut to their top 10 words) same-theme pairs scored 0.53–1.00 and forced pairs 0.02–0.32:
still separated by 0.5, with less room.

Where the previous run's topic-word weights come from, best first:

1. ``models/<model>-global/topic_word.npy`` + ``textmine.json`` ``vocabulary`` (LDA and DTM);
2. ``models/bertopic-global/ctfidf.safetensors`` (BERTopic's c-TF-IDF as a sparse matrix; its
   first row is the outliers when ``topics.json`` has ``_outliers`` = 1) + the vocabulary of
   ``ctfidf_config.json``;
3. ``topics.csv``'s ``term_weights`` column ("진로:0.1360; 학과:0.0434; ..."): only each topic's top
   terms, so the new run's vectors are cut to as many top terms before comparing.
"""
from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from textmine.analysis import labels as labels_mod
from textmine.analysis.analysis import Analysis, Written, json_safe, settings_of
from textmine.core.errors import ConfigError, TextmineError
from textmine.models.topics import cosine_similarity

DEFAULT_THRESHOLD = 0.5
OUTLIER = -1
KEPT, NEW = "kept", "new"
IDENTITY_KO = {KEPT: "유지", NEW: "새 토픽"}
VANISHED_KO = "사라진 토픽"


# ---------------------------------------------------------------- matching

def align_vocabularies(a: np.ndarray, vocab_a: Sequence[str], b: np.ndarray,
                       vocab_b: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Both topic-word matrices over the union of the vocabularies (first ``vocab_a`` order, then
    ``vocab_b``'s new words); a word a model does not have weighs 0 in it."""
    a, b = np.atleast_2d(np.asarray(a, dtype=float)), np.atleast_2d(np.asarray(b, dtype=float))
    if a.shape[1] != len(vocab_a) or b.shape[1] != len(vocab_b):
        raise ValueError(f"topic-word widths {a.shape[1]}, {b.shape[1]} but vocabularies of "
                         f"{len(vocab_a)}, {len(vocab_b)} words")
    union = list(dict.fromkeys(list(vocab_a) + list(vocab_b)))
    pos = {w: i for i, w in enumerate(union)}
    wide_a = np.zeros((a.shape[0], len(union)))
    wide_b = np.zeros((b.shape[0], len(union)))
    # np.add.at: a word listed twice in one vocabulary (never in textmine's) keeps its whole weight.
    np.add.at(wide_a.T, [pos[w] for w in vocab_a], a.T)
    np.add.at(wide_b.T, [pos[w] for w in vocab_b], b.T)
    return wide_a, wide_b, union


def keep_top(matrix: np.ndarray, n: int) -> np.ndarray:
    """Each row's ``n`` largest weights, the rest set to 0 (ties broken by column order)."""
    out = np.zeros_like(matrix)
    if n <= 0 or matrix.size == 0:
        return out
    idx = np.argsort(-matrix, axis=1, kind="stable")[:, :n]
    rows = np.arange(matrix.shape[0])[:, None]
    out[rows, idx] = matrix[rows, idx]
    return out


def match_to_previous(new_topic_word: np.ndarray, new_vocab: Sequence[str], prev_topic_word: np.ndarray,
                      prev_vocab: Sequence[str], threshold: float = DEFAULT_THRESHOLD,
                      top_n: int | None = None) -> tuple[list[int | None], np.ndarray]:
    """Each new topic's previous topic (a row index of ``prev_topic_word``) or None, and the similarity.

    Cosine similarity on the union vocabulary, one-to-one Hungarian pairing maximising total
    similarity, pairs below ``threshold`` dropped.  ``similarity[i]`` is new topic i's similarity
    to its Hungarian partner even when below the threshold (NaN when there are more new topics
    than previous ones and it got no partner).  ``top_n`` cuts both sides to each topic's top
    ``top_n`` words first (use it when the previous weights are only top terms).

    Memory stays within the two matrices given: a word only one side has adds nothing to a dot
    product, so the products are taken over the shared words and the norms over each side's own
    (the same cosine as over the union, without building union-wide copies of both sides).
    """
    from scipy.optimize import linear_sum_assignment

    sim = topic_similarities(new_topic_word, new_vocab, prev_topic_word, prev_vocab, top_n)
    mapping: list[int | None] = [None] * sim.shape[0]
    similarity = np.full(sim.shape[0], np.nan)
    if not sim.shape[0] or not sim.shape[1]:
        return mapping, similarity
    rows, cols = linear_sum_assignment(-sim)
    for r, c in zip(rows, cols):
        similarity[r] = sim[r, c]
        if sim[r, c] >= threshold:
            mapping[r] = int(c)
    return mapping, similarity


def topic_similarities(new_topic_word: np.ndarray, new_vocab: Sequence[str], prev_topic_word: np.ndarray,
                       prev_vocab: Sequence[str], top_n: int | None = None) -> np.ndarray:
    """Cosine similarity of every new topic to every previous one over the union vocabulary (see
    :func:`match_to_previous`), in the memory of the two matrices."""
    a = np.atleast_2d(np.asarray(new_topic_word, dtype=float))
    b = np.atleast_2d(np.asarray(prev_topic_word, dtype=float))
    if a.shape[1] != len(new_vocab) or b.shape[1] != len(prev_vocab):
        raise ValueError(f"topic-word widths {a.shape[1]}, {b.shape[1]} but vocabularies of "
                         f"{len(new_vocab)}, {len(prev_vocab)} words")
    a, vocab_a = _merge_repeated(a, new_vocab)
    b, vocab_b = _merge_repeated(b, prev_vocab)
    if top_n:
        a, b = keep_top(a, top_n), keep_top(b, top_n)
    pos_b = {w: i for i, w in enumerate(vocab_b)}
    shared = [(i, pos_b[w]) for i, w in enumerate(vocab_a) if w in pos_b]
    cols_a = np.array([i for i, _ in shared], dtype=np.intp)
    cols_b = np.array([j for _, j in shared], dtype=np.intp)
    # row norms without a squared copy of either matrix
    norms = np.outer(np.sqrt(np.einsum("ij,ij->i", a, a)), np.sqrt(np.einsum("ij,ij->i", b, b)))
    with np.errstate(invalid="ignore", divide="ignore"):
        sim = (a[:, cols_a] @ b[:, cols_b].T) / norms
    return np.nan_to_num(sim, nan=0.0, posinf=0.0, neginf=0.0)


def _merge_repeated(matrix: np.ndarray, vocab: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """A word listed twice in one vocabulary (never in textmine's) keeps its whole weight, once."""
    unique = list(dict.fromkeys(vocab))
    if len(unique) == len(vocab):
        return matrix, list(vocab)
    pos = {w: i for i, w in enumerate(unique)}
    out = np.zeros((matrix.shape[0], len(unique)))
    np.add.at(out.T, [pos[w] for w in vocab], matrix.T)
    return out, unique


def similarity_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of aligned rows; an all-zero row is similar to nothing (0, not NaN)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        sim = cosine_similarity(a, b)
    return np.nan_to_num(sim, nan=0.0)


# ---------------------------------------------------------------- the previous run

# Bounds on what a previous run folder may ask of this run (checked in preflight, before the engine
# starts).  A real run's topics.csv holds models x (1 + periods) x k rows of at most 30 terms: at a
# million opinions, 30 years and k = 100 it is about 10 MB; 200 MB is twenty times that.
MAX_PREVIOUS_FILE_BYTES = 200 * 1024**2
MAX_PREVIOUS_TOPICS = 2000        # global topics of one model (lda/dtm grids stop far below)
MAX_PREVIOUS_TERMS = 1000         # terms of one topic in term_weights (textmine writes 10-30)
# Topic-word cells (topics x words) one model's previous weights may hold: 25 M float64 = 200 MB.
MAX_PREVIOUS_CELLS = 25_000_000
_PREVIOUS_COLUMNS = ("model", "scope", "topic", "term_weights")


def _inside(run_dir: Path, path: Path, fix: str) -> None:
    """A file of the run folder that is a link leading out of it (or a link loop) is refused."""
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        raise TextmineError("a file of the previous run folder is a broken link or a link loop", file=path,
                            fix=fix) from None
    if not real.is_relative_to(run_dir.resolve()):
        raise TextmineError(f"a file of the previous run folder leads outside it (to {real})", file=path, fix=fix)
    if not real.is_file():
        raise TextmineError("this should be a file of the previous run, not a folder or a special file",
                            file=path, fix=fix)
    if real.stat().st_size > MAX_PREVIOUS_FILE_BYTES:
        raise TextmineError(f"the file holds {real.stat().st_size / 1024**2:,.0f} MB, more than a run writes "
                            f"({MAX_PREVIOUS_FILE_BYTES / 1024**2:,.0f} MB at most)", file=path, fix=fix)


def validate_previous(run_dir: str | Path) -> Path:
    """Check a previous run folder before the engine starts: its files stay inside it, topics.csv has
    the columns and types textmine writes, and no model asks for more topics, terms or topic-word cells
    than the bounds above.  One :class:`TextmineError` names the file and what is wrong."""
    run_dir = Path(run_dir)
    fix = "pass --previous the folder of a finished textmine run, as that run wrote it"
    path = run_dir / "topics.csv"
    for name in ("topics.csv", "phases.json", "trajectories.csv", "labels.toml"):
        if os.path.lexists(run_dir / name):
            _inside(run_dir, run_dir / name, fix)
    try:
        table = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise TextmineError(f"topics.csv cannot be read ({exc.__class__.__name__})", file=path, fix=fix) from None
    missing = [c for c in _PREVIOUS_COLUMNS if c not in table.columns]
    if missing:
        raise TextmineError(f"topics.csv lacks the column(s) {', '.join(missing)}", file=path, fix=fix)
    topic = pd.to_numeric(table["topic"], errors="coerce")
    bad = topic.isna() | (topic != topic.round()) | (topic < OUTLIER)
    if bad.any():
        row = int(bad.to_numpy().argmax())
        raise TextmineError(f"topic '{table['topic'].iloc[row]}' is not a topic number", file=path, row=row + 2,
                            column="topic", fix=fix)
    glob = table[(table["scope"] == "global") & (topic >= 0)]
    for model, rows in glob.groupby("model"):
        if len(rows) > MAX_PREVIOUS_TOPICS:
            raise TextmineError(f"model '{model}' has {len(rows):,} global topics, more than a run fits "
                                f"({MAX_PREVIOUS_TOPICS:,} at most)", file=path, fix=fix)
        terms = set()
        for i, text in zip(rows.index, rows["term_weights"]):
            weights = parse_term_weights(text)
            if len(weights) > MAX_PREVIOUS_TERMS:
                raise TextmineError(f"a topic lists {len(weights):,} terms, more than a run writes "
                                    f"({MAX_PREVIOUS_TERMS:,} at most)", file=path, row=int(i) + 2,
                                    column="term_weights", fix=fix)
            if any(not math.isfinite(w) for _, w in weights):
                raise TextmineError("a term weight is not a finite number", file=path, row=int(i) + 2,
                                    column="term_weights", fix=fix)
            terms.update(t for t, _ in weights)
        if len(rows) * len(terms) > MAX_PREVIOUS_CELLS:
            raise TextmineError(f"model '{model}': {len(rows):,} topics x {len(terms):,} terms is more than this "
                                f"run compares ({MAX_PREVIOUS_CELLS:,} cells at most)", file=path, fix=fix)
        _check_model_arrays(run_dir, str(model), fix)
    return run_dir


def _check_model_arrays(run_dir: Path, model: str, fix: str) -> None:
    """The saved weights identity reads (topic_word.npy by its header, c-TF-IDF by its file size): inside
    the folder and within MAX_PREVIOUS_CELLS."""
    folder = run_dir / "models" / f"{model}-global"
    for name in ("topic_word.npy", "textmine.json", "ctfidf.safetensors", "ctfidf_config.json", "topics.json"):
        if os.path.lexists(folder / name):
            _inside(run_dir, folder / name, fix)
    npy = folder / "topic_word.npy"
    if npy.is_file():
        try:
            with open(npy, "rb") as f:
                version = np.lib.format.read_magic(f)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, _, dtype = read_header(f)
        except (OSError, ValueError) as exc:
            raise TextmineError(f"the saved topic-word weights cannot be read ({exc})", file=npy, fix=fix) from None
        if len(shape) != 2 or dtype.kind not in "fi" or math.prod(shape) > MAX_PREVIOUS_CELLS:
            raise TextmineError(f"the saved topic-word weights have shape {shape} and type {dtype}: not the "
                                f"2-D numbers of at most {MAX_PREVIOUS_CELLS:,} cells a run saves", file=npy, fix=fix)

@dataclass
class PreviousTopics:
    """One model's global topics in a previous run folder."""

    model: str
    run_dir: Path
    topic_ids: list[int]                 # global topic ids, in ``topic_word`` row order (no -1)
    topic_word: np.ndarray
    vocabulary: list[str]
    labels: dict[int, str]               # automatic labels (``label_original`` when it was renamed)
    renamed: dict[int, str] = field(default_factory=dict)  # the previous run's own names for its topics
    source: str = ""                     # the file the weights came from (relative to run_dir)
    top_n: int | None = None             # set when only top terms were available (topics.csv)
    has_outliers: bool = False


def _read_topics_csv(run_dir: Path) -> pd.DataFrame:
    path = run_dir / "topics.csv"
    if not run_dir.is_dir():
        raise TextmineError("the previous run folder does not exist", file=run_dir,
                            fix="pass --previous the folder of a finished textmine run (it holds topics.csv)")
    if not path.is_file():
        raise TextmineError("not a finished textmine run: topics.csv is missing", file=run_dir,
                            fix="pass --previous the folder of a finished textmine run (it holds topics.csv)")
    return pd.read_csv(path, encoding="utf-8-sig")


def parse_term_weights(text) -> list[tuple[str, float]]:
    """``topics.csv``'s ``term_weights``: "진로:0.1360; 학과:0.0434" -> [("진로", 0.136), ("학과", 0.0434)]."""
    out = []
    if not isinstance(text, str):
        return out
    for part in text.split(";"):
        term, sep, weight = part.strip().rpartition(":")
        if not sep or not term:
            continue
        try:
            out.append((term, float(weight)))
        except ValueError:
            continue
    return out


def _arrays_from_models(run_dir: Path, model: str, n_topics: int) -> tuple[np.ndarray, list[str], str] | None:
    folder = run_dir / "models" / f"{model}-global"
    npy, meta = folder / "topic_word.npy", folder / "textmine.json"
    if npy.is_file() and meta.is_file():
        try:
            vocab = json.loads(meta.read_text(encoding="utf-8"))["vocabulary"]
            tw = np.load(npy, allow_pickle=False).astype(float)
        except (OSError, ValueError, KeyError):
            return None
        if tw.ndim == 2 and tw.shape == (n_topics, len(vocab)):
            return tw, list(vocab), str(npy.relative_to(run_dir))
        return None
    ctfidf, config, topics = folder / "ctfidf.safetensors", folder / "ctfidf_config.json", folder / "topics.json"
    if ctfidf.is_file() and config.is_file():
        try:
            from safetensors.numpy import load_file
            from scipy.sparse import csr_matrix

            parts = load_file(str(ctfidf))
            if math.prod(int(x) for x in parts["shape"]) > MAX_PREVIOUS_CELLS:
                return None  # more than a run saves: the topics.csv weights are used instead
            matrix = csr_matrix((parts["data"], parts["indices"], parts["indptr"]),
                                shape=tuple(int(s) for s in parts["shape"])).toarray()
            vocab_map = json.loads(config.read_text(encoding="utf-8"))["vectorizer_model"]["vocab"]
            vocab = [w for w, _ in sorted(vocab_map.items(), key=lambda kv: kv[1])]
            offset = int(json.loads(topics.read_text(encoding="utf-8")).get("_outliers", 0)) \
                if topics.is_file() else 0
        except (ImportError, OSError, ValueError, KeyError, TypeError):
            return None
        rows = matrix[offset:]
        if rows.shape != (n_topics, len(vocab)):
            return None
        sums = rows.sum(axis=1, keepdims=True)
        return rows / np.where(sums > 0, sums, 1), vocab, str(ctfidf.relative_to(run_dir))
    return None


def _has_outliers(run_dir: Path, table: pd.DataFrame, model: str) -> bool:
    """Whether ``model`` had an outlier topic (-1) there: its row in trajectories.csv (topics.csv
    lists real topics only)."""
    if ((table["model"] == model) & (table["topic"] == OUTLIER)).any():
        return True
    path = run_dir / "trajectories.csv"
    if path.is_file():
        traj = pd.read_csv(path, encoding="utf-8-sig", usecols=lambda c: c in ("model", "topic"))
        if {"model", "topic"} <= set(traj.columns):
            return bool(((traj["model"] == model) & (traj["topic"] == OUTLIER)).any())
    return False


def load_previous_topics(run_dir: str | Path, model: str) -> PreviousTopics | None:
    """``model``'s global topics in a previous run folder, or None when that run did not fit ``model``.

    Weights from the saved model arrays when present, else from ``topics.csv`` term weights (see
    the module docstring).  Renamed labels: the run's ``labels.toml`` (:data:`textmine.analysis.labels.LABELS_FILE`)
    and, over it, ``topics.csv`` rows whose ``label`` differs from ``label_original``.
    """
    run_dir = Path(run_dir)
    table = _read_topics_csv(run_dir)
    rows = table[(table["model"] == model) & (table["scope"].astype(str) == "global") & (table["topic"] >= 0)]
    if rows.empty:
        return None
    rows = rows.sort_values("topic")
    ids = [int(t) for t in rows["topic"]]
    has_outliers = _has_outliers(run_dir, table, model)
    auto_col = "label_original" if "label_original" in rows else "label"
    auto = {int(t): str(l) for t, l in zip(rows["topic"], rows[auto_col])}
    renamed: dict[int, str] = {}
    labels_file = run_dir / labels_mod.LABELS_FILE
    if labels_file.is_file():
        renamed.update(labels_mod.load_labels(labels_file).get(model, {}))
    if "label_original" in rows:
        renamed.update({int(t): str(l) for t, l, o in zip(rows["topic"], rows["label"], rows["label_original"])
                        if isinstance(l, str) and l != o})
    found = _arrays_from_models(run_dir, model, len(ids)) if ids == list(range(len(ids))) else None
    if found is not None:
        tw, vocab, source = found
        top_n = None
    else:
        weights = [parse_term_weights(w) for w in rows["term_weights"]]
        vocab = list(dict.fromkeys(t for terms in weights for t, _ in terms))
        pos = {w: i for i, w in enumerate(vocab)}
        tw = np.zeros((len(ids), len(vocab)))
        for i, terms in enumerate(weights):
            for t, w in terms:
                tw[i, pos[t]] = w
        source, top_n = "topics.csv", max((len(t) for t in weights), default=0) or None
    return PreviousTopics(model=model, run_dir=run_dir, topic_ids=ids, topic_word=tw, vocabulary=vocab,
                          labels=auto, renamed=renamed, source=source, top_n=top_n, has_outliers=has_outliers)


# ---------------------------------------------------------------- one model's identity

@dataclass
class Identity:
    """How one model's new global topics relate to a previous run's."""

    model: str
    previous_run: str
    mapping: dict[int, int | None]         # new topic id -> previous topic id (None: new)
    similarity: dict[int, float]           # new topic id -> similarity to its Hungarian partner (NaN: none)
    previous_labels: dict[int, str]        # previous topic id -> its label (renamed when it was)
    vanished: list[dict]                   # previous topics nothing matched: model, previous_topic, label,
    #                                        best_similarity, best_new_topic
    carried_labels: dict[int, str]         # new topic id -> the previous run's name for its match
    source: str
    threshold: float
    outliers_kept: bool = False            # both runs have an outlier topic (-1)

    def status(self, topic: int) -> str:
        if topic == OUTLIER:
            return KEPT if self.outliers_kept else NEW
        return KEPT if self.mapping.get(topic) is not None else NEW

    def previous_of(self, topic: int) -> int | None:
        if topic == OUTLIER:
            return OUTLIER if self.outliers_kept else None
        return self.mapping.get(topic)


def identify(model: str, new_topic_word: np.ndarray, new_vocab: Sequence[str], previous: PreviousTopics,
             threshold: float = DEFAULT_THRESHOLD, has_outliers: bool = False) -> Identity:
    """Match a fitted model's global topics (``FittedTopics.topic_word``/``vocabulary``) to ``previous``."""
    mapping_rows, sim = match_to_previous(new_topic_word, new_vocab, previous.topic_word, previous.vocabulary,
                                          threshold, previous.top_n)
    mapping = {i: (previous.topic_ids[r] if r is not None else None) for i, r in enumerate(mapping_rows)}
    similarity = {i: (round(float(s), 4) if not math.isnan(s) else float("nan")) for i, s in enumerate(sim)}
    shown = {t: previous.renamed.get(t, previous.labels.get(t, "")) for t in previous.topic_ids}
    matched = {p for p in mapping.values() if p is not None}
    vanished = []
    if set(previous.topic_ids) - matched:
        full = topic_similarities(new_topic_word, new_vocab, previous.topic_word, previous.vocabulary,
                                  previous.top_n)
        for r, t in enumerate(previous.topic_ids):
            if t in matched:
                continue
            best = int(full[:, r].argmax()) if full.shape[0] else None
            vanished.append({"model": model, "previous_topic": t, "label": shown[t],
                             "best_similarity": round(float(full[best, r]), 4) if best is not None else None,
                             "best_new_topic": best})
    carried = {i: previous.renamed[p] for i, p in mapping.items() if p is not None and p in previous.renamed}
    return Identity(model=model, previous_run=str(previous.run_dir), mapping=mapping, similarity=similarity,
                    previous_labels=shown, vanished=vanished, carried_labels=carried, source=previous.source,
                    threshold=threshold, outliers_kept=has_outliers and previous.has_outliers)


def identify_from_run(model: str, new_topic_word: np.ndarray, new_vocab: Sequence[str], previous_run: str | Path,
                      threshold: float = DEFAULT_THRESHOLD, has_outliers: bool = False) -> Identity | None:
    """:func:`identify` against ``model`` in a previous run folder; None when that run did not fit it."""
    previous = load_previous_topics(previous_run, model)
    return None if previous is None else identify(model, new_topic_word, new_vocab, previous, threshold,
                                                  has_outliers)


# ---------------------------------------------------------------- the run's tables

IDENTITY_COLUMNS = ["previous_topic", "previous_label", "previous_similarity", "identity"]


def _annotate(frame: pd.DataFrame, identities: Sequence[Identity], global_only: bool) -> pd.DataFrame:
    out = frame.copy()
    if "previous_topic" not in out:
        out["previous_topic"] = pd.array([pd.NA] * len(out), dtype="Int64")
        out["previous_label"] = ""
        out["previous_similarity"] = np.nan
        out["identity"] = ""
    for ident in identities:
        rows = out["model"] == ident.model
        if global_only and "scope" in out:
            rows &= out["scope"].astype(str) == "global"
        for i in np.flatnonzero(rows.to_numpy()):
            topic = int(out["topic"].iat[i])
            prev = ident.previous_of(topic)
            out.iloc[i, out.columns.get_loc("previous_topic")] = prev if prev is not None else pd.NA
            out.iloc[i, out.columns.get_loc("previous_label")] = \
                ident.previous_labels.get(prev, "") if prev is not None and prev >= 0 else ""
            sim = ident.similarity.get(topic, float("nan")) if topic >= 0 else float("nan")
            out.iloc[i, out.columns.get_loc("previous_similarity")] = sim
            out.iloc[i, out.columns.get_loc("identity")] = ident.status(topic)
    return out


def apply_identity(topics_df: pd.DataFrame, trajectories_df: pd.DataFrame | None,
                   identities: Identity | Sequence[Identity]) -> tuple[pd.DataFrame, pd.DataFrame | None, list[dict]]:
    """Copies of ``topics.csv`` and ``trajectories.csv`` rows with the previous run's ids beside the
    new ones, and the previous topics that vanished.

    The new ids stay as they are.  Added columns: ``previous_topic`` (the previous run's id, empty
    for a new topic), ``previous_label`` (its label there), ``previous_similarity`` (cosine
    similarity to the Hungarian partner, shown even when under the threshold), and ``identity``
    (``kept`` / ``new``; Korean in :data:`IDENTITY_KO`).  Only global topics get them: per-year
    rows of ``topics.csv`` stay empty.  The outlier row (-1) is ``kept`` when both runs have one.
    Models without an :class:`Identity` (not in the previous run) stay empty too.  The third value
    is every identity's ``vanished`` list (:data:`VANISHED_KO`), for the report.
    """
    if isinstance(identities, Identity):
        identities = [identities]
    topics = _annotate(topics_df, identities, global_only=True)
    traj = _annotate(trajectories_df, identities, global_only=False) if trajectories_df is not None else None
    vanished = [v for ident in identities for v in ident.vanished]
    return topics, traj, vanished


def carried_labels(identities: Sequence[Identity]) -> dict[str, dict[int, str]]:
    """The previous run's topic names for the new ids, in :func:`textmine.analysis.labels.load_labels`' shape
    (merge a user's labels file over it with :func:`textmine.analysis.labels.merge_labels`)."""
    return {i.model: dict(i.carried_labels) for i in identities if i.carried_labels}


def identity_summary(identities: Sequence[Identity]) -> list[dict]:
    """Per model, for the report: name lists of kept, new and vanished topics and where weights came from."""
    out = []
    for ident in identities:
        kept = [{"topic": t, "previous_topic": p, "similarity": ident.similarity.get(t)}
                for t, p in ident.mapping.items() if p is not None]
        new = [{"topic": t, "similarity": ident.similarity.get(t)} for t, p in ident.mapping.items() if p is None]
        out.append({"model": ident.model, "previous_run": ident.previous_run, "source": ident.source,
                    "threshold": ident.threshold, "kept": kept, "new": new, "vanished": ident.vanished})
    return out


# ---------------------------------------------------------------- the analyses (textmine.analysis.analysis)

def check_previous(folder: str | Path) -> Path:
    """``folder`` as a previous run folder (``report.previous``, ``--previous``), or a :class:`TextmineError`."""
    path = Path(folder).expanduser()
    fix = "pass --previous the folder of a finished textmine run (the folder 'textmine run' printed last)"
    if not path.is_dir():
        raise ConfigError("the previous run folder does not exist", file=path, fix=fix)
    missing = [n for n in ("topics.csv", "phases.json") if not (path / n).is_file()]
    if missing:
        raise ConfigError(f"not a finished textmine run folder: {', '.join(missing)} missing", file=path, fix=fix)
    return validate_previous(path)  # its files, columns, types and sizes: bounded work later


def match_previous(outputs: dict, settings) -> tuple[Path, list[Identity]]:
    """The previous run folder (``report.previous``) and, per model it also fitted, its :class:`Identity`."""
    previous = check_previous(settings.previous)
    found = []
    for name, out in outputs.items():
        fitted = out.fitted
        ident = identify_from_run(name, fitted.topic_word, fitted.vocabulary, previous, settings.identity_threshold,
                                  has_outliers=fitted.has_outliers)
        if ident is not None:
            found.append(ident)
    return previous, found


class TopicIdentity(Analysis):
    """With ``report.previous`` (``--previous``): ``topics.csv`` and ``trajectories.csv`` rewritten with the
    previous run's topic ids beside the new ones; the report's topics section says what was kept."""

    name = "identity"

    def enabled(self, config) -> bool:
        return bool(config.report.previous)

    def check(self, config, metadata, source) -> None:
        if config.report.previous:
            check_previous(config.report.previous)

    def write(self, run, documents, phases, outputs, config) -> Written:
        settings = config.report
        previous, found = match_previous(outputs, settings)
        topics = pd.concat([o.topics for o in outputs.values()], ignore_index=True)
        trajectories = pd.concat([o.trajectories for o in outputs.values()], ignore_index=True)
        topics, trajectories, _ = apply_identity(topics, trajectories, found)
        run.write_csv("topics.csv", topics)
        run.write_csv("trajectories.csv", trajectories)
        summary = {"previous_run": str(previous.resolve()), "threshold": settings.identity_threshold,
                   "models": json_safe(identity_summary(found)),
                   "not_in_previous": [n for n in outputs if n not in {i.model for i in found}]}
        return Written(["topics.csv", "trajectories.csv"], summary)

    def context(self, data, image, display) -> dict:
        return {"identity": identity_context(data, display)}


def identity_context(data: dict, display=str) -> dict | None:
    """The previous run and, per model, its kept / new / vanished topics (``manifest.json``'s
    ``analyses.identity``, with the labels the topics have now)."""
    info = settings_of(data).get("identity")
    if not info:
        return None
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


class TopicNames(Analysis):
    """``labels.toml``: the topic names the report uses (``report.labels``, over the names carried from
    ``report.previous``); the report's summary notes how many topics were named."""

    name = "labels"

    def check(self, config, metadata, source) -> None:
        if config.report.labels:
            labels_mod.load_labels(config.report.labels)

    def write(self, run, documents, phases, outputs, config) -> Written:
        settings = config.report
        source = settings.labels
        user = labels_mod.load_labels(source) if source else {}
        carried = carried_labels(match_previous(outputs, settings)[1]) if settings.previous else {}
        names = labels_mod.merge_labels(carried, user)
        if not any(names.values()):
            return Written([], None)
        if source and not carried:
            shutil.copyfile(Path(source).expanduser(), run.file(labels_mod.LABELS_FILE))  # the user's file as written
        else:
            run.file(labels_mod.LABELS_FILE).write_text(labels_mod.dump_labels(names), encoding="utf-8")
        topics = pd.concat([o.topics for o in outputs.values()], ignore_index=True)
        return Written([labels_mod.LABELS_FILE], {
            "file": labels_mod.LABELS_FILE, "source": str(Path(source).expanduser().resolve()) if source else None,
            "carried": {m: len(v) for m, v in carried.items()}, "unknown": labels_mod.unknown_topics(names, topics)})

    def context(self, data, image, display) -> dict:
        labels = data.get("labels") or {}
        if not any(labels.values()):
            return {"labels_note": None}
        return {"labels_note": {"n": sum(len(v) for v in labels.values()), "unknown": data.get("labels_unknown") or []}}
