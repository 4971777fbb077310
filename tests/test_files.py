"""The one TOML reader and the one file digest (textmine.core.files) that config, profile, corpus.toml, labels, the
manifest, the corpus cache and serve's watch use."""
import hashlib

import pytest

from textmine.core.cachedir import _TEMPORARY
from textmine.core.errors import ConfigError, CorpusError
from textmine.core.files import DIGEST_BLOCK, file_digest, publish, read_toml


def test_file_digest_is_the_sha256_of_the_bytes_across_blocks(tmp_path):
    path = tmp_path / "a.csv"
    data = bytes(range(256)) * (DIGEST_BLOCK // 256 * 2 + 3)  # more than two blocks
    path.write_bytes(data)
    assert file_digest(path) == hashlib.sha256(data).hexdigest()


def test_a_toml_file_with_a_byte_order_mark_reads(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text('[lda]\nnum_topics = 9\n', encoding="utf-8-sig")
    assert read_toml(path, nested_fix="-") == {"lda": {"num_topics": 9}}


@pytest.mark.parametrize("content, message, fix", [
    ('stopwords = ["필요"]\n'.encode("cp949"), "not UTF-8 text", "save it as UTF-8"),
    (b"[lda\n", "not a valid TOML file", "the syntax fix"),
    (b"x = " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested too deeply", "flat tables"),
])
def test_every_unreadable_toml_is_one_error_naming_the_file_and_the_fix(tmp_path, content, message, fix):
    path = tmp_path / "x.toml"
    path.write_bytes(content)
    with pytest.raises(CorpusError) as info:
        read_toml(path, nested_fix="flat tables", syntax_fix="the syntax fix", error=CorpusError)
    assert message in str(info.value) and info.value.fix == fix and str(path) in str(info.value.file)
    with pytest.raises(ConfigError, match=message):  # the default kind of error
        read_toml(path, nested_fix="flat tables")


def test_publish_gives_the_whole_entry_or_none(tmp_path):
    target = tmp_path / "kind" / "0123456789abcdef.json"
    with publish(target) as tmp:
        tmp.write_text("{}", encoding="utf-8")
        assert not target.exists()  # nothing under the entry's name until the block ends
    assert target.read_text(encoding="utf-8") == "{}"
    with pytest.raises(RuntimeError):
        with publish(target) as tmp:
            tmp.write_text("half", encoding="utf-8")
            raise RuntimeError("crash")
    assert target.read_text(encoding="utf-8") == "{}" and [p.name for p in target.parent.iterdir()] == [target.name]


def test_publish_replaces_an_incomplete_folder_or_keeps_one_written_meanwhile(tmp_path):
    entry = tmp_path / "0123456789abcdef"
    entry.mkdir()
    (entry / "partial").write_text("x", encoding="utf-8")
    with publish(entry) as tmp:
        tmp.mkdir()
        (tmp / "record.json").write_text("{}", encoding="utf-8")
        assert _TEMPORARY.fullmatch(tmp.name)  # a temporary `textmine cache prune` recognises
    assert sorted(p.name for p in entry.iterdir()) == ["record.json"]
    with publish(entry, keep_existing=True) as tmp:
        tmp.mkdir()
        (tmp / "other").write_text("y", encoding="utf-8")
    assert sorted(p.name for p in entry.iterdir()) == ["record.json"]
    assert [p.name for p in tmp_path.iterdir()] == [entry.name]
