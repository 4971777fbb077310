"""`textmine report` on a damaged run folder: one clear error, nothing half-rebuilt, labels copied only
after the report built with them (issue 25, part 3); text a chart would interpret drawn as plain text
(part 4)."""
import hashlib
import json

import pytest

from tests.conftest import run_cli
from tests.test_report import write_run


def _state(run):
    return {str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run.rglob("*")) if p.is_file()}


@pytest.fixture()
def built(tmp_path, capsys):
    run = write_run(tmp_path / "run", models=("dtm",))
    code, _, err = run_cli(["report", run], capsys)
    assert code == 0, err
    return run


@pytest.mark.parametrize("name, content, expected", [
    ("trajectories.csv", b"model,topic\n\"unterminated", "trajectories.csv"),
    ("phases.json", b"{not json", "phases.json"),
    ("phases.json", b"[1, 2]", "not an object"),
    ("topics.csv", b"\xff\xfe\x00garbage", "topics.csv"),
    ("trajectories.csv", "model,topic,year\ndtm,0,2019\n".encode(), "do not make a report"),
    ("phases.json", json.dumps({"dtm": {"phases": "none"}}).encode(), "do not make a report"),
])
def test_a_damaged_run_folder_is_one_error_and_nothing_changes(built, capsys, tmp_path, name, content, expected):
    labels = tmp_path / "labels.toml"
    labels.write_text('[dtm]\n0 = "새 이름"\n', encoding="utf-8")
    (built / name).write_bytes(content)
    before = _state(built)
    code, _, err = run_cli(["report", built, "--labels", labels], capsys)
    assert code == 2 and expected in err and "Traceback" not in err, err
    assert len([line for line in err.splitlines() if line.strip()]) == 2  # the problem, and what to do
    assert _state(built) == before  # charts, report.html, summary.xlsx as they were; no labels.toml copied
    assert not [p for p in built.iterdir() if p.name.startswith(".")]


def test_labels_are_copied_after_the_report_succeeded(built, capsys, tmp_path):
    labels = tmp_path / "labels.toml"
    labels.write_text('[dtm]\n0 = "새 이름"\n', encoding="utf-8")
    code, _, err = run_cli(["report", built, "--labels", labels], capsys)
    assert code == 0, err
    assert (built / "labels.toml").read_text(encoding="utf-8") == labels.read_text(encoding="utf-8")
    assert "새 이름" in (built / "report.html").read_text(encoding="utf-8")
    assert not [p for p in built.iterdir() if p.name.startswith(".")]


def test_dollar_signs_are_drawn_as_plain_text(tmp_path, capsys):
    """A label with $...$ (an even number of $ is what makes matplotlib parse mathtext, and an unknown
    command is then a ParseFatalException): drawn as plain text, no error."""
    run = write_run(tmp_path / "run", models=("dtm",), text="$\\undefinedcommand{x}$·$x^2$·비용")
    code, _, err = run_cli(["report", run], capsys)
    assert code == 0 and "Traceback" not in err, err
    assert len(list((run / "charts").glob("*.png"))) == 5
