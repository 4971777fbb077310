from pathlib import Path

import pytest

import flows  # noqa: F401  (Prefect environment defaults, before Prefect loads)

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
BUNDLED = REPO / "corpora" / "ujp-synthetic"


@pytest.fixture(scope="session")
def prefect_harness():
    """A real, temporary Prefect API server and database for the whole session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture(scope="session")
def small_synth(tmp_path_factory) -> Path:
    """A small synthetic corpus (about 60 opinions a year, 2015-2024, three planted phases)."""
    from textmine.synth import SynthSpec, write_corpus

    return write_corpus(tmp_path_factory.mktemp("synth"), SynthSpec(seed=7, docs_per_year=60))


def run_cli(argv, capsys):
    """Run the textmine CLI in-process; returns (exit code, stdout, stderr)."""
    from flows.cli import main

    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err
