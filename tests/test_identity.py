"""Stable topic identity across reruns: matching a new run's topics to a previous run's."""
import json

import numpy as np
import pandas as pd
import pytest

from textmine.analysis.identity import (
    DEFAULT_THRESHOLD, KEPT, NEW, align_vocabularies, apply_identity, carried_labels, identify, identify_from_run,
    identity_summary, keep_top, load_previous_topics, match_to_previous, parse_term_weights)
from textmine.core.errors import TextmineError
from textmine.models.topics import topics_table

VOCAB = [f"w{i:03d}" for i in range(300)]


def topics(k, seed, vocab=VOCAB):
    """k topics, each concentrated on its own block of words (like fitted LDA topics)."""
    rng = np.random.default_rng(seed)
    tw = rng.dirichlet(np.full(len(vocab), 0.05), size=k)
    block = len(vocab) // (k + 2)
    for t in range(k):
        tw[t, t * block:(t + 1) * block] += rng.dirichlet(np.ones(block)) * 5
    return tw / tw.sum(axis=1, keepdims=True)


def refit(tw, perm, seed, noise=0.2, vocab=VOCAB):
    """The same topics in another order, a little noise, the vocabulary in another order."""
    rng = np.random.default_rng(seed)
    new = tw[perm] * np.exp(rng.normal(0, noise, tw.shape))
    new /= new.sum(axis=1, keepdims=True)
    order = rng.permutation(len(vocab))
    return new[:, order], [vocab[i] for i in order]


def test_permuted_topics_map_back_exactly():
    prev = topics(10, 0)
    perm = np.random.default_rng(1).permutation(10)
    new, new_vocab = refit(prev, perm, 2)
    mapping, sim = match_to_previous(new, new_vocab, prev, VOCAB)
    assert mapping == perm.tolist()
    assert (sim > 0.8).all()


def test_new_topic_is_new_and_vanished_topic_is_listed():
    base = topics(12, 3)
    prev = base[:10]                       # topics 10, 11 not in the previous run
    new, new_vocab = refit(base[[0, 1, 2, 3, 4, 5, 6, 7, 8, 10]], np.arange(10), 4)  # 9 vanished, 10 born
    mapping, sim = match_to_previous(new, new_vocab, prev, VOCAB)
    assert mapping[:9] == list(range(9))
    assert mapping[9] is None and sim[9] < DEFAULT_THRESHOLD
    previous = _previous(prev, VOCAB)
    ident = identify("lda", new, new_vocab, previous)
    assert [v["previous_topic"] for v in ident.vanished] == [9]
    assert ident.status(9) == NEW and ident.status(0) == KEPT


def test_more_new_topics_than_previous():
    base = topics(8, 5)
    prev = base[:6]
    new, new_vocab = refit(base[[7, 0, 1, 2, 3, 4, 5, 6]], np.arange(8), 6)
    mapping, sim = match_to_previous(new, new_vocab, prev, VOCAB)
    assert mapping[1:7] == [0, 1, 2, 3, 4, 5]
    assert mapping[0] is None and mapping[7] is None


def test_vocabularies_are_aligned_on_their_union():
    a, b, union = align_vocabularies(np.array([[0.5, 0.5]]), ["가", "나"], np.array([[0.2, 0.8]]), ["나", "다"])
    assert union == ["가", "나", "다"]
    assert a.tolist() == [[0.5, 0.5, 0.0]] and b.tolist() == [[0.0, 0.2, 0.8]]
    assert keep_top(np.array([[0.1, 0.5, 0.4]]), 2).tolist() == [[0.0, 0.5, 0.4]]
    with pytest.raises(ValueError):
        align_vocabularies(np.ones((1, 3)), ["a"], np.ones((1, 1)), ["a"])


def _previous(tw, vocab):
    from textmine.analysis.identity import PreviousTopics

    return PreviousTopics(model="lda", run_dir="prev", topic_ids=list(range(len(tw))), topic_word=tw,
                          vocabulary=list(vocab), labels={i: f"자동{i}" for i in range(len(tw))})


def _terms(tw, vocab, n=10):
    return [[(vocab[j], float(row[j])) for j in np.argsort(-row)[:n]] for row in tw]


def _write_run(folder, model, tw, vocab, arrays="npy", labels_toml=None, renamed=None, outliers=False):
    """A minimal finished run folder: topics.csv (+ models/<model>-global arrays)."""
    folder.mkdir(parents=True, exist_ok=True)
    table = topics_table(model, _terms(tw, vocab), np.full(len(tw), 10))
    if outliers:  # topics.csv lists real topics only; the outlier row is in trajectories.csv
        pd.DataFrame({"model": model, "topic": [0, -1], "period": 2019, "share": [0.9, 0.1]}).to_csv(
            folder / "trajectories.csv", index=False, encoding="utf-8-sig")
    year = topics_table(model, _terms(tw[:2], vocab), [5, 5], scope="2019")
    table = pd.concat([table, year], ignore_index=True)
    if renamed:
        table.insert(table.columns.get_loc("label") + 1, "label_original", table["label"])
        for t, name in renamed.items():
            table.loc[(table["scope"] == "global") & (table["topic"] == t), "label"] = name
    table.to_csv(folder / "topics.csv", index=False, encoding="utf-8-sig")
    models = folder / "models" / f"{model}-global"
    if arrays == "npy":
        models.mkdir(parents=True)
        np.save(models / "topic_word.npy", tw.astype(np.float32))
        (models / "textmine.json").write_text(json.dumps({"vocabulary": list(vocab)}), encoding="utf-8")
    elif arrays == "bertopic":
        from safetensors.numpy import save_file
        from scipy.sparse import csr_matrix

        models.mkdir(parents=True)
        full = np.vstack([np.full((1, tw.shape[1]), 1e-3), tw]) if outliers else tw
        m = csr_matrix(full * 7.0)  # c-TF-IDF is not normalised
        save_file({"data": m.data, "indices": m.indices.astype(np.int32), "indptr": m.indptr.astype(np.int32),
                   "shape": np.array(m.shape, dtype=np.int64), "diag": np.ones(tw.shape[1])},
                  str(models / "ctfidf.safetensors"))
        (models / "ctfidf_config.json").write_text(json.dumps(
            {"vectorizer_model": {"vocab": {w: i for i, w in enumerate(vocab)}}}), encoding="utf-8")
        (models / "topics.json").write_text(json.dumps({"_outliers": int(outliers)}), encoding="utf-8")
    if labels_toml:
        (folder / "labels.toml").write_text(labels_toml, encoding="utf-8")
    return folder


@pytest.mark.parametrize("arrays", ["npy", "bertopic", None])
def test_previous_run_folder_sources(tmp_path, arrays):
    prev = topics(8, 11)
    model = "bertopic" if arrays == "bertopic" else "lda"
    run = _write_run(tmp_path / "prev", model, prev, VOCAB, arrays=arrays, outliers=arrays == "bertopic")
    loaded = load_previous_topics(run, model)
    expected = {"npy": "models/lda-global/topic_word.npy", "bertopic": "models/bertopic-global/ctfidf.safetensors",
                None: "topics.csv"}[arrays]
    assert loaded.source == expected and loaded.topic_ids == list(range(8))
    assert loaded.has_outliers == (arrays == "bertopic")
    if arrays is None:
        assert loaded.top_n == 10 and loaded.topic_word.shape == (8, len(loaded.vocabulary))
    else:
        assert np.allclose(loaded.topic_word / loaded.topic_word.sum(axis=1, keepdims=True), prev, atol=1e-6)
    perm = np.random.default_rng(12).permutation(8)
    new, new_vocab = refit(prev, perm, 13)
    ident = identify_from_run(model, new, new_vocab, run, has_outliers=arrays == "bertopic")
    assert [ident.mapping[i] for i in range(8)] == perm.tolist()
    assert ident.vanished == []
    assert load_previous_topics(run, "dtm") is None
    assert identify_from_run("dtm", new, new_vocab, run) is None


def test_not_a_run_folder(tmp_path):
    with pytest.raises(TextmineError, match="topics.csv is missing"):
        load_previous_topics(tmp_path, "lda")
    with pytest.raises(TextmineError, match="does not exist"):
        load_previous_topics(tmp_path / "nope", "lda")


def test_parse_term_weights():
    assert parse_term_weights("진로:0.1360; 학과:0.0434; a:b:0.5; bad; x:y") == [("진로", 0.136), ("학과", 0.0434),
                                                                              ("a:b", 0.5)]
    assert parse_term_weights(float("nan")) == []


def test_apply_identity_columns_vanished_and_carried_labels(tmp_path):
    base = topics(7, 21)
    prev = base[:6]
    run = _write_run(tmp_path / "prev", "lda", prev, VOCAB, labels_toml='[lda]\n1 = "진로 탐색"\n',
                     renamed={2: "상담 지원"})
    # new run: previous 0..4 in another order, previous 5 gone, a topic the previous run lacked
    new, new_vocab = refit(base[[4, 3, 2, 1, 0, 6]], np.arange(6), 22)
    ident = identify_from_run("lda", new, new_vocab, run)
    assert ident.mapping == {0: 4, 1: 3, 2: 2, 3: 1, 4: 0, 5: None}
    assert ident.carried_labels == {2: "상담 지원", 3: "진로 탐색"}
    assert carried_labels([ident]) == {"lda": {2: "상담 지원", 3: "진로 탐색"}}

    new_topics = pd.concat([topics_table("lda", _terms(new, new_vocab), np.full(6, 3)),
                            topics_table("lda", _terms(new[:2], new_vocab), [2, 2], scope="2020"),
                            topics_table("dtm", _terms(new[:2], new_vocab), [2, 2])], ignore_index=True)
    traj = pd.DataFrame({"model": ["lda"] * 6 + ["dtm"], "topic": list(range(6)) + [0], "period": 2020,
                         "share": 0.1})
    t2, tr2, vanished = apply_identity(new_topics, traj, ident)
    g = t2[(t2["model"] == "lda") & (t2["scope"] == "global")].set_index("topic")
    assert g["previous_topic"].tolist()[:5] == [4, 3, 2, 1, 0] and pd.isna(g.loc[5, "previous_topic"])
    assert g["identity"].tolist() == [KEPT] * 5 + [NEW]
    assert g.loc[2, "previous_label"] == "상담 지원"
    assert (t2.loc[t2["scope"] == "2020", "identity"] == "").all()   # per-year topics: not matched
    assert (t2.loc[t2["model"] == "dtm", "identity"] == "").all()    # a model the previous run lacks
    assert tr2.set_index(["model", "topic"]).loc[("lda", 5), "identity"] == NEW
    assert [v["previous_topic"] for v in vanished] == [5]
    assert str(t2["previous_topic"].dtype) == "Int64"
    assert new_topics.columns.tolist() == t2.columns.tolist()[:len(new_topics.columns)]
    summary = identity_summary([ident])[0]
    assert len(summary["kept"]) == 5 and [n["topic"] for n in summary["new"]] == [5]


def test_outlier_row_is_kept_when_both_runs_have_outliers(tmp_path):
    prev = topics(5, 31)
    run = _write_run(tmp_path / "prev", "bertopic", prev, VOCAB, arrays="bertopic", outliers=True)
    new, new_vocab = refit(prev, np.arange(5), 32)
    ident = identify_from_run("bertopic", new, new_vocab, run, has_outliers=True)
    traj = pd.DataFrame({"model": "bertopic", "topic": [0, 1, 2, 3, 4, -1], "share": 0.1})
    _, tr, _ = apply_identity(traj.assign(scope="global"), traj, ident)
    row = tr.set_index("topic").loc[-1]
    assert row["identity"] == KEPT and row["previous_topic"] == -1
