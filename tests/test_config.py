"""The typed config: defaults, TOML, command-line overrides, clear errors."""
import json

import pytest

from textmine.core.config import MAX_SEED, Config, DtmConfig, config_from_dict, load_config
from textmine.core.errors import ConfigError
from textmine.core.registry import EMBEDDERS, LDA_ENGINES, MODELS, PHASE_DETECTORS


def test_defaults_file_and_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[lda]\nnum_topics = 9\n[phases]\nn_phases = 3\n[run]\nseed = 11\n', encoding="utf-8")
    config = load_config(path, {"lda.passes": "4", "run.models": "lda"})
    assert (config.lda.num_topics, config.lda.passes, config.phases.n_phases, config.run.seed) == (9, 4, 3, 11)
    assert config.run.models == ["lda"]
    assert load_config().phases.n_phases == "auto"


def test_round_trip_through_dict():
    config = load_config(None, {"lda.num_topics": "7", "phases.n_phases": "4"})
    assert config_from_dict(config.to_dict()) == config
    assert isinstance(Config().to_dict()["lda"], dict)


@pytest.mark.parametrize("text,message", [
    ("[lda]\nnum_topic = 9\n", "unknown setting 'lda.num_topic'"),
    ("[ldaa]\nnum_topics = 9\n", "unknown config section"),
    ("[lda]\nnum_topics = 'many'\n", "number or 'auto'"),
    ("[lda]\npasses = 'many'\n", "must be int"),
    ("[lda\n", "not a valid TOML file"),
    ("[phases]\nn_phases = 'some'\n", "number or 'auto'"),
    ("[run]\nmodels = ['lda', 'nmf']\n", "unknown model"),
])
def test_bad_config_files(tmp_path, text, message):
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "none.toml")


def test_bad_override():
    with pytest.raises(ConfigError, match="section.key"):
        load_config(None, {"seed": "3"})


# --- constraints beside each field: every kind refused with a message naming key, value and fix ---

def _refused(overrides: dict) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(None, overrides)
    assert info.value.file == "command line" and info.value.fix
    return info.value


@pytest.mark.parametrize("key", ["align.bootstrap", "phases.bootstrap"])
@pytest.mark.parametrize("value", ["-5", "0"])
def test_bootstrap_counts_must_be_positive(key, value):
    err = _refused({key: value})
    assert f"'{key}' must be at least 1, got '{value}'" in err.problem
    assert key in err.fix


@pytest.mark.parametrize("seed", ["-1", str(2**32 - 1), str(MAX_SEED + 1)])
def test_seed_out_of_every_engines_range(seed):
    err = _refused({"run.seed": seed})
    assert f"'run.seed' must be between 0 and {MAX_SEED}, got '{seed}'" in err.problem
    assert f"--seed must be between 0 and {MAX_SEED}" in err.fix


def test_seed_bounds_leave_room_for_offsets():
    assert load_config(None, {"run.seed": "0"}).run.seed == 0
    assert load_config(None, {"run.seed": str(MAX_SEED)}).run.seed == MAX_SEED
    assert MAX_SEED + 1000 + 10_000 < 2**31 - 1


def test_unknown_models_name_the_registry():
    err = _refused({"run.models": "lda,nmf,lsa"})
    assert "unknown models 'nmf', 'lsa' in 'run.models'" in err.problem
    assert err.fix == f"choose from: {', '.join(MODELS.names())}"
    assert "dtm" in err.fix


@pytest.mark.parametrize("key,registry", [("lda.backend", LDA_ENGINES), ("phases.method", PHASE_DETECTORS),
                                          ("embed.backend", EMBEDDERS)])
def test_unknown_part_names_the_registry(key, registry):
    err = _refused({key: "nope"})
    assert f"unknown {registry.kind} 'nope' in '{key}'" in err.problem
    assert err.fix == f"choose from: {', '.join(registry.names())}"


def test_registered_names_are_accepted():
    config = load_config(None, {"lda.backend": "tomotopy", "phases.method": "binseg", "embed.backend": "char-svd",
                                "run.models": "dtm,lda,dtm"})
    assert (config.lda.backend, config.phases.method, config.embed.backend) == ("tomotopy", "binseg", "char-svd")
    assert config.run.models == ["dtm", "lda"]  # duplicates dropped, order kept


@pytest.mark.parametrize("key,value,choices", [
    ("align.time_unit", "week", "year, half, quarter, month"),
    ("tokenize.unit", "paragraph", "document, sentence"),
    ("bertopic.outlier_strategy", "drop", "embeddings, c-tf-idf, distributions"),
    ("bertopic.representation", "pos", "ctfidf, mmr, keybert"),
])
def test_closed_sets(key, value, choices):
    err = _refused({key: value})
    assert f"'{key}' must be one of: {choices}, got '{value}'" in err.problem
    assert err.fix == f"choose from: {choices}"


@pytest.mark.parametrize("overrides,problem,fix", [
    ({"lda.no_above": "1.5"}, "'lda.no_above' must be in (0, 1], got '1.5'",
     "set lda.no_above, e.g. --set lda.no_above=0.5"),
    ({"lda.no_above": "0"}, "'lda.no_above' must be in (0, 1]", "lda.no_above"),
    ({"align.band_level": "1"}, "'align.band_level' must be in (0, 1)", "align.band_level"),
    ({"align.link_threshold": "1.2"}, "'align.link_threshold' must be between 0 and 1", "align.link_threshold"),
    ({"bertopic.n_neighbors": "1"}, "'bertopic.n_neighbors' must be at least 2", "bertopic.n_neighbors"),
    ({"phases.min_size": "0"}, "'phases.min_size' must be at least 1", "phases.min_size"),
    ({"phases.max_phases": "0"}, "'phases.max_phases' must be at least 1", "phases.max_phases"),
    ({"lda.seeds": "0"}, "'lda.seeds' must be at least 1", "set lda.seeds, e.g. --set lda.seeds=3"),
    ({"bertopic.seeds": "0"}, "'bertopic.seeds' must be at least 1", "bertopic.seeds"),
    ({"lda.k_grid": "6,1"}, "'lda.k_grid' items must be at least 2, got '1'", "lda.k_grid=6,8,10,12,14,16"),
    ({"lda.k_grid": ""}, "'lda.k_grid' must not be empty", "lda.k_grid"),
    ({"bertopic.min_cluster_fractions": "0.01,1.5"}, "'bertopic.min_cluster_fractions' items must be in (0, 1)",
     "bertopic.min_cluster_fractions"),
    ({"run.models": ""}, "'run.models' must not be empty", "run.models=lda,bertopic"),
    ({"lda.num_topics": "1"}, "'lda.num_topics' must be at least 2 or 'auto', got '1'", "auto"),
    ({"bertopic.min_cluster_size": "1"}, "'bertopic.min_cluster_size' must be at least 2 or 'auto'", "auto"),
    ({"phases.n_phases": "0"}, "'phases.n_phases' must be at least 1 or 'auto'",
     "use --phases auto or a positive number"),
    ({"dtm.num_topics": "x"}, "'dtm.num_topics' must be a number or 'auto', got 'x'", "auto"),
    ({"dtm.lr_c": "0.5"}, "'dtm.lr_c' must be in (0.5, 1]", "dtm.lr_c=0.55"),
    ({"dtm.iterations": "5"}, "'dtm.iterations' must be at least 10", "dtm.iterations"),
    ({"dtm.alpha_var": "0"}, "'dtm.alpha_var' must be greater than 0", "dtm.alpha_var"),
    ({"lda.no_above": "nan"}, "'lda.no_above' must be a finite number", "lda.no_above"),
    ({"lda.passes": "many"}, "'lda.passes' must be int (a whole number), got 'many'", "lda.passes"),
    ({"lda.yearly": "maybe"}, "'lda.yearly' must be bool (true or false), got 'maybe'", "lda.yearly"),
])
def test_bounds_and_types(overrides, problem, fix):
    err = _refused(overrides)
    assert problem in err.problem
    assert fix in err.fix


def test_cross_field_sentence_transformers_needs_a_model():
    err = _refused({"embed.backend": "sentence-transformers"})
    assert "embed.backend = sentence-transformers needs embed.model" in err.problem
    assert load_config(None, {"embed.backend": "sentence-transformers", "embed.model": "/models/ko"}).embed.model


def test_all_problems_in_one_error():
    err = _refused({"lda.seeds": "0", "align.bootstrap": "-1"})
    assert "'lda.seeds'" in err.problem and "'align.bootstrap'" in err.problem
    assert "Traceback" not in str(err) and "pydantic" not in str(err)


def test_problem_in_a_file_is_told_in_toml_terms(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[align]\nbootstrap = -3\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, {"lda.seeds": "2"})
    assert info.value.file == str(path)
    assert info.value.problem == "'align.bootstrap' must be at least 1, got -3"
    assert info.value.fix == "set align.bootstrap, e.g. bootstrap = 200 under [align]"


@pytest.mark.parametrize("text", ["seed = 3\n", "lda = 3\n"])
def test_toml_value_outside_a_table(tmp_path, text):
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"must be a \[section\] table"):
        load_config(path)


def test_unknown_section_and_setting_list_the_valid_ones():
    err = _refused({"ldaa.num_topics": "9"})
    assert err.problem == "unknown config section [ldaa]"
    assert err.fix.startswith("use one of: corpus, tokenize, lda") and "dtm" in err.fix
    err = _refused({"dtm.topics": "9"})
    assert err.problem == "unknown setting 'dtm.topics'"
    assert err.fix.startswith("settings of [dtm] are: num_topics, seeds")


# --- values as the command line writes them ---

def test_cli_strings_become_typed_values():
    config = load_config(None, {
        "lda.num_topics": "12", "lda.k_grid": "6, 8,10", "bertopic.min_cluster_size": "auto",
        "bertopic.num_topics": "AUTO", "phases.n_phases": "3", "dtm.num_topics": "9", "lda.no_above": "0.4",
        "bertopic.min_cluster_fractions": "0.01,0.03", "run.models": "lda", "corpus.text_col": "평가의견",
        "embed.model": "none", "tokenize.profile": "None", "run.seed": "7"})
    assert config.lda.num_topics == 12 and config.lda.k_grid == [6, 8, 10]
    assert config.bertopic.min_cluster_size == "auto" and config.bertopic.num_topics == "auto"
    assert config.phases.n_phases == 3 and config.dtm.num_topics == 9 and config.lda.no_above == 0.4
    assert config.bertopic.min_cluster_fractions == [0.01, 0.03] and config.run.models == ["lda"]
    assert config.corpus.text_col == "평가의견" and config.embed.model is None and config.tokenize.profile is None
    assert config.run.seed == 7


@pytest.mark.parametrize("text,value", [("true", True), ("false", False), ("yes", True), ("no", False),
                                        ("1", True), ("0", False), ("on", True), ("off", False), ("TRUE", True)])
def test_cli_bools(text, value):
    assert load_config(None, {"lda.yearly": text}).lda.yearly is value


def test_toml_then_command_line(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[lda]\nseeds = 2\nk_grid = [4, 6]\nbackend = "tomotopy"\n[dtm]\nnum_topics = 8\n'
                    '[run]\nmodels = ["lda", "dtm"]\nseed = 5\n', encoding="utf-8")
    config = load_config(path, {"lda.seeds": "4", "run.seed": "9"})
    assert (config.lda.seeds, config.lda.k_grid, config.lda.backend) == (4, [4, 6], "tomotopy")
    assert (config.dtm.num_topics, config.run.models, config.run.seed) == (8, ["lda", "dtm"], 9)
    assert config.lda.passes == 10  # untouched defaults stay


def test_command_line_fixes_a_bad_file_value(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[embed]\nbackend = "sentence-transformers"\n', encoding="utf-8")
    assert load_config(path, {"embed.backend": "char-svd"}).embed.backend == "char-svd"


def test_new_sections_and_settings_have_their_defaults():
    config = Config()
    assert config.lda.backend == "gensim" and config.phases.method == "segmentation"
    assert config.dtm == DtmConfig()
    d = config.to_dict()["dtm"]
    assert (d["num_topics"], d["seeds"], d["iterations"], d["lr_a"], d["workers"]) == ("auto", 3, 1000, 0.5, 1)
    assert (d["alpha_var"], d["eta_var"], d["phi_var"]) == (0.1, 10.0, 0.01)
    assert (d["lr_a"], d["lr_b"], d["lr_c"]) == (0.5, 0.1, 0.55)
    assert (d["top_n_terms"], d["relevance_lambda"], d["yearly"], d["save_models"]) == (10, 0.6, True, True)


def test_round_trip_with_every_kind_of_value():
    config = load_config(None, {"lda.k_grid": "4,6", "embed.model": "/m", "embed.backend": "sentence-transformers",
                                "run.models": "dtm", "dtm.num_topics": "5", "corpus.text_col": "의견"})
    data = config.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert config_from_dict(data) == config
    assert config_from_dict({}) == Config()  # an old manifest without [dtm] still loads


def test_config_from_dict_errors_name_the_source():
    with pytest.raises(ConfigError) as info:
        config_from_dict({"run": {"seed": -1}}, source="manifest.json")
    assert info.value.file == "manifest.json" and "'run.seed'" in info.value.problem
    with pytest.raises(ConfigError, match=r"'lda' must be a \[section\] table"):
        config_from_dict({"lda": 3})


def test_mutable_defaults_are_not_shared():
    a, b = Config(), Config()
    a.lda.k_grid.append(20)
    assert b.lda.k_grid == [6, 8, 10, 12, 14, 16]


def test_assignment_is_validated():
    config = Config()
    config.lda.num_topics = "8"
    assert config.lda.num_topics == 8
    with pytest.raises(ValueError):
        config.align.bootstrap = -1


def test_json_schema_carries_defaults_and_descriptions():
    """What Prefect's UI renders as the parameter form."""
    schema = Config.model_json_schema()
    assert schema["properties"]["dtm"]["default"]["iterations"] == 1000
    for section in ("CorpusConfig", "TokenizeConfig", "LdaConfig", "EmbedConfig", "BertopicConfig", "DtmConfig",
                    "AlignConfig", "PhaseConfig", "RunConfig"):
        for name, prop in schema["$defs"][section]["properties"].items():
            assert prop.get("description"), f"{section}.{name} has no description"
            assert "default" in prop, f"{section}.{name} has no default"
    lda = schema["$defs"]["LdaConfig"]["properties"]
    assert lda["k_grid"]["default"] == [6, 8, 10, 12, 14, 16] and lda["k_grid"]["items"]["minimum"] == 2
    assert lda["no_above"]["exclusiveMinimum"] == 0 and lda["no_above"]["maximum"] == 1
    assert lda["backend"]["enum"] == list(LDA_ENGINES.names())
    assert schema["$defs"]["RunConfig"]["properties"]["models"]["items"]["enum"] == list(MODELS.names())
    assert schema["$defs"]["AlignConfig"]["properties"]["time_unit"]["enum"] == ["year", "half", "quarter", "month"]
