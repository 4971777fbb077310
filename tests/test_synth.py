"""The synthetic corpus generator: seeded, realistic, and true to what it plants."""
import json

import numpy as np
import pandas as pd
import pytest

from textmine.core.errors import TextmineError
from textmine.io.corpus import load_corpus
from textmine.synth import synth, synth_vocab as V
from textmine.synth.synth import SynthSpec, generate_corpus, phase_years, write_corpus

from conftest import BUNDLED, run_cli


def test_same_seed_same_corpus_other_seed_other_corpus():
    a, ta = generate_corpus(SynthSpec(seed=1, docs_per_year=20))
    b, tb = generate_corpus(SynthSpec(seed=1, docs_per_year=20))
    c, _ = generate_corpus(SynthSpec(seed=2, docs_per_year=20))
    pd.testing.assert_frame_equal(a, b)
    assert ta == tb
    assert not a["평가의견"].equals(c["평가의견"])


def test_study_phases_and_growing_uneven_volumes():
    frame, truth = generate_corpus(SynthSpec())
    assert truth["phase_starts"] == [2015, 2018, 2021]
    assert [p["name"] for p in truth["phases"]] == ["진로 지원 중심", "상담·비교과·실습", "취업 성과 관리·졸업생·지역 청년"]
    sizes = frame.groupby("연도").size()
    assert sizes[2015] < 100 and sizes[2024] > 250  # a few dozen centres at first, over a hundred later
    assert sizes.diff().dropna().nunique() > 3  # uneven growth, not a constant step
    assert frame["대학명"].nunique() > 100 and frame["지역"].nunique() >= 15
    assert set(truth["doc_topic"]) == set(frame.loc[frame["평가의견"] != "", "연번"])
    assert frame["평가의견"].duplicated().sum() >= 3 and (frame["평가의견"] == "").sum() >= 1  # as real forms come back


def test_planted_topics_dominate_their_phase():
    frame, truth = generate_corpus(SynthSpec(docs_per_year=200))
    labels = frame["연번"].map(truth["doc_topic"])
    for phase in truth["phases"]:
        inside = frame["연도"].between(phase["start"], phase["end"])
        share_in = labels[inside].isin(phase["topics"]).mean()
        share_out = labels[~inside].isin(phase["topics"]).mean()
        assert share_in > 2 * share_out, phase


def test_register_and_noise_of_real_opinions():
    frame, _ = generate_corpus(SynthSpec())
    text = "\n".join(frame["평가의견"])
    for ending in ("필요함", "바람", "요망", "할 것", "요구됨"):
        assert ending in text
    for term in ("일경험", "현장실습 학기제", "국민취업지원제도", "고용센터", "비교과"):
        assert term in text
    assert any(typo in text for typo in V.TYPOS.values())  # occasional typos
    n_sentences = frame.loc[frame["평가의견"] != "", "평가의견"].str.count(r"\.")
    assert n_sentences.min() >= 2 and n_sentences.max() >= 7  # documents mix topics


def test_other_years_and_phase_counts():
    assert phase_years(list(range(2013, 2025)), 4) == [[2013, 2014, 2015], [2016, 2017, 2018],
                                                       [2019, 2020, 2021], [2022, 2023, 2024]]
    _, truth = generate_corpus(SynthSpec(first_year=2013, last_year=2024, n_phases=4, docs_per_year=30))
    assert truth["phase_starts"] == [2013, 2016, 2019, 2022]


def test_impossible_specs_are_refused():
    with pytest.raises(TextmineError, match="cannot hold"):
        generate_corpus(SynthSpec(first_year=2020, last_year=2023, n_phases=3))
    with pytest.raises(TextmineError, match="1 to 5"):
        generate_corpus(SynthSpec(n_phases=7))


def test_written_corpus_loads_with_its_truth(tmp_path):
    out = write_corpus(tmp_path, SynthSpec(seed=3, docs_per_year=15))
    truth = json.loads((out / "truth.json").read_text(encoding="utf-8"))
    corpus = load_corpus(out)
    assert set(corpus.modelling_docs()["doc_id"]) <= set(truth["doc_topic"])
    assert corpus.files[0].encoding == "utf-8-sig"


def test_bundled_corpus_is_the_documented_generator_output():
    truth = json.loads((BUNDLED / "truth.json").read_text(encoding="utf-8"))
    assert truth["synthetic"] is True and truth["generator"]["seed"] == 20260
    frame, regenerated = generate_corpus(SynthSpec(seed=20260))
    assert regenerated["doc_topic"] == truth["doc_topic"]
    bundled = load_corpus(BUNDLED).docs
    assert bundled["text"].tolist() == [t.replace("\n", " ") for t in frame["평가의견"].tolist()]
    assert "SYNTHETIC" in (BUNDLED / "README.md").read_text(encoding="utf-8")


def _year_files(folder, suffix):
    return sorted(folder.glob(f"opinions_*.{suffix}"))


def test_parquet_and_csv_hold_the_same_corpus_as_generate_corpus(tmp_path):
    spec = SynthSpec(seed=5, docs_per_year=20)
    frame, truth = generate_corpus(spec)
    as_csv = write_corpus(tmp_path / "csv", spec)
    as_parquet = write_corpus(tmp_path / "parquet", spec, format="parquet")
    expected = {f"opinions_{y}.csv" for y in spec.years} | {"truth.json"}
    assert {p.name for p in as_csv.iterdir()} == expected  # no temporary files left behind
    assert {p.name for p in as_parquet.iterdir()} == {n.replace(".csv", ".parquet") for n in expected}
    parquet = pd.concat([pd.read_parquet(p) for p in _year_files(as_parquet, "parquet")], ignore_index=True)
    pd.testing.assert_frame_equal(parquet, frame)
    csv = pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False, encoding="utf-8-sig")
                     for p in _year_files(as_csv, "csv")], ignore_index=True)
    assert csv.values.tolist() == frame.astype(str).values.tolist()
    assert (as_csv / "truth.json").read_bytes() == (as_parquet / "truth.json").read_bytes()
    assert json.loads((as_parquet / "truth.json").read_text(encoding="utf-8")) == truth
    corpus = load_corpus(as_parquet)
    assert corpus.docs["doc_id"].tolist() == frame["연번"].tolist()


def test_year_by_year_generator_is_the_one_shot_corpus():
    spec = SynthSpec(seed=8, docs_per_year=25)
    gen = synth.CorpusGenerator(spec)
    years = list(gen.years())
    frame, truth = generate_corpus(spec)
    assert [y for y, _ in years] == spec.years
    assert sum(len(c["연번"]) for _, c in years) == len(frame) == gen.n_docs
    assert gen.truth() == truth


def test_fast_sampler_draws_as_numpy_choice_does():
    """The topic sampler replays rng.choice(replace=False, p=...): same picks, same draws used."""
    topics = [f"t{i}" for i in range(17)]
    skewed = np.r_[[0.9, 0.05], np.full(15, 0.05 / 15)]  # repeats force numpy's second round of draws
    for probs in (np.full(17, 1 / 17), skewed, np.r_[[0.5, 0.0], np.full(15, 0.5 / 15)]):
        probs = list(probs / probs.sum())
        a, b = np.random.default_rng(3), np.random.default_rng(3)
        cdf = synth.cumulative(probs)
        for size in [1, 2, 3] * 300:
            expected = list(a.choice(topics, size=size, replace=False, p=np.array(probs)))
            assert [topics[k] for k in synth.sample_without_replacement(b.random, probs, size, cdf)] == expected
        assert a.random() == b.random()


def test_an_interrupted_write_leaves_no_half_file(tmp_path, monkeypatch):
    calls = []

    def write_then_fail(columns, path):
        calls.append(path)
        path.write_bytes(b"PAR1 half a file")
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(synth, "_write_parquet", write_then_fail)
    with pytest.raises(KeyboardInterrupt):
        write_corpus(tmp_path, SynthSpec(seed=2, docs_per_year=10), format="parquet")
    assert [p.name for p in tmp_path.iterdir()] == ["opinions_2015.parquet"]  # whole years only, no .tmp


def test_formats_are_not_mixed_in_one_folder(tmp_path):
    spec = SynthSpec(seed=2, docs_per_year=10)
    write_corpus(tmp_path, spec)
    with pytest.raises(TextmineError, match="second copy"):
        write_corpus(tmp_path, spec, format="parquet")
    with pytest.raises(TextmineError, match="format"):
        write_corpus(tmp_path, spec, format="xlsx")


def test_ids_past_9999_a_year_stay_unique_strings(tmp_path, monkeypatch):
    monkeypatch.setattr(synth, "yearly_volumes", lambda spec, rng: {2015: 10_001, 2016: 3, 2017: 3, 2018: 3,
                                                                     2019: 3, 2020: 3})
    out = write_corpus(tmp_path, SynthSpec(seed=1, first_year=2015, last_year=2020), format="parquet")
    docs = load_corpus(out).docs
    assert docs["doc_id"].is_unique and {"2015-0001", "2015-9999", "2015-10001"} <= set(docs["doc_id"])


def test_cli_synth_parquet(tmp_path, capsys):
    code, out, err = run_cli(["synth", tmp_path / "c", "--seed", "4", "--docs-per-year", "20", "--format", "parquet"],
                             capsys)
    assert code == 0 and out.strip() == str(tmp_path / "c")  # stdout is the folder alone
    truth = json.loads((tmp_path / "c" / "truth.json").read_text(encoding="utf-8"))
    frame, expected = generate_corpus(SynthSpec(seed=4, docs_per_year=20))
    assert truth == expected and len(_year_files(tmp_path / "c", "parquet")) == 10
    assert f"{len(frame):,} documents, 10 years" in err and "parquet" in err


def test_cli_synth_refuses_an_unknown_format(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        run_cli(["synth", tmp_path / "c", "--format", "xlsx"], capsys)
    assert exit_.value.code == 2 and "invalid choice: 'xlsx'" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
