"""`--previous RUN_DIR` checked before the engine starts, with bounded work (issue 25, part 3)."""
import json
import tracemalloc

import numpy as np
import pytest

from tests.conftest import run_cli
from textmine.analysis.identity import MAX_PREVIOUS_TOPICS, match_to_previous, validate_previous
from textmine.core.errors import TextmineError


def _run_folder(path, rows=None):
    path.mkdir(parents=True)
    rows = rows or ["lda,global,0,진로,진로:0.5; 상담:0.3", "lda,global,1,취업,취업:0.6; 기업:0.2"]
    (path / "topics.csv").write_text("model,scope,topic,label,term_weights\n" + "\n".join(rows) + "\n",
                                     encoding="utf-8")
    (path / "phases.json").write_text("{}", encoding="utf-8")
    return path


def test_a_sound_previous_folder_passes(tmp_path):
    assert validate_previous(_run_folder(tmp_path / "prev")) == tmp_path / "prev"


@pytest.mark.parametrize("rows, expected", [
    (["lda,global,x,진로,진로:0.5"], "'x' is not a topic number"),
    (["lda,global,1.5,진로,진로:0.5"], "'1.5' is not a topic number"),
    (["lda,global,0,진로,진로:nan"], "not a finite number"),
    (["lda,global,0,진로," + "; ".join(f"w{i}:0.1" for i in range(1500))], "1,500 terms"),
    ([f"lda,global,{i},t,w:0.1" for i in range(MAX_PREVIOUS_TOPICS + 1)], "global topics, more than a run fits"),
])
def test_a_tampered_topics_csv_is_one_clear_error(tmp_path, rows, expected):
    with pytest.raises(TextmineError, match=expected) as info:
        validate_previous(_run_folder(tmp_path / "prev", rows))
    assert "topics.csv" in str(info.value) and len(str(info.value).splitlines()) == 2


def test_missing_columns(tmp_path):
    prev = _run_folder(tmp_path / "prev")
    (prev / "topics.csv").write_text("model,topic\nlda,0\n", encoding="utf-8")
    with pytest.raises(TextmineError, match="lacks the column"):
        validate_previous(prev)


def test_a_huge_topic_word_table_is_refused_in_bounded_memory(tmp_path):
    """300 topics of 1,000 distinct terms each would be a 300 x 300,000 dense matrix (720 MB): refused
    by counting, while reading stays far below it."""
    rows = [f"lda,global,{i},t," + "; ".join(f"w{i}_{j}:0.001" for j in range(1000)) for i in range(300)]
    prev = _run_folder(tmp_path / "prev", rows)
    tracemalloc.start()
    with pytest.raises(TextmineError, match="more than this run compares"):
        validate_previous(prev)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 300 * 1024**2, peak


def test_links_out_of_the_folder_and_loops_are_refused(tmp_path):
    prev = _run_folder(tmp_path / "prev")
    secret = tmp_path / "elsewhere.csv"
    secret.write_text((prev / "topics.csv").read_text(encoding="utf-8"), encoding="utf-8")
    (prev / "topics.csv").unlink()
    (prev / "topics.csv").symlink_to(secret)
    with pytest.raises(TextmineError, match="leads outside it"):
        validate_previous(prev)
    (prev / "topics.csv").unlink()
    (prev / "topics.csv").symlink_to(prev / "topics.csv")
    with pytest.raises(TextmineError, match="broken link or a link loop"):
        validate_previous(prev)


def test_saved_weights_of_a_wrong_shape_are_refused_by_their_header(tmp_path):
    prev = _run_folder(tmp_path / "prev")
    folder = prev / "models" / "lda-global"
    folder.mkdir(parents=True)
    np.save(folder / "topic_word.npy", np.zeros(5))
    (folder / "textmine.json").write_text(json.dumps({"vocabulary": ["a"]}), encoding="utf-8")
    with pytest.raises(TextmineError, match="have shape"):
        validate_previous(prev)


def test_matching_memory_stays_within_its_inputs():
    """Two disjoint 100 x 200,000 vocabularies: the union copies (2 x 100 x 400,000 floats = 640 MB)
    are never built."""
    rng = np.random.default_rng(0)
    a, b = rng.random((100, 200_000)), rng.random((100, 200_000))
    vocab_a = [f"a{i}" for i in range(200_000)]
    vocab_b = [f"b{i}" for i in range(199_990)] + vocab_a[:10]
    tracemalloc.start()
    mapping, sim = match_to_previous(a, vocab_a, b, vocab_b)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 100 * 1024**2, peak
    assert len(mapping) == 100 and np.all(sim < 0.5)


def test_run_with_a_tampered_previous_stops_before_the_engine(small_synth, tmp_path, capsys, monkeypatch):
    import flows.pipeline

    monkeypatch.setattr(flows.pipeline, "run_pipeline", lambda *a, **k: pytest.fail("the engine was started"))
    prev = _run_folder(tmp_path / "prev", ["lda,global,zero,진로,진로:0.5"])
    with pytest.raises(SystemExit) as exit_:  # refused while the command line is read (argparse: exit 2)
        run_cli(["run", small_synth, "--out", tmp_path / "out", "--previous", prev], capsys)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "is not a topic number" in err and "Traceback" not in err
