"""The token cache: hits, misses, and entries it cannot read."""
import logging

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from textmine.cache import TokenCache

TOKENS = [["진로", "상담"], [], ["졸업생"]]
OWNERS = [0, 0, 1]


def test_put_then_get(tmp_path):
    store = TokenCache(tmp_path)
    assert store.get("k") is None
    store.put("k", TOKENS, OWNERS)
    assert store.get("k") == (TOKENS, OWNERS)


@pytest.mark.parametrize("table", [
    pa.table({"owner": [0, 1]}),                                     # no tokens column
    pa.table({"doc": ["a"], "text": ["진로 상담"]}),                  # another layout altogether
    pa.table({"owner": ["x"], "tokens": [["진로"]]}),                 # owner is not an integer
    pa.table({"owner": [0], "tokens": ["진로 상담"]}),                 # tokens are not lists
], ids=["no-tokens", "other-layout", "text-owner", "flat-tokens"])
def test_an_entry_with_another_schema_is_a_logged_miss_and_is_rewritten(tmp_path, caplog, table):
    store = TokenCache(tmp_path)
    store.folder.mkdir(parents=True)
    pq.write_table(table, store.path("k"))
    with caplog.at_level(logging.WARNING, logger="textmine.cache"):
        assert store.get("k") is None  # not a KeyError on this run and every later one
    assert "unreadable" in caplog.text and "rewritten" in caplog.text and "k.parquet" in caplog.text
    store.put("k", TOKENS, OWNERS)
    assert store.get("k") == (TOKENS, OWNERS)


def test_a_damaged_entry_is_a_miss(tmp_path, caplog):
    store = TokenCache(tmp_path)
    store.folder.mkdir(parents=True)
    store.path("k").write_bytes(b"PAR1 not really parquet")
    with caplog.at_level(logging.WARNING, logger="textmine.cache"):
        assert store.get("k") is None
    assert "unreadable" in caplog.text


def test_cached_tokenize_units_recovers_from_a_bad_entry_at_its_key(tmp_path, caplog):
    """The run's own path: a bad-schema file where the key points is tokenized again and replaced."""
    from textmine.cache import cached_tokenize_units, token_key
    from textmine.config import TokenizeConfig
    from textmine.tokenize import load_profile

    texts = ["재학생 진로 상담 체계를 강화할 것", "졸업생 사후 관리가 필요함"]
    profile, config = load_profile(), TokenizeConfig()
    key = token_key(texts, profile.digest(), {"unit": config.unit, "max_chunk_chars": config.max_chunk_chars})
    store = TokenCache(tmp_path)
    store.folder.mkdir(parents=True)
    pq.write_table(pa.table({"owner": [0, 1]}), store.path(key))
    with caplog.at_level(logging.WARNING, logger="textmine.cache"):
        tokens, owners, hit = cached_tokenize_units(texts, profile, config, 1, tmp_path)
    assert not hit and owners == [0, 1] and "진로" in tokens[0] and "unreadable" in caplog.text
    assert store.get(key) == (tokens, owners)
    assert cached_tokenize_units(texts, profile, config, 1, tmp_path) == (tokens, owners, True)


# ---------------------------------------------------------------- the corpus read cache

def _corpus_copy(tmp_path):
    from textmine.synth import SynthSpec, write_corpus

    return write_corpus(tmp_path / "corpus", SynthSpec(seed=3, docs_per_year=12))


def _entries(cache_dir):
    return sorted((cache_dir / "corpus").glob("*.parquet"))


def test_a_cached_corpus_is_the_corpus_read(tmp_path):
    import pandas as pd

    from textmine import corpus as corpus_io
    from textmine.cache import cached_load_corpus
    from textmine.config import CorpusConfig

    path, settings = _corpus_copy(tmp_path), CorpusConfig(cache=True)
    (path / "notes.docx.tmp").write_text("not an opinion")  # an unread file is reported from the cache too
    read = corpus_io.load_corpus(path, settings)
    first = cached_load_corpus(path, settings, tmp_path / "cache")
    second = cached_load_corpus(path, settings, tmp_path / "cache")
    assert len(_entries(tmp_path / "cache")) == 1 and (first.cache, second.cache) == ("miss", "hit")
    for got in (first, second):
        pd.testing.assert_frame_equal(got.docs, read.docs)
        assert (got.files, got.skipped, got.ignored, got.metadata_columns) == \
            (read.files, read.skipped, read.ignored, read.metadata_columns)
        assert got.root == read.root


def test_a_changed_file_or_setting_reads_again(tmp_path):
    from textmine.cache import cached_load_corpus
    from textmine.config import CorpusConfig

    path, cache_dir = _corpus_copy(tmp_path), tmp_path / "cache"
    before = cached_load_corpus(path, CorpusConfig(cache=True), cache_dir)
    data = path / "opinions_2019.csv"
    data.write_text(data.read_text(encoding="utf-8").replace("상담", "면담"), encoding="utf-8")
    after = cached_load_corpus(path, CorpusConfig(cache=True), cache_dir)
    assert after.docs["text"].str.contains("면담").sum() > before.docs["text"].str.contains("면담").sum()
    stricter = cached_load_corpus(path, CorpusConfig(cache=True, min_chars=500), cache_dir)
    assert stricter.docs["is_too_short"].all() and not after.docs["is_too_short"].all()
    assert len(_entries(cache_dir)) == 3


def test_corpus_cache_off_writes_nothing(tmp_path):
    from textmine.cache import cached_load_corpus
    from textmine.config import CorpusConfig

    path = _corpus_copy(tmp_path)
    assert len(cached_load_corpus(path, CorpusConfig(cache=False), tmp_path / "cache").docs) > 0
    assert not (tmp_path / "cache").exists()


def test_a_damaged_corpus_entry_is_a_logged_miss_and_is_rewritten(tmp_path, caplog):
    import pandas as pd

    from textmine.cache import cached_load_corpus
    from textmine.config import CorpusConfig

    path, cache_dir = _corpus_copy(tmp_path), tmp_path / "cache"
    read = cached_load_corpus(path, CorpusConfig(cache=True), cache_dir)
    [entry] = _entries(cache_dir)
    entry.write_bytes(entry.read_bytes()[:100])
    with caplog.at_level(logging.WARNING, logger="textmine.cache"):
        again = cached_load_corpus(path, CorpusConfig(cache=True), cache_dir)
    assert "unreadable" in caplog.text and entry.name in caplog.text
    pd.testing.assert_frame_equal(again.docs, read.docs)
    pd.testing.assert_frame_equal(cached_load_corpus(path, CorpusConfig(cache=True), cache_dir).docs, read.docs)
