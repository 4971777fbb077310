"""A finished run in a notebook: ``run = textmine.open_run("outputs/run-...")``.

The run's tables as pandas DataFrames (the names of ``labels.toml`` applied, as in the report and
the workspace), its saved models, and plotly figures of its trajectories and topics::

    run = textmine.open_run("outputs/run-20260301-060000-abc123")
    run.topics.query("scope == 'global'")
    run.plot_trajectories("lda").show()
    run.plot_topic("lda", 3)
    bertopic = run.model("bertopic")          # BERTopic, loaded from its safetensors folder

``doc_topics`` and ``documents`` are read when first used (at 1,000,000 opinions they are the large
tables; :meth:`Run.opinions` reads one filtered page through DuckDB instead).
"""
from __future__ import annotations

from functools import cached_property
from pathlib import Path

import pandas as pd

from textmine.analysis.identity import load_previous_topics
from textmine.core.config import load_config
from textmine.core.errors import TextmineError
from textmine.models.bertopic_model import load_model
from textmine.ui.queries import Opinions
from textmine.ui.runs import REQUIRED, PageError
from textmine.ui.views import share_series, trajectories_data


class Run:
    """One run folder (see :func:`open_run`)."""

    def __init__(self, path: str | Path):
        from textmine.report import report

        self.path = Path(path).expanduser()
        missing = [n for n in REQUIRED if not (self.path / n).is_file()]
        if missing:
            raise TextmineError(f"not a finished run folder: {', '.join(missing)} missing", file=self.path,
                                fix="pass a folder printed by 'textmine run'")
        self._data = report.load_run(self.path)
        self._data["models"] = report.models_of(self._data)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, models={self.models})"

    # ------------------------------------------------------------ tables
    @property
    def models(self) -> list[str]:
        return list(self._data["models"])

    @property
    def manifest(self) -> dict:
        return self._data["manifest"]

    @property
    def phases(self) -> dict:
        """``phases.json`` (renamed topics applied)."""
        return self._data["phases"]

    @property
    def evaluation(self) -> dict:
        return self._data["evaluation"]

    @property
    def topics(self) -> pd.DataFrame:
        return self._data["topics"]

    @property
    def trajectories(self) -> pd.DataFrame:
        return self._data["trajectories"]

    @property
    def lineage(self) -> pd.DataFrame | None:
        return self._data.get("lineage")

    @property
    def breakdowns(self) -> pd.DataFrame | None:
        return self._data.get("breakdowns")

    @property
    def effects(self) -> pd.DataFrame | None:
        return self._data.get("effects")

    @property
    def representative(self) -> pd.DataFrame | None:
        return self._data.get("representatives")

    @property
    def phase_table(self) -> pd.DataFrame:
        """One row per (model, phase): start, end, label, confidence."""
        rows = [{"model": m, "phase": i, "start": p.get("start"), "end": p.get("end"), "label": p.get("label"),
                 "confidence": p.get("confidence")}
                for m, e in self.phases.items() if isinstance(e, dict) for i, p in enumerate(e.get("phases", []), 1)]
        return pd.DataFrame(rows, columns=["model", "phase", "start", "end", "label", "confidence"])

    @cached_property
    def doc_topics(self) -> pd.DataFrame:
        return self._parquet("doc_topics.parquet")

    @cached_property
    def documents(self) -> pd.DataFrame:
        return self._parquet("documents.parquet")

    def _parquet(self, name: str) -> pd.DataFrame:
        path = self.path / name
        if not path.is_file():
            raise TextmineError(f"this run has no {name} (written by an older textmine)", file=self.path,
                                fix="run it again with this version")
        return pd.read_parquet(path)

    def opinions(self, text: str = "", *, year: int | None = None, model: str | None = None,
                 topic: int | None = None, page: int = 1, page_size: int = 100, **metadata: str) -> pd.DataFrame:
        """One page of opinions (newest year first) containing ``text``, of ``year``, whose dominant topic of
        ``model`` is ``topic``, with metadata columns equal to ``metadata`` (e.g. ``지역="서울"``)."""
        try:
            result = Opinions(self.path).search(text=text, year=year, model=model, topic=topic, filters=metadata,
                                                page=page, page_size=page_size)
        except PageError as exc:
            if exc.status == 404 and "쪽" in exc.message:
                return pd.DataFrame()
            raise TextmineError(exc.message, file=self.path, fix=exc.hint) from None
        return pd.DataFrame(result.rows)

    # ------------------------------------------------------------ models
    def model(self, name: str):
        """The saved global model: BERTopic (``BERTopic.load`` of its safetensors folder) for ``bertopic``; for
        the others their topic-word weights as a DataFrame (topics × words)."""
        folder = self.path / "models" / f"{name}-global"
        if name not in self.models or not folder.is_dir():
            raise TextmineError(f"this run has no saved {name} model", file=self.path,
                                fix=f"choose one of: {', '.join(self.models)}")
        if name == "bertopic":
            return load_model(folder)

        found = load_previous_topics(self.path, name)
        return pd.DataFrame(found.topic_word, index=pd.Index(found.topic_ids, name="topic"), columns=found.vocabulary)

    # ------------------------------------------------------------ figures
    def _model(self, model: str | None) -> str:
        model = model or (self.models[0] if self.models else None)
        if model not in self.models:
            raise TextmineError(f"this run has no model {model!r}", file=self.path,
                                fix=f"choose one of: {', '.join(self.models)}")
        return model

    def plot_trajectories(self, model: str | None = None):
        """Every topic's share per period with its band, the model's phases shaded (a plotly Figure)."""
        import plotly.graph_objects as go

        model = self._model(model)
        data = trajectories_data(self._data)[model]
        fig = go.Figure()
        for t in data["topics"]:
            fig.add_trace(go.Scatter(x=data["periods"], y=t["share"], mode="lines+markers",
                                     name=f"{t['topic']} {t['label']}"))
        _shade(fig, data["periods"], data["phases"])
        fig.update_layout(title=f"{data['name']} 토픽 비중 추이", xaxis=dict(type="category", title="기간"),
                          yaxis=dict(tickformat=".0%", title="비중"))
        return fig

    def plot_topic(self, model: str, topic: int):
        """One topic's share per period with its 95% band (a plotly Figure)."""
        import plotly.graph_objects as go

        model = self._model(model)
        s = share_series(self._data, model, int(topic))
        if not s["periods"]:
            raise TextmineError(f"{model} has no topic {topic}", file=self.path, fix="see run.topics")
        fig = go.Figure()
        if all(v is not None for v in s["lo"] + s["hi"]):
            fig.add_trace(go.Scatter(x=s["periods"] + s["periods"][::-1], y=s["hi"] + s["lo"][::-1], fill="toself",
                                     line=dict(width=0), opacity=0.2, name="95% 구간", hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=s["periods"], y=s["share"], mode="lines+markers", name="비중"))
        _shade(fig, s["periods"], s["phases"])
        label = self.topics[(self.topics["model"] == model) & (self.topics["scope"].astype(str) == "global")
                            & (self.topics["topic"] == int(topic))]["label"]
        fig.update_layout(title=f"토픽 {topic} {label.iloc[0] if len(label) else ''}",
                          xaxis=dict(type="category", title="기간"), yaxis=dict(tickformat=".0%", title="비중"))
        return fig

    def plot_phases(self):
        """Each model's phases (and the consensus) as bars over the periods (a plotly Figure)."""
        import plotly.graph_objects as go

        table = self.phase_table
        fig = go.Figure()
        for r in table.itertuples():
            fig.add_trace(go.Bar(y=[r.model], x=[int(r.end) - int(r.start) + 1], base=[int(r.start) - 0.5],
                                 orientation="h", name=f"{r.model} {r.phase}시기", text=[r.label],
                                 showlegend=False))
        fig.update_layout(title="시기 구분", barmode="overlay", xaxis=dict(title="연도"))
        return fig


def _shade(fig, periods: list[str], phases: list[dict]) -> None:
    for i, p in enumerate(phases):
        if p["start"] in periods and p["end"] in periods and i % 2:
            fig.add_vrect(x0=periods.index(p["start"]) - 0.5, x1=periods.index(p["end"]) + 0.5,
                          fillcolor="black", opacity=0.06, line_width=0, layer="below")


def open_run(path: str | Path) -> Run:
    """A finished run folder as a :class:`Run` (a :class:`~textmine.core.errors.TextmineError` for anything else)."""
    return Run(path)


# Keyword arguments of run() that stand for a setting, as the CLI's flags do (--models, --seed, --out...).
SHORTCUTS = {"models": "run.models", "seed": "run.seed", "out_dir": "run.out_dir", "out": "run.out_dir",
             "phases": "phases.n_phases", "time_unit": "align.time_unit", "cache_dir": "run.cache_dir",
             "by": "report.by", "labels": "report.labels", "previous": "report.previous"}


def settings_overrides(settings: dict) -> dict[str, str]:
    """``run()``'s keyword arguments as ``--set`` overrides: a shortcut (``models="lda"``), or a setting named
    ``section__key`` (``lda__num_topics=10``); lists and tuples become comma-separated values."""
    out = {}
    for key, value in settings.items():
        name = SHORTCUTS.get(key) or key.replace("__", ".", 1)
        if "." not in name:
            raise TextmineError(f"textmine.run: {key!r} is not a setting",
                                fix="name one as section__key (e.g. lda__num_topics=10) or use one of: "
                                    + ", ".join(SHORTCUTS))
        if isinstance(value, (list, tuple)):
            value = ",".join(map(str, value))
        elif isinstance(value, bool):
            value = str(value).lower()
        out[name] = str(value)
    return out


def run(corpus: str | Path | None = None, *, config: str | Path | None = None, **settings) -> Run:
    """Run the whole flow on ``corpus`` (default: the bundled corpus), as ``textmine run`` does, and return the
    run as :func:`open_run` gives it.  ``settings``: ``models="lda"``, ``seed=7``, ``out_dir=...``,
    ``phases=3`` or any setting as ``section__key=value`` (``lda__num_topics=10``); ``config``: a TOML file.

    The flow is Prefect's: this is the one function of the library that loads Prefect (when called), and
    like ``textmine run`` it starts a temporary Prefect server unless ``PREFECT_API_URL`` names one.
    """
    import flows  # noqa: F401  (Prefect's environment defaults, before Prefect loads)
    from flows.cli import BUNDLED_CORPUS
    from flows.engine import start_ephemeral_server
    from flows.pipeline import preflight, run_pipeline

    corpus = str(corpus or BUNDLED_CORPUS)
    cfg = load_config(config, settings_overrides(settings))
    preflight(corpus, cfg)   # a bad corpus or setting stops here, before the engine starts
    start_ephemeral_server()
    return open_run(run_pipeline(corpus, cfg))
