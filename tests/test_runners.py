"""Per-year fits on other runners (a local Dask cluster with two workers) give the local runner's outputs."""
import pytest

from flows.pipeline import run_pipeline
from textmine.config import load_config

COMPARED = ("topics.csv", "trajectories.csv", "phases.json", "lineage.csv", "topics_over_time.csv")


def _config(tmp_path, name, **overrides):
    return load_config(None, {"run.out_dir": str(tmp_path / name), "run.cache_dir": str(tmp_path / f"cache-{name}"),
                              "run.models": "lda,bertopic", "embed.backend": "char-svd", "lda.k_grid": "8,10",
                              "lda.seeds": "2", "lda.passes": "5", "bertopic.seeds": "1", **overrides})


@pytest.mark.slow
def test_a_local_dask_cluster_gives_the_local_runners_outputs(prefect_harness, small_synth, tmp_path):
    local = run_pipeline(small_synth, _config(tmp_path, "local"))
    dask = run_pipeline(small_synth, _config(tmp_path, "dask", **{"run.task_runner": "dask", "run.max_workers": "2"}))
    for name in COMPARED:
        assert (local / name).read_bytes() == (dask / name).read_bytes(), name
