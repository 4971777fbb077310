"""Starting the workspace: ``textmine ui`` (in the foreground) and ``textmine serve`` (beside the deployment).

Checked before anything starts: the runs folder exists, the port is free, and a host other than a
loopback address gets a token (``--token``, or one generated here and printed once in the URL).
"""
from __future__ import annotations

import errno
import secrets
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

from textmine.core.errors import TextmineError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
MIN_TOKEN = 16   # characters: a token shorter than this is guessable


@dataclass
class Plan:
    runs_dir: Path
    host: str
    port: int
    read_only: bool
    token: str | None
    loopback: bool
    token_generated: bool = False

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        shown = "127.0.0.1" if self.host in ("0.0.0.0", "::") else host
        return f"http://{shown}:{self.port}/"

    @property
    def url_with_token(self) -> str:
        return self.url + (f"?token={self.token}" if self.token else "")

    def run_url(self, run_id: str) -> str:
        return f"{self.url}runs/{run_id}"


def plan(runs_dir: str | Path, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, read_only: bool = False,
         token: str | None = None) -> Plan:
    """What to start, checked: a :class:`TextmineError` (exit 2) for a missing folder, a bad port or token."""
    from textmine.ui.app import is_loopback

    folder = Path(runs_dir).expanduser()
    if not folder.is_dir():
        raise TextmineError("the runs folder does not exist" if not folder.exists() else "not a folder", file=folder,
                            fix="pass the folder that 'textmine run' writes into (default: outputs)")
    if not 0 < int(port) < 65536:
        raise TextmineError(f"--port {port} is not a TCP port", fix="use a port from 1 to 65535, e.g. --port 8765")
    loopback = is_loopback(host)
    generated = False
    if token is not None and len(token) < MIN_TOKEN:
        raise TextmineError(f"--token is {len(token)} characters long, shorter than {MIN_TOKEN}",
                            fix="use a longer random token, or leave --token out to have one generated")
    if not loopback and token is None:
        token, generated = secrets.token_urlsafe(24), True
    return Plan(folder.resolve(), host, int(port), read_only, token, loopback, generated)


def check_port(host: str, port: int) -> None:
    """A :class:`TextmineError` when ``host:port`` cannot be bound (in use, or not an address of this machine)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise TextmineError(f"port {port} on {host} is already in use",
                                    fix=f"stop what uses it, or choose another port, e.g. --port {port + 1}") from None
            raise TextmineError(f"cannot listen on {host}:{port}: {exc.strerror}",
                                fix="use --host 127.0.0.1, or an address of this machine") from None
        except socket.gaierror as exc:
            raise TextmineError(f"--host {host!r} is not an address of this machine ({exc})",
                                fix="use --host 127.0.0.1 (this machine only) or 0.0.0.0 (every network)") from None


class UIServer:
    """uvicorn serving the app in a background thread (``textmine serve``), stopped with :meth:`stop`."""

    def __init__(self, p: Plan):
        import uvicorn

        from textmine.ui.app import create_app

        self.plan = p
        app = create_app(p.runs_dir, read_only=p.read_only, token=p.token, loopback=p.loopback)
        self.server = uvicorn.Server(uvicorn.Config(app, host=p.host, port=p.port, log_level="warning",
                                                    access_log=False, lifespan="off"))
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        check_port(self.plan.host, self.plan.port)
        self.thread = threading.Thread(target=self.server.run, name="textmine-ui", daemon=True)
        self.thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout)

    def run(self) -> None:
        """In the foreground until Ctrl-C or SIGTERM (uvicorn's own handlers end it cleanly)."""
        check_port(self.plan.host, self.plan.port)
        self.server.run()


def announce(p: Plan) -> str:
    """The lines ``textmine ui`` prints: where to open it (with the token, printed this once)."""
    lines = [f"textmine ui: {p.runs_dir} at {p.url_with_token if p.token else p.url}"]
    if p.token_generated:
        lines.append("textmine ui: the token is in the URL above and is printed only this once; "
                     "open that URL once and the browser keeps it in a cookie")
    if p.read_only:
        lines.append("textmine ui: read-only: topics cannot be renamed")
    return "\n".join(lines)
