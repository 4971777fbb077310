"""`textmine cache prune` deletes only what textmine wrote (issue 25, part 2): a marked cache folder,
entries recognised by their names, odd files skipped with a warning, bad amounts refused."""
import os
import time

import numpy as np
import pytest

from tests.conftest import run_cli
from textmine.core.cachedir import MARKER, mark_cache, prune
from textmine.models.store import ModelStore

KEY = "ab" * 32  # a content key as textmine names its entries


def _cache(tmp_path, marked=True):
    root = tmp_path / "cache"
    (root / "tokens").mkdir(parents=True)
    (root / "tokens" / f"{KEY}.parquet").write_bytes(b"x" * 100)
    (root / "models" / KEY).mkdir(parents=True)
    (root / "models" / KEY / "fitted.json").write_text("{}")
    if marked:
        mark_cache(root)
    old = time.time() - 90 * 86400
    for p in [root / "tokens" / f"{KEY}.parquet", root / "models" / KEY]:
        os.utime(p, (old, old))
    return root


def test_a_folder_without_the_marker_is_refused_and_untouched(tmp_path, capsys):
    """A home or run folder given as --cache-dir: refused, nothing removed."""
    root = _cache(tmp_path, marked=False)
    (root / "notes.txt").write_text("mine")
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    code, out, err = run_cli(["cache", "prune", "--cache-dir", root, "--max-size", "0"], capsys)
    assert code == 2 and "not a textmine cache folder" in err and "nothing was removed" in err
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


def test_mark_refuses_a_folder_with_foreign_content(tmp_path, capsys):
    home = tmp_path / "home"
    (home / "Documents").mkdir(parents=True)
    code, _, err = run_cli(["cache", "mark", "--cache-dir", home], capsys)
    assert code == 2 and "Documents" in err and not (home / MARKER).exists()
    root = _cache(tmp_path, marked=False)
    code, out, _ = run_cli(["cache", "mark", "--cache-dir", root], capsys)
    assert code == 0 and (root / MARKER).is_file()


@pytest.mark.parametrize("flag, value", [("--older-than", "nan"), ("--older-than", "inf"), ("--older-than", "-1"),
                                         ("--max-size", "nan"), ("--max-size", "inf"), ("--max-size", "-0.5")])
def test_bad_amounts_are_clear_errors(tmp_path, capsys, flag, value):
    root = _cache(tmp_path)
    code, _, err = run_cli(["cache", "prune", "--cache-dir", root, f"{flag}={value}"], capsys)
    assert code == 2 and f"{flag} must be a finite number" in err and "Traceback" not in err
    assert (root / "tokens" / f"{KEY}.parquet").is_file()


def test_only_entries_textmine_names_are_removed(tmp_path, capsys):
    """Foreign files, symbolic links (broken, looping, or to a file outside) and a FIFO in the cache's
    folders are left alone with a warning; textmine's entries go."""
    root = _cache(tmp_path)
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me")
    tokens = root / "tokens"
    (tokens / "readme.txt").write_text("not textmine's")
    (tokens / f"{'cd' * 32}.parquet").symlink_to(outside)
    (tokens / "broken").symlink_to(tmp_path / "nowhere")
    (tokens / "loop").symlink_to(tokens / "loop")
    os.mkfifo(tokens / f"{'ef' * 32}.npy")
    code, out, err = run_cli(["cache", "prune", "--cache-dir", root, "--older-than", "30"], capsys)
    assert code == 0 and "removed 2 entries" in out, (out, err)
    assert not (tokens / f"{KEY}.parquet").exists() and not (root / "models" / KEY).exists()
    assert outside.read_text() == "keep me" and (tokens / "readme.txt").is_file()
    for name in ("readme.txt", f"{'cd' * 32}.parquet", "broken", "loop", f"{'ef' * 32}.npy"):
        assert os.path.lexists(tokens / name), name
        assert name in err, (name, err)
    assert (root / MARKER).is_file()


def test_a_young_temporary_entry_of_a_running_writer_is_kept(tmp_path):
    root = _cache(tmp_path)
    tmp = root / "models" / f".{KEY}.{'0' * 32}.tmp"
    tmp.mkdir()
    assert prune(root, max_bytes=0)["removed"] == 2 and tmp.is_dir()


def test_a_fit_pruned_while_read_is_a_miss_not_a_crash(tmp_path):
    """The store's reader sees an entry vanish between its check and its read: a miss (None), which the
    flow fits again (flows.pipeline.REFITS_AFTER_PRUNE) or stops with one line."""
    from flows.pipeline import _pruned_meanwhile
    from textmine.core.config import load_config
    from textmine.core.registry import MODELS

    config = load_config(None, {"run.cache_dir": str(tmp_path / "cache")})
    store = ModelStore(config.run.cache_dir)
    model = MODELS.get("lda")(config)
    folder = store.path(KEY)
    folder.mkdir(parents=True)
    mark_cache(store.root)
    (folder / "fitted.json").write_text("{}")
    np.save(folder / "doc_topic.npy", np.zeros((1, 1)))
    prune(tmp_path / "cache", max_bytes=0)  # concurrent prune
    assert store.get(KEY, model) is None
    err = str(_pruned_meanwhile(folder))
    assert "removed while this run was reading it" in err and len(err.splitlines()) == 2
