"""BERTopic for Korean: real UMAP/HDBSCAN/BERTopic on precomputed embeddings, checked by invariants,
bounds and exact equality across two same-seed fits."""
import json

import numpy as np
import pytest

from textmine.core.config import BertopicConfig, TokenizeConfig
from textmine.io.corpus import load_corpus
from textmine.models import bertopic_model as bm
from textmine.models.embed import CharSvdEmbedder
from textmine.text.tokenize import load_profile, tokenize_texts

FAST = dict(seeds=1, min_cluster_fractions=[0.02, 0.04])


@pytest.fixture(scope="module")
def data(small_synth):
    docs = load_corpus(small_synth).modelling_docs()
    profile = load_profile()
    tokens = tokenize_texts(docs["text"].tolist(), profile, TokenizeConfig(), 2)
    embeddings = CharSvdEmbedder(dim=64, seed=1).embed(docs["text"].tolist())
    truth = json.loads((small_synth / "truth.json").read_text(encoding="utf-8"))["doc_topic"]
    return {"docs": docs, "tokens": tokens, "joined": [" ".join(t) for t in tokens], "emb": embeddings,
            "profile": profile, "truth": [truth[d] for d in docs["doc_id"]]}


@pytest.fixture(scope="module")
def fitted(data):
    return bm.fit_global_bertopic(data["joined"], data["emb"], data["tokens"], BertopicConfig(**FAST), seed=3)


def test_invariants_and_korean_topic_words(fitted, data):
    n = len(data["joined"])
    topics = fitted.native.topics  # hard assignments (BertopicState); doc_topic is them one-hot
    assert topics.shape == (n,) and topics.min() >= -1 and topics.max() < fitted.num_topics
    assert fitted.num_topics >= 2 and len(fitted.native.selection) == 2
    assert fitted.native.min_cluster_size in [r["min_cluster_size"] for r in fitted.native.selection]
    assert all("score" in r for r in fitted.native.selection)
    np.testing.assert_allclose(fitted.topic_word.sum(axis=1), 1.0, atol=1e-6)
    assert fitted.topic_word.shape == (fitted.num_topics, len(fitted.vocabulary))
    doc_topic = fitted.doc_topic
    assert doc_topic.shape == (n, fitted.num_topics + 1) and np.all(doc_topic.sum(axis=1) == 1)
    stop = data["profile"].stopwords
    words = [w for terms in fitted.topic_terms for w, _ in terms]
    assert words and all(len(w) > 1 for w in words), "one-character fragments among topic words"
    assert not stop & set(words), "stopwords among topic words"
    assert all(any("\uac00" <= c <= "\ud7a3" for c in w) or w.isascii() for w in words)
    assert sum(any("\uac00" <= c <= "\ud7a3" for c in w) for w in words) > 0.8 * len(words)


def test_outliers_brought_under_the_target(fitted):
    o = fitted.native.outliers
    assert o["after"] <= 0.10 and o["after"] <= o["before"]
    assert abs(o["after"] - np.mean(fitted.native.topics == -1)) < 1e-4
    assert o["before"] == round(float(np.mean(fitted.native.topics_before == -1)), 4)


def test_topics_agree_with_planted_topics(fitted, data):
    from sklearn.metrics import normalized_mutual_info_score

    # The synthetic opinions carry planted topics; char-SVD + BERTopic must find real structure.
    assert normalized_mutual_info_score(data["truth"], fitted.native.topics) > 0.3


def test_same_seed_identical(fitted, data):
    again = bm.fit_global_bertopic(data["joined"], data["emb"], data["tokens"], BertopicConfig(**FAST), seed=3)
    assert np.array_equal(fitted.native.topics, again.native.topics)
    assert fitted.topic_terms == again.topic_terms
    assert fitted.native.selection == again.native.selection


def test_multi_seed_stability(data):
    result = bm.fit_global_bertopic(data["joined"], data["emb"], data["tokens"],
                                    BertopicConfig(seeds=2, min_cluster_size=12), seed=3)
    assert result.native.selected_by == "fixed" and len(result.native.seed_assignments) == 2
    assert 0 < result.native.stability["mean"] <= 1
    assert len(result.native.stability["per_topic"]) == result.num_topics
    assert result.native.seed in (3, 4)


def test_fixed_number_of_topics_merges_toward_it(data):
    result = bm.fit_global_bertopic(data["joined"], data["emb"], data["tokens"],
                                    BertopicConfig(seeds=1, min_cluster_size=6, num_topics=4), seed=3)
    assert result.num_topics <= 4


@pytest.mark.parametrize("n", [3, 5, 8, 12, 40])
def test_slice_sizes_never_exceed_the_slice(n):
    s = bm.slice_sizes(n, BertopicConfig(), 50)
    assert 2 <= s.n_neighbors < n or n <= 2
    assert s.n_components + 2 <= max(n - 1, 3)
    assert 2 <= s.min_cluster_size <= max(2, n // 2)


def test_small_years_are_modelled_or_reported(data, fitted):
    year = data["docs"]["year"].to_numpy()
    idx = np.flatnonzero(year == year[0])
    config = BertopicConfig(yearly_min_docs=10)
    r = bm.fit_yearly_bertopic([data["joined"][i] for i in idx], data["emb"][idx], fitted.vocabulary, 0.05,
                               config, seed=3)
    assert r is not None and r.topic_word.shape[1] == len(fitted.vocabulary)
    # fewer documents than yearly_min_docs: reported (None), not fitted
    assert bm.fit_yearly_bertopic([data["joined"][i] for i in idx[:8]], data["emb"][idx[:8]], fitted.vocabulary,
                                  0.05, config, seed=3) is None
    # 12 documents with the minimum lowered: tiny, still no UMAP "k >= N" crash
    tiny = idx[:12]
    small = bm.fit_yearly_bertopic([data["joined"][i] for i in tiny], data["emb"][tiny], fitted.vocabulary, 0.05,
                                   BertopicConfig(yearly_min_docs=5), seed=3)
    assert small is None or small.num_topics >= 2


def test_too_few_documents_is_a_clear_error(data):
    from textmine.core.errors import TextmineError

    with pytest.raises(TextmineError, match="at least 10 documents") as info:
        bm.fit_global_bertopic(data["joined"][:5], data["emb"][:5], data["tokens"][:5], BertopicConfig(), seed=1)
    assert "--models lda" in info.value.fix


def test_topics_over_time(fitted, data):
    periods = data["docs"]["year"].tolist()
    table = bm.topics_over_time(fitted, data["joined"], periods, BertopicConfig())
    assert set(table["period"]) == set(periods)
    per_period = table.groupby("period")["frequency"].sum()
    assert (per_period == data["docs"].groupby("year").size()).all()
    assert table["words"].str.len().gt(0).all()


def test_save_and_load_with_safetensors(fitted, tmp_path):
    path = bm.save_model(fitted, tmp_path / "model")
    files = {p.name for p in path.iterdir()}
    assert {"ctfidf.safetensors", "topic_embeddings.safetensors", "textmine.json"} <= files
    assert not any(p.suffix in (".pkl", ".pickle", ".bin") for p in path.iterdir())
    loaded = bm.load_model(path)
    for t in range(fitted.num_topics):
        assert [w for w, _ in loaded.get_topic(t)][:5] == [w for w, _ in fitted.topic_terms[t]][:5]
    assert json.loads((path / "textmine.json").read_text())["topics"] == fitted.native.topics.tolist()


@pytest.mark.parametrize("representation", ["mmr", "keybert"])
def test_representations_rerank_words(data, representation):
    embedder = CharSvdEmbedder(dim=64, seed=1)
    emb = embedder.embed(data["docs"]["text"].tolist())
    config = BertopicConfig(seeds=1, min_cluster_size=12, representation=representation)
    result = bm.fit_global_bertopic(data["joined"], emb, data["tokens"], config, seed=3, embedder=embedder)
    words = [w for terms in result.topic_terms for w, _ in terms]
    assert words and all(len(w) > 1 for w in words)


def test_bertopic_is_imported_without_its_optional_torch_extras(tmp_path):
    """textmine uses no BERTopic part that needs torch or transformers; importing them cost every run 2.2 s.
    In a fresh process: BERTopic fits, saves with safetensors and loads back, and neither was imported; a
    process that loaded transformers first (the sentence-transformers backend) gets BERTopic's extras."""
    import subprocess
    import sys

    script = f"""
import sys
import numpy as np
from textmine.core.config import BertopicConfig
from textmine.models import bertopic_model as bm
rng = np.random.default_rng(0)
centres = rng.normal(size=(4, 16)) * 8
emb = np.vstack([c + rng.normal(size=(60, 16)) for c in centres]).astype(np.float32)
words = [["상담", "진로", "취업", "실습"][i // 60] + " " + ["지원", "운영", "성과"][i % 3] for i in range(240)]
fitted = bm.fit_global_bertopic(words, emb, [w.split() for w in words], BertopicConfig(seeds=1,
                                min_cluster_fractions=[0.1], max_cluster_share=0.5), seed=1)
bm.save_model(fitted, r"{tmp_path / 'model'}")
assert len(bm.load_model(r"{tmp_path / 'model'}").get_topic_info()) >= 2
print(sorted(name for name in ("torch", "transformers", "sentence_transformers") if name in sys.modules))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
    first = ("import transformers, sys; from textmine.models import bertopic_model as bm; "
             "print(type(bm.import_bertopic().backend.MultiModalBackend).__name__)")
    done = subprocess.run([sys.executable, "-c", first], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] != "NotInstalled"
