"""``textmine serve`` (docs/contract.md §2): the deployment on a schedule, the watch, a clean stop.

The end-to-end test runs everything as a user would, each in its own process with an explicit
environment: a real ``prefect server start``, ``textmine serve`` from a folder outside the repository,
``prefect deployment run``, a yearly file copied into the corpus, SIGTERM.  It does not use the
``prefect_harness`` fixture (that sets PREFECT_API_URL for the test process itself).
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from conftest import REPO, run_cli

BIN = Path(sys.executable).parent
NETBLOCK = Path(__file__).parent / "netblock"
NO_SERVER = "no Prefect server to serve on: start one with `prefect server start --host 127.0.0.1` and set " \
            "PREFECT_API_URL=http://127.0.0.1:4200/api"


def _env(prefect_home: Path, api_url: str | None = None) -> dict:
    """This process's environment without any Prefect API setting, with its own PREFECT_HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "HF_", "TRANSFORMERS_"))}
    # no network beyond loopback, and this checkout's code first (the console script's package may be
    # another checkout's)
    env.update(PREFECT_HOME=str(prefect_home), PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1",
               # no network beyond loopback, and this checkout's code (not whichever textmine the venv installed)
               PYTHONPATH=os.pathsep.join([str(NETBLOCK), str(REPO)]))
    prefect_home.mkdir(parents=True, exist_ok=True)
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def _serve(args, env, cwd, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "textmine"), "serve", *map(str, args)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120, **kwargs)


# ---------------------------------------------------------------- fast: before anything starts

@pytest.fixture()
def corpus(tmp_path) -> Path:
    from textmine.synth.synth import SynthSpec, write_corpus

    return write_corpus(tmp_path / "corpus", SynthSpec(seed=3, docs_per_year=12, first_year=2018, last_year=2021,
                                                                n_phases=2))


def _quiet(tmp_path) -> list[str]:
    """Run folders and caches inside the test's folder."""
    return ["--out", str(tmp_path / "out"), "--set", f"run.cache_dir={tmp_path / 'cache'}"]


def test_serve_without_a_server_url_says_how_to_start_one(tmp_path, corpus):
    proc = _serve([corpus, *_quiet(tmp_path)], _env(tmp_path / "empty-prefect-home"), tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"textmine: error: {NO_SERVER}\n  what to do: "), proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_serve_with_an_unreachable_server_names_the_url(tmp_path, corpus):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/api"
    proc = _serve([corpus, *_quiet(tmp_path)], _env(tmp_path / "home", url), tmp_path)
    assert proc.returncode == 2, proc.stderr
    first = proc.stderr.splitlines()[0]
    assert first.startswith("textmine: error: the Prefect server at") and url in first and "does not answer" in first
    assert "what to do:" in proc.stderr and "prefect server start --host 127.0.0.1" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("args, needle", [
    (["--set", "lda.passes=0"], "lda.passes"),
    (["--models", "nope"], "nope"),
    (["--cron", "every year"], "--cron 'every year' is not a cron expression"),
    (["--timezone", "Seoul"], "--timezone 'Seoul' is not a time zone"),
    (["--name", "a/b"], "--name 'a/b'"),
    (["--phases", "3"], "cannot hold 3 phases"),  # the corpus and config checked as `textmine run` checks them
    (["--set", "lda.k_grid=60"], "cannot support 60 topics"),
])
def test_serve_checks_its_arguments_before_anything_starts(tmp_path, corpus, capsys, args, needle):
    code, out, err = run_cli(["serve", corpus, *_quiet(tmp_path), *args], capsys)
    assert code == 2 and err.startswith("textmine: error: ") and needle in err and "what to do:" in err
    assert NO_SERVER not in err  # checked before the server is looked for


def test_serve_missing_corpus(tmp_path, capsys):
    code, _, err = run_cli(["serve", tmp_path / "nope"], capsys)
    assert code == 2 and "no such file or folder" in err and "nope" in err


def test_serve_takes_the_run_flags_and_its_defaults():
    from flows import serve
    from flows.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["serve", "c"])
    assert (args.name, args.cron, args.timezone, args.no_watch) == \
           (serve.DEFAULT_NAME, serve.DEFAULT_CRON, serve.DEFAULT_TIMEZONE, False)
    run_flags = {a.dest for a in parser._subparsers._group_actions[0].choices["run"]._actions if a.option_strings}
    serve_flags = {a.dest for a in parser._subparsers._group_actions[0].choices["serve"]._actions if a.option_strings}
    assert run_flags <= serve_flags
    args = parser.parse_args(["serve", "c", "--name", "n", "--cron", "0 0 * * *", "--timezone", "UTC", "--no-watch",
                              "--out", "o", "--config", "x.toml", "--models", "lda", "--phases", "3", "--seed", "7",
                              "--time-unit", "half", "--set", "lda.seeds=1", "--text-col", "의견"])
    assert (args.name, args.no_watch, args.out, args.models, args.set, args.text_col) == \
           ("n", True, "o", "lda", ["lda.seeds=1"], "의견")


# ---------------------------------------------------------------- fast: the watch

class _Trigger:
    def __init__(self, fail: int = 0):
        self.calls, self.fail = [], fail

    def __call__(self, changes):
        if self.fail:
            self.fail -= 1
            raise ConnectionError("server down")
        self.calls.append(changes)


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def test_watch_ignores_files_present_at_start_and_non_data_files(tmp_path):
    from flows.serve import CorpusWatcher

    _write(tmp_path / "opinions_2019.csv", "a")
    _write(tmp_path / "opinions_2020.csv", "b")
    trigger = _Trigger()
    watcher = CorpusWatcher(tmp_path, trigger)
    _write(tmp_path / "truth.json", "{}")  # sidecar files and other types are not opinions
    _write(tmp_path / "notes.docx", "x")
    (tmp_path / ".hidden").mkdir()
    _write(tmp_path / ".hidden" / "2021.csv", "x")
    os.utime(tmp_path / "opinions_2019.csv")  # touched, same content
    assert [watcher.poll() for _ in range(4)] == [None] * 4 and trigger.calls == []


def test_watch_starts_one_run_for_an_added_file_once_it_is_stable(tmp_path):
    from flows.serve import CorpusWatcher

    _write(tmp_path / "opinions_2019.csv", "a")
    trigger = _Trigger()
    watcher = CorpusWatcher(tmp_path, trigger)
    new = tmp_path / "sub" / "opinions_2020.csv"
    new.parent.mkdir()
    _write(new, "연번,연도,평가의견\n1,2020,")  # half copied
    assert watcher.poll() is None
    with new.open("a", encoding="utf-8") as f:
        f.write("상담 인력 확충\n")  # still growing: not yet
    assert watcher.poll() is None and trigger.calls == []
    assert watcher.poll() == {"added": ["sub/opinions_2020.csv"], "changed": []}  # unchanged across two polls
    assert [watcher.poll() for _ in range(3)] == [None] * 3
    assert trigger.calls == [{"added": ["sub/opinions_2020.csv"], "changed": []}]


def test_watch_starts_a_run_for_a_changed_file_not_for_a_removed_one(tmp_path):
    from flows.serve import CorpusWatcher

    for year in (2018, 2019):
        _write(tmp_path / f"{year}.txt", f"opinion of {year}\n")
    trigger = _Trigger()
    watcher = CorpusWatcher(tmp_path, trigger)
    _write(tmp_path / "2019.txt", "opinion of 2019, revised\n")
    assert watcher.poll() is None
    assert watcher.poll() == {"added": [], "changed": ["2019.txt"]}
    (tmp_path / "2018.txt").unlink()
    assert [watcher.poll() for _ in range(3)] == [None] * 3
    _write(tmp_path / "2018.txt", "opinion of 2018\n")  # back again: an added file
    watcher.poll()
    assert watcher.poll() == {"added": ["2018.txt"], "changed": []}
    assert len(trigger.calls) == 2


def test_watch_retries_when_the_run_cannot_be_started(tmp_path):
    from flows.serve import CorpusWatcher

    trigger = _Trigger(fail=1)
    watcher = CorpusWatcher(tmp_path, trigger)  # an empty folder is watched too
    _write(tmp_path / "2020.txt", "x\n")
    watcher.poll()
    with pytest.raises(ConnectionError):
        watcher.poll()
    assert watcher.poll() == {"added": ["2020.txt"], "changed": []} and len(trigger.calls) == 1


def test_watch_thread_polls_and_stops(tmp_path):
    from flows.serve import CorpusWatcher, describe_changes

    trigger = _Trigger()
    watcher = CorpusWatcher(tmp_path, trigger, interval=0.05)
    watcher.start()
    _write(tmp_path / "2020.csv", "x")
    deadline = time.monotonic() + 10
    while not trigger.calls and time.monotonic() < deadline:
        time.sleep(0.05)
    watcher.stop()
    assert not watcher._thread.is_alive()
    assert trigger.calls == [{"added": ["2020.csv"], "changed": []}]
    assert describe_changes({"added": ["a", "b", "c", "d"], "changed": ["e"]}) == "added a, b, c (+1 more); changed e"


# ---------------------------------------------------------------- slow: end to end, as a user runs it

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop_group(proc: subprocess.Popen, timeout: float = 30) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.fixture()
def prefect_server(tmp_path):
    """A real Prefect server on a free loopback port with its own PREFECT_HOME; yields its API URL."""
    import httpx

    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                            env=_env(tmp_path / "server-home"), cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the Prefect server did not start in 180 s"
            time.sleep(1)
        yield url
    finally:
        _stop_group(proc)
        log.close()


class _Api:
    def __init__(self, url: str, log: Path):
        import httpx

        self.client, self.log = httpx.Client(base_url=url, timeout=10), log

    def deployment(self, name: str) -> dict | None:
        r = self.client.get(f"/deployments/name/{name}")
        return r.json() if r.status_code == 200 else None

    def flow_run(self, run_id: str) -> dict:
        r = self.client.get(f"/flow_runs/{run_id}")
        r.raise_for_status()
        return r.json()

    def flow_runs(self, deployment_id: str) -> list[dict]:
        r = self.client.post("/flow_runs/filter", json={"flow_runs": {"deployment_id": {"any_": [deployment_id]}}})
        r.raise_for_status()
        return r.json()

    def link_artifact(self, flow_run_id: str, key: str) -> str | None:
        r = self.client.post("/artifacts/filter", json={"artifacts": {"key": {"any_": [key]},
                                                                      "flow_run_id": {"any_": [flow_run_id]}}})
        r.raise_for_status()
        found = [a["data"] for a in r.json() if a.get("data")]
        return found[0] if found else None

    def wait_completed(self, run_id: str, timeout: float = 300) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            run = self.flow_run(run_id)
            state = run["state"]["type"]
            if state == "COMPLETED":
                return run
            assert state not in ("FAILED", "CRASHED", "CANCELLED", "CANCELLING"), \
                f"flow run {run['name']} is {state}:\n{self.log.read_text()[-4000:]}"
            assert time.monotonic() < deadline, f"flow run {run['name']} still {state} after {timeout} s"
            time.sleep(2)


@pytest.mark.slow
def test_serve_end_to_end(tmp_path, prefect_server):
    import psutil

    from flows.cli import main

    # A small corpus, its last year held back; everything relative to a folder outside the repository.
    work = tmp_path / "work"
    work.mkdir()
    assert main(["synth", str(work / "corpus"), "--docs-per-year", "40", "--years", "2015-2020"]) == 0
    held = tmp_path / "held" / "opinions_2020.csv"
    held.parent.mkdir()
    shutil.move(work / "corpus" / "opinions_2020.csv", held)
    out = work / "out"

    client_env = _env(tmp_path / "client-home", prefect_server)
    log_path = tmp_path / "serve.log"
    log = log_path.open("w")
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        ui_port = free.getsockname()[1]
    serve = subprocess.Popen(
        [str(BIN / "textmine"), "serve", "corpus", "--out", "out", "--ui-port", str(ui_port),
         "--models", "lda", "--set", "lda.k_grid=8,10",
         "--set", "lda.seeds=1", "--set", "lda.passes=3", "--set", f"run.cache_dir={tmp_path / 'cache'}"],
        env=client_env, cwd=work, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    api = _Api(prefect_server, log_path)
    try:
        # The deployment, its schedule and default parameters, through the API.
        deadline = time.monotonic() + 120
        while (deployment := api.deployment("textmine/yearly")) is None:
            assert serve.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, "textmine/yearly was not registered in 120 s"
            time.sleep(1)
        (schedule,) = deployment["schedules"]
        assert schedule["schedule"]["cron"] == "0 6 1 3 *" and schedule["schedule"]["timezone"] == "Asia/Seoul"
        assert schedule["active"] and not deployment["paused"]
        params = deployment["parameters"]
        assert params["corpus"] == str(work / "corpus")
        assert params["config"]["run"]["out_dir"] == str(out) and params["config"]["run"]["models"] == ["lda"]
        assert params["config"]["lda"]["k_grid"] == [8, 10]
        assert "config" in deployment["parameter_openapi_schema"]["properties"]  # the UI's typed form
        assert str(out) in deployment["description"]

        # A run started by hand, as from the UI.
        proc = subprocess.run([str(BIN / "prefect"), "deployment", "run", "textmine/yearly"], env=client_env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        first_id = re.search(r"UUID: ([0-9a-f-]{36})", proc.stdout).group(1)
        api.wait_completed(first_id)
        (first,) = [p.parent for p in out.glob("*/phases.json")]

        # The held-back year arrives: a run starts by itself.
        shutil.copy(held, work / "corpus" / held.name)
        copied = time.time()
        deadline = time.monotonic() + 60
        while not (new := [r for r in api.flow_runs(deployment["id"])
                           if r["id"] != first_id and "auto-scheduled" not in r["tags"]]):
            assert time.monotonic() < deadline, "no flow run within 60 s of a new yearly file:\n" + \
                                                log_path.read_text()[-3000:]
            time.sleep(1)
        (watched,) = new
        for run in api.flow_runs(deployment["id"]):  # the schedule's next runs: 06:00 on 1 March in Seoul
            if "auto-scheduled" in run["tags"]:
                when = datetime.fromisoformat(run["expected_start_time"].replace("Z", "+00:00"))
                assert when.astimezone(ZoneInfo("Asia/Seoul")).timetuple()[1:5] == (3, 1, 6, 0)
        assert "watch" in watched["tags"] and "opinions_2020.csv" in watched["name"]
        watched = api.wait_completed(watched["id"])
        started = watched["start_time"].replace("Z", "+00:00")
        assert datetime.fromisoformat(started).timestamp() - copied < 60
        (second,) = [p.parent for p in out.glob("*/phases.json") if p.parent != first]
        manifest = json.loads((second / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["token_cache"] == {"hits": [2015, 2016, 2017, 2018, 2019], "misses": [2020]}
        assert "2020" in {str(y) for y in manifest["documents_per_year"]}
        assert manifest["started_by"] == "watch"
        assert json.loads((first / "manifest.json").read_text(encoding="utf-8"))["started_by"] == "deployment"
        assert "watch: added opinions_2020.csv" in log_path.read_text()

        # The workspace serve started lists the new run, its page works, and the run's Prefect link points there.
        import httpx

        workspace = f"http://127.0.0.1:{ui_port}"
        assert f"workspace: {workspace}/" in log_path.read_text()
        listing = httpx.get(f"{workspace}/", timeout=10)
        assert listing.status_code == 200 and second.name in listing.text and first.name in listing.text
        assert httpx.get(f"{workspace}/runs/{second.name}", timeout=30).status_code == 200
        assert f"({workspace}/runs/{second.name})" in api.link_artifact(watched["id"], "textmine-report")

        # SIGTERM while a run is in progress: a clean stop, the run cancelled, no process left behind.
        # The third run asks for a slow LDA (a new selection, many passes) so that it is surely still
        # fitting when the signal comes: run again as it was, on warm caches, it can publish its folder
        # within the second between two polls (CI saw that once), and a published folder is complete.
        slow = json.loads(json.dumps(params["config"]))
        slow["lda"].update(k_grid=[8, 10, 12, 14], passes=400, iterations=1000)
        proc = subprocess.run([str(BIN / "prefect"), "deployment", "run", "textmine/yearly",
                               "--params", json.dumps({"config": slow})], env=client_env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        third_id = re.search(r"UUID: ([0-9a-f-]{36})", proc.stdout).group(1)
        deadline = time.monotonic() + 90
        while api.flow_run(third_id)["state"]["type"] != "RUNNING" or not list(out.glob(".partial-*")):
            assert time.monotonic() < deadline, "the third run did not start in 90 s"
            time.sleep(1)
        children = psutil.Process(serve.pid).children(recursive=True)
        assert children  # the run's process
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(30) == 0, log_path.read_text()[-3000:]
        time.sleep(1)
        assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
        assert log_path.read_text().rstrip().splitlines()[-1].endswith("stopped serving textmine/yearly")
        assert api.deployment("textmine/yearly")["paused"]  # no scheduled runs pile up while nobody serves
        assert api.flow_run(third_id)["state"]["type"] in ("CANCELLED", "CRASHED")
        assert not (set(out.iterdir()) - {first, second}) or \
               all(p.name.startswith(".") for p in set(out.iterdir()) - {first, second})  # no complete-looking folder
    finally:
        _stop_group(serve)
        log.close()
        api.client.close()


# ---------------------------------------------------------------- issue 25: settle time, complete files, names

@pytest.mark.parametrize("args, needle", [
    (["--timezone", ""], "--timezone '' is not a time zone"),
    (["--timezone", "  "], "--timezone '  ' is not a time zone"),
    (["--timezone", "Asia/Seoul\n"], "is not a time zone"),
    (["--name", "yearly\x1b[31m"], "is not a valid deployment name"),
    (["--name", "a\nb"], "is not a valid deployment name"),
    (["--cron", "0 6 1 3 *\r"], "is not a cron expression"),
    (["--set", "serve.settle_seconds=-1"], "serve.settle_seconds"),
    (["--set", "serve.settle_seconds=nan"], "serve.settle_seconds"),
])
def test_serve_refuses_empty_zones_and_control_characters(tmp_path, corpus, capsys, args, needle):
    code, out, err = run_cli(["serve", corpus, *_quiet(tmp_path), *args], capsys)
    assert code == 2 and needle in err and "\x1b" not in err and "\r" not in err, err
    assert len([line for line in err.splitlines() if line.strip()]) == 2 and NO_SERVER not in err


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_watch_waits_for_the_settle_time(tmp_path):
    """A file must stay unchanged for serve.settle_seconds: two quick polls are not enough."""
    from flows.serve import CorpusWatcher

    clock, trigger = _Clock(), _Trigger()
    watcher = CorpusWatcher(tmp_path, trigger, settle=30, clock=clock)
    _write(tmp_path / "2020.txt", "opinion\n")
    assert watcher.poll() is None
    clock.now = 10
    assert watcher.poll() is None  # unchanged, but only for 10 s
    with (tmp_path / "2020.txt").open("a", encoding="utf-8") as f:
        f.write("more\n")  # a copy pausing between blocks, then going on
    clock.now = 35
    assert watcher.poll() is None  # changed again: the settle time starts over
    clock.now = 60
    assert watcher.poll() is None and trigger.calls == []
    clock.now = 66
    assert watcher.poll() == {"added": ["2020.txt"], "changed": []}


def test_watch_starts_no_run_on_a_file_that_does_not_read_completely(tmp_path, capsys):
    """A partial file (an xlsx cut short by a copy) is not a finished year: no run, one line said, and a
    run once the file is whole."""
    from flows.serve import CorpusWatcher, _reader
    from textmine.core.config import load_config

    good = tmp_path / "src.xlsx"
    import pandas as pd
    pd.DataFrame({"연도": [2020] * 3, "평가의견": ["재학생 진로 상담 체계 강화 필요"] * 3}).to_excel(good, index=False)
    data = good.read_bytes()
    good.unlink()
    trigger = _Trigger()
    watcher = CorpusWatcher(tmp_path, trigger, check=_reader(load_config(None, {})))
    (tmp_path / "opinions_2020.xlsx").write_bytes(data[: len(data) // 2])  # the copy stalled half way
    assert [watcher.poll() for _ in range(4)] == [None] * 4 and trigger.calls == []
    said = [line for line in capsys.readouterr().out.splitlines() if "does not read completely" in line]
    assert len(said) == 1 and "opinions_2020.xlsx" in said[0]
    (tmp_path / "opinions_2020.xlsx").write_bytes(data)  # the copy finished
    watcher.poll()
    assert watcher.poll() == {"added": ["opinions_2020.xlsx"], "changed": []}
