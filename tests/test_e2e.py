"""End to end, as a user runs it: the console script on the bundled corpus, in its own process."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BUNDLED, REPO


@pytest.mark.slow
def test_textmine_run_on_the_bundled_corpus(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    script = Path(sys.executable).parent / "textmine"
    proc = subprocess.run([str(script), "run", "--out", str(tmp_path)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    folder = Path(proc.stdout.strip().splitlines()[-1])
    assert folder.parent == tmp_path and folder.is_dir()
    truth = json.loads((BUNDLED / "truth.json").read_text(encoding="utf-8"))
    phases = json.loads((folder / "phases.json").read_text(encoding="utf-8"))
    for model, entry in phases.items():
        assert entry["phase_starts"] == truth["phase_starts"], model
    evaluation = json.loads((folder / "evaluation.json").read_text(encoding="utf-8"))
    assert evaluation["models"]["lda"]["phase_boundaries"]["exact"] is True
    # No boilerplate among the top terms of any topic.
    topics = (folder / "topics.csv").read_text(encoding="utf-8-sig")
    for boiler in (",필요", ", 필요,", ", 강화,", ", 방안,", ", 마련,", ", 요망,"):
        assert boiler not in topics
