"""Co-occurrence networks per phase: centralities, CONCOR, pruning, GEXF / xlsx / chart, report section."""
import dataclasses
import math
import warnings

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from textmine.analysis import network
from textmine.analysis.network import concor, eigenvector_centrality, prune_edges
from textmine.outputs.sanitize import is_dangerous, neutralize_cell
from textmine.text.documents import Documents

PHASES = {"phases": [{"start": 2019, "end": 2020, "label": "진로·상담"}, {"start": 2021, "end": 2021, "label": "취업"}],
          "phase_starts": [2019, 2021]}


def _documents(units_per_doc: int = 1) -> Documents:
    """Three years of opinions over two word groups; one term that a spreadsheet would run as a formula."""
    rng = np.random.default_rng(3)
    a, b = ["상담", "진로", "설계", "탐색", "면담"], ["취업", "성과", "졸업생", "지역", "청년"]
    rows, tokens, owners = [], [], []
    for y in (2019, 2020, 2021):
        for i in range(24):
            words = [str(w) for w in rng.choice(a if i % 2 == 0 else b, size=4)]
            if i % 6 == 0:
                words += ["=HYPERLINK(x)", "상담"]
            rows.append({"doc_id": f"d{y}-{i}", "year": y, "text": "의견"})
            doc = len(rows) - 1
            for u in range(units_per_doc):
                tokens.append(words[u::units_per_doc])
                owners.append(doc)
    docs = pd.DataFrame(rows)
    return Documents(docs=docs, periods=docs["year"].tolist(), unit_tokens=tokens, unit_owner=owners)


def _weighted_graph() -> nx.Graph:
    g = nx.Graph()
    edges = [("가", "나", 3.0), ("가", "다", 1.0), ("나", "다", 2.0), ("다", "라", 4.0), ("라", "마", 1.0),
             ("마", "바", 2.0), ("라", "바", 0.5)]
    for u, v, w in edges:
        g.add_edge(u, v, weight=w)
    return g


# ---------------------------------------------------------------- centralities

def test_centralities_agree_with_networkx_on_a_small_weighted_graph():
    g = _weighted_graph()
    table = network.centralities(g)
    dist = nx.Graph()
    dist.add_weighted_edges_from((u, v, 1.0 / d["weight"]) for u, v, d in g.edges(data=True))
    expected = {
        "degree": nx.degree_centrality(g),
        "weighted_degree": dict(g.degree(weight="weight")),
        "betweenness": nx.betweenness_centrality(dist, weight="weight", normalized=True),
        "eigenvector": nx.eigenvector_centrality_numpy(g, weight="weight"),
    }
    for column, values in expected.items():
        np.testing.assert_allclose(table[column].to_numpy(), [values[v] for v in g], atol=2e-6, err_msg=column)
    # the shortest weighted path 가-다 runs through 나 (1/3 + 1/2 < 1/1): 나 is between them
    assert table.loc["나", "betweenness"] > 0
    assert "distance" not in next(iter(g.edges(data=True)))[2]  # the graph is left as it was


def test_eigenvector_centrality_on_a_disconnected_graph_is_carried_by_the_dominant_component():
    g = _weighted_graph()
    g.add_edge("X", "Y", weight=1.0)  # a weak second component
    g.add_node("Z")                    # an isolate
    with pytest.raises(nx.AmbiguousSolution):
        nx.eigenvector_centrality_numpy(g, weight="weight")
    values = eigenvector_centrality(g)
    main = nx.eigenvector_centrality_numpy(g.subgraph(list(_weighted_graph())), weight="weight")
    for v, x in main.items():
        assert values[v] == pytest.approx(x, abs=1e-9)
    assert values["X"] == values["Y"] == values["Z"] == 0.0
    assert eigenvector_centrality(nx.empty_graph(3)) == {0: 0.0, 1: 0.0, 2: 0.0}


# ---------------------------------------------------------------- CONCOR

def _cliques(sizes, w_in=10.0, w_pair=0.0, w_far=0.0):
    """Cliques of ``sizes``; cliques 0-1, 2-3, ... joined with ``w_pair`` between all their members."""
    group = np.repeat(np.arange(len(sizes)), sizes)
    same = group[:, None] == group[None, :]
    pair = (group[:, None] // 2) == (group[None, :] // 2)
    m = np.where(same, w_in, np.where(pair, w_pair, w_far))
    np.fill_diagonal(m, 0.0)
    return m, group


def _partition(labels):
    return sorted(sorted(i for i, b in enumerate(labels) if b == block) for block in set(labels))


def test_concor_splits_two_weakly_joined_cliques_into_two_blocks():
    m, group = _cliques([5, 6], w_pair=1.0)
    labels = concor(m, depth=1)
    assert _partition(labels) == _partition(group.tolist())
    assert labels[0] == 1  # the first node's side is block 1
    # joined by a single bridge between two members instead
    m, group = _cliques([5, 6])
    m[0, 5] = m[5, 0] = 1.0
    assert _partition(concor(m, depth=1)) == _partition(group.tolist())


@pytest.mark.parametrize("sizes", [[4, 4, 4, 4], [4, 5, 6, 5], [3, 7, 5, 4]])
def test_concor_at_depth_two_finds_four_cliques(sizes):
    m, group = _cliques(sizes, w_pair=2.0, w_far=0.5)
    labels = concor(m, depth=2)
    assert sorted(set(labels)) == [1, 2, 3, 4]
    assert _partition(labels) == _partition(group.tolist())
    # the partition does not depend on the order of the rows
    perm = np.random.default_rng(0).permutation(len(group))
    permuted = concor(m[np.ix_(perm, perm)], depth=2)
    assert _partition(permuted) == _partition(group[perm].tolist())


def test_concor_isolates_get_block_zero_and_small_blocks_are_not_split():
    m, group = _cliques([3, 3], w_pair=1.0)
    big = np.zeros((8, 8))
    big[:6, :6] = m
    labels = concor(big, depth=3)
    assert labels[6] == labels[7] == network.ISOLATE_BLOCK
    assert {labels[i] for i in range(3)}.isdisjoint({labels[i] for i in range(3, 6)})
    assert concor(np.zeros((3, 3))) == [0, 0, 0]
    assert concor(np.array([[0, 2], [2, 0]]), depth=2) == [1, 1]  # two nodes: below min_split
    assert concor(big, depth=3) == labels  # deterministic


# ---------------------------------------------------------------- co-occurrence, weights, pruning

def test_cooccurrence_counts_contexts_and_npmi_follows_its_formula():
    contexts = [{"a", "b"}, {"a", "b", "c"}, {"a"}, {"c", "d"}]
    counts, df = network.cooccurrence(contexts, ["a", "b", "c"])
    np.testing.assert_array_equal(counts, [[0, 2, 1], [2, 0, 1], [1, 1, 0]])
    np.testing.assert_array_equal(df, [3, 2, 2])
    npmi = network.npmi_matrix(counts, df, 4)
    p_ab, p_a, p_b = 2 / 4, 3 / 4, 2 / 4
    assert npmi[0, 1] == pytest.approx(math.log(p_ab / (p_a * p_b)) / -math.log(p_ab))
    p_ac, p_c = 1 / 4, 2 / 4
    assert npmi[0, 2] == pytest.approx(math.log(p_ac / (p_a * p_c)) / -math.log(p_ac))
    assert npmi[0, 2] < 0 < npmi[0, 1]
    assert network.npmi_matrix(np.array([[0, 2], [2, 0]]), np.array([2, 2]), 2)[0, 1] == 1.0  # always together


def test_pruning_keeps_within_its_bounds():
    rng = np.random.default_rng(5)
    terms = [f"t{i:02d}" for i in range(30)]
    pairs = [(a, b) for i, a in enumerate(terms) for b in terms[i + 1:]]
    edges = pd.DataFrame({"source": [a for a, _ in pairs], "target": [b for _, b in pairs],
                          "count": rng.integers(0, 12, len(pairs))})
    edges["weight"] = edges["count"] * 1.0
    kept = prune_edges(edges, min_count=3, min_weight=4.0, max_edges=40)
    assert len(kept) == 40 and kept["count"].min() >= 3 and kept["weight"].min() > 4.0
    assert kept["weight"].is_monotonic_decreasing
    eligible = edges[(edges["count"] >= 3) & (edges["weight"] > 4.0)]
    assert kept["weight"].min() >= eligible["weight"].nlargest(40).min()
    k = 2
    topk = prune_edges(edges, min_count=1, min_weight=0.0, top_k=k)
    ranked = edges[edges["count"] >= 1].sort_values(["weight", "count", "source", "target"],
                                                    ascending=[False, False, True, True])
    best = {t: set() for t in terms}
    for s, t in zip(ranked["source"], ranked["target"]):
        for node in (s, t):
            if len(best[node]) < k:
                best[node].add((s, t))
    expected = set().union(*best.values())
    assert set(zip(topk["source"], topk["target"])) == expected


def test_networks_per_phase_follow_the_phases_and_the_settings():
    data = _documents()
    nets = network.build_phase_networks(data, PHASES, top_n=8, weight="npmi", max_edges=12)
    assert [(n.phase, n.start, n.end, n.name) for n in nets] == [(1, 2019, 2020, "phase1_2019-2020"),
                                                                 (2, 2021, 2021, "phase2_2021-2021")]
    net = nets[0]
    assert net.n_contexts == 48 and list(net.nodes.columns) == network.NODE_COLUMNS
    assert len(net.nodes) == 8 and net.graph.number_of_nodes() == 8
    # the nodes are the phase's most frequent terms, by frequency then term
    counts = pd.Series([t for toks in data.doc_tokens()[:48] for t in toks]).value_counts()
    expected = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:8]
    assert list(zip(net.nodes["term"], net.nodes["frequency"])) == expected
    # the matrix counts documents with both terms
    a, b = net.nodes["term"][0], net.nodes["term"][1]
    both = sum(1 for toks in data.doc_tokens()[:48] if a in toks and b in toks)
    assert net.matrix.loc[a, b] == net.matrix.loc[b, a] == both and net.matrix.loc[a, a] == 0
    # NPMI weights, only positive ones, at most max_edges of them, co-occurring at least twice
    assert 0 < net.graph.number_of_edges() <= 12 and (net.edges["weight"] > 0).all()
    assert (net.edges["count"] >= 2).all()
    assert np.allclose(net.edges["weight"], net.edges["npmi"])
    for s, t, w in net.edges[["source", "target", "weight"]].itertuples(index=False):
        assert net.graph[s][t]["weight"] == w
    default = network.build_phase_networks(data, PHASES, top_n=8)
    assert default[0].graph.number_of_edges() <= 24 and np.allclose(default[0].edges["weight"],
                                                                    default[0].edges["count"])
    with pytest.raises(ValueError):
        network.build_phase_networks(data, PHASES, weight="pmi")


def test_sentence_units_count_co_occurrence_within_units():
    data = _documents(units_per_doc=2)
    by_doc = network.build_phase_networks(data, PHASES, top_n=6, unit="document", max_edges=0)[0]
    by_unit = network.build_phase_networks(data, PHASES, top_n=6, unit="unit", max_edges=0)[0]
    assert by_unit.n_contexts == 2 * by_doc.n_contexts
    assert (by_unit.matrix.to_numpy() <= by_doc.matrix.to_numpy()).all()
    assert by_unit.matrix.to_numpy().sum() < by_doc.matrix.to_numpy().sum()


def test_the_same_input_gives_identical_tables_and_gexf_bytes(tmp_path):
    data = _documents()
    first = network.build_phase_networks(data, PHASES, top_n=8)
    second = network.build_phase_networks(_documents(), PHASES, top_n=8)
    for a, b in zip(first, second):
        pd.testing.assert_frame_equal(a.nodes, b.nodes)
        pd.testing.assert_frame_equal(a.edges, b.edges)
        pd.testing.assert_frame_equal(a.matrix, b.matrix)
        pa, pb = network.write_gexf(a, tmp_path / "a.gexf"), network.write_gexf(b, tmp_path / "b.gexf")
        assert pa.read_bytes() == pb.read_bytes()
    pos_a, pos_b = network.layout(first[0]), network.layout(second[0])  # the chart's layout too
    assert all(np.array_equal(pos_a[t], pos_b[t]) for t in first[0].graph)


# ---------------------------------------------------------------- writers

def test_gexf_round_trip_keeps_attributes_and_korean_labels(tmp_path):
    net = network.build_phase_networks(_documents(), PHASES, top_n=8)[0]
    path = network.write_gexf(net, tmp_path / network.gexf_name(net))
    assert path.name == "phase1_2019-2020.gexf"
    text = path.read_text(encoding="utf-8")
    assert "상담" in text and "lastmodifieddate" not in text
    back = nx.read_gexf(path)
    assert set(back.nodes) == set(net.graph.nodes)
    for row in net.nodes.itertuples(index=False):
        attrs = back.nodes[row.term]
        assert attrs["label"] == row.term
        assert attrs["frequency"] == row.frequency and attrs["concor_block"] == row.concor_block
        for col in ("degree", "weighted_degree", "betweenness", "eigenvector"):
            assert attrs[col] == pytest.approx(getattr(row, col))
    assert back.number_of_edges() == net.graph.number_of_edges()
    for s, t, w, c in net.edges[["source", "target", "weight", "count"]].itertuples(index=False):
        assert back[s][t]["weight"] == pytest.approx(w) and back[s][t]["count"] == c


def test_xlsx_has_a_matrix_and_a_centrality_sheet_per_phase_with_safe_cells(tmp_path):
    nets = network.build_phase_networks(_documents(), PHASES, top_n=11)
    path = network.write_network_xlsx(nets, tmp_path / "networks.xlsx")
    book = load_workbook(path)
    assert book.sheetnames == ["시기 개요", "1기 2019-2020 동시출현", "1기 2019-2020 중심성",
                               "2기 2021-2021 동시출현", "2기 2021-2021 중심성"]
    assert all(len(name) <= 31 for name in book.sheetnames)
    cent = book["1기 2019-2020 중심성"]
    assert [c.value for c in cent[1]] == ["단어", "빈도", "연결중심성", "가중연결중심성", "매개중심성",
                                          "고유벡터중심성", "CONCOR 블록"]
    matrix = book["1기 2019-2020 동시출현"]
    header = [c.value for c in matrix[1]]
    assert header[0] == "단어" and header[1:] == [neutralize_cell(t) for t in nets[0].nodes["term"]]
    assert matrix.cell(row=2, column=2).value == 0  # the diagonal
    assert matrix.cell(row=2, column=3).value == nets[0].matrix.iloc[0, 1]
    # the term that looks like a formula stays text everywhere
    cells = [c for ws in book.worksheets for row in ws.iter_rows() for c in row
             if isinstance(c.value, str) and "HYPERLINK" in c.value]
    assert cells and all(c.value == "'=HYPERLINK(x)" and c.data_type == "s" for c in cells)
    overview = book["시기 개요"]
    assert [c.value for c in overview[1]][:3] == ["시기", "시작", "끝"]


def test_xlsx_neutralises_by_the_full_rule_full_width_forms_and_leading_spaces_too(tmp_path):
    """networks.xlsx is written by the one spreadsheet writer (textmine.outputs.xlsx), so textmine.outputs.sanitize's whole rule
    applies: a full-width ＝ and a formula after leading spaces are made text as in summary.xlsx."""
    net = network.build_phase_networks(_documents(), PHASES, top_n=11)[0]
    odd = {net.nodes["term"].iloc[0]: "＝HYPERLINK(y)", net.nodes["term"].iloc[1]: "  =1+1"}
    nodes = net.nodes.assign(term=net.nodes["term"].replace(odd))
    matrix = net.matrix.rename(index=odd, columns=odd)
    path = network.write_network_xlsx([dataclasses.replace(net, nodes=nodes, matrix=matrix)], tmp_path / "n.xlsx")
    values = [c.value for ws in load_workbook(path).worksheets for row in ws.iter_rows() for c in row
              if isinstance(c.value, str)]
    assert values.count("'＝HYPERLINK(y)") == 3 and values.count("'  =1+1") == 3  # matrix row, column, centrality
    assert not [v for v in values if is_dangerous(v)]


def test_sheet_names_are_short_unique_and_legal():
    taken: set[str] = set()
    names = [network.sheet_name("1기 2019-H1-2021-H2 동시출현 행렬 [매우 긴 이름]", taken) for _ in range(3)]
    assert len(set(names)) == 3 and all(len(n) <= 31 and "[" not in n for n in names)


def test_the_chart_draws_korean_labels_without_missing_glyphs(tmp_path):
    from matplotlib.figure import Figure

    from textmine.outputs.charts import save_figure

    net = network.build_phase_networks(_documents(), PHASES, top_n=8)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph ... missing from font(s)"
        fig = network.plot_network(net, "1기 의미연결망 2019–2020")
        path = save_figure(fig, tmp_path / "net.png")
    assert isinstance(fig, Figure) and path.stat().st_size > 10_000
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert set(net.nodes["term"]) <= texts


# ---------------------------------------------------------------- report section

def test_the_report_section_renders_from_the_run_tables():
    from textmine.report.report import environment

    data = _documents()
    nets = network.build_phase_networks(data, PHASES, top_n=8)
    nodes = network.nodes_long_table(nets)
    nodes.loc[0, "term"] = "<script>x</script>"
    context = network.report_context(nodes, network.edges_long_table(nets), PHASES, nets[0].settings,
                                      images={"phase1_2019-2020": "data:image/png;base64,AAAA"},
                                      files={n.name: f"networks/{network.gexf_name(n)}" for n in nets},
                                      xlsx="networks.xlsx")
    assert [p["scope"] for p in context["phases"]] == ["phase1_2019-2020", "phase2_2021-2021"]
    assert context["phases"][0]["edges"] == nets[0].graph.number_of_edges()
    html = environment().get_template("networks.html.j2").render(networks=context)
    assert "의미연결망" in html and "1기 2019–2020 · 진로·상담" in html and "networks/phase1_2019-2020.gexf" in html
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert 'src="data:image/png;base64,AAAA"' in html
    assert "CONCOR" in html and "최대 4개" in html
    empty = environment().get_template("networks.html.j2").render(networks=None)
    assert "만들지 않았습니다" in empty
