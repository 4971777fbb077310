"""Charts render Hangul with the bundled font: no missing glyphs, no boxes."""
import warnings

import pandas as pd
from matplotlib import font_manager
from matplotlib.ft2font import FT2Font

from textmine.charts import korean_font, plot_topic_trajectories, save_figure

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
