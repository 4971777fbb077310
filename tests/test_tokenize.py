"""Kiwi tokenization with the corpus profile (real Kiwi)."""
import pytest

from textmine.core.config import TokenizeConfig
from textmine.core.errors import ConfigError
from textmine.io.corpus import load_corpus
from textmine.text.tokenize import (
    chunk_text, discover_terms, kiwi_for, load_profile, merge_collocations, tokenize_texts, tokenize_units)

from conftest import BUNDLED

TEXTS = [
    "재학생 대상 비교과 프로그램 운영을 확대할 필요가 있음. 졸업생 사후 관리 체계 마련 요망.",
    "현장실습 학기제와 일경험 프로그램을 강화하기 바람. 고용센터 협업이 요구됨. NCS 기반 교육 필요.",
]
BOILERPLATE = ("필요", "강화", "방안", "마련", "바람", "요망", "검토", "노력")


def _tok(texts, profile=None, **config):
    return tokenize_texts(texts, profile or load_profile(), TokenizeConfig(**config), 1)


def test_programme_terms_stay_whole_and_boilerplate_goes():
    flat = {t for doc in _tok(TEXTS) for t in doc}
    for term in ("재학생", "비교과", "졸업생", "현장실습", "일경험", "고용센터", "NCS"):
        assert term in flat
    for boiler in BOILERPLATE + ("확대", "요구"):
        assert boiler not in flat
    assert all(len(t) >= 2 for t in flat)


def test_bundled_corpus_keeps_compounds_whole():
    docs = load_corpus(BUNDLED).modelling_docs().head(600)
    flat = {t for doc in _tok(docs["text"].tolist()) for t in doc}
    assert {"비교과", "재학생", "졸업생", "현장실습"} <= flat
    assert not flat & set(BOILERPLATE)
    assert "교과" not in flat and "재학" not in flat  # the fragments Kiwi makes without the profile


def test_synonyms_are_merged():
    tokens = _tok(["인턴 제도와 졸업자 관리, 고용복지센터 협업"])[0]
    assert "인턴십" in tokens and "졸업생" in tokens and "고용센터" in tokens
    assert "인턴" not in tokens and "졸업자" not in tokens


def test_kiwi_is_built_once_per_profile():
    profile = load_profile()
    assert kiwi_for(profile, 1) is kiwi_for(profile, 1)


def test_batches_and_chunks_keep_document_order():
    reference = _tok(TEXTS)
    assert _tok(TEXTS, batch_chars=10) == reference
    assert _tok(TEXTS, max_chunk_chars=30) == reference  # chunks cut at sentence ends lose nothing


def test_chunking_long_text():
    text = "상담 체계를 강화할 것. " * 2000
    pieces = chunk_text(text, 5000)
    assert "".join(pieces) == text and max(map(len, pieces)) <= 5000
    assert all(p.endswith(" ") for p in pieces[:-1])


def test_a_one_megabyte_document_is_tokenized_in_chunks():
    text = "대학일자리플러스센터의 비교과 프로그램 운영 실적을 점검함. " * 30000
    assert len(text.encode()) > 1_000_000
    tokens = _tok([text, "졸업생 관리"])
    assert tokens[0].count("비교과") == 30000 and tokens[1] == ["졸업생", "관리"]


@pytest.mark.parametrize("text", ["1234 5678 -- !!! ###", "😀😀 🎉", "\x07\x08"])
def test_texts_without_words_give_no_tokens(text):
    assert _tok([text]) == [[]]


def test_mixed_script_english_and_hanja():
    tokens = _tok(["Career counseling program 강화 필요. 大學 就業 지원"])[0]
    assert "CAREER" in tokens and "COUNSELING" in tokens and "지원" in tokens


def test_sentence_units_keep_their_document():
    tokens, owners = tokenize_units(TEXTS, load_profile(), TokenizeConfig(unit="sentence"), 1)
    assert owners == [0, 0, 1, 1, 1]
    assert "비교과" in tokens[0] and "졸업생" in tokens[1]


def test_collocations_join_frequent_pairs():
    docs = [["진로", "상담", "강화"], ["진로", "상담"], ["예산", "집행"]] * 20 + [["진로", "예산"], ["상담", "집행"]]
    merged = merge_collocations(docs, min_count=5, threshold=0.5)
    assert merged[0][0] == "진로_상담" and merged[2] == ["예산_집행"]


def test_corpus_profile_extends_the_default(tmp_path):
    (tmp_path / "profile.toml").write_text(
        'user_words = ["취창업지원단", "청년드림/NNP"]\nstopwords = ["체계"]\n[synonyms]\n"잡페어" = "취업박람회"\n',
        encoding="utf-8")
    profile = load_profile(tmp_path)
    words = [w for w, _ in profile.user_words]
    assert "취창업지원단" in words and "비교과" in words and ("청년드림", "NNP") in profile.user_words
    assert profile.synonyms["잡페어"] == "취업박람회" and profile.synonyms["인턴"] == "인턴십"
    tokens = tokenize_texts(["취창업지원단 상담 체계 정비와 잡페어"], profile, TokenizeConfig(), 1)[0]
    assert "취창업지원단" in tokens and "체계" not in tokens and "취업박람회" in tokens
    assert profile.digest() != load_profile().digest()


def test_dictionary_file(tmp_path):
    (tmp_path / "terms.txt").write_text("취창업지원단\tNNG\t0\n", encoding="utf-8")
    (tmp_path / "profile.toml").write_text('dictionary_file = "terms.txt"\n', encoding="utf-8")
    profile = load_profile(tmp_path)
    assert "취창업지원단" in tokenize_texts(["취창업지원단 운영"], profile, TokenizeConfig(), 1)[0]


@pytest.mark.parametrize("content,message", [
    ('user_word = ["x"]\n', "unknown profile key"),
    ('stopwords = "필요"\n', "list of non-empty strings"),
    ('user_words = [\n', "not a valid TOML file"),
    ('pos_tags = ["NNG", "NOUN"]\n', "unknown or unsupported POS tag"),
    ('user_words = ["비교과/NOUN"]\n', "unknown tag 'NOUN'"),
    ('min_token_len = 0\n', "min_token_len"),
    ('[kiwi]\nmodel_type = "huge"\n', "unknown Kiwi model_type"),
    ('[kiwi]\nspeed = 3\n', "unknown \\[kiwi\\] option"),
    ('synonyms = 3\n', "must be a \\[synonyms\\] table"),
    ('dictionary_file = "missing.txt"\n', "cannot be read"),
])
def test_invalid_profiles(tmp_path, content, message):
    (tmp_path / "profile.toml").write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as info:
        load_profile(tmp_path)
    assert info.value.file.endswith("profile.toml")


def test_bad_dictionary_line(tmp_path):
    (tmp_path / "terms.txt").write_text("좋은줄\tNNG\n나쁜 줄 태그없음\n", encoding="utf-8")
    (tmp_path / "profile.toml").write_text('dictionary_file = "terms.txt"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_profile(tmp_path)
    assert info.value.row == 2 and info.value.file.endswith("terms.txt")


def test_profile_that_is_not_utf8(tmp_path):
    (tmp_path / "profile.toml").write_bytes('stopwords = ["필요"]\n'.encode("cp949"))
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_profile(tmp_path)


def test_term_discovery_finds_what_kiwi_splits():
    import random

    rng = random.Random(0)
    contexts = ["센터의", "학과와", "지역의", "대학의", "올해", "작년", "우리", "해당"]
    texts = [f"{rng.choice(contexts)} 취창업지원단{rng.choice(['의', '은', '과', '에서', '이'])} {rng.choice(contexts)} 운영"
             for _ in range(200)]
    terms = discover_terms(texts, load_profile(), 1, min_count=5, min_score=0.0)
    words = {t["word"]: t for t in terms}
    assert "취창업지원단" in words and words["취창업지원단"]["frequency"] == 200
    assert all(t["frequency"] >= 5 for t in terms)
    assert not any(w.endswith(("의", "에서")) for w in words)  # fragments with particles are left out


def test_tokenless_documents_are_dropped_and_counted():
    import pandas as pd

    from textmine.core.errors import TextmineError
    from textmine.text.tokenize import drop_tokenless

    docs = pd.DataFrame({"doc_id": ["a", "b", "c"], "year": [2019, 2019, 2020]})
    tokens = [["상담"], [], ["졸업생"], []]
    owners = [0, 1, 2, 2]
    kept, toks, own, dropped = drop_tokenless(docs, tokens, owners, "x")
    assert kept["doc_id"].tolist() == ["a", "c"] and toks == [["상담"], ["졸업생"]] and own == [0, 1]
    assert dropped == {"2019": 1, "2020": 0}
    with pytest.raises(TextmineError, match="no opinion has any word"):
        drop_tokenless(docs, [[], [], []], [0, 1, 2], "x")


# A corpus of numbers only fails in the flow's tokenize stage: tests/test_cli.py
# (test_subprocess_error_inside_the_flow_has_no_traceback) runs it through the command.


# ---------------------------------------------------------------- derived nouns ([kiwi] options)

def test_derived_nouns_follow_the_profile(tmp_path):
    text = "비대면 상담과 취업률, 학생들의 미참여"
    assert _tok([text])[0] == ["비대면", "상담", "취업률", "미참여"]
    (tmp_path / "profile.toml").write_text('[kiwi]\njoin_noun_prefix = false\nnoun_suffixes = []\n'
                                           'misread_prefixes = []\n', encoding="utf-8")
    plain = _tok([text], load_profile(tmp_path))[0]  # [kiwi] options replace the default's, lists too
    assert plain == ["대면", "상담", "취업률", "참여"]  # 취업률 is also a user word


def test_suffixes_join_only_when_written_together_and_only_those_listed():
    tokens = _tok(["취업 률 관리와 취업률 관리, 학생들과 학과별 체계적인 관리"])[0]
    assert tokens.count("취업률") == 1 and tokens.count("취업") == 1  # '취업 률' is two words
    assert "학과" in tokens and "체계" in tokens  # 별 and 적 are not joined
    assert not any(t.endswith("들") for t in tokens)


def test_stopwords_and_synonyms_apply_to_the_whole_derived_word(tmp_path):
    (tmp_path / "profile.toml").write_text('stopwords = ["전문성"]\n[synonyms]\n"미취업자" = "미취업"\n',
                                           encoding="utf-8")
    tokens = _tok(["체계화와 체계, 전문성과 전문 인력, 미취업자와 미취업"], load_profile(tmp_path))[0]
    assert "체계화" not in tokens and "체계" in tokens  # 체계화 is a default stopword, 체계 is not
    assert "전문성" not in tokens and "전문" in tokens
    assert tokens.count("미취업") == 2


def test_a_changed_derivation_misses_the_token_cache(tmp_path):
    from textmine.text.cache import token_key, token_settings

    default = load_profile()
    (tmp_path / "profile.toml").write_text('[kiwi]\njoin_noun_prefix = false\n', encoding="utf-8")
    changed = load_profile(tmp_path)
    settings = token_settings(TokenizeConfig())
    assert token_key(["비대면"], default.token_digest(), settings) != token_key(["비대면"], changed.token_digest(),
                                                                              settings)
    assert "selection" in settings  # the selection code's digest: a change to the rules misses too


@pytest.mark.parametrize("content,message", [
    ('[kiwi]\njoin_noun_prefix = "yes"\n', "join_noun_prefix must be true or false"),
    ('[kiwi]\nnoun_suffixes = ["권", "률률"]\n', "noun_suffixes must be a list of one-syllable strings"),
    ('[kiwi]\nmisread_prefixes = "미"\n', "misread_prefixes must be a list"),
])
def test_invalid_derivation_options(tmp_path, content, message):
    (tmp_path / "profile.toml").write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_profile(tmp_path)


def test_bundled_opinions_that_say_mi_chwieop_keep_it():
    docs = load_corpus(BUNDLED).modelling_docs()
    saying = docs[docs["text"].str.contains("미취업")]["text"].tolist()
    assert len(saying) > 100
    assert all("미취업" in tokens for tokens in _tok(saying))
