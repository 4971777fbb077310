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
import numpy as np  # noqa: E402
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
    """Each topic's share per period as a line with its bootstrap band; phases shaded and labelled."""
    korean_font()
    table = trajectories[trajectories["topic"] >= 0]
    key = "period" if "period" in table else "year"
    wide = table.pivot(index=key, columns="topic", values="share").sort_index()
    periods = list(wide.index)
    x = list(range(len(periods)))
    pos = {p: i for i, p in enumerate(periods)}
    labels = table.drop_duplicates("topic").set_index("topic")["label"]
    # The most variable topics first: they are the ones that tell the story.
    order = wide.std().sort_values(ascending=False).index[:max_topics]
    fig, ax = plt.subplots(figsize=(11, 6), layout="constrained")
    shades = ["#f3f3f3", "#e3ecf7"]
    for i, phase in enumerate(phases):
        a, b = pos.get(phase["start"], 0), pos.get(phase["end"], len(x) - 1)
        ax.axvspan(a - 0.5, b + 0.5, color=shades[i % 2], zorder=0)
        conf = f" (신뢰도 {phase['confidence']:.2f})" if i and "confidence" in phase else ""
        ax.text((a + b) / 2, 1.0, f"{i + 1}기 {phase['start']}–{phase['end']}{conf}",
                transform=ax.get_xaxis_transform(), ha="center", va="bottom", fontsize=9)
    bands = {c: table.pivot(index=key, columns="topic", values=c).sort_index()
             for c in ("share_lo", "share_hi") if c in table}
    for colour, topic in zip(_palette(len(order)), order):
        ax.plot(x, wide[topic], marker="o", ms=3, lw=1.8, color=colour, label=f"T{topic} {labels[topic]}")
        if len(bands) == 2:  # bootstrap confidence band
            ax.fill_between(x, bands["share_lo"][topic], bands["share_hi"][topic], color=colour, alpha=0.15, lw=0)
    ax.set_xlabel("연도" if key == "year" or all(isinstance(p, (int, np.integer)) for p in periods) else "기간")
    ax.set_ylabel("토픽 비중 (기간별 확률 질량)")
    ax.set_title(title, pad=18)
    ax.set_xticks(x, [str(p) for p in periods], rotation=45 if len(x) > 14 else 0)
    ax.set_xlim(-0.5, len(x) - 0.5)
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


def _wide(trajectories: pd.DataFrame, column: str = "share") -> pd.DataFrame:
    table = trajectories[trajectories["topic"] >= 0]
    key = "period" if "period" in table else "year"
    return table.pivot(index=key, columns="topic", values=column).sort_index()


def _topic_labels(trajectories: pd.DataFrame) -> dict:
    return trajectories.drop_duplicates("topic").set_index("topic")["label"].to_dict()


def plot_stacked_shares(trajectories: pd.DataFrame, title: str):
    """Stacked areas of every topic's share: the whole mix at a glance."""
    korean_font()
    wide = _wide(trajectories)
    labels = _topic_labels(trajectories)
    x = list(range(len(wide)))
    fig, ax = plt.subplots(figsize=(11, 6), layout="constrained")
    ax.stackplot(x, wide.T.to_numpy(), labels=[f"T{t} {labels[t]}" for t in wide.columns],
                 colors=_palette(len(wide.columns)), alpha=0.9)
    ax.set_xticks(x, [str(p) for p in wide.index], rotation=45 if len(x) > 14 else 0)
    ax.set_xlim(0, len(x) - 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("토픽 비중 (누적)")
    ax.set_title(title)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False, title="토픽")
    return fig


def plot_share_heatmap(trajectories: pd.DataFrame, title: str):
    """Period × topic heatmap of shares, values printed in the cells."""
    korean_font()
    wide = _wide(trajectories)
    labels = _topic_labels(trajectories)
    fig, ax = plt.subplots(figsize=(max(8, 0.75 * len(wide) + 4), max(4, 0.42 * len(wide.columns) + 1.5)),
                           layout="constrained")
    im = ax.imshow(wide.T.to_numpy(), aspect="auto", cmap="Blues")
    ax.set_xticks(range(len(wide)), [str(p) for p in wide.index], rotation=45 if len(wide) > 14 else 0)
    ax.set_yticks(range(len(wide.columns)), [f"T{t} {labels[t]}" for t in wide.columns], fontsize=8)
    for (i, j), v in np.ndenumerate(wide.T.to_numpy()):
        ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6.5, color="white" if v > wide.to_numpy().max() * 0.6 else "black")
    fig.colorbar(im, ax=ax, label="비중")
    ax.set_title(title)
    return fig


def plot_phase_terms(phases: list[dict], title: str):
    """Each phase's characteristic topics (share inside vs outside the phase) with their terms."""
    korean_font()
    n = len(phases)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.8), layout="constrained", squeeze=False)
    for ax, (i, phase) in zip(axes[0], enumerate(phases)):
        topics = phase.get("characteristic_topics", [])
        names = [t["label"] for t in topics][::-1]
        inside = [t["share_inside"] for t in topics][::-1]
        outside = [t["share_outside"] for t in topics][::-1]
        y = np.arange(len(names))
        ax.barh(y + 0.2, inside, height=0.4, color="#1f77b4", label="이 시기")
        ax.barh(y - 0.2, outside, height=0.4, color="#c7c7c7", label="다른 시기")
        ax.set_yticks(y, names, fontsize=9)
        ax.set_title(f"{i + 1}기 {phase['start']}–{phase['end']}\n" + "·".join(phase.get("top_terms", [])[:5]), fontsize=9)
        ax.set_xlabel("평균 비중")
        if i == 0:
            ax.legend(fontsize=8, frameon=False)
    fig.suptitle(title)
    return fig


def plot_lineage(lineage: pd.DataFrame, title: str, min_share: float = 0.0):
    """Per-year topics as nodes (size = share), links between years (width = similarity), chains coloured."""
    korean_font()
    nodes: dict[tuple, dict] = {}
    for r in lineage.itertuples():
        if not pd.isna(r.from_topic):
            nodes[(r.from_year, int(r.from_topic))] = {"label": r.from_label, "share": r.from_share or 0, "chain": r.chain}
        if not pd.isna(r.to_topic):
            nodes.setdefault((r.to_year, int(r.to_topic)), {"label": r.to_label, "share": r.to_share or 0, "chain": r.chain})
    years = sorted({y for y, _ in nodes})
    pos: dict[tuple, tuple[float, float]] = {}
    for y in years:
        col = sorted([n for n in nodes if n[0] == y], key=lambda n: (nodes[n]["chain"], n[1]))
        for i, n in enumerate(col):
            pos[n] = (years.index(y), -i)
    chains = sorted({v["chain"] for v in nodes.values()})
    colours = {c: plt.get_cmap("tab20")(i % 20) for i, c in enumerate(chains)}
    fig, ax = plt.subplots(figsize=(max(10, 1.6 * len(years)), 8), layout="constrained")
    for r in lineage.itertuples():
        if r.kind in ("continue", "split", "merge"):
            a, b = pos[(r.from_year, int(r.from_topic))], pos[(r.to_year, int(r.to_topic))]
            ax.plot([a[0], b[0]], [a[1], b[1]], color=colours[r.chain], lw=0.5 + 3 * (r.similarity or 0),
                    alpha=0.55 if r.kind == "continue" else 0.35, ls="-" if r.kind == "continue" else "--")
    for n, (x, y) in pos.items():
        info = nodes[n]
        ax.scatter([x], [y], s=40 + 900 * info["share"], color=colours[info["chain"]], edgecolor="white", zorder=3)
        if info["share"] >= min_share:
            ax.text(x + 0.08, y, info["label"], fontsize=6.5, va="center")
    ax.set_xticks(range(len(years)), [str(y) for y in years])
    ax.set_yticks([])
    ax.set_title(title + " (실선: 이어짐, 점선: 분화·통합, 원 크기: 비중)")
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    return fig


def save_figure(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
