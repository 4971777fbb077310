"""Korean tokenization with Kiwi: nouns kept, compounds whole, boilerplate out.

A *profile* (TOML, versioned, hashed into the manifest) carries what is
specific to a corpus: Kiwi user words for programme terms, POS tags to keep,
stopwords (evaluation boilerplate included), synonym merges, minimum token
length, Kiwi model options, and the titles/names used for PII masking.  The
built-in profile (``textmine/text/profiles/default.toml``) is extended by a
``profile.toml`` beside the corpus and then by one named in the config.

Speed: Kiwi loads in about a second, so one instance per (profile, workers) is
built per process; texts go to ``Kiwi.tokenize(list)`` (its multi-threaded
path) in batches bounded by characters, and very long texts are cut into
chunks first, because Kiwi's time on a single huge string grows much faster
than linearly (a 0.9 M-character text: 128 s whole, 4 s in 5,000-character chunks).
"""
from __future__ import annotations

import copy
import functools
import hashlib
import inspect
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from textmine.core.config import TokenizeConfig
from textmine.core.errors import ConfigError, TextmineError
from textmine.core.files import read_toml

DEFAULT_PROFILE = Path(__file__).parent / "profiles" / "default.toml"
# Kiwi tags that make sense as topic-model tokens (Sejong tag set as used by Kiwi).
KNOWN_TAGS = {"NNG", "NNP", "NNB", "NR", "NP", "VV", "VA", "XR", "SL", "SH", "MAG"}
USER_WORD_TAGS = {"NNG", "NNP", "VV", "VA", "XR", "SL"}
KIWI_MODEL_TYPES = {"none", "largest", "knlm", "sbg", "cong", "cong-global"}
KIWI_TYPOS = {"none", "basic", "continual", "basic_with_continual", "lengthening", "basic_with_continual_and_lengthening"}
# [kiwi] options: the first two build the Kiwi model, the others decide how derived nouns are read.
KIWI_MODEL_OPTIONS = {"model_type", "typos"}
KIWI_DERIVATION_OPTIONS = {"join_noun_prefix", "noun_suffixes", "misread_prefixes"}
NOUN_TAGS = ("NNG", "NNP")
LIST_KEYS = {"user_words", "stopwords"}
TABLE_KEYS = {"synonyms", "kiwi", "pii"}
PII_KEYS = {"titles", "names", "signatures", "name_columns"}  # textmine.text.pii reads them
SCALAR_KEYS = {"version", "pos_tags", "min_token_len", "dictionary_file"}
# [seed_topics]: "name" = ["word", ...]; guided topics (textmine.models.lda / bertopic_model / dtm).  Merged by
# name: a later profile's list for a name replaces the earlier one, new names are added after the others.
SEED_TOPICS_KEY = "seed_topics"
MAX_SEED_NAME = 40
PROFILE_KEYS = LIST_KEYS | TABLE_KEYS | SCALAR_KEYS | {SEED_TOPICS_KEY}
_SENTENCE_END = re.compile(r"(?<=[.!?。])\s+|\n+")


@dataclass(frozen=True)
class Profile:
    """The merged profile.  ``data`` is plain TOML-like data; ``sources`` where it came from."""

    data: dict
    sources: tuple[str, ...]

    @property
    def user_words(self) -> tuple[tuple[str, str], ...]:
        out = []
        for entry in self.data.get("user_words", []):
            word, _, tag = entry.partition("/")
            out.append((word.strip(), tag.strip() or "NNG"))
        return tuple(out)

    @property
    def stopwords(self) -> frozenset[str]:
        return frozenset(self.data.get("stopwords", []))

    @property
    def synonyms(self) -> dict[str, str]:
        return dict(self.data.get("synonyms", {}))

    @property
    def pos_tags(self) -> tuple[str, ...]:
        return tuple(self.data.get("pos_tags", ["NNG", "NNP"]))

    @property
    def min_token_len(self) -> int:
        return int(self.data.get("min_token_len", 2))

    @property
    def kiwi_options(self) -> tuple[tuple[str, Any], ...]:
        """The options that build the Kiwi model (model_type, typos)."""
        return tuple(sorted((k, v) for k, v in self.data.get("kiwi", {}).items() if k in KIWI_MODEL_OPTIONS))

    def without_derivation(self) -> "Profile":
        """The same profile with Kiwi's plain analysis of derived nouns (no [kiwi] join options): what
        textmine tokenized before them, for measuring what they add."""
        kiwi = {k: v for k, v in self.data.get("kiwi", {}).items() if k not in KIWI_DERIVATION_OPTIONS}
        return Profile(data={**self.data, "kiwi": kiwi}, sources=self.sources)

    @property
    def derivation(self) -> "Derivation":
        """How prefixes and suffixes join their nouns ([kiwi] join_noun_prefix, noun_suffixes,
        misread_prefixes); without them, Kiwi's plain analysis (a prefix or suffix is dropped)."""
        kiwi = self.data.get("kiwi", {})
        return Derivation(join_noun_prefix=bool(kiwi.get("join_noun_prefix", False)),
                          noun_suffixes=frozenset(kiwi.get("noun_suffixes", [])),
                          misread_prefixes=frozenset(kiwi.get("misread_prefixes", [])))

    @property
    def dictionary_file(self) -> str | None:
        return self.data.get("dictionary_file")

    @property
    def seed_topics(self) -> dict[str, list[str]]:
        """Seeded topics in profile order: name -> seed words, written the way tokens are (Latin script
        upper-cased, synonyms merged), duplicates dropped.  Empty when the profile has none."""
        synonyms = self.synonyms
        out: dict[str, list[str]] = {}
        for name, words in self.data.get(SEED_TOPICS_KEY, {}).items():
            normal = []
            for word in words:
                word = word.strip()
                word = word.upper() if word.isascii() else word
                word = synonyms.get(word, word)
                if word not in normal:
                    normal.append(word)
            out[name.strip()] = normal
        return out

    @property
    def pii_titles(self) -> tuple[str, ...]:
        return tuple(self.data.get("pii", {}).get("titles", []))

    @property
    def pii_names(self) -> tuple[str, ...]:
        return tuple(self.data.get("pii", {}).get("names", []))

    def pii_list(self, key: str) -> tuple[str, ...]:
        """A list of the [pii] table (signatures, name_columns ...)."""
        return tuple(self.data.get("pii", {}).get(key, []))

    def digest(self) -> str:
        """Of everything in the profile.  Seeds count in their order (seed i goes to topic i), and a
        profile without seeds keeps the digest it had before seeds existed."""
        payload = self.token_digest_payload()
        if self.data.get(SEED_TOPICS_KEY):
            payload += json.dumps(list(self.data[SEED_TOPICS_KEY].items()), ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def token_digest(self) -> str:
        """Of what changes tokens only ([seed_topics] left out): a token cache keyed by it is not
        invalidated by editing seeds, which only change the models."""
        return hashlib.sha256(self.token_digest_payload().encode()).hexdigest()[:16]

    def token_digest_payload(self) -> str:
        payload = json.dumps({k: v for k, v in self.data.items() if k != SEED_TOPICS_KEY}, ensure_ascii=False,
                             sort_keys=True)
        if self.dictionary_file:
            payload += hashlib.sha256(Path(self.dictionary_file).read_bytes()).hexdigest()
        return payload


@dataclass(frozen=True)
class Derivation:
    """Derived nouns kept whole: 비대면 is not 대면, 미취업 not 취업, 수도권 not 수도.

    ``join_noun_prefix``: Kiwi's ``Match.JOIN_NOUN_PREFIX`` joins a noun prefix (XPN: 비-, 미-, 무-,
    불-, 재-...) to its noun. ``noun_suffixes``: the noun suffixes (XSN) that make a new word and are
    joined to the noun written right before them (취업+률, 전문+성, 체계+화); the others (들, 님, 별,
    적...) are dropped as before. ``misread_prefixes``: one-syllable prefixes that Kiwi sometimes reads
    as a proper noun (미 as 美, the USA: 미/NNP + 참여) and that are joined to a noun written right
    after them.
    """

    join_noun_prefix: bool = False
    noun_suffixes: frozenset[str] = frozenset()
    misread_prefixes: frozenset[str] = frozenset()

    def match_options(self) -> int:
        from kiwipiepy import Match

        return Match.ALL | Match.JOIN_NOUN_PREFIX if self.join_noun_prefix else Match.ALL


def _fail(path: Path, problem: str, fix: str) -> ConfigError:
    return ConfigError(problem, file=path, fix=fix)


def _check_profile(data: dict, path: Path) -> dict:
    unknown = set(data) - PROFILE_KEYS
    if unknown:
        raise _fail(path, f"unknown profile key(s): {', '.join(sorted(unknown))}",
                    f"a profile may set {', '.join(sorted(PROFILE_KEYS))}")
    for key in LIST_KEYS:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise _fail(path, f"'{key}' must be a list of non-empty strings", f'write {key} = ["..."]')
    for entry in data.get("user_words", []):
        tag = entry.partition("/")[2].strip()
        if tag and tag not in USER_WORD_TAGS:
            raise _fail(path, f"user word '{entry}' has an unknown tag '{tag}'",
                        f"use word or word/TAG with TAG one of {', '.join(sorted(USER_WORD_TAGS))}")
    if "pos_tags" in data:
        tags = data["pos_tags"]
        bad = [t for t in tags if t not in KNOWN_TAGS] if isinstance(tags, list) else [str(tags)]
        if bad or not tags:
            raise _fail(path, f"unknown or unsupported POS tag(s): {', '.join(bad) or '(none given)'}",
                        f"pos_tags may use: {', '.join(sorted(KNOWN_TAGS))}")
    if "min_token_len" in data and (not isinstance(data["min_token_len"], int) or data["min_token_len"] < 1):
        raise _fail(path, "'min_token_len' must be a whole number of at least 1", "e.g. min_token_len = 2")
    for key in TABLE_KEYS:
        if key in data and not isinstance(data[key], dict):
            raise _fail(path, f"'{key}' must be a [{key}] table", f"write [{key}] followed by its settings")
    for variant, canonical in data.get("synonyms", {}).items():
        if not isinstance(canonical, str) or not canonical.strip():
            raise _fail(path, f"synonym '{variant}' must map to a word", f'write "{variant}" = "canonical word"')
    kiwi = data.get("kiwi", {})
    known_kiwi = KIWI_MODEL_OPTIONS | KIWI_DERIVATION_OPTIONS
    if set(kiwi) - known_kiwi:
        raise _fail(path, f"unknown [kiwi] option(s): {', '.join(sorted(set(kiwi) - known_kiwi))}",
                    f"[kiwi] takes {', '.join(sorted(known_kiwi))}")
    if "join_noun_prefix" in kiwi and not isinstance(kiwi["join_noun_prefix"], bool):
        raise _fail(path, "[kiwi] join_noun_prefix must be true or false", "e.g. join_noun_prefix = true")
    for key in ("noun_suffixes", "misread_prefixes"):
        value = kiwi.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and len(v.strip()) == 1 for v in value):
            raise _fail(path, f"[kiwi] {key} must be a list of one-syllable strings", f'e.g. {key} = ["권", "화"]')
    if "model_type" in kiwi and kiwi["model_type"] not in KIWI_MODEL_TYPES:
        raise _fail(path, f"unknown Kiwi model_type '{kiwi['model_type']}'", f"use one of {', '.join(sorted(KIWI_MODEL_TYPES))}")
    if "typos" in kiwi and kiwi["typos"] not in KIWI_TYPOS:
        raise _fail(path, f"unknown Kiwi typos option '{kiwi['typos']}'", f"use one of {', '.join(sorted(KIWI_TYPOS))}")
    if SEED_TOPICS_KEY in data:
        _check_seed_topics(data[SEED_TOPICS_KEY], path)
    pii = data.get("pii", {})
    if set(pii) - PII_KEYS:
        raise _fail(path, f"unknown [pii] option(s): {', '.join(sorted(set(pii) - PII_KEYS))}",
                    f"[pii] takes {', '.join(sorted(PII_KEYS))}")
    for key in PII_KEYS & set(pii):
        if not isinstance(pii[key], list) or not all(isinstance(v, str) for v in pii[key]):
            raise _fail(path, f"[pii] {key} must be a list of words", f'e.g. {key} = ["팀장", "센터장"]')
    if "dictionary_file" in data:
        dict_path = (path.parent / str(data["dictionary_file"])).resolve()
        try:
            lines = dict_path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise _fail(path, f"the Kiwi dictionary file {dict_path} cannot be read ({exc.__class__.__name__})",
                        "point dictionary_file at a UTF-8 text file of 'word<TAB>TAG' lines") from None
        for number, line in enumerate(lines, start=1):
            if line.strip() and not line.startswith("#"):
                parts = line.split("\t")
                if len(parts) < 2 or parts[1].strip() not in USER_WORD_TAGS:
                    raise ConfigError("not a Kiwi user dictionary line (word<TAB>TAG[<TAB>score])",
                                      file=dict_path, row=number, fix="fix or remove the line")
        data["dictionary_file"] = str(dict_path)
    return data


def _check_seed_topics(seeds, path: Path) -> None:
    """[seed_topics]: names of at most MAX_SEED_NAME characters, each with a non-empty list of single words."""
    example = '[seed_topics]\n"진로 지도" = ["진로", "탐색", "설계"]'
    if not isinstance(seeds, dict):
        raise _fail(path, "'seed_topics' must be a [seed_topics] table of named seed-word lists",
                    f"write {example}")
    for name, words in seeds.items():
        if not name.strip():
            raise _fail(path, "a seed topic in [seed_topics] has an empty name",
                        "give it a name (it becomes the topic's label), e.g. " + example.split("\n")[1])
        if len(name.strip()) > MAX_SEED_NAME:
            raise _fail(path, f"seed topic name '{name}' in [seed_topics] is {len(name.strip())} characters long, "
                              f"more than {MAX_SEED_NAME}",
                        f"shorten it to at most {MAX_SEED_NAME} characters (it is a label in tables and charts)")
        if not isinstance(words, list) or not words:
            raise _fail(path, f"seed topic '{name}' in [seed_topics] must be a non-empty list of seed words",
                        f'write "{name}" = ["word", "word", ...]')
        for word in words:
            if not isinstance(word, str) or not word.strip():
                raise _fail(path, f"seed topic '{name}' in [seed_topics] has a seed word that is not a word "
                                  f"({word!r})", f'write "{name}" = ["word", "word", ...] with non-empty strings')
            if len(word.split()) > 1:
                raise _fail(path, f"seed word '{word}' of seed topic '{name}' in [seed_topics] is more than one word",
                            "seed words are single tokens: list the words separately, or add the compound to "
                            "user_words and write it without spaces")


def _read_profile_file(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError("profile file not found", file=path, fix="check tokenize.profile in the config")
    data = read_toml(path, nested_fix="a profile holds flat lists and tables (see textmine/text/profiles/default.toml)")
    return _check_profile(data, path)


def _merge(base: dict, extra: dict) -> dict:
    """Lists extend, tables merge (their lists extend, except [kiwi]'s options), scalars replace."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if key in LIST_KEYS:
            out[key] = out.get(key, []) + [v for v in value if v not in out.get(key, [])]
        elif key == SEED_TOPICS_KEY:  # by name: a later list replaces, new names come after
            out[key] = {**out.get(key, {}), **value}
        elif key == "kiwi":  # options, not vocabulary: a later value replaces (noun_suffixes = [] turns joining off)
            out[key] = {**out.get(key, {}), **value}
        elif key in TABLE_KEYS:
            merged = dict(out.get(key, {}))
            for k, v in value.items():
                merged[k] = (merged.get(k, []) + [x for x in v if x not in merged.get(k, [])]) \
                    if isinstance(v, list) and isinstance(merged.get(k), list) else v
            out[key] = merged
        else:
            out[key] = value
    return out


def load_profile(corpus_path: str | Path | None = None, extra: str | Path | None = None) -> Profile:
    """The built-in profile, extended by the corpus's profile.toml and then by ``extra``."""
    paths = [DEFAULT_PROFILE]
    if corpus_path is not None:
        root = Path(corpus_path)
        beside = (root if root.is_dir() else root.parent) / "profile.toml"
        if beside.is_file():
            paths.append(beside)
    if extra is not None:
        paths.append(Path(extra))
    data: dict = {}
    for path in paths:
        data = _merge(data, _read_profile_file(path))
    return Profile(data=data, sources=tuple(map(str, paths)))


@functools.lru_cache(maxsize=4)
def build_kiwi(user_words: tuple[tuple[str, str], ...], num_workers: int,
               kiwi_options: tuple[tuple[str, Any], ...] = (), dictionary_file: str | None = None):
    """One Kiwi per process and profile: loading the model costs about a second."""
    from kiwipiepy import Kiwi

    options = dict(kiwi_options)
    if options.get("typos") == "none":
        options.pop("typos")
    kiwi = Kiwi(num_workers=num_workers, **options)
    if dictionary_file:
        kiwi.load_user_dictionary(dictionary_file)
    for word, tag in user_words:
        kiwi.add_user_word(word, tag, 0.0)
    return kiwi


def kiwi_for(profile: Profile, num_workers: int):
    return build_kiwi(profile.user_words, num_workers, profile.kiwi_options, profile.dictionary_file)


def chunk_text(text: str, max_chars: int) -> list[str]:
    """Cut a long text into pieces of at most ``max_chars``, at sentence ends or spaces where possible."""
    if len(text) <= max_chars:
        return [text]
    pieces, start = [], 0
    while start < len(text):
        end = min(start + max_chars, len(text))
        if end < len(text):
            window = text[start:end]
            cut = max((m.end() for m in _SENTENCE_END.finditer(window)), default=0)
            if cut < max_chars // 2:
                cut = window.rfind(" ") + 1
            if cut > 0:
                end = start + cut
        pieces.append(text[start:end])
        start = end
    return pieces


def _batches(texts: Sequence[str], config: TokenizeConfig) -> Iterator[tuple[list[int], list[str]]]:
    """(owner index per piece, pieces) batches of at most ``batch_chars`` characters."""
    owners: list[int] = []
    pieces: list[str] = []
    size = 0
    for i, text in enumerate(texts):
        for piece in chunk_text(text, config.max_chunk_chars):
            owners.append(i)
            pieces.append(piece)
            size += len(piece)
            if size >= config.batch_chars:
                yield owners, pieces
                owners, pieces, size = [], [], 0
    if pieces:
        yield owners, pieces


def tokenize_texts(texts: Sequence[str], profile: Profile, config: TokenizeConfig, num_workers: int) -> list[list[str]]:
    """Token lists in the order of ``texts`` (long texts chunked, batches bounded by characters)."""
    kiwi = kiwi_for(profile, num_workers)
    derivation = profile.derivation
    match_options = derivation.match_options()
    select = functools.partial(select_tokens, keep=frozenset(profile.pos_tags), stopwords=profile.stopwords,
                               synonyms=profile.synonyms, min_len=profile.min_token_len, derivation=derivation)
    out: list[list[str]] = [[] for _ in texts]
    for owners, pieces in _batches(texts, config):
        for owner, tokens in zip(owners, kiwi.tokenize(pieces, match_options=match_options)):
            out[owner].extend(select(tokens))
    return out


@functools.cache
def selection_digest() -> str:
    """Of the code that turns Kiwi's analysis into tokens: the token cache key holds it, so that a
    change to the rules misses the cache even where the profile did not change."""
    return hashlib.sha256(inspect.getsource(select_tokens).encode()).hexdigest()[:16]


def select_tokens(tokens, keep: frozenset[str], stopwords: frozenset[str], synonyms: dict[str, str], min_len: int,
                  derivation: Derivation = Derivation()) -> list[str]:
    """The modelling tokens of one Kiwi analysis: kept tags, derived nouns joined, synonyms merged,
    short words and stopwords out.

    A noun stays open until the next morpheme: a suffix of ``derivation.noun_suffixes`` written right
    after it (no space) joins it (취업+률 -> 취업률); only then are synonyms, length and stopwords
    applied, to the whole word (체계화 is a stopword, 체계 is not).
    """
    words: list[str] = []
    suffixes, misread = derivation.noun_suffixes, derivation.misread_prefixes
    stem, stem_tag, stem_end = "", "", -1  # the open noun (stem == "" when none)
    prefix, prefix_end = "", -1  # a misread prefix waiting for its noun

    def emit(form: str, tag: str) -> None:
        if tag not in keep:
            return
        # Verbs/adjectives become lemmas (운영하다); Latin script is case-folded (ncs -> NCS).
        form = form + "다" if tag in ("VV", "VA") else form.upper() if tag == "SL" else form
        form = synonyms.get(form, form)
        if len(form) >= min_len and form not in stopwords:
            words.append(form)

    for token in tokens:
        tag = token.tag
        if stem:
            if tag == "XSN" and token.form in suffixes and token.start == stem_end:
                stem += token.form
                stem_end = token.start + token.len
                continue
            emit(stem, stem_tag)
            stem = ""
        if tag in NOUN_TAGS:
            form, start = token.form, token.start
            if prefix:
                if start == prefix_end:
                    form, tag = prefix + form, "NNG"
                else:
                    emit(prefix, "NNP")
                prefix = ""
            elif form in misread and tag == "NNP":
                prefix, prefix_end = form, start + token.len
                continue
            stem, stem_tag, stem_end = form, tag, start + token.len
            continue
        if prefix:
            emit(prefix, "NNP")
            prefix = ""
        if tag in keep:
            emit(token.form, tag)
    if stem:
        emit(stem, stem_tag)
    if prefix:
        emit(prefix, "NNP")
    return words


def tokenize_units(texts: Sequence[str], profile: Profile, config: TokenizeConfig,
                   num_workers: int) -> tuple[list[list[str]], list[int]]:
    """Tokens per modelling unit and, per unit, the index of the text it came from.

    With ``unit = "document"`` a unit is a text; with ``"sentence"`` it is one of
    the text's sentences (Kiwi's splitter), so one opinion can carry several topics.
    """
    if config.unit == "sentence":
        sentences = split_sentences(texts, profile, num_workers, config.max_chunk_chars)
        owners = [i for i, sents in enumerate(sentences) for _ in sents]
        units = [s for sents in sentences for s in sents]
    else:
        owners, units = list(range(len(texts))), list(texts)
    return share_strings(tokenize_texts(units, profile, config, num_workers)), owners


def share_strings(token_lists: list[list[str]]) -> list[list[str]]:
    """The same lists with one string object per distinct token.

    Kiwi (and a Parquet read) makes a new ``str`` for every occurrence: ~78 bytes each, so the tokens
    of 1,000,000 opinions (~60 million occurrences of ~30,000 words) would hold ~4.7 GB of copies.
    """
    pool: dict[str, str] = {}
    share = pool.setdefault
    return [[share(t, t) for t in tokens] for tokens in token_lists]


def merge_collocations(token_lists: Sequence[Sequence[str]], min_count: int, threshold: float) -> list[list[str]]:
    """Join frequent noun pairs into one token (취업_상담) with gensim Phrases (NPMI scoring)."""
    from gensim.models.phrases import Phrases

    phrases = Phrases(token_lists, min_count=min_count, threshold=threshold, scoring="npmi", delimiter="_")
    frozen = phrases.freeze()
    return [list(frozen[tokens]) for tokens in token_lists]


def split_sentences(texts: Sequence[str], profile: Profile, num_workers: int,
                    max_chunk_chars: int = 5000) -> list[list[str]]:
    """Each text's sentences (Kiwi's splitter), for sentence-level modelling units."""
    kiwi = kiwi_for(profile, num_workers)
    out = []
    for text in texts:
        sentences = [s.text for piece in chunk_text(text, max_chunk_chars) for s in kiwi.split_into_sents(piece)]
        out.append([s for s in sentences if s.strip()] or [text])
    return out


_HANGUL_WORD = re.compile(r"^[가-힣]{2,}$")
# A candidate whose analysis has particles, endings, verbs, numbers or determiners is a fragment.
_FRAGMENT_TAG = re.compile(r"^(J|E|V|S|MM|IC|XSV|XSA)")


def discover_terms(texts: Sequence[str], profile: Profile, num_workers: int, min_count: int = 10,
                   min_score: float = 0.25, max_word_len: int = 10, top: int = 50) -> list[dict]:
    """Candidate domain terms (Kiwi's extract_words) that the profile does not know yet.

    Each candidate is listed with how Kiwi currently analyses it, so a researcher
    can see which compounds it breaks (비교과 -> 비/XPN + 교과/NNG) and add them as
    user words.  Fragments (with particles, endings, numbers) are left out.
    """
    kiwi = kiwi_for(profile, num_workers)
    match_options = profile.derivation.match_options()
    known = {w for w, _ in profile.user_words} | set(profile.stopwords)
    texts = [t for t in texts if isinstance(t, str) and t.strip()]
    found = []
    for word, score, freq, _ in kiwi.extract_words(texts, min_cnt=min_count, max_word_len=max_word_len,
                                                   min_score=min_score):
        word = word.strip()
        if word in known or not _HANGUL_WORD.match(word):
            continue
        tokens = kiwi.tokenize(word, match_options=match_options)
        if any(_FRAGMENT_TAG.match(t.tag) for t in tokens):
            continue
        found.append({"word": word, "frequency": int(freq), "score": round(float(score), 3),
                      "kiwi_splits_it": len(tokens) > 1,
                      "kiwi_analysis": " + ".join(f"{t.form}/{t.tag}" for t in tokens)})
    found.sort(key=lambda r: (-r["score"], -r["frequency"], r["word"]))
    return found[:top]


def drop_tokenless(docs, unit_tokens: list[list[str]], unit_owner: list[int], source: str):
    """Drop documents (and their units) left with no token; count them per year.

    Returns (docs, unit_tokens, unit_owner re-indexed to the kept docs, {year: dropped}).
    """
    import numpy as np

    doc_tokens = np.bincount(unit_owner, weights=[len(t) for t in unit_tokens], minlength=len(docs))
    keep_doc = doc_tokens > 0
    if not keep_doc.any():
        raise TextmineError("no opinion has any word left after tokenization", file=source,
                            fix="check the text column (--text-col), or keep other POS tags in the profile")
    years = docs["year"].to_numpy()
    dropped = {str(y): int((~keep_doc & (years == y)).sum()) for y in sorted(set(years.tolist()))}
    remap = np.cumsum(keep_doc) - 1
    keep_unit = [bool(keep_doc[o]) and bool(t) for o, t in zip(unit_owner, unit_tokens)]
    tokens = [t for t, k in zip(unit_tokens, keep_unit) if k]
    owners = [int(remap[o]) for o, k in zip(unit_owner, keep_unit) if k]
    return docs.loc[keep_doc].reset_index(drop=True), tokens, owners, dropped


def order_by_year(docs, per_year: dict, years: list):
    """Documents in year order with their units' tokens, from per-year tokenization results.

    ``per_year[y]`` holds ``tokens`` and ``owners`` (unit -> position within the year's documents);
    returns (docs in year order, unit_tokens, unit_owner as positions in the returned docs).
    """
    import numpy as np
    import pandas as pd

    ordered = pd.concat([docs[docs["year"] == y] for y in years], ignore_index=True)
    offsets = np.cumsum([0] + [int((ordered["year"] == y).sum()) for y in years])
    unit_tokens = [t for y in years for t in per_year[y]["tokens"]]
    unit_owner = [int(off + o) for off, y in zip(offsets, years) for o in per_year[y]["owners"]]
    return ordered, unit_tokens, unit_owner
