"""The token cache: hits, misses, and entries it cannot read."""
import logging

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from textmine.text.cache import TokenCache

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
    with caplog.at_level(logging.WARNING, logger="textmine.text.cache"):
        assert store.get("k") is None  # not a KeyError on this run and every later one
    assert "unreadable" in caplog.text and "rewritten" in caplog.text and "k.parquet" in caplog.text
    store.put("k", TOKENS, OWNERS)
    assert store.get("k") == (TOKENS, OWNERS)


def test_a_damaged_entry_is_a_miss(tmp_path, caplog):
    store = TokenCache(tmp_path)
    store.folder.mkdir(parents=True)
    store.path("k").write_bytes(b"PAR1 not really parquet")
    with caplog.at_level(logging.WARNING, logger="textmine.text.cache"):
        assert store.get("k") is None
    assert "unreadable" in caplog.text


def test_cached_tokenize_units_recovers_from_a_bad_entry_at_its_key(tmp_path, caplog):
    """The run's own path: a bad-schema file where the key points is tokenized again and replaced."""
    from textmine.text.cache import cached_tokenize_units, token_key, token_settings
    from textmine.core.config import TokenizeConfig
    from textmine.text.tokenize import load_profile

    texts = ["재학생 진로 상담 체계를 강화할 것", "졸업생 사후 관리가 필요함"]
    profile, config = load_profile(), TokenizeConfig()
    key = token_key(texts, profile.digest(), token_settings(config))
    store = TokenCache(tmp_path)
    store.folder.mkdir(parents=True)
    pq.write_table(pa.table({"owner": [0, 1]}), store.path(key))
    with caplog.at_level(logging.WARNING, logger="textmine.text.cache"):
        tokens, owners, hit = cached_tokenize_units(texts, profile, config, 1, tmp_path)
    assert not hit and owners == [0, 1] and "진로" in tokens[0] and "unreadable" in caplog.text
    assert store.get(key) == (tokens, owners)
    assert cached_tokenize_units(texts, profile, config, 1, tmp_path) == (tokens, owners, True)


# ---------------------------------------------------------------- several years in one stage

YEARS = {2015: ["재학생 진로 상담 체계를 강화할 것. 진로 지도 교과를 늘릴 것.", "취업 동아리 운영이 부족함"],
         2016: ["졸업생 사후 관리가 필요함. 지역 청년에게도 문을 열 것."],
         2017: ["현장실습 기업을 넓히고 비교과 프로그램 만족도를 조사할 것", "상담 인력 확충", "모의 면접 확대"]}


def _per_year_alone(config):
    from textmine.text.tokenize import load_profile, tokenize_units

    return {year: tokenize_units(texts, load_profile(), config, 1) for year, texts in YEARS.items()}


@pytest.mark.parametrize("unit", ["document", "sentence"])
@pytest.mark.parametrize("batch_chars", [1, 60, 10_000], ids=["run-per-year", "runs-of-two", "one-run"])
def test_years_tokenized_together_equal_years_tokenized_alone(tmp_path, monkeypatch, unit, batch_chars):
    from textmine.text import tokenize
    from textmine.text.cache import cached_tokenize_units, cached_tokenize_years
    from textmine.core.config import TokenizeConfig

    config = TokenizeConfig(unit=unit, batch_chars=batch_chars)
    alone = _per_year_alone(config)
    calls = []
    real = tokenize.tokenize_units
    monkeypatch.setattr(tokenize, "tokenize_units", lambda texts, *a: calls.append(len(texts)) or real(texts, *a))
    done = cached_tokenize_years(YEARS, tokenize.load_profile(), config, 1, tmp_path)
    assert list(done) == list(YEARS)
    assert {year: (tokens, owners) for year, (tokens, owners, hit) in done.items()} == alone
    assert not any(hit for _, _, hit in done.values())
    chars = [sum(map(len, texts)) for texts in YEARS.values()]
    assert chars == [50, 32, 48]  # so 60 characters cut runs after 2016 (82) and at the end (48)
    assert calls == {1: [2, 1, 3], 60: [3, 3], 10_000: [6]}[batch_chars]
    # Each year has its own entry: the one-year path finds it.
    for year, texts in YEARS.items():
        assert cached_tokenize_units(texts, tokenize.load_profile(), config, 1, tmp_path) == (*alone[year], True)


def test_only_the_years_that_miss_are_tokenized_and_in_one_call(tmp_path, monkeypatch):
    from textmine.text import tokenize
    from textmine.text.cache import cached_tokenize_units, cached_tokenize_years
    from textmine.core.config import TokenizeConfig

    config, profile = TokenizeConfig(), tokenize.load_profile()
    cached_tokenize_units(YEARS[2016], profile, config, 1, tmp_path)
    calls = []
    real = tokenize.tokenize_units
    monkeypatch.setattr(tokenize, "tokenize_units", lambda texts, *a: calls.append(list(texts)) or real(texts, *a))
    done = cached_tokenize_years(YEARS, profile, config, 1, tmp_path)
    assert calls == [YEARS[2015] + YEARS[2017]]
    assert {year: hit for year, (_, _, hit) in done.items()} == {2015: False, 2016: True, 2017: False}
    assert {year: (tokens, owners) for year, (tokens, owners, _) in done.items()} == _per_year_alone(config)


def test_a_crash_keeps_the_years_already_tokenized(tmp_path, monkeypatch):
    from textmine.text import tokenize
    from textmine.text.cache import cached_tokenize_years
    from textmine.core.config import TokenizeConfig

    config, profile = TokenizeConfig(batch_chars=1), tokenize.load_profile()
    real = tokenize.tokenize_units

    def fails_on_2017(texts, *a):
        if texts == YEARS[2017]:
            raise MemoryError("killed while tokenizing 2017")
        return real(texts, *a)

    monkeypatch.setattr(tokenize, "tokenize_units", fails_on_2017)
    with pytest.raises(MemoryError):
        cached_tokenize_years(YEARS, profile, config, 1, tmp_path)
    monkeypatch.setattr(tokenize, "tokenize_units", real)
    done = cached_tokenize_years(YEARS, profile, config, 1, tmp_path)
    assert {year: hit for year, (_, _, hit) in done.items()} == {2015: True, 2016: True, 2017: False}
    assert len(list((tmp_path / "tokens").glob("*.parquet"))) == 3


# ---------------------------------------------------------------- the corpus read cache

def _corpus_copy(tmp_path):
    from textmine.synth.synth import SynthSpec, write_corpus

    return write_corpus(tmp_path / "corpus", SynthSpec(seed=3, docs_per_year=12))


def _entries(cache_dir):
    return sorted((cache_dir / "corpus").glob("*.parquet"))


def test_a_cached_corpus_is_the_corpus_read(tmp_path):
    import pandas as pd

    from textmine.io import corpus as corpus_io
    from textmine.io.corpus_cache import cached_load_corpus
    from textmine.core.config import CorpusConfig

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
    from textmine.io.corpus_cache import cached_load_corpus
    from textmine.core.config import CorpusConfig

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
    from textmine.io.corpus_cache import cached_load_corpus
    from textmine.core.config import CorpusConfig

    path = _corpus_copy(tmp_path)
    assert len(cached_load_corpus(path, CorpusConfig(cache=False), tmp_path / "cache").docs) > 0
    assert not (tmp_path / "cache").exists()


def test_a_damaged_corpus_entry_is_a_logged_miss_and_is_rewritten(tmp_path, caplog):
    import pandas as pd

    from textmine.io.corpus_cache import cached_load_corpus
    from textmine.core.config import CorpusConfig

    path, cache_dir = _corpus_copy(tmp_path), tmp_path / "cache"
    read = cached_load_corpus(path, CorpusConfig(cache=True), cache_dir)
    [entry] = _entries(cache_dir)
    entry.write_bytes(entry.read_bytes()[:100])
    with caplog.at_level(logging.WARNING, logger="textmine.text.cache"):
        again = cached_load_corpus(path, CorpusConfig(cache=True), cache_dir)
    assert "unreadable" in caplog.text and entry.name in caplog.text
    pd.testing.assert_frame_equal(again.docs, read.docs)
    pd.testing.assert_frame_equal(cached_load_corpus(path, CorpusConfig(cache=True), cache_dir).docs, read.docs)
