"""Kiwi tokenization with the corpus profile (real Kiwi)."""
import pytest

from textmine.config import TokenizeConfig
from textmine.errors import ConfigError
from textmine.tokenize import build_kiwi, load_profile, tokenize_texts

TEXTS = [
    "재학생 대상 비교과 프로그램 운영을 확대할 필요가 있음. 졸업생 사후 관리 체계 마련 요망.",
    "현장실습 학기제와 일경험 프로그램을 강화하기 바람. 고용센터 협업이 요구됨.",
]


def test_programme_terms_stay_whole_and_boilerplate_goes():
    tokens = tokenize_texts(TEXTS, load_profile(), TokenizeConfig(), num_workers=1)
    flat = {t for doc in tokens for t in doc}
    for term in ("재학생", "비교과", "졸업생", "현장실습", "일경험", "고용센터"):
        assert term in flat
    for boiler in ("필요", "확대", "마련", "요망", "강화", "요구"):
        assert boiler not in flat
    assert all(len(t) >= 2 for t in flat)


def test_kiwi_is_built_once_per_profile():
    profile = load_profile()
    assert build_kiwi(profile.user_words, 1) is build_kiwi(profile.user_words, 1)


def test_batches_keep_document_order():
    config = TokenizeConfig(batch_size=1)
    assert tokenize_texts(TEXTS, load_profile(), config, 1) == tokenize_texts(TEXTS, load_profile(), TokenizeConfig(), 1)


def test_corpus_profile_extends_the_default(tmp_path):
    (tmp_path / "profile.toml").write_text('user_words = ["취창업지원단"]\nstopwords = ["체계"]\n', encoding="utf-8")
    profile = load_profile(tmp_path)
    assert "취창업지원단" in profile.user_words and "비교과" in profile.user_words
    tokens = tokenize_texts(["취창업지원단 상담 체계 정비"], profile, TokenizeConfig(), 1)[0]
    assert "취창업지원단" in tokens and "체계" not in tokens
    assert profile.digest() != load_profile().digest()


@pytest.mark.parametrize("content,message", [
    ('user_word = ["x"]\n', "unknown profile key"),
    ('stopwords = "필요"\n', "list of non-empty strings"),
    ('user_words = [\n', "not valid UTF-8 TOML"),
])
def test_invalid_profiles(tmp_path, content, message):
    (tmp_path / "profile.toml").write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as info:
        load_profile(tmp_path)
    assert info.value.file.endswith("profile.toml")


def test_bad_pos_tag():
    with pytest.raises(ConfigError, match="unknown or unsupported POS tag"):
        tokenize_texts(TEXTS, load_profile(), TokenizeConfig(pos_tags=["NNG", "NOUN"]), 1)
