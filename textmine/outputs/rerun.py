"""A run with nothing changed: the finished run folder it would write again, found by a whole-run key.

Every stage caches its own work by content, yet a rerun with nothing changed still paid for starting the
engine and walking every stage: on the bundled corpus 10.9 s of wall clock (imports 1.7 s, Prefect's
temporary server 3.3 s, the stages reading their caches back 2.7 s, the report 0.8 s; session 11), 13 %
of a cold run.  Since the run is deterministic (same corpus, config, seed and code give byte-identical
files), a run whose whole key matches a finished run's is that run: its folder is copied into a new run
folder (``textmine run`` still writes one new folder per run, docs/contract.md §3) and the manifest says
so (``reused``), before Prefect or any model library is imported.

The key covers everything a run reads: every file under the corpus (paths and SHA-256, truth.json and
corpus.toml included), the resolved config (but ``run.out_dir``: where the folder goes changes nothing in
it), the files the config names (profile, labels, the ``--previous`` run folder, a local embedding model
folder), textmine's own code and data (``textmine/`` and ``flows/``) and the versions in the manifest.  The
finished folder must still hold exactly the files it was finished with (sizes and SHA-256 recorded in the
cache entry): a folder whose topics were renamed in the workspace since, or that was deleted, is not reused.
``run.reuse_finished = false`` (``textmine run --no-reuse``) always runs the flow.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

from textmine.core.cachedir import mark_cache
from textmine.core.files import file_digest, publish

log = logging.getLogger(__name__)

KIND = "runs"  # the cache folder's kind of entry (textmine.core.cachedir.CACHE_KINDS)
PACKAGE_ROOTS = ("textmine", "flows")  # textmine's code and data (templates, fonts, profiles), beside each other
# Settings that change where the run goes, not what it holds.
NOT_IN_KEY = {"run": {"out_dir", "reuse_finished"}}
# Text files in which a run folder names its own run id (report.html's title and heading, the manifest).
NAMES_ITS_RUN = (".html", ".json", ".md")
REUSED_NOTICE = ('</header>\n<p class="warn">입력·설정·코드가 바뀌지 않아 실행 {run_id}의 결과를 그대로 복사한 '
                 '실행입니다(단계별 실행 시간도 그 실행의 것). 다시 계산하려면 <code>textmine run --no-reuse</code>.</p>')


def tree_digest(root: Path, skip_dirs: frozenset = frozenset({"__pycache__"})) -> str:
    """SHA-256 over every file under ``root`` (a file: that file): relative paths and contents, in path order.
    Links are followed as files; a folder link is not entered (a corpus folder cannot loop)."""
    digest = hashlib.sha256()
    if root.is_file():
        digest.update(file_digest(root).encode())
        return digest.hexdigest()
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in skip_dirs)
        for name in sorted(files):
            path = Path(folder) / name
            if name.endswith((".pyc", ".pyo")) or not path.is_file():
                continue
            digest.update(f"{path.relative_to(root).as_posix()}\0{file_digest(path)}\0".encode())
    return digest.hexdigest()


def code_digest() -> str:
    """textmine's code and data as installed here (an edit to any module, template or profile changes it)."""
    here = Path(__file__).resolve().parents[2]
    return hashlib.sha256("".join(tree_digest(here / name) for name in PACKAGE_ROOTS
                                  if (here / name).is_dir()).encode()).hexdigest()


# Beside a corpus given as one file, the files a run reads from its folder.
SIDECARS = ("profile.toml", "corpus.toml", "truth.json")


def _digest(value) -> str | None:
    if not value:
        return None
    path = Path(os.path.expanduser(str(value)))
    return tree_digest(path) if path.exists() else f"absent: {value}"


def named_inputs(corpus: Path, config) -> dict:
    """The files outside the corpus folder that the run reads: the profile (as merged: built-in, the
    corpus's, ``tokenize.profile``) and the Kiwi user dictionary it names, labels, the ``--previous`` run,
    a local embedding model, and the sidecars of a single-file corpus (None: not set)."""
    from textmine.text.tokenize import load_profile

    profile = load_profile(corpus, config.tokenize.profile)
    sidecars = {} if corpus.is_dir() else {name: _digest(corpus.parent / name) for name in SIDECARS}
    return {"profile": profile.digest(), "profile_files": [_digest(p) for p in profile.sources],
            "user_dictionary": _digest(profile.dictionary_file), "labels": _digest(config.report.labels),
            "previous": _digest(config.report.previous), "embed_model": _digest(config.embed.model),
            "sidecars": sidecars}


def installed_versions() -> list[tuple[str, str]]:
    """Every installed distribution and its version (an upgrade of any library the run uses changes the key:
    plotly's JavaScript is inlined in report.html, openpyxl writes summary.xlsx ...); 0.07 s for 182."""
    from importlib import metadata

    return sorted({((d.metadata["Name"] or "").lower(), d.version) for d in metadata.distributions()})


def run_key(corpus: str | Path, config) -> str:
    """The whole run's key: corpus files, settings, the files they name, code and library versions."""
    import platform

    root = Path(corpus).resolve()
    settings = config.to_dict()
    for section, keys in NOT_IN_KEY.items():
        settings[section] = {k: v for k, v in settings[section].items() if k not in keys}
    payload = {"corpus": str(root), "files": tree_digest(root), "settings": settings,
               "inputs": named_inputs(root, config), "code": code_digest(), "python": platform.python_version(),
               "packages": installed_versions()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _entry(cache_dir: str | Path, key: str) -> Path:
    return Path(os.path.expanduser(str(cache_dir))) / KIND / f"{key}.json"


def remember(cache_dir: str | Path, key: str | None, folder: Path) -> None:
    """Record the finished run ``folder`` under ``key``, with each file's size and SHA-256.  The run is
    finished already: a cache that cannot take the entry is logged, not an error (the next run runs)."""
    if key is None:
        return
    try:
        files = {p.relative_to(folder).as_posix(): [p.stat().st_size, file_digest(p)]
                 for p in sorted(folder.rglob("*")) if p.is_file()}
        mark_cache(cache_dir)
        with publish(_entry(cache_dir, key)) as tmp:
            tmp.write_text(json.dumps({"folder": str(folder.resolve()), "run_id": folder.name, "files": files},
                                      ensure_ascii=False), encoding="utf-8")
    except OSError as exc:
        log.warning("the finished run was not recorded for reuse (%s): a rerun will run the flow", exc)


def finished_run(cache_dir: str | Path, key: str) -> dict | None:
    """The cache entry of the finished run with ``key`` whose folder still holds exactly what it was finished
    with, or None (no such run, or its folder removed or changed since: the flow runs)."""
    try:
        entry = json.loads(_entry(cache_dir, key).read_text(encoding="utf-8"))
        folder = Path(entry["folder"])
        on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
        if on_disk != set(entry["files"]):
            log.info("the finished run %s has other files now: running the flow", folder)
            return None
        for name, (size, digest) in entry["files"].items():
            path = folder / name
            if path.stat().st_size != size or file_digest(path) != digest:
                log.info("%s changed since its run finished: running the flow", path)
                return None
        os.utime(_entry(cache_dir, key))  # used now: `textmine cache prune --older-than` keeps it
        return entry
    except (OSError, ValueError, KeyError, TypeError):
        return None


def copy_run(entry: dict, key: str, out_dir: str | Path, started_by: str, run_id: str | None = None) -> Path:
    """A new run folder under ``out_dir`` holding the finished run's files, its own run id written where the
    folder names itself, and a manifest saying which run it reuses.  Written like any run folder: into a
    hidden partial folder renamed into place at the end (textmine.outputs.runfolder.RunFolder)."""
    from textmine.outputs.runfolder import RunFolder

    source = Path(entry["folder"])
    started = datetime.now(timezone.utc)
    old_id = entry["run_id"]
    with RunFolder(out_dir, run_id) as run:
        for name in entry["files"]:
            target = run.file(name)
            if name.endswith(NAMES_ITS_RUN) and name != "manifest.json":
                text = (source / name).read_bytes().decode("utf-8").replace(old_id, run.run_id)
                if name == "report.html":  # say what the reader sees: the results (and stage times) of that run
                    text = text.replace("</header>", REUSED_NOTICE.format(run_id=old_id), 1)
                target.write_bytes(text.encode("utf-8"))
            else:
                shutil.copyfile(source / name, target)
        manifest = json.loads((source / "manifest.json").read_text(encoding="utf-8"))
        finished = datetime.now(timezone.utc)
        manifest.update({
            "run_id": run.run_id, "started": started.isoformat(), "finished": finished.isoformat(),
            "started_by": started_by,
            "stage_seconds": {"reuse": round((finished - started).total_seconds(), 3)},
            "reused": {"run_id": old_id, "folder": str(source), "key": key, "started": manifest.get("started"),
                       "stage_seconds": manifest.get("stage_seconds"),
                       "why": "the corpus, the settings, the files they name and textmine's code are those of "
                              "that finished run, whose folder is unchanged: its files are copied"},
        })
        run.write_json("manifest.json", manifest)
    return run.final


def reuse_finished(corpus: str | Path, config, started_by: str,
                   run_id: str | None = None) -> tuple[str | None, Path | None]:
    """(the run's key, the new run folder copied from a finished run with that key, or None when there is
    none or ``run.reuse_finished`` is off).  A corpus or named file that cannot be read leaves the key None:
    the run goes on and its own checks say what is wrong."""
    from textmine.core.errors import TextmineError

    try:
        key = run_key(corpus, config)
    except (OSError, TextmineError) as exc:
        log.info("no whole-run key (%s): running the flow", exc)
        return None, None
    if not config.run.reuse_finished:
        return key, None
    entry = finished_run(config.run.cache_dir, key)
    if entry is None:
        return key, None
    return key, copy_run(entry, key, config.run.out_dir, started_by, run_id)


def reused_from(folder: Path) -> str:
    """The folder a reused run folder was copied from (its manifest's ``reused``)."""
    manifest = json.loads((Path(folder) / "manifest.json").read_text(encoding="utf-8"))
    return manifest["reused"]["folder"]
