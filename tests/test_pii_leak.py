"""Names never written: every form of a person's name this domain writes, planted often enough to be a
topic term, and then every file of the run folder and of the caches scanned for it (issue 25, part 1)."""
import gzip
import io
import json
import zipfile
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

# Names Kiwi reads as names in these forms.  Two rarer ones it reads as loose syllables before a title
# (편주아, 도하윤: 편/NNB + 주/NNG + 아/NNG) are not planted: they are the limit of the title rule, and
# test_pii.py records which forms still catch them.
NAMES = ["홍길동", "김철수", "박영희", "정다은", "최민호", "서지훈", "탁수린", "봉미선", "차은솔", "마서진"]
FORMS = ["{a}·{b} 팀장이 상담을 맡았다", "{a}, {b} 컨설턴트가 참여하였다", "{a}/팀장 의견임", "작성: {a}",
         "작성자 {a}", "담당: {a}", "문의 010-1234-5678({a})", "{a} 취업지원관이 상담", "전담인력 {a} 배치",
         "부팀장 {a}가 운영", "前 팀장 {a} 의견", "{a} 직업상담사 상담", "평가위원 {a} 의견", "{a} 前 팀장 면담"]


def _plant(folder: Path) -> None:
    """Each opinion gets one form with two names; the evaluator column holds names, and two more
    columns do: a 작성자 (a header of person names) and a 비고 whose text names people."""
    i = 0
    for path in sorted(folder.glob("opinions_*.csv")):
        frame = pd.read_csv(path, encoding="utf-8-sig", dtype=str)
        texts, raters, writers, notes = [], [], [], []
        for text in frame["평가의견"]:
            a, b = NAMES[i % len(NAMES)], NAMES[(i + 3) % len(NAMES)]
            texts.append(f"{text}\n{FORMS[i % len(FORMS)].format(a=a, b=b)}.")
            raters.append(a)
            writers.append(b)
            notes.append(f"{b} 컨설턴트 확인")
            i += 1
        frame["평가의견"], frame["평가위원"], frame["작성자"], frame["비고"] = texts, raters, writers, notes
        frame.to_csv(path, index=False, encoding="utf-8-sig")


def _readable(path: Path) -> list[bytes]:
    """The bytes of a file as a reader sees them: zip members (xlsx, npz), gzip, parquet cells."""
    data = path.read_bytes()
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return [z.read(n) for n in z.namelist()] + [" ".join(z.namelist()).encode()]
    if data[:2] == b"\x1f\x8b":
        return [gzip.decompress(data)]
    if data[:4] == b"PAR1":
        table = pq.read_table(io.BytesIO(data))
        meta = table.schema.metadata or {}
        return [json.dumps(table.to_pylist(), ensure_ascii=False, default=str).encode(),
                *meta.values(), " ".join(table.column_names).encode()]
    return [data]


def _leaks(folders) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for folder in folders:
        for path in Path(folder).rglob("*"):
            if path.is_file():
                blobs = _readable(path)
                for name in NAMES:
                    if any(name.encode() in blob for blob in blobs) or name in path.name:
                        found.setdefault(name, []).append(str(path.relative_to(folder)))
    return found


@pytest.mark.slow
def test_planted_names_are_in_no_file_of_the_run_or_the_caches(prefect_harness, tmp_path):
    from flows.pipeline import run_pipeline
    from textmine.core.config import load_config
    from textmine.synth.synth import SynthSpec, write_corpus

    corpus = write_corpus(tmp_path / "corpus", SynthSpec(seed=7, docs_per_year=30))
    _plant(corpus)
    assert set(_leaks([corpus])) == set(NAMES)  # the scan finds them where they are
    cache = tmp_path / "cache"
    config = load_config(None, {"run.out_dir": str(tmp_path / "out"), "run.cache_dir": str(cache),
                                "run.models": "lda", "lda.k_grid": "6,8", "lda.passes": "5", "lda.seeds": "1",
                                "report.by": "지역"})
    folder = run_pipeline(corpus, config)
    assert _leaks([folder, cache]) == {}
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["pii_metadata"]["left_out"] == ["평가위원", "작성자"]
    assert manifest["pii_masked"]["name"] >= len(list(corpus.glob("*.csv"))) * 30  # at least one a document
    documents = pd.read_parquet(folder / "documents.parquet")
    assert "평가위원" not in documents and "작성자" not in documents
    assert documents["비고"].str.startswith("○○○ 컨설턴트").all()
