"""Phase detection on year × topic-share matrices."""
import numpy as np
import pandas as pd
import pytest

from textmine.analysis.phases import SegmentationDetector, consensus_phases, detect_phases
from textmine.core.errors import TextmineError


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
    def entry(starts, conf):
        ends = [s - 1 for s in starts[1:]] + [2024]
        return {"phase_starts": starts, "phases": [{"start": s, "end": e, "label": f"L{s}"} for s, e in zip(starts, ends)],
                "boundary_confidence": {str(s): c for s, c in zip(starts[1:], conf)}}

    a, b, c = entry([2015, 2018, 2021], [0.9, 1.0]), entry([2015, 2018, 2022], [0.8, 0.7]), entry([2015, 2019, 2021], [0.6, 0.9])
    result = consensus_phases({"a": a, "b": b, "c": c})
    assert result["phase_starts"] == [2015, 2018, 2021]
    assert result["boundary_confidence"] == {"2018": 0.567, "2021": 0.633}  # models without the boundary count 0
    assert [p["end"] for p in result["phases"]] == [2017, 2020, 2024]
    assert consensus_phases({"a": a})["phase_starts"] == [2015, 2018, 2021]


def test_boundary_confidence_counts_agreeing_replicates():
    from textmine.analysis.phases import boundary_confidence

    reps = [[2015, 2018, 2021], [2015, 2019, 2021], [2015, 2021], [2015, 2017, 2022]]
    assert boundary_confidence([2015, 2018, 2021], reps, tolerance=1) == [1.0, 0.75, 1.0]
    assert boundary_confidence([2015, 2018, 2021], reps, tolerance=0) == [1.0, 0.25, 0.75]


def test_detect_phases_with_replicates_reports_confidence():
    years = list(range(2015, 2025))
    x = step_shares(MEANS[:3], (3, 3, 4), noise=0.02)
    matrix = pd.DataFrame(x, index=years, columns=[0, 1, 2, 3])
    reps = [step_shares(MEANS[:3], (3, 3, 4), noise=0.02, seed=s) for s in range(1, 21)]
    terms = {t: [f"w{t}"] for t in range(4)}
    entry = detect_phases(matrix, "auto", 2, 6, terms, {t: f"T{t}" for t in range(4)}, reps, 1)
    assert entry["replicates"] == 20
    assert all(p["confidence"] >= 0.8 for p in entry["phases"])
    noisy = [np.random.default_rng(s).dirichlet(np.ones(4), size=10) for s in range(20)]
    weak = detect_phases(matrix, "auto", 2, 6, terms, {t: f"T{t}" for t in range(4)}, noisy, 1)
    assert min(p["confidence"] for p in weak["phases"]) < 0.8  # replicates that disagree lower it


@pytest.mark.parametrize("periods", [1, 2, 3])
def test_too_few_periods_give_one_phase_when_auto(periods):
    x = step_shares(MEANS[:1], [periods], noise=0.01)
    det = SegmentationDetector(n_phases="auto", min_size=2).fit(x)
    assert det.starts_ == [0] and det.n_phases_ == 1
