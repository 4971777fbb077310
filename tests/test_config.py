"""The typed config: defaults, TOML, command-line overrides, clear errors."""
import pytest

from textmine.config import Config, config_from_dict, load_config
from textmine.errors import ConfigError


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
    ("[lda\n", "not valid TOML"),
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
