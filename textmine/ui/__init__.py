"""The analysts' workspace: every run folder under a folder, in the browser (``textmine ui``).

A small Starlette app with server-rendered Korean pages (Jinja2, autoescaped) and small scripts
(plotly.js served from the installed ``plotly`` package: nothing comes from the network):

- :mod:`textmine.ui.runs`: finding run folders safely (run ids checked, no ``..``, no symlinks out of
  the runs folder) and reading them as they are written today (``report.load_run``), cached;
- :mod:`textmine.ui.queries`: the opinions, through DuckDB over the run's Parquet files (paged on the
  server: a 1,000,000-opinion run never goes to the browser or into the app's memory whole);
- :mod:`textmine.ui.views`: what each page shows, as plain data (topic terms with LDAvis' relevance,
  the comparison of two runs through :mod:`textmine.analysis.identity`);
- :mod:`textmine.ui.rename`: naming a topic (``labels.toml`` rewritten atomically, earlier versions kept,
  report.html and summary.xlsx rebuilt as ``textmine report --labels`` does);
- :mod:`textmine.ui.app`: the routes, the token for non-loopback hosts, CSRF, error pages.

Nothing here imports Prefect.
"""
from __future__ import annotations


def create_app(runs_dir, **kwargs):
    """The ASGI app over ``runs_dir`` (see :func:`textmine.ui.app.create_app`)."""
    from textmine.ui.app import create_app as _create

    return _create(runs_dir, **kwargs)
