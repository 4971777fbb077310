"""A file name with control characters is shown escaped in every message: no raw newline, no ANSI
escape reaches the terminal (issue 25, part 3)."""
import pytest

from tests.conftest import run_cli
from textmine.core.errors import TextmineError, escape

NASTY = "의견\n\x1b[31m가짜 줄\x1b[0m\r.csv"


def test_escape_shows_every_control_character():
    assert escape("a\nb\x1b[0m\r\t\x7f\u2028") == "a\\nb\\x1b[0m\\r\\t\\x7f\\u2028"
    assert escape("평가의견 2019.csv") == "평가의견 2019.csv"


def test_an_error_about_such_a_file_is_two_lines_with_the_name_escaped(tmp_path, capsys):
    (tmp_path / NASTY).write_bytes(b"\x00\x01 not a table")
    code, out, err = run_cli(["run", tmp_path, "--out", tmp_path / "out"], capsys)
    assert code == 2 and "\x1b" not in err and "\r" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 2 and "\\x1b[31m" in lines[0], err


def test_a_warning_about_such_a_file_is_escaped(tmp_path, capsys):
    from textmine.synth.synth import SynthSpec, write_corpus

    corpus = write_corpus(tmp_path / "c", SynthSpec(seed=1, docs_per_year=5))
    (corpus / "메모\n\x1b[2J.pdf").write_bytes(b"%PDF-1.4")
    code, out, err = run_cli(["validate", corpus], capsys)
    assert code == 0 and "\x1b" not in out + err
    assert any("\\x1b[2J.pdf" in line and "NOT READ" in line for line in out.splitlines()), out


def test_textmine_error_escapes_all_its_parts():
    error = TextmineError("bad\nvalue", file="a\x1bb.csv", column="col\rx", fix="do\x07it")
    text = str(error)
    assert text.count("\n") == 1 and "\x1b" not in text and "\r" not in text and "\x07" not in text
