"""The user's files, read and fingerprinted one way: the TOML reader with the user-facing errors (config,
profile, corpus.toml, labels), and the file digest (the manifest's input hashes, the corpus cache key,
serve's watch).
"""
from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path

from textmine.errors import ConfigError, TextmineError

DIGEST_BLOCK = 1 << 20  # bytes read at a time: a corpus file of any size in constant memory


def file_digest(path: str | Path) -> str:
    """SHA-256 of the file's bytes (hex)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as stream:
        for block in iter(lambda: stream.read(DIGEST_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def read_toml(path: str | Path, *, nested_fix: str, syntax_fix: str = "fix the TOML syntax",
              error: type[TextmineError] = ConfigError) -> dict:
    """The TOML table of ``path`` (UTF-8, a byte-order mark allowed), or one ``error`` naming the file: not UTF-8
    text, not valid TOML (with the parser's line and column), or nested too deeply to parse (``nested_fix`` says
    what the file should hold).  A missing file is the caller's to report (each says which option names it)."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        raise error("not UTF-8 text", file=path, fix="save it as UTF-8") from None
    except RecursionError:
        raise error("nested too deeply", file=path, fix=nested_fix) from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"not a valid TOML file ({exc})", file=path, fix=syntax_fix) from None
