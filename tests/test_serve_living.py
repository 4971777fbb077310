"""``textmine serve``, the living part (issue 25, part 5), against a real ``prefect server start`` on
127.0.0.1 that the test starts, stops and restarts: a second serve of the same deployment is refused, a
failing watch run shows its error without tracebacks, losing the server for a while does not end serve
(the watch keeps its state and no run is lost or run twice), and SIGTERM while the server is
unreachable stops serve within 30 s."""
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from test_serve import BIN, _Api, _env, _free_port, _serve, _stop_group


class _Server:
    """A Prefect server on a fixed loopback port with its own PREFECT_HOME (its database survives a restart)."""

    def __init__(self, tmp_path: Path):
        self.port, self.home, self.tmp = _free_port(), tmp_path / "server-home", tmp_path
        self.url = f"http://127.0.0.1:{self.port}/api"
        self.proc = None

    def start(self) -> None:
        log = (self.tmp / "server.log").open("a")
        self.proc = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port",
                                      str(self.port)], env=_env(self.home), cwd=self.tmp, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 180
        while True:
            assert self.proc.poll() is None, (self.tmp / "server.log").read_text()[-3000:]
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the Prefect server did not start in 180 s"
            time.sleep(1)

    def stop(self) -> None:
        if self.proc is not None:
            _stop_group(self.proc)


def _wait(condition, timeout: float, what: str, log: Path, serve: subprocess.Popen):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert serve.poll() is None, f"serve ended while waiting for {what}:\n" + log.read_text()[-4000:]
        assert time.monotonic() < deadline, f"no {what} within {timeout} s:\n" + log.read_text()[-4000:]
        time.sleep(1)
    return value


@pytest.mark.slow
def test_serve_lives_through_a_second_serve_a_failing_run_a_lost_server_and_stops_without_it(tmp_path):
    from textmine.synth.synth import SynthSpec, write_corpus

    server = _Server(tmp_path)
    server.start()
    work = tmp_path / "work"
    corpus = write_corpus(work / "corpus", SynthSpec(seed=3, docs_per_year=12, first_year=2018, last_year=2021,
                                                     n_phases=2))
    held = corpus / "opinions_2021.csv"
    spare = tmp_path / "opinions_2021.csv"
    held.rename(spare)
    # The runner polls for runs every 2 s instead of 10 s: the watch's runs start sooner (fewer idle waits).
    env = {**_env(tmp_path / "client-home", server.url), "PREFECT_RUNNER_POLL_FREQUENCY": "2"}
    log_path = tmp_path / "serve.log"
    serve = subprocess.Popen(
        [str(BIN / "textmine"), "serve", "corpus", "--out", "out", "--models", "lda", "--set", "lda.k_grid=4",
         "--set", "lda.seeds=1", "--set", "lda.passes=2", "--phases", "1", "--set", "serve.settle_seconds=1",
         "--set", f"run.cache_dir={tmp_path / 'cache'}"],
        env=env, cwd=work, stdout=log_path.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    api = _Api(server.url, log_path)
    try:
        deployment = _wait(lambda: (d := api.deployment("textmine/yearly")) and d.get("status") == "READY" and d,
                           120, "textmine/yearly registered and polled", log_path, serve)

        # A second serve of the same deployment: refused, one error, nothing registered twice.
        second = _serve(["corpus", "--out", "out2"], env, work)
        assert second.returncode == 2, second.stdout + second.stderr
        assert "textmine/yearly is already being served" in second.stderr and "Traceback" not in second.stderr
        assert len([line for line in second.stderr.splitlines() if line.strip()]) == 2

        # A watch run that fails on an input error (a profile the run cannot read): its error, no traceback.
        (corpus / "profile.toml").write_text("no_such_key = 1\n", encoding="utf-8")
        mark = len(log_path.read_text())
        (corpus / "opinions_2021.csv").write_bytes(spare.read_bytes())
        failed = _wait(lambda: [r for r in api.flow_runs(deployment["id"]) if "watch" in r["tags"]
                                and r["state"]["type"] in ("FAILED", "CRASHED")], 180, "the watch run failed", log_path, serve)
        assert len(failed) == 1
        time.sleep(3)
        said = log_path.read_text()[mark:]
        assert "unknown profile key(s): no_such_key" in said and "Traceback" not in said, said[-4000:]
        (corpus / "profile.toml").unlink()

        # The server is lost for a while: serve goes on; a file added meanwhile starts exactly one run once
        # the server is back.
        # (20 s, five of the runner's polls and four of the watch's scans, were a minute: nothing
        # happens in the rest; Prefect's runner keeps polling a lost server and logs nothing.)
        server.stop()
        time.sleep(10)
        assert serve.poll() is None, log_path.read_text()[-3000:]
        (corpus / "opinions_2021.csv").write_bytes(spare.read_bytes().replace(b"2021", b"2022"))
        time.sleep(10)  # the watch sees the file while the server is away
        assert serve.poll() is None, log_path.read_text()[-3000:]
        server.start()
        runs = _wait(lambda: [r for r in api.flow_runs(deployment["id"]) if "watch" in r["tags"]
                              and "opinions_2021.csv" in r["name"] and r["id"] != failed[0]["id"]],
                     120, "a watch run once the server was back", log_path, serve)
        time.sleep(8)  # four runner polls: a second run would have been submitted by now
        runs = [r for r in api.flow_runs(deployment["id"]) if "watch" in r["tags"] and r["id"] != failed[0]["id"]]
        assert len(runs) == 1, runs
        api.wait_completed(runs[0]["id"])
        assert serve.poll() is None

        # SIGTERM while the server is unreachable: serve stops within 30 s anyway.
        server.stop()
        time.sleep(2)
        start = time.monotonic()
        os.killpg(serve.pid, signal.SIGTERM)
        serve.wait(40)
        assert time.monotonic() - start < 30, log_path.read_text()[-3000:]
    finally:
        _stop_group(serve)
        server.stop()
