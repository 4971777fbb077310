"""Bad input and bad settings found before the engine starts: one line (file, row or key, what to do),
exit 2, nothing written, no Prefect server started."""
import os
import stat
import sys

import pytest

from tests.conftest import run_cli


@pytest.fixture(autouse=True)
def no_engine(monkeypatch):
    """Every case here must be refused before Prefect starts."""
    import flows.engine
    import flows.pipeline

    def refuse(*args, **kwargs):
        raise AssertionError("the engine was started for input that could be checked before")

    monkeypatch.setattr(flows.engine, "start_ephemeral_server", refuse)
    monkeypatch.setattr(flows.pipeline, "run_pipeline", refuse)


def _run(capsys, tmp_path, corpus, *extra):
    code, out, err = run_cli(["run", corpus, "--out", tmp_path / "out", "--set", f"run.cache_dir={tmp_path / 'cache'}",
                              *extra], capsys)
    return code, err


@pytest.mark.parametrize("extra, expected", [
    (["--phases", "99"], "cannot hold 99 phases"),
    (["--seed", "-1"], "--seed must be between 0 and"),
    (["--seed", str(2**64)], "--seed must be between 0 and"),
    (["--seed", str(2**32 - 1)], "--seed must be between 0 and"),
    (["--set", "align.bootstrap=-5"], "align.bootstrap"),
    (["--set", "phases.bootstrap=0"], "phases.bootstrap"),
    (["--models", "lda,nmf"], "choose from: lda, bertopic, dtm"),
    (["--set", "lda.backend=mallet"], "gensim, tomotopy"),
    (["--set", "phases.method=hmm"], "segmentation, binseg"),
    (["--set", "lda.num_topics=5000"], "cannot support 5000 topics"),
    (["--set", "lda.k_grid=" + ",".join(["8"] * 60)], "lda.k_grid"),
    (["--time-unit", "month"], "date"),
])
def test_settings_refused_before_the_engine(small_synth, tmp_path, capsys, extra, expected):
    code, err = _run(capsys, tmp_path, small_synth, *extra)
    assert code == 2 and expected in err and "Traceback" not in err, err
    assert len([line for line in err.splitlines() if line.strip()]) <= 2  # the problem, and what to do
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_out_that_is_a_file(small_synth, tmp_path, capsys):
    (tmp_path / "out").write_text("not a folder")
    code, out, err = run_cli(["run", small_synth, "--out", tmp_path / "out"], capsys)
    assert code == 2 and "is a file, not a folder" in err


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes to read-only folders")
def test_out_that_is_read_only(small_synth, tmp_path, capsys):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(stat.S_IRUSR | stat.S_IXUSR)
    code, _, err = run_cli(["run", small_synth, "--out", out], capsys)
    assert code == 2 and "cannot be written" in err


def test_out_on_a_read_only_file_system(small_synth, tmp_path, capsys):
    # /proc is read-only for everyone, root included.
    code, _, err = run_cli(["run", small_synth, "--out", "/proc/textmine-out"], capsys)
    assert code == 2 and "cannot be written" in err and "Traceback" not in err


def test_deeply_nested_config_toml(small_synth, tmp_path, capsys):
    config = tmp_path / "deep.toml"
    config.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    code, _, err = run_cli(["run", small_synth, "--config", config], capsys)
    assert code == 2 and ("nested too deeply" in err or "not a valid TOML file" in err)


def test_deeply_nested_profile_toml(small_synth, tmp_path, capsys):
    import shutil

    corpus = tmp_path / "corpus"
    shutil.copytree(small_synth, corpus)
    (corpus / "profile.toml").write_text("stopwords = " + "[" * 5000 + "]" * 5000 + "\n")
    code, err = _run(capsys, tmp_path, corpus)
    assert code == 2 and ("nested too deeply" in err or "not valid" in err)


def test_disk_full_is_one_line(monkeypatch, small_synth, tmp_path, capsys):
    """A full disk mid-run (ENOSPC) ends as one line and exit 2, not a traceback."""
    import errno

    import flows.cli

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out" / "topics.csv"))

    monkeypatch.setattr(flows.cli, "cmd_run", full)
    monkeypatch.setitem(flows.cli.COMMANDS, "run", full)
    code, _, err = run_cli(["run", small_synth, "--out", tmp_path / "out"], capsys)
    assert code == 2 and "the disk is full" in err and "Traceback" not in err


def test_bertopic_load_refuses_anything_but_a_safetensors_folder(tmp_path):
    from textmine.models.bertopic_model import load_model
    from textmine.core.errors import TextmineError

    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(b"\x80\x04K\x01.")
    for path in (pickled, tmp_path):
        with pytest.raises(TextmineError, match="safetensors"):
            load_model(path)


def test_no_code_path_unpickles_or_evaluates():
    """The library and the flows never unpickle, eval or exec (the cache and models are arrays and JSON)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    pattern = re.compile(r"\b(pickle\.loads?|cloudpickle\.loads?|joblib\.load|torch\.load|dill\.load|"
                         r"(?<![.\w])eval|(?<![.\w])exec|np\.load\([^)]*allow_pickle\s*=\s*True)\(")
    offenders = [f"{p.relative_to(root)}:{i}" for folder in ("textmine", "flows") for p in (root / folder).rglob("*.py")
                 for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                 if pattern.search(line) and not line.lstrip().startswith("#")]
    assert not offenders, offenders


def test_a_config_too_large_for_the_prefect_api(small_synth, tmp_path, capsys):
    code, err = _run(capsys, tmp_path, small_synth, "--set", "corpus.date_col=" + "가" * 200_000)
    assert code == 2 and "at most 256,000 can be passed" in err


def test_run_warns_about_files_it_cannot_read(small_synth, tmp_path, capsys):
    import shutil

    corpus = tmp_path / "corpus"
    shutil.copytree(small_synth, corpus)
    (corpus / "평가결과.pdf").write_bytes(b"%PDF-1.4 not an opinion table")
    with pytest.raises(AssertionError, match="engine was started"):  # past the checks: the run would start
        run_cli(["run", corpus, "--out", tmp_path / "out"], capsys)
    err = capsys.readouterr().err
    assert "textmine: warning: not read:" in err and "평가결과.pdf" in err


def test_a_corpus_larger_than_memory_fails_early_with_advice(small_synth):
    from textmine.core.config import Config
    from textmine.io.corpus import load_corpus
    from textmine.core.errors import TextmineError
    from textmine.preflight import check_memory

    docs = load_corpus(small_synth).modelling_docs()
    check_memory(docs, Config(), available=64 * 2**30)  # fits
    with pytest.raises(TextmineError, match="need about .* GiB of memory") as info:
        check_memory(docs, Config(), available=1_000_000)
    assert "Dask" in info.value.fix


def test_when_only_bertopic_does_not_fit_the_advice_names_the_sample_setting(small_synth):
    from textmine.core.config import load_config
    from textmine.io.corpus import load_corpus
    from textmine.core.errors import TextmineError
    from textmine.preflight import BYTES_PER_DOCUMENT, check_memory, estimated_memory

    docs = load_corpus(small_synth).modelling_docs()
    base = estimated_memory(len(docs), int(docs["text"].str.len().sum()), ())
    room = base + 300 * BYTES_PER_DOCUMENT["bertopic"]  # BERTopic on 300 of the ~600 opinions fits
    with pytest.raises(TextmineError, match="need about") as info:
        check_memory(docs, load_config(overrides={"scale.mode": "off"}), available=room)
    assert "BERTopic can cluster about 300 of them" in info.value.fix
    assert "scale.bertopic_docs_per_year to 30 or less and scale.mode = on" in info.value.fix
    # the large-corpus plan with 25 a year (250 in all) fits in the same memory
    check_memory(docs, load_config(overrides={"scale.mode": "on", "scale.bertopic_docs_per_year": 25,
                                              "scale.bertopic_min_docs": 10}),
                 available=room)
