"""What analysts read: charts, a self-contained ``report.html`` and ``summary.xlsx``.

Everything is built from the files of a finished run folder, so
``textmine report RUN_DIR`` rebuilds it without refitting, and the flow calls
the same :func:`build_outputs` as its last stage.  The HTML inlines plotly.js
and every image: it opens offline.
"""
from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import pandas as pd

from textmine import charts

SHEET_HEADERS = {
    "model": "모델", "scope": "범위", "topic": "토픽", "label": "레이블", "top_terms": "주요어(확률)",
    "term_weights": "주요어 가중치", "relevant_terms": "특징어(relevance)", "size": "문서 수",
    "global_topic": "대응 전역 토픽", "global_similarity": "유사도", "year": "연도", "period": "기간",
    "share": "비중", "doc_share": "문서 비중", "n_docs": "문서 수", "share_lo": "비중 하한", "share_hi": "비중 상한",
    "doc_share_lo": "문서 비중 하한", "doc_share_hi": "문서 비중 상한", "from_year": "이전 연도",
    "from_topic": "이전 토픽", "to_year": "다음 연도", "to_topic": "다음 토픽", "similarity": "유사도", "kind": "유형",
    "from_label": "이전 레이블", "to_label": "다음 레이블", "from_share": "이전 비중", "to_share": "다음 비중",
    "chain": "계보", "chain_label": "계보 이름", "phase": "시기", "start": "시작", "end": "끝",
    "confidence": "신뢰도", "doc_id": "문서 ID", "probability": "확률", "text": "의견(개인정보 가림)",
}
KIND_KO = {"continue": "이어짐", "split": "분화", "merge": "통합", "birth": "등장", "death": "소멸"}


def load_run(run_dir: str | Path) -> dict:
    run = Path(run_dir)

    def csv(name):
        path = run / name
        return pd.read_csv(path, encoding="utf-8-sig") if path.is_file() else None

    def js(name):
        path = run / name
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    return {"path": run, "manifest": js("manifest.json"), "phases": js("phases.json"),
            "evaluation": js("evaluation.json"), "topics": csv("topics.csv"), "trajectories": csv("trajectories.csv"),
            "lineage": csv("lineage.csv"), "representatives": csv("representative_docs.csv")}


def model_name(model: str) -> str:
    return {"lda": "LDA", "bertopic": "BERTopic"}.get(model, model)


def models_of(data: dict) -> list[str]:
    return [m for m in data["phases"] if m != "consensus"]


def render_charts(data: dict) -> list[str]:
    """Every PNG chart of the run into ``charts/``; returns their paths relative to the run folder."""
    run = data["path"]
    written = []
    for model in models_of(data):
        traj = data["trajectories"][data["trajectories"]["model"] == model]
        phases = data["phases"][model]["phases"]
        name = model_name(model)
        figures = {
            f"trajectories_{model}.png": charts.plot_topic_trajectories(traj, phases, f"{name} 토픽 비중 추이와 시기 구분"),
            f"stacked_{model}.png": charts.plot_stacked_shares(traj, f"{name} 토픽 구성의 변화"),
            f"heatmap_{model}.png": charts.plot_share_heatmap(traj, f"{name} 기간 × 토픽 비중"),
            f"phase_terms_{model}.png": charts.plot_phase_terms(phases, f"{name} 시기별 특징 토픽"),
        }
        selection = data["evaluation"].get("models", {}).get(model, {}).get("k_selection") or []
        if len(selection) > 1:
            figures[f"model_selection_{model}.png"] = charts.plot_model_selection(selection, f"{name} 토픽 수 선택")
        lineage = data["lineage"]
        if lineage is not None and (lineage["model"] == model).any():
            figures[f"lineage_{model}.png"] = charts.plot_lineage(lineage[lineage["model"] == model],
                                                                  f"{name} 연도별 토픽 계보")
        for filename, fig in figures.items():
            charts.save_figure(fig, run / "charts" / filename)
            written.append(f"charts/{filename}")
    return written


def _img(path: Path, alt: str) -> str:
    if not path.is_file():
        return ""
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img class="chart" alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _table(frame: pd.DataFrame, columns: dict[str, str]) -> str:
    head = "".join(f"<th>{html.escape(v)}</th>" for v in columns.values())
    rows = []
    for r in frame.to_dict(orient="records"):
        cells = "".join(f"<td>{html.escape('' if pd.isna(r.get(c)) else str(r.get(c)))}</td>" for c in columns)
        rows.append(f"<tr>{cells}</tr>")
    return f'<table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _plotly_trajectories(traj: pd.DataFrame, phases: list[dict], title: str, include_js: bool) -> str:
    import plotly.graph_objects as go

    table = traj[traj["topic"] >= 0].copy()
    key = "period" if "period" in table else "year"
    periods = sorted(table[key].unique(), key=str)
    pos = {str(p): i for i, p in enumerate(periods)}
    x = list(range(len(periods)))
    fig = go.Figure()
    for i, phase in enumerate(phases):
        fig.add_vrect(x0=pos.get(str(phase["start"]), 0) - 0.5, x1=pos.get(str(phase["end"]), len(x) - 1) + 0.5,
                      fillcolor=["#eeeeee", "#dde8f5"][i % 2], opacity=0.6, line_width=0, layer="below",
                      annotation_text=f"{i + 1}기" + (f" (신뢰도 {phase['confidence']:.2f})"
                                                     if "confidence" in phase and i else ""),
                      annotation_position="top left")
    for topic, group in table.groupby("topic"):
        group = group.set_index(key).reindex(periods)
        name = f"T{topic} {group['label'].dropna().iloc[0]}"
        if "share_lo" in group:
            fig.add_trace(go.Scatter(x=x + x[::-1], y=list(group["share_hi"]) + list(group["share_lo"])[::-1],
                                     fill="toself", line=dict(width=0), opacity=0.15, hoverinfo="skip",
                                     showlegend=False, legendgroup=name))
        fig.add_trace(go.Scatter(x=x, y=list(group["share"]), mode="lines+markers", name=name, legendgroup=name,
                                 text=[str(p) for p in periods], hovertemplate="%{text}: %{y:.3f}"))
    fig.update_layout(title=title, xaxis_title="기간", yaxis_title="토픽 비중", height=520,
                      margin=dict(l=50, r=20, t=60, b=40), font=dict(family="NanumGothic, 'Malgun Gothic', sans-serif"))
    fig.update_xaxes(tickmode="array", tickvals=x, ticktext=[str(p) for p in periods], range=[-0.5, len(x) - 0.5])
    return fig.to_html(full_html=False, include_plotlyjs="inline" if include_js else False,
                       div_id=f"traj-{title.split()[0].lower()}")


CSS = """
body{font-family:'NanumGothic','Malgun Gothic','Apple SD Gothic Neo',sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1f3b63;color:#fff;padding:18px 32px}header h1{margin:0;font-size:22px}
nav{background:#fff;border-bottom:1px solid #ddd;padding:8px 32px;position:sticky;top:0;z-index:10}
nav a{margin-right:16px;color:#1f3b63;text-decoration:none;font-size:14px}
main{padding:12px 32px 40px}section{background:#fff;border:1px solid #e3e3e3;border-radius:6px;padding:16px 22px;margin:16px 0}
h2{font-size:18px;border-left:4px solid #1f3b63;padding-left:8px}table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{border:1px solid #ddd;padding:4px 8px;vertical-align:top}th{background:#f0f3f8}
img.chart{max-width:100%;border:1px solid #eee;margin:6px 0}.note{color:#666;font-size:13px}
.warn{background:#fff6e0;border:1px solid #f0c36d;padding:8px 12px;border-radius:4px}
"""


def _font_face(text: str) -> str:
    """The bundled NanumGothic inlined, so Hangul renders on machines without a Korean font.

    Subset to the characters of the page (a few hundred KB instead of 2 MB), and
    without the VTT hinting tables (TSI*) that browsers' font sanitiser rejects.
    """
    import importlib.util
    import io

    from fontTools import subset
    from fontTools.ttLib import TTFont

    spec = importlib.util.find_spec(charts.FONT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return ""
    font = TTFont(Path(list(spec.submodule_search_locations)[0]) / "fonts" / charts.FONT_FILES[0])
    for table in [t for t in font.keys() if t.startswith("TSI")]:
        del font[table]
    options = subset.Options()
    options.hinting = False
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes={ord(c) for c in set(text)} | set(range(32, 127)))
    subsetter.subset(font)
    buffer = io.BytesIO()
    font.save(buffer)
    data = base64.b64encode(buffer.getvalue()).decode()
    return f"@font-face{{font-family:'NanumGothic';src:url(data:font/ttf;base64,{data}) format('truetype');}}"


def build_html(data: dict) -> str:
    m, ev = data["manifest"], data["evaluation"]
    run = data["path"]
    models = models_of(data)
    docs = m.get("documents", {})
    cfg = m.get("config", {})
    truth = (ev.get("truth") or {})
    parts = [f"<header><h1>textmine 분석 보고서 · {html.escape(m.get('run_id', run.name))}</h1>"
             f"<div class='note' style='color:#cfd8e6'>{html.escape(m.get('corpus', {}).get('path', ''))}</div></header>",
             "<nav><a href='#summary'>요약</a><a href='#phases'>시기 구분</a><a href='#trajectories'>토픽 추이</a>"
             "<a href='#lineage'>토픽 계보</a><a href='#topics'>토픽</a><a href='#models'>모델 비교</a>"
             "<a href='#evaluation'>평가</a></nav><main>"]
    synthetic = "<p class='warn'>이 코퍼스는 <b>합성(synthetic) 데이터</b>입니다. 실제 평가 의견이 아닙니다.</p>" \
        if truth.get("synthetic") else ""
    per_year = m.get("documents_per_year", {})
    parts.append(
        "<section id='summary'><h2>요약</h2>" + synthetic +
        f"<p>의견 {docs.get('modelled', '?'):,}건 (읽은 행 {docs.get('rows_read', '?'):,}, 빈 의견 {docs.get('empty_dropped', 0)}, "
        f"중복 {docs.get('duplicates_dropped', 0)}, 토큰 없음 {docs.get('no_tokens_skipped', 0)} 제외) · "
        f"기간 {min(per_year, default='?')}–{max(per_year, default='?')} · 모델 {', '.join(models)} · "
        f"seed {m.get('seed')} · 시간 단위 {cfg.get('align', {}).get('time_unit', 'year')}</p>"
        f"<p class='note'>개인정보 가림: {html.escape(json.dumps(m.get('pii_masked', {}), ensure_ascii=False))} · "
        f"실행 시간(초): {html.escape(json.dumps(m.get('stage_seconds', {}), ensure_ascii=False))}</p>"
        + _table(pd.DataFrame([{"year": y, "n_docs": n} for y, n in per_year.items()]), {"year": "연도", "n_docs": "의견 수"})
        + "</section>")

    phase_html = ["<section id='phases'><h2>시기 구분</h2><p class='note'>신뢰도: 시드 × 부트스트랩 재표본 중 "
                  "같은 경계(±1기간)를 찾은 비율</p>"]
    for model, entry in data["phases"].items():
        rows = [{"phase": f"{i + 1}기", "start": p["start"], "end": p["end"], "label": p.get("label", ""),
                 "confidence": p.get("confidence", ""), "top_terms": ", ".join(p.get("top_terms", []))}
                for i, p in enumerate(entry["phases"])]
        phase_html.append(f"<h3>{html.escape(model)}</h3><p class='note'>{html.escape(entry.get('method', ''))}</p>" +
                          _table(pd.DataFrame(rows), {"phase": "시기", "start": "시작", "end": "끝", "label": "레이블",
                                                      "confidence": "신뢰도", "top_terms": "특징어"}))
        if model != "consensus":
            phase_html.append(_img(run / "charts" / f"phase_terms_{model}.png", f"{model} 시기별 특징 토픽"))
    parts.append("".join(phase_html) + "</section>")

    traj_html = ["<section id='trajectories'><h2>토픽 비중 추이</h2><p class='note'>띠: 95% 부트스트랩 신뢰구간 "
                 "(연도 안에서 문서 재표본). 범례를 눌러 토픽을 켜고 끌 수 있습니다.</p>"]
    for i, model in enumerate(models):
        traj = data["trajectories"][data["trajectories"]["model"] == model]
        traj_html.append(_plotly_trajectories(traj, data["phases"][model]["phases"], f"{model_name(model)} 토픽 비중 추이", i == 0))
        traj_html.append(_img(run / "charts" / f"stacked_{model}.png", "누적 비중"))
        traj_html.append(_img(run / "charts" / f"heatmap_{model}.png", "히트맵"))
    parts.append("".join(traj_html) + "</section>")

    lineage = data["lineage"]
    lin_html = ["<section id='lineage'><h2>토픽 계보 (연도별 모델의 연결)</h2>"]
    if lineage is not None:
        for model in models:
            lin = lineage[lineage["model"] == model]
            lin_html.append(_img(run / "charts" / f"lineage_{model}.png", f"{model} 토픽 계보"))
            counts = lin["kind"].map(KIND_KO).value_counts().to_dict()
            lin_html.append(f"<p>연결 유형: {html.escape(', '.join(f'{k} {v}' for k, v in counts.items()))}</p>")
            events = lin[lin["kind"].isin(["birth", "death"])].assign(kind=lambda f: f["kind"].map(KIND_KO))
            lin_html.append(_table(events, {"from_year": "이전 연도", "to_year": "다음 연도", "kind": "유형",
                                            "from_label": "사라진 토픽", "to_label": "새 토픽", "chain_label": "계보"}))
    else:
        lin_html.append("<p class='note'>연도별 모델이 둘 이상 없어 계보를 만들지 않았습니다.</p>")
    parts.append("".join(lin_html) + "</section>")

    topics = data["topics"]
    top_html = ["<section id='topics'><h2>토픽과 대표 의견</h2>"]
    reps = data["representatives"]
    for model in models:
        glob = topics[(topics["model"] == model) & (topics["scope"] == "global")]
        stab = ev.get("models", {}).get(model, {}).get("stability", {}).get("per_topic") or []
        glob = glob.assign(stability=[stab[t] if t < len(stab) else "" for t in glob["topic"]])
        top_html.append(f"<h3>{html.escape(model)} 전역 토픽</h3>" + _table(glob, {
            "topic": "토픽", "label": "레이블", "relevant_terms": "특징어", "top_terms": "주요어", "size": "문서 수",
            "stability": "시드 안정성"}))
        if reps is not None:
            r = reps[reps["model"] == model]
            top_html.append("<h3>대표 의견 (개인정보 가림)</h3>" + _table(r, {
                "topic": "토픽", "label": "레이블", "doc_id": "문서 ID", "year": "연도", "probability": "확률",
                "text": "의견"}))
    parts.append("".join(top_html) + "</section>")

    rows = []
    for model in models:
        q = ev.get("models", {}).get(model, {})
        rows.append({"model": model, "k": q.get("num_topics"), "c_v": q.get("coherence_c_v"),
                     "c_npmi": q.get("coherence_c_npmi"), "diversity": q.get("topic_diversity"),
                     "stability": (q.get("stability") or {}).get("mean"),
                     "nmi": (q.get("topic_agreement") or {}).get("nmi"), "ari": (q.get("topic_agreement") or {}).get("ari"),
                     "phases": ", ".join(map(str, data["phases"][model]["phase_starts"]))})
    parts.append("<section id='models'><h2>모델 비교</h2>" + _table(pd.DataFrame(rows), {
        "model": "모델", "k": "토픽 수", "c_v": "응집도 c_v", "c_npmi": "응집도 c_npmi", "diversity": "다양성",
        "stability": "시드 안정성", "nmi": "NMI(정답 대비)", "ari": "ARI(정답 대비)", "phases": "시기 시작"}) + "</section>")

    ev_html = ["<section id='evaluation'><h2>평가</h2>"]
    for model in models:
        ev_html.append(_img(run / "charts" / f"model_selection_{model}.png", "토픽 수 선택"))
        q = ev.get("models", {}).get(model, {})
        outliers, emb = q.get("outliers"), q.get("embedding")
        if emb:
            ev_html.append(f"<p>{html.escape(model)}: 임베딩 {html.escape(str(emb.get('name')))} "
                           f"(버전 {html.escape(str(emb.get('version')))}, {emb.get('dimensions')}차원), "
                           f"min_cluster_size {q.get('min_cluster_size')}, 토픽 단어 {html.escape(str(q.get('representation')))}</p>")
        if outliers:
            ev_html.append(f"<p>{html.escape(model)}: 이상치(토픽 -1) 비율 — HDBSCAN 직후 {outliers['before']:.1%}, "
                           f"재배정 후 {outliers['after']:.1%} (목표 {outliers['target']:.0%} 이하, 전략 "
                           f"{html.escape(str(outliers['strategy']))})</p>")
    if truth:
        for model, q in ev.get("models", {}).items():
            b = q.get("phase_boundaries")
            if b:
                verdict = "정확히 일치" if b["exact"] else f"평균 오차 {b['mean_abs_year_error']}년"
                ev_html.append(f"<p>{html.escape(model)}: 시기 시작 {b['detected']} / 심어 둔 정답 {b['planted']} — "
                               f"{verdict}</p>")
            agreement = q.get("topic_agreement")
            if agreement:
                ev_html.append(f"<p>{html.escape(model)}: 토픽–정답 일치 NMI {agreement['nmi']}, ARI {agreement['ari']}"
                               f" ({agreement['documents']}건)</p>")
    else:
        ev_html.append("<p class='note'>이 코퍼스에는 정답(truth.json)이 없습니다.</p>")
    parts.append("".join(ev_html) + "</section></main>")
    body = "".join(parts)
    return ("<!DOCTYPE html><html lang='ko'><head><meta charset='utf-8'>"
            f"<title>textmine 보고서 {html.escape(m.get('run_id', ''))}</title><style>{_font_face(body)}{CSS}</style>"
            "</head><body>" + body + "</body></html>")


def write_xlsx(data: dict, path: Path) -> Path:
    """``summary.xlsx``: topics, trajectories, phases, lineage, representative opinions; Korean headers."""
    from openpyxl.utils import get_column_letter

    sheets = {"토픽": data["topics"], "추이": data["trajectories"]}
    phase_rows = [{"model": model, "phase": i + 1, "start": p["start"], "end": p["end"], "label": p.get("label", ""),
                   "confidence": p.get("confidence"), "top_terms": ", ".join(p.get("top_terms", []))}
                  for model, entry in data["phases"].items() for i, p in enumerate(entry["phases"])]
    sheets["시기"] = pd.DataFrame(phase_rows)
    if data["lineage"] is not None:
        sheets["계보"] = data["lineage"].assign(kind=data["lineage"]["kind"].map(KIND_KO))
    if data["representatives"] is not None:
        sheets["대표 의견"] = data["representatives"]
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            frame = frame.rename(columns=SHEET_HEADERS)
            frame.to_excel(writer, sheet_name=name, index=False)
            ws = writer.sheets[name]
            ws.freeze_panes = "A2"
            for i, col in enumerate(frame.columns, start=1):
                values = [str(col)] + [str(v) for v in frame[col].head(500).tolist()]
                # Hangul is about twice as wide as Latin in Excel's width unit.
                width = max(sum(2 if "가" <= ch <= "힣" else 1 for ch in v) for v in values)
                ws.column_dimensions[get_column_letter(i)].width = min(60, max(8, width + 2))
    return path


def build_outputs(run_dir: str | Path) -> list[str]:
    """Charts, report.html and summary.xlsx from the files of a run folder."""
    data = load_run(run_dir)
    written = render_charts(data)
    (data["path"] / "report.html").write_text(build_html(data), encoding="utf-8")
    write_xlsx(data, data["path"] / "summary.xlsx")
    return written + ["report.html", "summary.xlsx"]


def representative_docs(model: str, doc_ids, years, texts, doc_topic, labels, per_topic: int = 3,
                        max_chars: int = 300) -> pd.DataFrame:
    """The opinions most typical of each topic (highest probability), PII-masked text shortened."""
    import numpy as np

    rows = []
    for t in range(doc_topic.shape[1]):
        for i in np.argsort(-doc_topic[:, t], kind="stable")[:per_topic]:
            text = texts[i] if len(texts[i]) <= max_chars else texts[i][:max_chars] + "…"
            rows.append({"model": model, "topic": t, "label": labels[t], "doc_id": doc_ids[i], "year": years[i],
                         "probability": round(float(doc_topic[i, t]), 4), "text": text})
    return pd.DataFrame(rows)
