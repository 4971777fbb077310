"""A full disk during a real run (the engine started, a task failing with ENOSPC) prints one error and
no traceback: Prefect's task and flow tracebacks are dropped like those of input errors (issue 25,
part 7)."""
import subprocess
import sys

import pytest

from tests.conftest import REPO

SCRIPT = """
import errno, sys
import textmine.text.cache
def full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device", sys.argv[1] + "/cache/pii/entry.parquet")
textmine.text.cache.cached_mask = full  # the mask-pii task writes the PII cache first
from flows.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.slow
def test_disk_full_inside_the_flow_is_one_error_without_tracebacks(tmp_path):
    from textmine.synth.synth import SynthSpec, write_corpus

    corpus = write_corpus(tmp_path / "c", SynthSpec(seed=1, docs_per_year=8))
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), "run", str(corpus), "--out",
                           str(tmp_path / "out"), "--set", f"run.cache_dir={tmp_path / 'cache'}", "--models", "lda"],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("textmine: error:")]
    assert len(errors) == 1 and "the disk is full" in errors[0]
