"""Phase detection on year × topic-share matrices."""
import numpy as np
import pandas as pd
import pytest

from textmine.errors import TextmineError
from textmine.phases import SegmentationDetector, consensus_phases, detect_phases


def step_shares(segments, years_per_segment, noise, seed=0):
    """Shares that jump between segment means, plus multinomial-like noise, rows normalised."""
    rng = np.random.default_rng(seed)
    rows = []
    for mean, n in zip(segments, years_per_segment):
        for _ in range(n):
            row = np.clip(np.asarray(mean) + rng.normal(0, noise, len(mean)), 1e-4, None)
            rows.append(row / row.sum())
    return np.array(rows)


MEANS = [[0.5, 0.1, 0.1, 0.3], [0.1, 0.5, 0.1, 0.3], [0.1, 0.1, 0.5, 0.3], [0.3, 0.1, 0.3, 0.3]]


@pytest.mark.parametrize("sizes", [(3, 3, 4), (4, 2, 4), (2, 5, 3), (3, 3, 3, 3)])
def test_auto_recovers_step_changes(sizes):
    x = step_shares(MEANS[:len(sizes)], sizes, noise=0.02)
    det = SegmentationDetector(n_phases="auto", min_size=2).fit(x)
    assert det.starts_ == list(np.cumsum([0, *sizes[:-1]]))
    assert det.n_phases_ == len(sizes)


def test_constant_shares_give_one_phase():
    x = step_shares(MEANS[:1], [10], noise=0.01)
    assert SegmentationDetector().fit(x).starts_ == [0]


def test_fixed_number_of_phases_and_min_size():
    x = step_shares(MEANS[:3], (3, 3, 4), noise=0.02)
    assert SegmentationDetector(n_phases=2).fit(x).n_phases_ == 2
    det = SegmentationDetector(n_phases=3, min_size=4).fit(np.vstack([x, x[-2:]]))
    assert all(b - a >= 4 for a, b in zip(det.starts_, det.starts_[1:] + [12]))


def test_too_many_phases_for_the_years():
    x = step_shares(MEANS[:1], [4], noise=0.01)
    with pytest.raises(TextmineError, match="cannot hold"):
        SegmentationDetector(n_phases=3, min_size=2).fit(x)


def test_detect_phases_labels_characteristic_topics():
    years = list(range(2015, 2025))
    x = step_shares(MEANS[:3], (3, 3, 4), noise=0.02)
    matrix = pd.DataFrame(x, index=years, columns=[0, 1, 2, 3])
    terms = {0: ["진로", "탐색"], 1: ["상담", "비교과"], 2: ["성과", "졸업생"], 3: ["예산", "인력"]}
    entry = detect_phases(matrix, "auto", 2, 6, terms, {k: "·".join(v) for k, v in terms.items()})
    assert entry["phase_starts"] == [2015, 2018, 2021]
    assert [p["characteristic_topics"][0]["topic"] for p in entry["phases"]] == [0, 1, 2]
    assert entry["phases"][0]["label"].startswith("진로·탐색")
    assert entry["phases"][-1]["end"] == 2024


def test_consensus_is_a_majority():
    a = {"phase_starts": [2015, 2018, 2021], "phases": [{"end": 2024}]}
    b = {"phase_starts": [2015, 2018, 2022], "phases": [{"end": 2024}]}
    c = {"phase_starts": [2015, 2019, 2021], "phases": [{"end": 2024}]}
    assert consensus_phases({"a": a, "b": b, "c": c})["phase_starts"] == [2015, 2018, 2021]
    assert consensus_phases({"a": a})["phase_starts"] == [2015, 2018, 2021]
