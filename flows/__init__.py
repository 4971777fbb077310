"""Prefect flows that wire textmine's stages together (the library itself never imports Prefect)."""
import os

# Set before Prefect is imported anywhere: no telemetry (the network is closed
# here), and room for a slow machine to start the ephemeral API server.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("DO_NOT_TRACK", "1")
# The library's own log lines (stage details, cache hits, progress) go into the Prefect run logs too.
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "textmine")
# UMAP/HDBSCAN (BERTopic) compile with numba on first use; a persistent cache pays that once.
os.environ.setdefault("NUMBA_CACHE_DIR", os.path.expanduser("~/.cache/textmine/numba"))

# Set by ``textmine serve`` for the runner's subprocesses: a run under UI_RUNS_ENV links its page at UI_URL_ENV
# (the Prefect link artifact) instead of a file:// path that opens only on this machine.
UI_URL_ENV, UI_RUNS_ENV = "TEXTMINE_UI_URL", "TEXTMINE_UI_RUNS"

import logging  # noqa: E402

# The application decides how much of the library's logging to show (the library sets no levels).
logging.getLogger("textmine").setLevel(logging.INFO)
