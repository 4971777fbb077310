"""Korean tokenization with Kiwi: nouns kept, compounds whole, boilerplate out.

A *profile* (TOML) carries what is specific to a corpus: Kiwi user words for
programme terms, stopwords, and the POS tags to keep.  The built-in profile
(``textmine/profiles/default.toml``) is extended by a ``profile.toml`` beside
the corpus or one named in the config.  Kiwi loads in about a second, so one
instance per (profile, workers) is built per process and reused.
"""
from __future__ import annotations

import functools
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from textmine.config import TokenizeConfig
from textmine.errors import ConfigError

DEFAULT_PROFILE = Path(__file__).parent / "profiles" / "default.toml"
PROFILE_KEYS = {"version", "user_words", "stopwords"}
# Kiwi tags that make sense as topic-model tokens (Sejong tag set as used by Kiwi).
KNOWN_TAGS = {"NNG", "NNP", "NNB", "NR", "NP", "VV", "VA", "XR", "SL", "SH", "MAG"}


@dataclass(frozen=True)
class Profile:
    user_words: tuple[str, ...] = ()
    stopwords: frozenset[str] = frozenset()
    sources: tuple[str, ...] = field(default=(), compare=False)

    def digest(self) -> str:
        payload = json.dumps([sorted(self.user_words), sorted(self.stopwords)], ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _read_profile_file(path: Path) -> dict:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("profile file not found", file=path, fix="check tokenize.profile in the config") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"profile is not valid UTF-8 TOML ({exc})", file=path, fix="fix the TOML syntax") from None
    unknown = set(data) - PROFILE_KEYS
    if unknown:
        raise ConfigError(f"unknown profile key(s): {', '.join(sorted(unknown))}", file=path,
                          fix=f"a profile may set {', '.join(sorted(PROFILE_KEYS))}")
    for key in ("user_words", "stopwords"):
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise ConfigError(f"'{key}' must be a list of non-empty strings", file=path, fix=f'write {key} = ["..."]')
    return data


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
    words: list[str] = []
    stops: set[str] = set()
    for path in paths:
        data = _read_profile_file(path)
        words += [w.strip() for w in data.get("user_words", []) if w.strip() not in words]
        stops |= {w.strip() for w in data.get("stopwords", [])}
    return Profile(user_words=tuple(words), stopwords=frozenset(stops), sources=tuple(map(str, paths)))


@functools.lru_cache(maxsize=4)
def build_kiwi(user_words: tuple[str, ...], num_workers: int):
    """One Kiwi per process and profile: loading the model costs about a second."""
    from kiwipiepy import Kiwi

    kiwi = Kiwi(num_workers=num_workers)
    for word in user_words:
        kiwi.add_user_word(word, "NNG", 0.0)
    return kiwi


def check_tags(tags: Sequence[str]) -> None:
    bad = [t for t in tags if t not in KNOWN_TAGS]
    if bad:
        raise ConfigError(f"unknown or unsupported POS tag(s): {', '.join(bad)}",
                          fix=f"tokenize.pos_tags may use: {', '.join(sorted(KNOWN_TAGS))}")


def tokenize_texts(texts: Sequence[str], profile: Profile, config: TokenizeConfig, num_workers: int) -> list[list[str]]:
    """Token lists in the order of ``texts``, in batches so memory stays flat."""
    check_tags(config.pos_tags)
    kiwi = build_kiwi(profile.user_words, num_workers)
    keep = set(config.pos_tags)
    out: list[list[str]] = []
    for start in range(0, len(texts), config.batch_size):
        batch = texts[start:start + config.batch_size]
        for tokens in kiwi.tokenize(batch):
            out.append(_select(tokens, keep, profile.stopwords, config.min_token_len))
    return out


def _select(tokens: Iterable, keep: set[str], stopwords: frozenset[str], min_len: int) -> list[str]:
    words = []
    for token in tokens:
        if token.tag not in keep:
            continue
        # Verbs/adjectives are kept as lemmas (먹었다 -> 먹다); SL (Latin) is case-folded.
        form = token.form + "다" if token.tag in ("VV", "VA") else token.form
        if token.tag == "SL":
            form = form.upper()
        if len(form) < min_len or form in stopwords:
            continue
        words.append(form)
    return words
