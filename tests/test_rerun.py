"""A rerun with nothing changed copies the finished run (textmine.outputs.rerun): the key, the checks of the
finished folder, the copy, and the CLI taking that path before Prefect starts."""
import json
import shutil

import pytest

from conftest import flow_config, run_cli
from textmine.core.config import load_config
from textmine.outputs import rerun


@pytest.fixture
def corpus(tmp_path, small_synth):
    folder = tmp_path / "corpus"
    shutil.copytree(small_synth, folder)
    return folder


def _config(tmp_path, **overrides):
    return load_config(None, {"run.out_dir": str(tmp_path / "out"), "run.cache_dir": str(tmp_path / "cache"),
                              **overrides})


def _finished_run(out, run_id="run-20260101-000000-abcdef"):
    """A finished run folder as the flow leaves it (the files the copy must carry, the run id in its report)."""
    folder = out / run_id
    (folder / "charts").mkdir(parents=True)
    (folder / "topics.csv").write_text("model,topic\nlda,0\n", encoding="utf-8")
    (folder / "charts" / "trajectories_lda.png").write_bytes(b"\x89PNG\r\n" + bytes(range(256)))
    (folder / "report.html").write_text(f"<title>textmine 보고서 {run_id}</title><header><h1>{run_id}</h1></header>",
                                        encoding="utf-8")
    (folder / "manifest.json").write_text(json.dumps({"run_id": run_id, "started": "2026-01-01T00:00:00+00:00",
                                                      "stage_seconds": {"lda": 3.0}}), encoding="utf-8")
    return folder


def test_the_key_follows_every_input_but_where_the_run_goes(tmp_path, corpus):
    base = rerun.run_key(corpus, _config(tmp_path))
    assert base == rerun.run_key(corpus, _config(tmp_path))
    assert base == rerun.run_key(corpus, _config(tmp_path, **{"run.out_dir": str(tmp_path / "elsewhere"),
                                                              "run.reuse_finished": "false"}))
    assert base != rerun.run_key(corpus, _config(tmp_path, **{"run.seed": "7"}))
    assert base != rerun.run_key(corpus, _config(tmp_path, **{"run.reselect": "true"}))

    labels = tmp_path / "labels.toml"
    labels.write_text('[lda]\n0 = "상담"\n', encoding="utf-8")
    named = rerun.run_key(corpus, _config(tmp_path, **{"report.labels": str(labels)}))
    labels.write_text('[lda]\n0 = "취업"\n', encoding="utf-8")
    assert named not in (base, rerun.run_key(corpus, _config(tmp_path, **{"report.labels": str(labels)})))

    keys = {base}
    (corpus / "truth.json").write_text((corpus / "truth.json").read_text(encoding="utf-8") + " ", encoding="utf-8")
    keys.add(rerun.run_key(corpus, _config(tmp_path)))
    with (corpus / "opinions_2019.csv").open("a", encoding="utf-8") as stream:
        stream.write("\n")
    keys.add(rerun.run_key(corpus, _config(tmp_path)))
    (corpus / "opinions_2025.csv").write_bytes((corpus / "opinions_2024.csv").read_bytes())
    keys.add(rerun.run_key(corpus, _config(tmp_path)))
    assert len(keys) == 4


def test_the_key_follows_the_profiles_user_dictionary_and_a_single_files_sidecars(tmp_path, corpus):
    words = tmp_path / "words.txt"
    words.write_text("비대면\tNNG\n", encoding="utf-8")
    (corpus / "profile.toml").write_text(f'dictionary_file = "{words}"\n', encoding="utf-8")
    before = rerun.run_key(corpus, _config(tmp_path))
    words.write_text("비대면\tNNG\n미취업\tNNG\n", encoding="utf-8")
    assert rerun.run_key(corpus, _config(tmp_path)) != before
    single = corpus / "opinions_2019.csv"
    before = rerun.run_key(single, _config(tmp_path))
    (corpus / "truth.json").write_text("{}", encoding="utf-8")
    assert rerun.run_key(single, _config(tmp_path)) != before


def test_a_corpus_that_cannot_be_read_leaves_no_key_and_no_error(tmp_path, corpus):
    config = _config(tmp_path, **{"tokenize.profile": str(tmp_path / "missing.toml")})
    assert rerun.reuse_finished(corpus, config, "cli") == (None, None)
    rerun.remember(tmp_path / "cache", None, corpus)  # nothing to record under no key
    assert not (tmp_path / "cache" / "runs").exists()


def test_the_code_digest_covers_textmine_and_flows():
    digest = rerun.code_digest()
    assert len(digest) == 64 and digest == rerun.code_digest()


def test_a_finished_run_is_found_until_its_folder_changes(tmp_path):
    cache = tmp_path / "cache"
    folder = _finished_run(tmp_path / "out")
    assert rerun.finished_run(cache, "ab" * 32) is None  # nothing recorded
    rerun.remember(cache, "ab" * 32, folder)
    assert (cache / "CACHEDIR.TAG").is_file() and (cache / "runs" / f"{'ab' * 32}.json").is_file()
    assert rerun.finished_run(cache, "ab" * 32)["folder"] == str(folder.resolve())
    assert rerun.finished_run(cache, "cd" * 32) is None

    (folder / "labels.toml").write_text('[lda]\n0 = "상담"\n', encoding="utf-8")  # a topic named in the workspace
    assert rerun.finished_run(cache, "ab" * 32) is None
    (folder / "labels.toml").unlink()
    assert rerun.finished_run(cache, "ab" * 32) is not None
    (folder / "topics.csv").write_text("model,topic\nlda,1\n", encoding="utf-8")  # same size, other bytes
    assert rerun.finished_run(cache, "ab" * 32) is None
    shutil.rmtree(folder)
    assert rerun.finished_run(cache, "ab" * 32) is None
    (cache / "runs" / f"{'ab' * 32}.json").write_text("{not json", encoding="utf-8")
    assert rerun.finished_run(cache, "ab" * 32) is None


def test_the_copy_is_a_new_run_folder_naming_itself_and_what_it_reuses(tmp_path):
    source = _finished_run(tmp_path / "out")
    rerun.remember(tmp_path / "cache", "ab" * 32, source)
    entry = rerun.finished_run(tmp_path / "cache", "ab" * 32)
    copy = rerun.copy_run(entry, "ab" * 32, tmp_path / "out", started_by="schedule")
    assert copy.parent == source.parent and copy.name != source.name and copy.name.startswith("run-")
    assert not [p for p in copy.parent.iterdir() if p.name.startswith(".partial")]
    assert (copy / "topics.csv").read_bytes() == (source / "topics.csv").read_bytes()
    png = "charts/trajectories_lda.png"
    assert (copy / png).read_bytes() == (source / png).read_bytes()
    report = (copy / "report.html").read_text(encoding="utf-8")
    assert report.count(copy.name) == 2 and f"실행 {source.name}의 결과를 그대로 복사한" in report
    assert report.count(source.name) == 1  # in the notice only
    manifest = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["run_id"] == copy.name and manifest["started_by"] == "schedule"
    assert manifest["reused"]["run_id"] == source.name and manifest["reused"]["stage_seconds"] == {"lda": 3.0}
    assert list(manifest["stage_seconds"]) == ["reuse"]
    assert rerun.reused_from(copy) == str(source)
    # the source is untouched, so it is still found
    assert rerun.finished_run(tmp_path / "cache", "ab" * 32) is not None


def test_reuse_off_never_looks(tmp_path, corpus):
    config = _config(tmp_path, **{"run.reuse_finished": "false"})
    key, reused = rerun.reuse_finished(corpus, config, "cli")
    rerun.remember(config.run.cache_dir, key, _finished_run(tmp_path / "out"))
    assert rerun.reuse_finished(corpus, config, "cli") == (key, None)
    on = config.model_copy(update={"run": config.run.model_copy(update={"reuse_finished": True})})
    assert rerun.reuse_finished(corpus, on, "cli")[1] is not None


@pytest.mark.slow
def test_the_cli_copies_a_finished_run_without_starting_prefect(small_runs, small_synth, capsys, monkeypatch):
    """The session's flow runs (tests/conftest.py: small_runs) are the finished runs; the same command again is
    a copy, made before any engine starts; --no-reuse and a changed setting run the flow."""
    import flows.engine

    (first, second), out = small_runs
    settings = flow_config(out, **{"run.models": "lda,bertopic"})
    args = ["run", small_synth, "--out", out, "--set", f"run.cache_dir={settings.run.cache_dir}"]
    for key in ("lda.passes", "lda.k_grid", "lda.seeds", "run.models", "embed.backend", "bertopic.seeds"):
        section, name = key.split(".")
        value = getattr(getattr(settings, section), name)
        args += ["--set", f"{key}={','.join(map(str, value)) if isinstance(value, list) else value}"]

    def no_engine(*a, **k):
        raise AssertionError("Prefect's server was started for a run with nothing changed")

    monkeypatch.setattr(flows.engine, "start_ephemeral_server", no_engine)
    code, stdout, err = run_cli(args, capsys)
    assert code == 0, err
    copy = out / stdout.strip().splitlines()[-1].rsplit("/", 1)[-1]
    assert f"nothing changed since {second}" in err
    manifest = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["reused"]["run_id"] == second.name and manifest["started_by"] == "cli"
    for name in ("topics.csv", "trajectories.csv", "phases.json", "doc_topics.parquet", "summary.xlsx",
                 "charts/trajectories_lda.png"):
        assert (copy / name).read_bytes() == (second / name).read_bytes() == (first / name).read_bytes(), name
    assert {p.relative_to(copy) for p in copy.rglob("*")} == {p.relative_to(second) for p in second.rglob("*")}

    with pytest.raises(AssertionError, match="server was started"):  # --no-reuse goes to the engine
        run_cli(args + ["--no-reuse"], capsys)


@pytest.mark.slow
def test_the_flow_copies_a_finished_run_as_its_first_step(small_runs, small_synth):
    """Under ``serve`` a run starts in the flow itself (no CLI): with nothing changed the flow run copies the
    finished run before any stage, and says so in the manifest."""
    from flows.pipeline import run_pipeline

    (_, second), out = small_runs
    copy = run_pipeline(small_synth, flow_config(out, **{"run.models": "lda,bertopic"}))
    manifest = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    assert copy != second and manifest["reused"]["key"] and list(manifest["stage_seconds"]) == ["reuse"]
    assert (copy / "phases.json").read_bytes() == (second / "phases.json").read_bytes()
    assert manifest["started_by"] == "cli" and manifest["run_id"] == copy.name
