"""The public contract: the project's copy is in step with the shared one, and its entry points work."""
import subprocess
import sys

import pytest

from conftest import REPO

CONTRACT = REPO / "docs" / "contract.md"
SHARED_SPEC = REPO.parent / "shared" / "SPEC.md"


def _sections(path):
    return [line.rstrip() for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("## ")]


def test_contract_says_what_it_mirrors():
    first = CONTRACT.read_text(encoding="utf-8").splitlines()[0]
    assert "../shared/SPEC.md" in first and "kept in step" in first


@pytest.mark.skipif(not SHARED_SPEC.is_file(), reason="the shared contract (../shared/SPEC.md) is not on this machine")
def test_contract_has_the_shared_contracts_sections():
    assert _sections(CONTRACT) == _sections(SHARED_SPEC)
    assert _sections(CONTRACT)  # a heading format change must not make this pass vacuously


def test_python_m_flows_is_the_command():
    """``python -m flows ...`` runs the same CLI as the ``textmine`` console script."""
    proc = subprocess.run([sys.executable, "-m", "flows", "--help"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "run" in proc.stdout and "validate" in proc.stdout
