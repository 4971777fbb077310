"""The public contract (docs/contract.md) against the code: the commands and options it names exist, the run
folder's files it lists are written by the code, the settings it names are settings, and the models are the
registry's.  It runs wherever the repository is checked out; the comparison with the shared copy
(../shared/SPEC.md) is separate and skips where that file is absent."""
import argparse
import ast
import re
import subprocess
import sys

import pytest

from conftest import REPO

CONTRACT = REPO / "docs" / "contract.md"
SHARED_SPEC = REPO.parent / "shared" / "SPEC.md"
COLUMN_FLAGS = ["--id-col", "--year-col", "--date-col", "--text-col"]
# File names of §3 (run folder) and where they are written; names with a placeholder (<scope>) are patterns.
FILE_EXTENSIONS = ("json", "csv", "parquet", "xlsx", "html", "gexf", "png", "toml")
FILE_NAME = re.compile(r"^[\w.<>-]+(/[\w.<>-]+)*\.(" + "|".join(FILE_EXTENSIONS) + ")$")


def _sections(path):
    return [line.rstrip() for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("## ")]


def _section(title_start: str) -> str:
    """The text of the contract's section whose heading starts with ``## <title_start>``."""
    text = CONTRACT.read_text(encoding="utf-8")
    parts = re.split(r"(?m)^## ", text)
    found = [p for p in parts if p.startswith(title_start)]
    assert len(found) == 1, f"the contract has no single section '## {title_start}'"
    return found[0]


def _code_spans(text: str) -> list[str]:
    return re.findall(r"`([^`\n]+)`", text)


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    from flows.cli import build_parser

    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {flag for action in parser._actions for flag in action.option_strings}


def _string_constants() -> set[str]:
    """Every string literal in textmine/ and flows/ (the names the code writes files under)."""
    found = set()
    for path in [*(REPO / "textmine").rglob("*.py"), *(REPO / "flows").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.add(node.value)
            elif isinstance(node, ast.JoinedStr):  # f"breakdown_{model}_{column}.png": its literal pieces
                found.add("".join(v.value if isinstance(v, ast.Constant) else "<>" for v in node.values))
    return found


def test_contract_says_what_it_mirrors():
    first = CONTRACT.read_text(encoding="utf-8").splitlines()[0]
    assert "../shared/SPEC.md" in first and "kept in step" in first


def test_every_command_of_the_contract_is_a_command_with_the_options_it_names():
    commands = _subcommands()
    lines = [line for line in _section("2. Commands").splitlines() if line.startswith("- `textmine ")]
    lines += [f"- `{span}`" for span in _code_spans(CONTRACT.read_text(encoding="utf-8"))
              if span.startswith("textmine ") and not span.startswith("textmine/")]
    named = set()
    for line in lines:
        usage = _code_spans(line)[0]
        name = usage.split()[1]
        named.add(name)
        assert name in commands, f"the contract names 'textmine {name}', which the CLI does not have"
        options = set(re.findall(r"--[a-z][a-z-]*", usage))
        if "column flags" in usage:
            options |= set(COLUMN_FLAGS)
        missing = options - _options(commands[name])
        assert not missing, f"textmine {name}: the contract names {sorted(missing)}, which it does not take"
    # the commands section covers what users run; a heading or bullet format change must not pass vacuously
    assert {"run", "validate", "synth", "serve", "ui", "report", "cache"} <= named


def test_run_flags_named_in_the_contract_are_run_flags():
    text = CONTRACT.read_text(encoding="utf-8")
    run = _options(_subcommands()["run"])
    for flag in ("--by", "--previous", "--labels", "--set", "--models", "--phases", "--seed", "--out", "--config"):
        assert flag in text, flag  # the contract still says it
        assert flag in run, flag


def test_every_run_folder_file_of_the_contract_is_written_by_the_code():
    names = {span.split()[0] for span in _code_spans(_section("3. Output")) if FILE_NAME.match(span.split()[0])}
    assert {"manifest.json", "phases.json", "topics.csv", "doc_topics.parquet", "word_frequency.csv",
            "breakdowns.csv", "labels.toml"} <= names  # the list was read, not an empty match
    constants = _string_constants()
    literal_pieces = {piece for c in constants for piece in re.split(r"<>|/", c) if piece}
    for name in sorted(names):
        if "<" in name:  # a pattern such as charts/wordcloud_<scope>.png: its fixed pieces are the code's
            pieces = [p for p in re.split(r"<[^>]*>|/", name) if p]
            for piece in pieces:
                assert any(piece in c for c in constants), f"{name}: '{piece}' is not in the code"
        else:
            assert name in constants or name.split("/")[-1] in literal_pieces, \
                f"the contract lists {name}, which no code writes"


def test_every_setting_named_in_the_contract_is_a_setting():
    from textmine.core.config import Config

    sections = Config.model_fields
    seen = []
    for span in _code_spans(CONTRACT.read_text(encoding="utf-8")):
        for section, key in re.findall(r"(?<![\w./-])([a-z]+)\.([a-z_]+\*?)", span):
            if section not in sections or key in FILE_EXTENSIONS:  # manifest.json, corpus.toml, flows.pipeline
                continue
            fields = sections[section].annotation.model_fields
            if key.endswith("*"):
                assert any(f.startswith(key[:-1]) for f in fields), f"{section}.{key}"
            else:
                assert key in fields, f"the contract names the setting {section}.{key}, which Config lacks"
            seen.append(f"{section}.{key}")
    assert {"report.by", "scale.mode", "serve.settle_seconds", "corpus.cache"} <= set(seen)


def test_the_contracts_models_are_the_registry():
    from textmine.core.registry import MODELS

    named = set(_code_spans(_section("4. Models"))) | set(_code_spans(_section("2. Commands")))
    assert set(MODELS.names()) <= named
    assert {"lda", "bertopic", "dtm"} <= set(MODELS.names())


def test_the_python_api_of_the_contract_exists():
    import textmine

    for name in ("open_run", "run"):
        assert callable(getattr(textmine, name)), name
    from textmine.notebook import Run

    for method in ("model", "plot_trajectories", "plot_topic", "plot_phases", "opinions"):
        assert callable(getattr(Run, method)), method


@pytest.mark.skipif(not SHARED_SPEC.is_file(), reason="the shared contract (../shared/SPEC.md) is not on this machine")
def test_contract_has_the_shared_contracts_sections():
    assert _sections(CONTRACT) == _sections(SHARED_SPEC)
    assert _sections(CONTRACT)  # a heading format change must not make this pass vacuously


def test_python_m_flows_is_the_command():
    """``python -m flows ...`` runs the same CLI as the ``textmine`` console script."""
    proc = subprocess.run([sys.executable, "-m", "flows", "--help"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "run" in proc.stdout and "validate" in proc.stdout
