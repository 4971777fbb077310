"""Charts render Hangul with the bundled font (no missing glyphs, no boxes) without changing matplotlib's settings."""
import os
import subprocess
import sys
import warnings

import pandas as pd
from matplotlib import font_manager
from matplotlib.ft2font import FT2Font

from textmine.outputs.charts import korean_font, plot_topic_trajectories, save_figure

from conftest import REPO

LABELS = ["진로·탐색·설계", "상담·재학생·이력", "비교과·직무·캠프", "졸업생·지역·청년·고용센터"]


def test_bundled_font_has_every_hangul_glyph_we_draw():
    family = korean_font()
    assert "Nanum" in family
    path = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
    font = FT2Font(path)
    charmap = font.get_charmap()
    for ch in "".join(LABELS) + "연도토픽비중추이기":
        if ch != "·":
            assert ord(ch) in charmap, ch


def test_trajectory_chart_draws_korean_without_missing_glyph_warnings(tmp_path):
    rows = [{"model": "lda", "topic": t, "label": LABELS[t], "year": y, "share": (t + 1 + (y % 3)) / 20}
            for t in range(4) for y in range(2015, 2025)]
    phases = [{"start": 2015, "end": 2017}, {"start": 2018, "end": 2020}, {"start": 2021, "end": 2024}]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph ... missing from font(s)"
        fig = plot_topic_trajectories(pd.DataFrame(rows), phases, "토픽 비중 추이")
        path = save_figure(fig, tmp_path / "t.png")
    assert path.stat().st_size > 10_000


def _trajectory_rows():
    return pd.DataFrame([{"model": "lda", "topic": t, "label": LABELS[t], "year": y, "share": (t + 1 + (y % 3)) / 20}
                         for t in range(4) for y in range(2015, 2025)])


def test_drawing_a_chart_changes_no_matplotlib_setting(tmp_path):
    """The caller's settings (here a serif font and the Unicode minus) survive drawing and saving a
    chart, and the chart's texts are still in the Korean font: it is applied per figure."""
    import matplotlib

    backend = matplotlib.get_backend()
    with matplotlib.rc_context({"font.family": ["serif"], "axes.unicode_minus": True}):
        fig = plot_topic_trajectories(_trajectory_rows(), [{"start": 2015, "end": 2024}], "토픽 비중 추이")
        save_figure(fig, tmp_path / "t.png")
        assert matplotlib.rcParams["font.family"] == ["serif"]
        assert matplotlib.rcParams["axes.unicode_minus"] is True
        assert matplotlib.get_backend() == backend
    ax = fig.axes[0]
    assert "Nanum" in ax.title.get_fontfamily()[0] and "Nanum" in ax.xaxis.label.get_fontfamily()[0]


def test_importing_and_drawing_charts_leaves_the_backend_and_pyplot_alone(tmp_path):
    """In a fresh interpreter (the module may already be imported here): the caller's backend stays,
    and pyplot is never imported, so no GUI backend is ever needed."""
    code = (
        "import sys, matplotlib, pandas as pd\n"
        "before = (matplotlib.get_backend(), list(matplotlib.rcParams['font.family']))\n"
        "from textmine.outputs import charts\n"
        "rows = pd.DataFrame([{'topic': t, 'label': 'ㄱ' + str(t), 'year': y, 'share': 0.25}"
        " for t in range(4) for y in range(2015, 2020)])\n"
        "charts.save_figure(charts.plot_stacked_shares(rows, '토픽'), sys.argv[1])\n"
        "after = (matplotlib.get_backend(), list(matplotlib.rcParams['font.family']))\n"
        "assert before == after, (before, after)\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
    )
    env = {**os.environ, "MPLBACKEND": "svg"}  # a backend the old matplotlib.use('Agg') would have replaced
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "s.png")], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "s.png").stat().st_size > 1000
