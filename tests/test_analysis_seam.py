"""The analysis seam: a new analysis is one class and one registry line, as a new model is (tests/test_seam.py).

A toy analysis defined and registered here, with its template in a folder of its own, reaches the run folder,
manifest.json, the analyses' cache key, the charts and report.html, with no other file changed.
"""
import json

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from test_analysis import PHASES, _documents, _fitted, _Toy, _write_run
from textmine.analysis import analysis, summaries
from textmine.analysis.analysis import Analysis, Written, read_table
from textmine.core.config import load_config
from textmine.core.registry import ANALYSES, Entry
from textmine.report import report

TOY_FILE = "toy_counts.csv"
TOY_TEMPLATE = """<section id='toy-counts'>
<h2>토큰 수</h2>
{% for r in toy_counts.rows %}<p class="toy-row">{{ r.period }}: {{ r.tokens|number }}</p>
{% endfor %}
<img class="chart" alt="토큰 수" src="{{ toy_counts.image }}">
</section>
"""


def _draw_counts(table: pd.DataFrame):
    fig = Figure(figsize=(4, 3))
    fig.subplots().bar(table["period"].astype(str), table["tokens"])
    return fig


class ToyCounts(Analysis):
    """Tokens per period: a file, a record, a chart and a section."""

    name = "toy_counts"
    anchor = "toy-counts"
    template = "toy_counts.html.j2"

    def write(self, run, documents, phases, outputs, config):
        periods = pd.Series(documents.periods, name="period")
        counts = pd.Series([len(t) for t in documents.unit_tokens]).groupby(
            periods.iloc[documents.unit_owner].to_numpy()).sum()
        table = pd.DataFrame({"period": counts.index, "tokens": counts.to_numpy()})
        run.write_csv(TOY_FILE, table)
        return Written([TOY_FILE], {"periods": len(table), "tokens": int(table["tokens"].sum())})

    def load(self, run):
        return {"toy_counts": read_table(run, TOY_FILE)}

    def charts(self, data, display):
        table = data.get("toy_counts")
        return {} if table is None else {"toy_counts.png": (_draw_counts, table)}

    def context(self, data, image, display):
        table = data.get("toy_counts")
        rows = [] if table is None else table.to_dict("records")
        return {"toy_counts": {"rows": rows, "image": image("toy_counts.png")}}


@pytest.fixture
def toy_registered(tmp_path, monkeypatch):
    templates = tmp_path / "toy-templates"
    templates.mkdir()
    (templates / ToyCounts.template).write_text(TOY_TEMPLATE, encoding="utf-8")
    monkeypatch.setattr(ToyCounts, "template_dir", templates)
    ANALYSES.register("toy_counts", Entry(f"{__name__}:ToyCounts", "토큰 수", "tokens per period (a test's toy)"))
    yield
    ANALYSES.unregister("toy_counts")


def test_every_registered_analysis_loads_with_its_registered_name():
    for name in ANALYSES:
        cls = ANALYSES.get(name)
        assert issubclass(cls, Analysis) and cls.name == name
        assert not cls.template or (report.environment().get_template(cls.template) and cls.anchor)
    assert {"word_frequency", "networks", "breakdowns", "identity", "labels", "documents"} <= set(ANALYSES)


def test_a_registered_analysis_reaches_the_run_folder_the_manifest_and_the_report(toy_registered, tmp_path):
    config = load_config(None, {"report.network_top_n": "10"})
    folder, record = _write_run(tmp_path, config)
    table = pd.read_csv(folder / TOY_FILE, encoding="utf-8-sig")
    data = _documents()
    assert table["tokens"].sum() == sum(len(t) for t in data.unit_tokens) and len(table) == 4
    assert TOY_FILE in record["files"] and record["toy_counts"] == {"periods": 4, "tokens": int(table["tokens"].sum())}
    assert json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["analyses"]["toy_counts"]["periods"] == 4

    report.build_outputs(folder)
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert "<section id='toy-counts'>" in page and '<a href="#toy-counts">토큰 수</a>' in page
    for period, tokens in zip(table["period"], table["tokens"]):
        assert f'<p class="toy-row">{period}: {tokens:,}</p>' in page
    assert (folder / "charts" / "toy_counts.png").is_file()
    # after the built-in sections: the registry's order is the page's order
    assert page.index("id='networks'") < page.index("id='toy-counts'") < page.index("id='models'")


def test_without_the_registration_nothing_of_it_is_written(tmp_path):
    folder, record = _write_run(tmp_path, load_config(None, {"report.network_top_n": "10"}))
    assert not (folder / TOY_FILE).exists() and "toy_counts" not in record


def test_the_analyses_cache_key_takes_every_registered_analysis_code(tmp_path):
    config = load_config(None, {"report.network_top_n": "10"})
    data = _documents()
    outputs = {"lda": summaries.summarize(_Toy(config), _fitted(data), {}, data, config)}
    before = analysis.analyses_key(data, PHASES, outputs, config)
    assert __name__ not in analysis.code_modules()
    assert {"textmine.analysis.wordfreq", "textmine.analysis.network", "textmine.analysis.breakdown", "textmine.analysis.identity",
            "textmine.analysis.doctables", "textmine.analysis.analysis"} <= set(analysis.code_modules())
    ANALYSES.register("toy_counts", Entry(f"{__name__}:ToyCounts", "토큰 수", "tokens per period"))
    try:
        assert __name__ in analysis.code_modules()
        assert analysis.analyses_key(data, PHASES, outputs, config) != before  # a new analysis is a miss
    finally:
        ANALYSES.unregister("toy_counts")
    assert analysis.analyses_key(data, PHASES, outputs, config) == before
    np.testing.assert_equal(len(before), 64)
