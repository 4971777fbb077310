"""Renamed topics: the labels file and applying it to a run's tables."""
import pandas as pd
import pytest

from textmine.analysis.labels import (
    LABELS_FILE, apply_labels, apply_labels_to_phases, dump_labels, load_labels, merge_labels, unknown_topics)
from textmine.core.errors import ConfigError

GOOD = '''
# 분석자가 붙인 이름
[lda]
3 = "성과 관리"
"0" = "  지역 청년 연계 "
-1 = "무시됨"

[bertopic]
-1 = "분류되지 않은 의견"
2 = "SNS 홍보"
'''


def write(tmp_path, text, name="labels.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_load_labels(tmp_path):
    labels = load_labels(write(tmp_path, GOOD))
    assert labels == {"lda": {3: "성과 관리", 0: "지역 청년 연계", -1: "무시됨"},
                      "bertopic": {-1: "분류되지 않은 의견", 2: "SNS 홍보"}}
    assert load_labels(write(tmp_path, dump_labels(labels), "again.toml")) == labels
    assert load_labels(write(tmp_path, "", "empty.toml")) == {}
    assert LABELS_FILE == "labels.toml"


@pytest.mark.parametrize("text, problem, fix", [
    ('[lda]\n3 = "성과 관리\n', "not a valid TOML file", "quote names"),
    ("[lda]\n3 = \n", "not a valid TOML file", "one table per model"),
    ('[consensus]\n1 = "x"\n', "unknown model table [consensus]", "lda, bertopic, dtm"),
    ('[LDA]\n1 = "x"\n', "unknown model table [LDA]", "lda, bertopic, dtm"),
    ('3 = "성과 관리"\n', "topic 3 is outside a model table", "[lda]"),
    ('lda = "x"\n', "'lda' is not a model table (got text)", "model tables only"),
    ('[lda]\nthree = "x"\n', "[lda] three: topic id 'three' is not an integer", "topic number from topics.csv"),
    ('[lda]\n"3.5" = "x"\n', "[lda] 3.5: topic id '3.5' is not an integer", "-1 for outliers"),
    ('[lda]\n-2 = "x"\n', "[lda] -2: topic id -2 does not exist", "topics.csv"),
    ('[lda]\n3 = ""\n', "[lda] 3: the name is empty", "delete the line"),
    ('[lda]\n3 = "   "\n', "[lda] 3: the name is empty", "automatic label"),
    ("[lda]\n3 = 7\n", "[lda] 3: the name must be text in quotes, got a number 7", '3 = "성과 관리"'),
    ('[lda]\n3 = ["a"]\n', "the name must be text in quotes, got a list", "quote the name"),
    ('[lda.sub]\n3 = "x"\n', "[lda] sub: topic id 'sub' is not an integer", "topics.csv"),
    ('[lda]\n3 = "' + "가" * 61 + '"\n', "the name is 61 characters long, more than 60", "at most 60"),
    ('[lda]\n3 = "a\\nb"\n', "line break", "one line"),
    ('[lda]\n3 = "a"\n"03" = "b"\n', "[lda] 03: topic 3 is named twice", "one name per topic"),
])
def test_errors_name_file_key_and_fix(tmp_path, text, problem, fix):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_labels(path)
    message = str(err.value)
    assert str(path) in message and problem in message and fix in message
    assert "what to do:" in message


def test_sixty_characters_is_fine_and_missing_file(tmp_path):
    assert load_labels(write(tmp_path, '[dtm]\n1 = "' + "가" * 60 + '"\n'))["dtm"][1] == "가" * 60
    with pytest.raises(ConfigError, match="does not exist"):
        load_labels(tmp_path / "nope.toml")
    bad = tmp_path / "cp949.toml"
    bad.write_bytes('[lda]\n1 = "성과"\n'.encode("cp949"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_labels(bad)


TOPICS = pd.DataFrame({
    "model": ["lda", "lda", "lda", "lda", "bertopic", "bertopic"],
    "scope": ["global", "global", "2019", "2019", "global", "global"],
    "topic": [0, 3, 0, 3, 0, 2],
    "label": ["지역·청년·기업", "성과·지표·관리", "연도0", "연도3", "상담·비교과", "홍보·인지도"],
    "size": [1, 2, 3, 4, 5, 6],
})


def test_apply_to_topics_renames_global_rows_only():
    labels = {"lda": {3: "성과 관리"}, "bertopic": {2: "SNS 홍보", 9: "없는 토픽"}}
    out = apply_labels(TOPICS, labels)
    assert out.columns.tolist() == ["model", "scope", "topic", "label", "label_original", "size"]
    assert out["label"].tolist() == ["지역·청년·기업", "성과 관리", "연도0", "연도3", "상담·비교과", "SNS 홍보"]
    assert out["label_original"].tolist() == TOPICS["label"].tolist()
    assert TOPICS.columns.tolist() == ["model", "scope", "topic", "label", "size"]  # a copy
    # applied again with another file: starts from the automatic labels, not stacked
    again = apply_labels(out, {"lda": {0: "지역"}})
    assert again["label"].tolist()[:2] == ["지역", "성과·지표·관리"]
    assert again.columns.tolist().count("label_original") == 1
    assert apply_labels(out, None)["label"].tolist() == TOPICS["label"].tolist()
    assert unknown_topics(labels, TOPICS) == ["bertopic topic 9"]
    assert unknown_topics({"dtm": {1: "x"}}, TOPICS) == ["dtm (not in this run)"]


def test_apply_to_trajectories_and_representatives_with_outliers():
    traj = pd.DataFrame({"model": ["bertopic"] * 3, "topic": [0, -1, 0], "label": ["a", "이상치 (outliers)", "a"],
                         "period": [2019, 2019, 2020], "share": [0.9, 0.1, 1.0]})
    out = apply_labels(traj, {"bertopic": {-1: "분류 안 됨", 0: "상담"}})
    assert out["label"].tolist() == ["상담", "분류 안 됨", "상담"]
    assert apply_labels(None, {"lda": {}}) is None
    assert apply_labels(traj.iloc[:0], {"bertopic": {0: "x"}}).empty


def test_apply_to_phases():
    phases = {"lda": {"phases": [{"start": 2015, "end": 2017, "label": "진로·홍보 / 성과·지표",
                                  "characteristic_topics": [{"topic": 3, "label": "성과·지표·관리", "share_inside": 0.3},
                                                            {"topic": 1, "label": "b", "share_inside": 0.1}]}]},
              "consensus": {"phases": [{"start": 2015, "end": 2017, "label": "진로·홍보 / 성과·지표"}]}}
    out = apply_labels_to_phases(phases, {"lda": {3: "성과 관리"}})
    chars = out["lda"]["phases"][0]["characteristic_topics"]
    assert [c["label"] for c in chars] == ["성과 관리", "b"]
    assert chars[0]["label_original"] == "성과·지표·관리"
    assert out["lda"]["phases"][0]["label"] == "진로·홍보 / 성과·지표"   # phase labels stay
    assert phases["lda"]["phases"][0]["characteristic_topics"][0]["label"] == "성과·지표·관리"  # a copy
    back = apply_labels_to_phases(out, {})
    assert back["lda"]["phases"][0]["characteristic_topics"][0]["label"] == "성과·지표·관리"


def test_merge_labels():
    carried = {"lda": {1: "이전 이름", 2: "유지"}}
    user = {"lda": {1: "새 이름"}, "dtm": {0: "x"}}
    assert merge_labels(carried, user, None) == {"lda": {1: "새 이름", 2: "유지"}, "dtm": {0: "x"}}
