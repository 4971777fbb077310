"""``textmine serve``: the flow as a Prefect deployment on a schedule, and a watch on the corpus folder.

docs/contract.md §2.  ``serve`` registers :func:`flows.pipeline.textmine_pipeline` with the Prefect
server named by ``PREFECT_API_URL`` as the deployment ``textmine/NAME`` (a cron schedule in a time
zone, and default parameters: the corpus folder and the resolved :class:`~textmine.core.config.Config`,
so the UI's run form shows every section with its defaults and descriptions), then serves it with a
Prefect :class:`~prefect.runner.Runner` until Ctrl-C or SIGTERM.  The runner starts each run
(scheduled, from the UI, from ``prefect deployment run``, or from the watch) in its own subprocess.

The watch (:class:`CorpusWatcher`) polls the corpus's data files in a background thread and, when
one is added or changed and has stopped changing, starts a run of the deployment.  A poll, not
Prefect's event triggers: a deployment trigger fires on events in Prefect's event system, and
something would still have to watch the folder and emit those events; a poll of content hashes is
that something without the extra moving parts, works on any file system (network shares, where
inotify is silent), ignores ``touch`` and copies of identical content, and can wait for a file to be
completely written before it starts a run.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Callable

from flows import UI_RUNS_ENV, UI_URL_ENV
from textmine.core.config import Config
from textmine.core.errors import CorpusError, TextmineError, escape
from textmine.core.files import file_digest
from textmine.io.corpus import load_corpus
from textmine.io.scan import discover_files
from textmine.preflight import check_run, check_writable
from textmine.ui.server import DEFAULT_PORT, UIServer, plan

FLOW_NAME = "textmine"  # the @flow's name in flows/pipeline/__init__.py
DEFAULT_NAME = "yearly"
DEFAULT_CRON = "0 6 1 3 *"  # once a year: 1 March, 06:00
DEFAULT_TIMEZONE = "Asia/Seoul"
WATCH_SECONDS = 5.0  # how often the watch looks at the corpus; a change starts a run after two looks
RUN_LIMIT = 1  # runs of this deployment at once: they share the caches and the machine's cores
RECENT_SECONDS = 10.0  # files modified this recently are always re-hashed
HEALTH_TIMEOUT_SECONDS = 5.0
DEFAULT_UI_PORT = DEFAULT_PORT  # the analysts' workspace (textmine ui) beside the deployment, on 127.0.0.1
# After SIGTERM, serve stops within this many seconds even when the Prefect server does not answer
# (the runner's own stop retries its API calls for minutes); the contract asks for 30.
STOP_SECONDS = 20.0
START_SERVER = "start one with `prefect server start --host 127.0.0.1` and set PREFECT_API_URL=http://127.0.0.1:4200/api"


def _say(message: str) -> None:
    print(f"{datetime.now():%H:%M:%S} textmine serve: {message}", flush=True)


# ---------------------------------------------------------------- before anything starts

def check_schedule(name: str, cron: str, timezone: str) -> None:
    """The deployment name, cron expression and time zone, checked as the Prefect API would."""
    from prefect.client.schemas.schedules import CronSchedule
    from pydantic import ValidationError

    bad = [c for c in "/%&><" if c in name]
    if not name.strip() or bad or not name.isprintable():
        raise TextmineError(f"--name {escape(repr(name))} is not a valid deployment name",
                            fix="use letters, digits, '-' or '_' (no / % & > <, no control characters), "
                                "e.g. --name yearly")
    if not cron.strip() or not cron.isprintable():
        raise TextmineError(f"--cron {escape(repr(cron))} is not a cron expression",
                            fix=f"five fields: minute hour day-of-month month day-of-week, e.g. --cron '{DEFAULT_CRON}'")
    if not timezone.strip() or not timezone.isprintable():
        # an empty zone would silently mean UTC to the scheduler
        raise TextmineError(f"--timezone {escape(repr(timezone))} is not a time zone",
                            fix=f"an IANA time zone name, e.g. --timezone {DEFAULT_TIMEZONE} or --timezone UTC")
    try:
        CronSchedule(cron=cron, timezone=timezone)
    except ValidationError as exc:
        fields = {str(e["loc"][0]) for e in exc.errors() if e.get("loc")}
        if "cron" in fields:
            raise TextmineError(f"--cron {cron!r} is not a cron expression",
                                fix=f"five fields: minute hour day-of-month month day-of-week, e.g. "
                                    f"--cron '{DEFAULT_CRON}' (06:00 on 1 March)") from None
        raise TextmineError(f"--timezone {timezone!r} is not a time zone",
                            fix=f"an IANA time zone name, e.g. --timezone {DEFAULT_TIMEZONE} or --timezone UTC") from None


def require_server() -> str:
    """The URL of the Prefect API to serve on; never Prefect's ephemeral server.

    The URL comes from ``PREFECT_API_URL`` in the environment or in the active Prefect profile.
    """
    import httpx
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    url = settings.api.url
    if not url:
        raise TextmineError(f"no Prefect server to serve on: {START_SERVER}",
                            fix="start the server in another terminal, export PREFECT_API_URL, then run "
                                "textmine serve again")
    headers = {"Authorization": f"Bearer {settings.api.key.get_secret_value()}"} if settings.api.key else {}
    health = url.rstrip("/") + "/health"
    try:
        response = httpx.get(health, headers=headers, timeout=HEALTH_TIMEOUT_SECONDS)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise TextmineError(f"the Prefect server at PREFECT_API_URL={url} does not answer "
                            f"(GET {health}: {type(exc).__name__}: {exc})",
                            fix=f"{START_SERVER}, or point PREFECT_API_URL at a running server") from None
    return url


def check_not_served(url: str, full_name: str) -> None:
    """Refuse to serve a deployment another ``textmine serve`` is serving: two runners of one
    deployment would each start a run for one change of the corpus.  A runner polls the server every
    few seconds; Prefect marks the deployment READY while it does, and a runner that stopped cleanly
    paused it (pause_on_shutdown)."""
    import httpx
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    headers = {"Authorization": f"Bearer {settings.api.key.get_secret_value()}"} if settings.api.key else {}
    try:
        response = httpx.get(f"{url.rstrip('/')}/deployments/name/{full_name}", headers=headers,
                             timeout=HEALTH_TIMEOUT_SECONDS)
    except httpx.HTTPError:
        return  # the registration says what is wrong with the server
    if response.status_code != 200:
        return
    deployment = response.json()
    if deployment.get("status") == "READY" and not deployment.get("paused"):
        raise TextmineError(f"the deployment {full_name} is already being served (its runner polled the server at "
                            f"{deployment.get('last_polled') or 'a moment ago'})",
                            fix=f"stop the other textmine serve first, or serve under another name (--name); a serve "
                                f"that was killed without stopping is forgotten about a minute later")


def check_inputs(corpus: str | Path, config: Config) -> Path:
    """The corpus as an absolute path, checked with the config as ``textmine run`` checks them.

    A folder with no data files yet is allowed (the watch waits for them); the run folders and
    caches must be writable either way.
    """
    path = Path(corpus).expanduser().resolve()
    if not path.exists():
        raise CorpusError("no such file or folder", file=path, fix="check the path to the corpus folder")
    if path.is_dir() and not list_files(path):
        check_writable(config.run.out_dir, "--out (run.out_dir)")
        check_writable(config.run.cache_dir, "run.cache_dir")
        _say(f"{escape(path)} holds no data files yet: runs will fail until yearly files are added")
    else:
        check_run(path, config)  # a corpus or config the runs would fail on stops serve now
    return path


def list_files(corpus: Path) -> list[Path]:
    """The corpus's data files (as ``textmine run`` reads them), or none."""
    try:
        return discover_files(corpus)
    except (CorpusError, OSError):  # no data files (yet), or the folder is gone for a moment
        return []


# ---------------------------------------------------------------- the watch

class CorpusWatcher:
    """Starts ``trigger(changes)`` when data files are added to or changed in ``corpus``.

    Every ``interval`` seconds the watch takes a snapshot {file: sha256 of its content} of the
    corpus's data files (:func:`textmine.io.scan.discover_files`; a file is re-hashed only when its
    size or modification time changed).  Files present when the watch starts never trigger.  A
    snapshot that differs from the last one acted on is acted on only when the next poll sees the
    same snapshot (so a file still being copied does not start a run); then ``trigger`` is called
    once with {"added": [...], "changed": [...]} (relative paths).  A removed file alone starts no
    run.  If ``trigger`` raises (the server is down), the change is tried again at the next poll.
    """

    def __init__(self, corpus: Path, trigger: Callable[[dict[str, list[str]]], object],
                 interval: float = WATCH_SECONDS, settle: float = 0.0,
                 check: Callable[[Path], object] | None = None, clock: Callable[[], float] = time.monotonic):
        self.corpus = Path(corpus)
        self.trigger = trigger
        self.interval = interval
        self.settle = settle  # seconds a changed file must stay unchanged (serve.settle_seconds)
        self.check = check  # reads a changed file; raises if it does not read completely
        self.clock = clock
        self._hashes: dict[Path, tuple[int, int, str]] = {}  # path -> (size, mtime_ns, sha256)
        self.baseline = self.snapshot()
        self._pending: dict[str, str] | None = None
        self._pending_since = 0.0
        self._unreadable: dict[str, str] | None = None  # a snapshot whose changed files did not read
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def snapshot(self) -> dict[str, str]:
        root = self.corpus if self.corpus.is_dir() else self.corpus.parent
        out: dict[str, str] = {}
        seen: dict[Path, tuple[int, int, str]] = {}
        for path in list_files(self.corpus):
            try:
                stat = path.stat()
                known = self._hashes.get(path)
                # Re-hash when size or modification time changed, and always while the file is young:
                # a file system with coarse timestamps can rewrite it within one tick, same size.
                young = time.time() - stat.st_mtime < RECENT_SECONDS
                if known and known[:2] == (stat.st_size, stat.st_mtime_ns) and not young:
                    digest = known[2]
                else:
                    digest = file_digest(path)
            except OSError:  # removed or unreadable between listing and reading: look again next poll
                continue
            seen[path] = (stat.st_size, stat.st_mtime_ns, digest)
            out[path.relative_to(root).as_posix()] = digest
        self._hashes = seen
        return out

    def poll(self) -> dict[str, list[str]] | None:
        """One look at the corpus; returns the changes it triggered a run for, if it did."""
        current = self.snapshot()
        if current == self.baseline:
            self._pending = None
            return None
        if current != self._pending:  # new, or still changing: wait for one more poll
            self._pending, self._pending_since = current, self.clock()
            return None
        if self.clock() - self._pending_since < self.settle:  # not yet still for the settle time
            return None
        changes = {"added": sorted(set(current) - set(self.baseline)),
                   "changed": sorted(f for f in current if f in self.baseline and current[f] != self.baseline[f])}
        if not changes["added"] and not changes["changed"]:  # only removals
            self.baseline, self._pending = current, None
            return None
        if current == self._unreadable:  # said so already; wait for the file to change again
            return None
        if self.check is not None and not self._reads_completely(changes):
            self._unreadable = current
            return None
        self.trigger(changes)  # raises -> baseline kept, tried again next poll
        self.baseline, self._pending = current, None
        return changes

    def _reads_completely(self, changes: dict[str, list[str]]) -> bool:
        """Whether every added or changed file reads as ``textmine run`` reads it: a file cut short by
        a copy still under way (a partial year) starts no run."""
        root = self.corpus if self.corpus.is_dir() else self.corpus.parent
        for name in changes["added"] + changes["changed"]:
            try:
                self.check(root / name)
            except (TextmineError, OSError) as exc:
                problem = exc.problem if isinstance(exc, TextmineError) else f"{type(exc).__name__}: {exc}"
                _say(f"watch: {escape(name)} does not read completely ({escape(problem)}); no run until it "
                     "changes again")
                return False
        return True

    def _loop(self) -> None:
        said = None  # the failure last said: a server down for a minute is one line, not twelve
        while not self._stop.wait(self.interval):
            try:
                self.poll()
                said = None
            except Exception as exc:  # keep watching; the run can still be started by hand
                message = f"watch: could not start a run ({type(exc).__name__}: {exc}); trying again every " \
                          f"{self.interval:g} s"
                if message != said:
                    _say(message)
                said = message

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="textmine-watch", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)


def _reader(config: Config) -> Callable[[Path], object]:
    """Reads one data file as ``textmine run`` would (its table, columns, years and texts)."""
    return lambda path: load_corpus(path, config.corpus)


def describe_changes(changes: dict[str, list[str]], limit: int = 3) -> str:
    parts = []
    for kind in ("added", "changed"):
        files = changes.get(kind) or []
        if files:
            shown = ", ".join(files[:limit]) + (f" (+{len(files) - limit} more)" if len(files) > limit else "")
            parts.append(f"{kind} {shown}")
    return "; ".join(parts)


def start_run_for(deployment: str, corpus: Path) -> Callable[[dict[str, list[str]]], object]:
    """The watch's trigger: a run of ``deployment`` (its default parameters) named after the changes."""
    def trigger(changes: dict[str, list[str]]):
        from prefect.deployments import run_deployment

        what = describe_changes(changes)
        run = run_deployment(deployment, parameters={"corpus": str(corpus)}, timeout=0, tags=["watch"],
                             flow_run_name=f"watch: {what}", as_subflow=False)
        _say(f"watch: {escape(what)} -> started flow run '{escape(run.name)}' ({run.id}) of {deployment}")
        return run

    return trigger


# ---------------------------------------------------------------- serving

def _runner_class():
    from prefect.runner import Runner

    class ServeRunner(Runner):
        """Prefect's Runner; its SIGTERM handler also stops the watch (then the runner stops its runs)."""

        on_stop: Callable[[], None] = staticmethod(lambda: None)

        def handle_sigterm(self, *args, **kwargs) -> None:
            self.on_stop()
            super().handle_sigterm(*args, **kwargs)

    return ServeRunner


def stop_within(seconds: float, url: str) -> threading.Timer:
    """After SIGTERM the runner cancels its runs and pauses the deployment through the API; with the
    server unreachable those calls retry for minutes.  This stops serve anyway after ``seconds``: its
    runs' processes ended, one line said, exit 0 (the stop was asked for)."""
    def hard_stop() -> None:
        import os

        import psutil

        _say(f"the Prefect server at {url} did not answer while stopping; stopped without it "
             "(the deployment's schedule was not paused)")
        children = psutil.Process().children(recursive=True)
        for child in children:
            try:
                child.terminate()
            except psutil.Error:
                pass
        psutil.wait_procs(children, timeout=5)
        for child in children:
            try:
                child.kill()
            except psutil.Error:
                pass
        os._exit(0)

    timer = threading.Timer(seconds, hard_stop)
    timer.daemon = True
    timer.start()
    return timer


def _interrupt(signum, frame):  # SIGTERM before the runner has installed its own handler
    raise KeyboardInterrupt


def serve(corpus: str | Path, config: Config, *, name: str = DEFAULT_NAME, cron: str = DEFAULT_CRON,
          timezone: str = DEFAULT_TIMEZONE, watch: bool = True, watch_seconds: float = WATCH_SECONDS,
          ui_port: int | None = DEFAULT_UI_PORT) -> int:
    """Register ``textmine/NAME`` and serve it until Ctrl-C or SIGTERM; returns the exit status (0).

    With ``ui_port`` the analysts' workspace (:mod:`textmine.ui`) serves the run folders on
    ``http://127.0.0.1:<ui_port>/`` as long as the deployment is served, and each run's link artifact
    points to its page there.

    ``config.run.out_dir`` should be absolute: runs started from the UI write there whatever the
    runner's working directory.  Everything the user can get wrong is checked first and raised as a
    :class:`~textmine.core.errors.TextmineError`, before the server is touched.
    """
    check_schedule(name, cron, timezone)
    corpus = check_inputs(corpus, config)
    url = require_server()
    check_not_served(url, f"{FLOW_NAME}/{name}")

    import asyncio

    from prefect.schedules import Cron
    from prefect.settings import get_current_settings
    from prefect.types.entrypoint import EntrypointType

    from flows.pipeline import textmine_pipeline

    full_name = f"{FLOW_NAME}/{name}"
    out_dir = config.run.out_dir
    deployment = textmine_pipeline.to_deployment(
        name=name,
        schedule=Cron(cron, timezone=timezone),
        parameters={"corpus": str(corpus), "config": config.to_dict()},
        description=(f"textmine on {corpus}: topic models, trajectories and phases of the opinions; "
                     f"run folders under {out_dir}. Scheduled '{cron}' ({timezone})"
                     + ("; a yearly file added to or changed in the corpus folder starts a run (tag 'watch')."
                        if watch else ".")),
        tags=["textmine"],
        # Runs import flows.pipeline by module (the installed package), so they start from any
        # working directory; a file-path entrypoint would be relative to where serve was started.
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
    ui = _start_ui(Path(out_dir), ui_port) if ui_port else None
    watcher = CorpusWatcher(corpus, start_run_for(full_name, corpus), watch_seconds,
                            settle=config.serve.settle_seconds, check=_reader(config)) if watch else None
    stopping: list[threading.Timer] = []
    stop_requested = threading.Event()

    def on_stop() -> None:
        stop_requested.set()
        if watcher:
            watcher.stop(timeout=2)
        if not stopping:
            stopping.append(stop_within(STOP_SECONDS, url))

    def banner() -> None:
        prefect_ui = get_current_settings().ui_url or url
        _say(f"serving {full_name} on {url}")
        _say(f"  corpus: {escape(corpus)}")
        _say(f"  run folders: {escape(out_dir)}")
        _say(f"  schedule: '{cron}' in {timezone}")
        _say("  watch: " + (f"every {watch_seconds:g} s, an added or changed data file starts a run once it "
                             f"has not changed for {config.serve.settle_seconds:g} s and reads completely"
                             if watcher else "off (--no-watch)"))
        _say(f"  UI: {prefect_ui}  (or: prefect deployment run {full_name})")
        _say(f"  workspace: {ui.plan.url}" if ui else "  workspace: off (--no-ui)")
        _say("  stop: Ctrl-C or SIGTERM")

    async def main(runner, first: bool) -> None:
        await runner.aadd_deployment(deployment)  # registers (or updates) textmine/NAME
        if first:
            banner()
            if watcher:
                watcher.start()
        await runner.start()  # installs runner.handle_sigterm; returns once stopped

    def interrupt(signum, frame):  # SIGTERM while no runner has its own handler installed
        on_stop()
        _interrupt(signum, frame)

    previous = signal.signal(signal.SIGTERM, interrupt)
    first = True
    try:
        while not stop_requested.is_set():
            runner = _runner_class()(name=f"textmine-{name}", limit=RUN_LIMIT, pause_on_shutdown=True)
            runner.on_stop = on_stop
            try:
                asyncio.run(main(runner, first))
                break  # stopped
            except KeyboardInterrupt:  # Ctrl-C, or SIGTERM before the runner took over
                break
            except SystemExit as exc:  # the runner's SIGTERM handler while it was still starting
                if exc.code not in (0, None):
                    raise
                break
            except TextmineError:
                raise
            except BaseException as exc:  # noqa: BLE001 - anyio raises the runner's loops' errors as a group
                if stop_requested.is_set():
                    break
                status = getattr(getattr(exc, "response", None), "status_code", None)
                if first and status is not None:
                    raise TextmineError(f"the Prefect server at {url} refused the deployment {full_name} "
                                        f"(HTTP {status}: {exc})",
                                        fix="check the server's log; restart it, then run textmine serve again") from None
                if not _server_lost(exc):
                    raise
                signal.signal(signal.SIGTERM, interrupt)  # the stopped runner's handler is no use now
                _say(f"lost the Prefect server at {url}; the watch goes on, and serving resumes when the "
                     "server answers again")
                try:
                    if not _wait_for_server(url, stop_requested):
                        break
                except (KeyboardInterrupt, SystemExit):
                    break
                _say(f"the Prefect server at {url} answers again: serving {full_name}")
            first = False
    finally:
        if watcher:
            watcher.stop()
        for timer in stopping:
            timer.cancel()
        if ui:
            ui.stop()
            os.environ.pop(UI_URL_ENV, None)
            os.environ.pop(UI_RUNS_ENV, None)
        signal.signal(signal.SIGTERM, previous)
    _say(f"stopped serving {full_name}")
    return 0


def _start_ui(out_dir: Path, port: int):
    """The workspace over ``out_dir`` on 127.0.0.1:``port`` in a thread (a busy port is a TextmineError)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    ui = UIServer(plan(out_dir, "127.0.0.1", port))
    ui.start()
    os.environ[UI_URL_ENV], os.environ[UI_RUNS_ENV] = ui.plan.url, str(ui.plan.runs_dir)
    return ui


# How often serve asks a lost server whether it is back.
RECONNECT_SECONDS = 5.0


def _wait_for_server(url: str, stop: threading.Event) -> bool:
    """Whether the server answered again (False: a stop was asked for first)."""
    import httpx

    health = url.rstrip("/") + "/health"
    while not stop.wait(RECONNECT_SECONDS):
        try:
            if httpx.get(health, timeout=HEALTH_TIMEOUT_SECONDS).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
    return False


def _server_lost(exc: BaseException) -> bool:
    """Whether the runner stopped because the server stopped answering: a connection error, or
    Prefect's service loop giving up after repeated ones ("Service exceeded error threshold"),
    possibly inside an exception group."""
    if isinstance(exc, BaseExceptionGroup):
        return any(_server_lost(e) for e in exc.exceptions)
    if isinstance(exc, RuntimeError) and "exceeded error threshold" in str(exc):
        return True
    return _is_connection_error(exc)


def _is_connection_error(exc: BaseException) -> bool:
    import httpx

    while exc is not None:
        if isinstance(exc, (httpx.TransportError, ConnectionError)):
            return True
        exc = exc.__cause__ or exc.__context__
    return False

