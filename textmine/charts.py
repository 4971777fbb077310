"""Charts with Korean labels.  One function per chart, each returning a Figure.

The Korean font (NanumGothic, shipped inside the koreanize-matplotlib wheel) is
registered in one place, :func:`korean_font`, so Hangul never renders as boxes.
"""
from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers or CI
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import font_manager  # noqa: E402

FONT_PACKAGE = "koreanize_matplotlib"
FONT_FILES = ("NanumGothic.ttf", "NanumGothicBold.ttf")
DPI = 200


@functools.lru_cache(maxsize=1)
def korean_font() -> str:
    """Register the bundled NanumGothic and make it the default family; returns its name."""
    spec = importlib.util.find_spec(FONT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("koreanize-matplotlib is not installed; run the set-up command in README.md")
    font_dir = Path(list(spec.submodule_search_locations)[0]) / "fonts"
    for name in FONT_FILES:
        font_manager.fontManager.addfont(str(font_dir / name))
    family = font_manager.FontProperties(fname=str(font_dir / FONT_FILES[0])).get_name()
    matplotlib.rcParams["font.family"] = family
    matplotlib.rcParams["axes.unicode_minus"] = False  # NanumGothic lacks U+2212
    return family


def _palette(n: int):
    cmap = plt.get_cmap("tab20" if n > 10 else "tab10")
    return [cmap(i % cmap.N) for i in range(n)]


def plot_topic_trajectories(trajectories: pd.DataFrame, phases: list[dict], title: str,
                            max_topics: int = 12):
    """Each topic's yearly share as a line, phases shaded and labelled."""
    korean_font()
    table = trajectories[trajectories["topic"] >= 0]
    wide = table.pivot(index="year", columns="topic", values="share").sort_index()
    labels = table.drop_duplicates("topic").set_index("topic")["label"]
    # The most variable topics first: they are the ones that tell the story.
    order = wide.std().sort_values(ascending=False).index[:max_topics]
    fig, ax = plt.subplots(figsize=(11, 6), layout="constrained")
    shades = ["#f3f3f3", "#e3ecf7"]
    for i, phase in enumerate(phases):
        ax.axvspan(phase["start"] - 0.5, phase["end"] + 0.5, color=shades[i % 2], zorder=0)
        conf = f" (신뢰도 {phase['confidence']:.2f})" if i and "confidence" in phase else ""
        ax.text((phase["start"] + phase["end"]) / 2, 1.0, f"{i + 1}기 {phase['start']}–{phase['end']}{conf}",
                transform=ax.get_xaxis_transform(), ha="center", va="bottom", fontsize=9)
    bands = {c: table.pivot(index="year", columns="topic", values=c).sort_index()
             for c in ("share_lo", "share_hi") if c in table}
    for colour, topic in zip(_palette(len(order)), order):
        ax.plot(wide.index, wide[topic], marker="o", ms=3, lw=1.8, color=colour,
                label=f"T{topic} {labels[topic]}")
        if len(bands) == 2:  # bootstrap confidence band
            ax.fill_between(wide.index, bands["share_lo"][topic], bands["share_hi"][topic], color=colour,
                            alpha=0.15, lw=0)
    ax.set_xlabel("연도")
    ax.set_ylabel("토픽 비중 (연도별 확률 질량)")
    ax.set_title(title, pad=18)
    ax.set_xticks(list(wide.index))
    ax.set_xlim(wide.index.min() - 0.5, wide.index.max() + 0.5)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False, title="토픽")
    return fig


def plot_model_selection(rows: list[dict], title: str):
    """Coherence, diversity and seed stability against the number of topics; the chosen k marked."""
    korean_font()
    frame = pd.DataFrame(rows).sort_values("k")
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.6), layout="constrained", sharex=True)
    names = {"c_v": "응집도 c_v", "c_npmi": "응집도 c_npmi", "diversity": "토픽 다양성", "stability": "시드 안정성"}
    best = frame.loc[frame["score"].idxmax(), "k"] if "score" in frame else None
    for ax, (col, name) in zip(axes, names.items()):
        ax.plot(frame["k"], frame[col], marker="o", color="#1f77b4")
        if best is not None:
            ax.axvline(best, color="#d62728", ls="--", lw=1)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("토픽 수 k")
        ax.grid(alpha=0.3)
    fig.suptitle(f"{title} (선택: k={best})" if best is not None else title)
    return fig


def save_figure(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
