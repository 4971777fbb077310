"""Charts with Korean labels.  One function per chart, each returning a Figure.

The library changes no process-wide matplotlib state: figures are built with
:class:`matplotlib.figure.Figure` directly (no pyplot, so no backend is chosen or
needed), and the Korean font (NanumGothic, shipped inside the koreanize-matplotlib
wheel) is applied only inside :func:`korean_style`, a ``matplotlib.rc_context``
around building and around saving each figure, so Hangul never renders as boxes
and the caller's ``rcParams`` are left as they were.
"""
from __future__ import annotations

import functools
import importlib.util
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import font_manager
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

FONT_PACKAGE = "koreanize_matplotlib"
FONT_FILES = ("NanumGothic.ttf", "NanumGothicBold.ttf")
DPI = 200

# rc_context saves and restores the global rcParams, so two threads styling at once could restore
# each other's settings mid-figure; charts of this module take turns.
_STYLE_LOCK = threading.RLock()


@functools.lru_cache(maxsize=1)
def korean_font() -> str:
    """Register the bundled NanumGothic with the font manager; returns its family name.

    Registering only adds the font files to matplotlib's font list (a cache, not a setting):
    nothing is made the default.  :func:`korean_style` applies it.
    """
    spec = importlib.util.find_spec(FONT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("koreanize-matplotlib is not installed; run the set-up command in README.md")
    font_dir = Path(list(spec.submodule_search_locations)[0]) / "fonts"
    for name in FONT_FILES:
        font_manager.fontManager.addfont(str(font_dir / name))
    return font_manager.FontProperties(fname=str(font_dir / FONT_FILES[0])).get_name()


@contextmanager
def korean_style() -> Iterator[None]:
    """The Korean font, an ASCII minus (NanumGothic lacks U+2212) and no mathtext, for the ``with``
    block only.

    Texts take their font when they are created, so a figure built here keeps NanumGothic; DejaVu
    Sans (matplotlib's own) is its per-glyph fallback, so a figure saved outside this block (whose
    tick labels are formatted with the caller's U+2212 minus) still has every glyph.
    """
    # text.parse_math off: labels, terms and metadata values are drawn as written; a $...$ in them
    # is no mathtext (which garbles the label or stops the report at an unknown command).
    with _STYLE_LOCK, matplotlib.rc_context({"font.family": [korean_font(), "DejaVu Sans"],
                                             "axes.unicode_minus": False, "text.parse_math": False}):
        yield


def _korean(func):
    """Build the chart inside :func:`korean_style`: its texts keep the font they were created with."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with korean_style():
            return func(*args, **kwargs)
    return wrapper


def _figure(figsize: tuple[float, float], **subplots):
    """A Figure of its own (not registered with pyplot) and its axes."""
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.subplots(**subplots)


def _palette(n: int):
    cmap = matplotlib.colormaps["tab20" if n > 10 else "tab10"]
    return [cmap(i % cmap.N) for i in range(n)]


@_korean
def plot_topic_trajectories(trajectories: pd.DataFrame, phases: list[dict], title: str,
                            max_topics: int = 12):
    """Each topic's share per period as a line with its bootstrap band; phases shaded and labelled."""
    table = trajectories[trajectories["topic"] >= 0]
    key = "period" if "period" in table else "year"
    wide = table.pivot(index=key, columns="topic", values="share").sort_index()
    periods = list(wide.index)
    x = list(range(len(periods)))
    pos = {p: i for i, p in enumerate(periods)}
    labels = table.drop_duplicates("topic").set_index("topic")["label"]
    # The most variable topics first: they are the ones that tell the story.
    order = wide.std().sort_values(ascending=False).index[:max_topics]
    fig, ax = _figure((11, 6))
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


@_korean
def plot_model_selection(rows: list[dict], title: str):
    """Coherence, diversity and seed stability against the number of topics; the chosen k marked."""
    frame = pd.DataFrame(rows).sort_values("k")
    fig, axes = _figure((13, 3.6), nrows=1, ncols=4, sharex=True)
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


@_korean
def plot_stacked_shares(trajectories: pd.DataFrame, title: str):
    """Stacked areas of every topic's share: the whole mix at a glance."""
    wide = _wide(trajectories)
    labels = _topic_labels(trajectories)
    x = list(range(len(wide)))
    fig, ax = _figure((11, 6))
    layers, names, colours = wide.T.to_numpy(), [f"T{t} {labels[t]}" for t in wide.columns], _palette(len(wide.columns))
    if (trajectories["topic"] < 0).any():  # BERTopic's outliers: a grey layer on top, so the stack reaches 1
        outliers = trajectories[trajectories["topic"] < 0].set_index("period" if "period" in trajectories else "year")
        layers = np.vstack([layers, outliers["share"].reindex(wide.index).fillna(0).to_numpy()])
        names, colours = names + ["이상치 (토픽 -1)"], list(colours) + ["#bdbdbd"]
    ax.stackplot(x, layers, labels=names, colors=colours, alpha=0.9)
    ax.set_xticks(x, [str(p) for p in wide.index], rotation=45 if len(x) > 14 else 0)
    ax.set_xlim(0, len(x) - 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("토픽 비중 (누적)")
    ax.set_title(title)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False, title="토픽")
    return fig


@_korean
def plot_share_heatmap(trajectories: pd.DataFrame, title: str):
    """Period × topic heatmap of shares, values printed in the cells."""
    wide = _wide(trajectories)
    labels = _topic_labels(trajectories)
    fig, ax = _figure((max(8, 0.75 * len(wide) + 4), max(4, 0.42 * len(wide.columns) + 1.5)))
    im = ax.imshow(wide.T.to_numpy(), aspect="auto", cmap="Blues")
    ax.set_xticks(range(len(wide)), [str(p) for p in wide.index], rotation=45 if len(wide) > 14 else 0)
    ax.set_yticks(range(len(wide.columns)), [f"T{t} {labels[t]}" for t in wide.columns], fontsize=8)
    for (i, j), v in np.ndenumerate(wide.T.to_numpy()):
        ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6.5, color="white" if v > wide.to_numpy().max() * 0.6 else "black")
    fig.colorbar(im, ax=ax, label="비중")
    ax.set_title(title)
    return fig


@_korean
def plot_phase_terms(phases: list[dict], title: str):
    """Each phase's characteristic topics (share inside vs outside the phase) with their terms."""
    n = len(phases)
    fig, axes = _figure((4.2 * n, 3.8), nrows=1, ncols=n, squeeze=False)
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


@_korean
def plot_lineage(lineage: pd.DataFrame, title: str, min_share: float = 0.03):
    """Topic chains as horizontal lines over the years (node size = share); splits and merges as
    faint diagonals.  A chain follows mutual best links, so it has at most one topic a year; chains
    that never reach ``min_share`` of a year's opinions are left out to keep the picture readable."""
    nodes: dict[tuple, dict] = {}
    for r in lineage.itertuples():
        if not pd.isna(r.from_topic):
            nodes.setdefault((r.from_year, int(r.from_topic)), {"share": r.from_share or 0, "chain": r.chain,
                                                                "label": r.from_label})
        if not pd.isna(r.to_topic):
            to_chain = r.to_chain if hasattr(r, "to_chain") and not pd.isna(r.to_chain) else r.chain
            nodes.setdefault((r.to_year, int(r.to_topic)), {"share": r.to_share or 0, "chain": to_chain,
                                                            "label": r.to_label})
    chain_nodes: dict[int, list] = {}
    for node, info in nodes.items():
        chain_nodes.setdefault(info["chain"], []).append(node)
    names = lineage.drop_duplicates("chain").set_index("chain")["chain_label"].to_dict()
    for r in lineage.itertuples():  # chains seen only as targets (births) carry their label there too
        if hasattr(r, "to_chain") and not pd.isna(r.to_chain) and r.kind == "birth":
            names.setdefault(r.to_chain, r.chain_label)
    shown = [c for c, ns in chain_nodes.items() if max(nodes[n]["share"] for n in ns) >= min_share]
    shown.sort(key=lambda c: (min(y for y, _ in chain_nodes[c]), -sum(nodes[n]["share"] for n in chain_nodes[c])))
    row = {c: i for i, c in enumerate(shown)}
    years = sorted({y for y, _ in nodes})
    col = {y: i for i, y in enumerate(years)}
    colours = {c: matplotlib.colormaps["tab20"](i % 20) for i, c in enumerate(shown)}
    fig, ax = _figure((max(10, 1.3 * len(years) + 3), max(4, 0.38 * len(shown) + 1.5)))
    for r in lineage.itertuples():
        if r.kind not in ("continue", "split", "merge"):
            continue
        a, b = nodes[(r.from_year, int(r.from_topic))], nodes[(r.to_year, int(r.to_topic))]
        if a["chain"] in row and b["chain"] in row:
            same = a["chain"] == b["chain"]
            ax.plot([col[r.from_year], col[r.to_year]], [row[a["chain"]], row[b["chain"]]],
                    color=colours[a["chain"]] if same else "#9a9a9a", lw=2.5 if same else 0.8,
                    alpha=0.8 if same else 0.35, ls="-" if same else "--", zorder=1)
    for c in shown:
        ns = sorted(chain_nodes[c])
        ax.scatter([col[y] for y, _ in ns], [row[c]] * len(ns), s=[30 + 1200 * nodes[n]["share"] for n in ns],
                   color=colours[c], edgecolor="white", zorder=3)
    ax.set_yticks(range(len(shown)), [names.get(c) or nodes[min(chain_nodes[c])]["label"] for c in shown], fontsize=8)
    ax.set_xticks(range(len(years)), [str(y) for y in years])
    ax.invert_yaxis()
    ax.set_title(title + " (선: 같은 계보, 점선: 분화·통합, 원 크기: 그해 비중)")
    ax.grid(axis="x", alpha=0.2)
    for side in ("right", "top"):
        ax.spines[side].set_visible(False)
    return fig


def plot_breakdown(shares: pd.DataFrame, effects: pd.DataFrame | None, title: str):
    """A value × topic chart of one (model, column): each cell's mean share (number) coloured by its
    difference from the other documents (%p); ▲/▼ where the 95% interval of that difference excludes 0."""
    with korean_style():
        topics = shares.drop_duplicates("topic")[["topic", "label"]]
        values = list(dict.fromkeys(shares["value"]))
        share = shares.pivot_table(index="value", columns="topic", values="share", aggfunc="first")
        share = share.reindex(index=values, columns=topics["topic"])
        diff = pd.DataFrame(0.0, index=share.index, columns=share.columns)
        mark = pd.DataFrame("", index=share.index, columns=share.columns)
        if effects is not None and len(effects):
            e = effects.set_index(["value", "topic"])
            for (v, t), r in e.iterrows():
                if v in diff.index and t in diff.columns:
                    diff.loc[v, t] = float(r["diff"])
                    if bool(r["excludes_zero"]):
                        mark.loc[v, t] = "▲" if r["diff"] > 0 else "▼"
        k, n = len(topics), len(values)
        fig, ax = _figure((max(8.0, 0.95 * k + 3.5), max(3.0, 0.42 * n + 2.2)))
        top = float(np.nanmax(np.abs(diff.to_numpy()))) if diff.size else 0.0
        top = top if top > 0 else 0.01
        im = ax.imshow(diff.to_numpy() * 100, aspect="auto", cmap="RdBu_r",
                       norm=TwoSlopeNorm(vcenter=0.0, vmin=-top * 100, vmax=top * 100))
        for (i, j), v in np.ndenumerate(share.to_numpy()):
            if not np.isnan(v):
                dark = abs(diff.iat[i, j]) > 0.6 * top
                ax.text(j, i, f"{v * 100:.0f}%{mark.iat[i, j]}", ha="center", va="center", fontsize=7.5,
                        color="white" if dark else "black")
        names = [f"T{t} {shorten(l)}" for t, l in zip(topics["topic"], topics["label"])]
        ax.set_xticks(range(k), names, rotation=40, ha="right", fontsize=8)
        ax.set_yticks(range(n), [shorten(v, 20) for v in values], fontsize=8)
        fig.colorbar(im, ax=ax, label="나머지 의견 대비 차이 (%p)", shrink=0.8)
        ax.set_title(title + "\n숫자: 토픽 비중 · 색: 나머지 의견과의 차이 · ▲▼: 95% 구간이 0을 포함하지 않음",
                     fontsize=10)
    return fig


def shorten(text, n: int = 14) -> str:
    """``text`` cut to ``n`` characters with an ellipsis (tick labels, node names)."""
    text = str(text)
    return text if len(text) <= n else text[:n - 1] + "…"


def save_figure(fig, path: str | Path) -> Path:
    """Write ``fig`` as PNG (tick labels and minus signs are formatted at draw time, so in the style too)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with korean_style():
        fig.savefig(path, dpi=DPI)
    return path
