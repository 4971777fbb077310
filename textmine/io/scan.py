"""What a corpus path holds: the files to read, the files not read and why, the metadata beside them
(``truth.json``, ``corpus.toml``, ``profile.toml``) and the corpus's own ``corpus.toml``."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textmine.core.errors import CorpusError
from textmine.core.files import read_toml
from textmine.io.columns import ColumnMapping
from textmine.io.readers import file_format


SUPPORTED_SUFFIXES = (".csv", ".tsv", ".xlsx", ".xls", ".jsonl", ".json", ".parquet", ".txt", ".hwpx", ".hwp")


CONVERT_TO = ".csv/.xlsx/.hwpx"


# Files that sit beside the data but are not opinions (compared lower-cased; README.* too).
SIDECAR_FILES = {"truth.json", "corpus.toml", "profile.toml"}


@dataclass
class FileReport:
    """One file found in the corpus: what was read from it, or why it was not read."""

    path: str
    format: str
    encoding: str | None
    rows: int
    sha256: str | None
    tables: dict[str, ColumnMapping] = field(default_factory=dict)
    status: str = "read"  # "read" or "unread"
    reason: str | None = None  # why an unread file was not read
    opinions: int = 0  # non-empty opinions read from it
    delimiter: str | None = None  # of a .csv/.tsv
    notes: list[str] = field(default_factory=list)  # what else a reader should know (paragraphs not read...)


@dataclass
class CorpusFiles:
    """What a corpus path holds: the files to read, the files not read (why), the files ignored."""

    root: Path
    readable: list[Path]
    unread: list[FileReport]
    ignored: list[dict[str, str]]


def _unsupported_reason(path: Path) -> str:
    fmt = "".join(s.lower() for s in path.suffixes[-2:]) if file_format(path) != path.suffix.lower() \
        else path.suffix.lower()
    if not path.suffix:
        return f"unsupported format: no file extension — convert to {CONVERT_TO} (or give it its extension)"
    return f"unsupported format: {fmt} — convert to {CONVERT_TO}"


def _metadata_files(folder: Path) -> set[Path]:
    """The Kiwi dictionary a profile.toml beside the data names: metadata, not opinions."""
    profile = folder / "profile.toml"
    try:
        name = tomllib.loads(profile.read_text(encoding="utf-8")).get("dictionary_file")
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError):
        return set()
    return {(folder / str(name)).resolve()} if name else set()


def scan_corpus(path: Path) -> CorpusFiles:
    """Every file under a corpus path, sorted: readable, unread (with the reason) or ignored (not opinions).

    Paths are resolved: a symlink whose target lies outside the corpus folder is not
    read (unless the corpus path itself names it), a symlink to a folder is not followed,
    and a file reached twice (through a symlink inside the folder) is read once.
    """
    if not path.exists():
        if path.is_symlink():
            raise CorpusError("the corpus is a broken symlink", file=path, fix="point it at the corpus file or folder")
        raise CorpusError("no such file or folder", file=path, fix="check the path to the corpus")
    if path.is_file():
        if file_format(path) not in SUPPORTED_SUFFIXES:
            raise CorpusError(
                f"unsupported file type '{path.suffix or '(none)'}'", file=path,
                fix=f"convert it to one of {', '.join(SUPPORTED_SUFFIXES)} (optionally gzipped, e.g. .csv.gz)",
            )
        return CorpusFiles(path, [path], [], [])
    if not path.is_dir():
        raise CorpusError("the corpus is neither a file nor a folder", file=path, fix="check the path to the corpus")

    base = path.resolve()
    metadata = _metadata_files(base)
    readable: list[tuple[tuple[str, ...], Path]] = []
    unread: list[tuple[tuple[str, ...], FileReport]] = []
    ignored: list[tuple[tuple[str, ...], dict[str, str]]] = []
    seen: dict[Path, str] = {}

    def note_unread(rel: Path, reason: str, fmt: str) -> None:
        unread.append((rel.parts, FileReport(path=rel.as_posix(), format=fmt, encoding=None, rows=0, sha256=None,
                                             status="unread", reason=reason)))

    def walk(folder: Path) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            note_unread(folder.relative_to(path), f"folder cannot be listed ({exc.strerror})", "folder")
            return
        for entry in entries:
            full = Path(entry.path)
            rel = full.relative_to(path)
            name = entry.name
            if name.startswith("."):
                ignored.append((rel.parts, {"path": rel.as_posix(), "reason": "hidden " +
                                            ("folder" if entry.is_dir() else "file")}))
                continue
            if name.startswith("~$"):
                ignored.append((rel.parts, {"path": rel.as_posix(), "reason": "Office lock file"}))
                continue
            target = full
            if entry.is_symlink():
                try:
                    target = full.resolve(strict=True)
                except (OSError, RuntimeError):
                    note_unread(rel, "broken symlink (its target does not exist)", file_format(full).lstrip("."))
                    continue
                if not target.is_relative_to(base):
                    note_unread(rel, "symlink outside the corpus folder: not read (name the file itself as the "
                                     "corpus to read it)", file_format(full).lstrip("."))
                    continue
                if target.is_dir():
                    ignored.append((rel.parts, {"path": rel.as_posix(),
                                                "reason": "symlink to a folder inside the corpus (not followed; "
                                                          "its files are read where they are)"}))
                    continue
            if entry.is_dir(follow_symlinks=False):
                walk(full)
                continue
            if not target.is_file():
                note_unread(rel, "not a regular file", file_format(full).lstrip("."))
                continue
            lower = name.lower()
            if lower in SIDECAR_FILES or lower.startswith("readme") or target.resolve() in metadata:
                ignored.append((rel.parts, {"path": rel.as_posix(), "reason": "metadata beside the data"}))
                continue
            if file_format(full) not in SUPPORTED_SUFFIXES:
                note_unread(rel, _unsupported_reason(full), file_format(full).lstrip(".") or "(none)")
                continue
            resolved = target.resolve()
            if resolved in seen:
                ignored.append((rel.parts, {"path": rel.as_posix(),
                                            "reason": f"the same file as {seen[resolved]} (read once)"}))
                continue
            seen[resolved] = rel.as_posix()
            readable.append((rel.parts, full))

    walk(path)
    return CorpusFiles(
        root=path,
        readable=[p for _, p in sorted(readable, key=lambda x: x[0])],
        unread=[r for _, r in sorted(unread, key=lambda x: x[0])],
        ignored=[r for _, r in sorted(ignored, key=lambda x: x[0])],
    )


def _no_files_error(found: CorpusFiles) -> CorpusError:
    listed = ", ".join(f.path for f in found.unread[:5]) + (" ..." if len(found.unread) > 5 else "")
    return CorpusError(
        "the folder holds no supported files" + (f" (found: {listed})" if listed else ""), file=found.root,
        fix=f"put opinions in files ending in {', '.join(SUPPORTED_SUFFIXES)}",
    )


def discover_files(path: Path) -> list[Path]:
    """The supported data files of a corpus path (a file or a folder, searched recursively)."""
    found = scan_corpus(Path(path))
    if not found.readable:
        raise _no_files_error(found)
    return found.readable


def read_corpus_toml(root: Path) -> dict[str, Any]:
    """Column settings from a ``corpus.toml`` beside the data, if there is one."""
    folder = root if root.is_dir() else root.parent
    toml_path = folder / "corpus.toml"
    if not toml_path.is_file():
        return {}
    data = read_toml(toml_path, nested_fix="corpus.toml holds flat column settings", error=CorpusError)
    data = data.get("columns", data)
    allowed = {"id_col", "year_col", "text_col", "date_col"}
    unknown = set(data) - allowed - {"columns"}
    if unknown:
        raise CorpusError(
            f"unknown key(s) {', '.join(sorted(unknown))}", file=toml_path,
            fix=f"corpus.toml may set {', '.join(sorted(allowed))}",
        )
    return {k: str(v) for k, v in data.items() if k in allowed}
