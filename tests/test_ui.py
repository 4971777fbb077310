"""The analysts' workspace (``textmine ui``): every route through the real app, the guards, renaming,
the command, and one walk through it in a real Chromium (Playwright driving Debian's chromium).

Run folders are written once per module from the small synthetic corpus (tests/ui_runs.py: the
layout ``textmine run`` writes, topics = planted themes; no model is fitted).
"""
from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from html import unescape
from pathlib import Path

import pandas as pd
import pytest
from starlette.testclient import TestClient

from textmine.ui import create_app
from textmine.ui.queries import highlight

import ui_runs
from conftest import REPO, run_cli

LOCAL = "http://127.0.0.1:8765"


@pytest.fixture(scope="module")
def runs(tmp_path_factory, small_synth):
    root = tmp_path_factory.mktemp("ui-runs")
    first, second = ui_runs.write_runs(root, small_synth)
    docs, truth = ui_runs.read_corpus(small_synth)
    return {"root": root, "a": first, "b": second, "docs": docs, "themes": sorted(truth["topics"])}


@pytest.fixture(scope="module")
def client(runs):
    return TestClient(create_app(runs["root"]), base_url=LOCAL)


def message(page: str) -> str:
    found = re.search(r'class="message">(.*?)<', page)
    return unescape(found.group(1)) if found else ""


def text_of(page: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def json_block(page: str, block: str):
    return json.loads(unescape(re.search(rf'id="{block}">(.*?)</script>', page, re.S).group(1)))


# ---------------------------------------------------------------- pages

def test_runs_list_newest_first_with_a_run_being_written(runs, client, tmp_path):
    page = client.get("/")
    assert page.status_code == 200
    order = re.findall(r'<tr data-run="([^"]+)"', page.text)
    assert order == [runs["b"], runs["a"]]
    assert "2015–2024" in page.text and "LDA" in page.text and "BERTopic" in page.text
    assert "2015(0.90), 2018(0.90), 2021(0.90)" in page.text
    assert "파일 감시" in page.text and "명령줄(textmine run)" in page.text   # manifest.json's started_by
    root = tmp_path / "root"
    shutil.copytree(runs["root"] / runs["a"], root / runs["a"])
    (root / ".partial-run-20270301-060000-cccccc").mkdir()
    listing = TestClient(create_app(root), base_url=LOCAL).get("/")
    assert "run-20270301-060000-cccccc" in listing.text and "진행 중" in listing.text
    assert '/runs/run-20270301-060000-cccccc"' not in listing.text  # not a link until it is finished
    assert [(r["run_id"], r["status"]) for r in client.get("/runs.json").json()] == [(runs["b"], "완료"),
                                                                                     (runs["a"], "완료")]


def test_run_page_has_narrative_phases_and_every_models_trajectories(runs, client):
    page = client.get(f"/runs/{runs['a']}")
    assert page.status_code == 200
    assert 'id="narrative"' in page.text and "1시기(2015–2017년)" in text_of(page.text)
    data = json_block(page.text, "traj-data")
    assert set(data) == {"lda", "bertopic"}
    lda = data["lda"]
    assert lda["periods"] == [str(y) for y in range(2015, 2025)]
    assert [p["start"] for p in lda["phases"]] == ["2015", "2018", "2021"]
    for year in range(10):  # shares of one year sum to 1, each inside its band
        assert sum(t["share"][year] for t in lda["topics"]) == pytest.approx(1.0)
        assert all(t["lo"][year] <= t["share"][year] <= t["hi"][year] for t in lda["topics"])
    assert client.get(f"/runs/{runs['a']}?model=bertopic").text.count('class="on"') == 1
    assert f'/runs/{runs["a"]}/topics/lda/0"' in page.text
    bad = client.get(f"/runs/{runs['a']}?model=nope")
    assert bad.status_code == 404 and "nope" in message(bad.text)


def test_topic_page(runs, client):
    theme = runs["themes"][2]   # topic 2 of the earlier run
    docs = runs["docs"]
    mine = docs[docs["theme"] == theme]
    page = client.get(f"/runs/{runs['a']}/topics/lda/2")
    assert page.status_code == 200
    terms = json_block(page.text, "terms-data")
    assert terms["shown"] == 30 and len(terms["terms"]) >= 30 and not terms["partial"]
    assert all(t["logp"] <= 0 for t in terms["terms"])
    share = json_block(page.text, "share-data")
    assert len(share["periods"]) == 10 and len(share["phases"]) == 3
    assert 'id="lineage"' in page.text and "이어짐" in page.text
    assert 'id="breakdowns"' in page.text and "지역" in page.text
    # representative opinions: per year, newest first, the topic's words marked
    years = [int(y) for y in re.findall(r'<h3 class="year" id="year-(\d+)">', page.text)]
    table = pd.read_parquet(runs["root"] / runs["a"] / "doc_topics.parquet")
    assert years == sorted(table[(table["model"] == "lda") & (table["topic"] == 2)]["year"].unique(), reverse=True)
    assert "<mark>" in page.text.split('id="representative"')[1]
    # every opinion whose dominant topic it is, paged, newest year first
    listed = page.text.split('id="documents"')[1]
    assert f"{len(mine):,}건" in listed
    shown = [int(y) for y in re.findall(r'class="opinion" data-year="(\d+)"', listed)]
    assert len(shown) == min(20, len(mine)) and shown == sorted(shown, reverse=True) and shown[0] == mine["year"].max()
    last = -(-len(mine) // 20)
    assert client.get(f"/runs/{runs['a']}/topics/lda/2?page={last}").status_code == 200
    for bad, status in (("?page=0", 404), (f"?page={last + 1}", 404), ("?page=10000000000", 404), ("?page=x", 400)):
        assert client.get(f"/runs/{runs['a']}/topics/lda/2{bad}").status_code == status, bad
    for bad in ("lda/99", "lda/abc", "nope/1", "lda/-5", "lda/1.5", "%3Cscript%3Ealert(1)%3C%2Fscript%3E/1"):
        r = client.get(f"/runs/{runs['a']}/topics/{bad}")
        assert r.status_code == 404 and message(r.text) and "<script>alert" not in r.text, bad


def test_opinion_search_filters_and_pages(runs, client):
    docs = runs["docs"]
    base = f"/runs/{runs['b']}/opinions"
    found = client.get(base, params={"q": "원격"})
    assert found.status_code == 200
    assert "4건" in found.text and found.text.count("<mark>원격</mark>") == 4
    everything = client.get(base, params={"q": ""})
    assert f"{len(docs):,}건" in everything.text and f"1/{-(-len(docs) // 20)}쪽" in everything.text
    region = docs["지역"].iloc[0]
    seoul = client.get(base, params={"지역": region, "year": "2019"})
    expected = ((docs["지역"] == region) & (docs["year"] == 2019)).sum()
    assert f"{expected:,}건" in seoul.text
    assert set(re.findall(r"<tr><td>(\d{4})</td>", seoul.text)) == {"2019"}
    by_topic = client.get(base, params={"model": "bertopic", "topic": "3"})
    theme = list(reversed(runs["themes"][1:]))[3]
    assert f"{(docs['theme'] == theme).sum():,}건" in by_topic.text
    page2 = client.get(base, params={"q": "", "page": "2"})
    assert page2.status_code == 200 and 'rel="prev"' in page2.text
    for params, status in (({"page": "1000000000"}, 404), ({"page": "-1"}, 404), ({"page": "x"}, 400),
                           ({"year": "이천"}, 400), ({"model": "nope"}, 400), ({"q": "가" * 201}, 400),
                           ({"topic": "x"}, 400)):
        r = client.get(base, params=params)
        assert r.status_code == status and message(r.text), params
    nothing = client.get(base, params={"q": "없는낱말없는낱말"})
    assert nothing.status_code == 200 and "0건" in nothing.text


def test_text_from_the_corpus_is_escaped(runs, client):
    page = client.get(f"/runs/{runs['a']}/opinions", params={"q": "alert"})
    assert "1건" in page.text
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;<mark>alert</mark>" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'; script-src 'self'")
    searched = client.get(f"/runs/{runs['a']}/opinions", params={"q": "<b>"})
    assert "<b>" not in searched.text.split("<main>")[1] and "&lt;b&gt;" in searched.text


def test_compare_two_runs_uses_the_identity_matching(runs, client):
    page = client.get("/compare", params={"a": runs["a"], "b": runs["b"]})
    assert page.status_code == 200
    themes = runs["themes"]
    lda = page.text.split('id="compare-lda"')[1].split("</section>")[0]
    # themes[0] is only in the earlier run (topic 0 there), themes[-1] only in the later one (topic 0 there)
    assert re.search(r'class="vanished"><li><a href="[^"]+/topics/lda/0">0 ', lda)
    assert re.search(r'class="new"><li><a href="[^"]+/topics/lda/0">0 ', lda)
    pairs = re.findall(r'/topics/lda/(\d+)">\d+ [^<]*</a></td>\s*<td><a href="/runs/[^/]+/topics/lda/(\d+)"', lda)
    later = list(reversed(themes[1:]))
    assert len(pairs) == len(themes) - 2
    assert all(themes[int(a)] == later[int(b)] for a, b in pairs)
    assert "2015, 2018, 2021" in page.text
    for params in ({"a": runs["a"]}, {"a": runs["a"], "b": runs["a"]}):
        assert client.get("/compare", params=params).status_code == 400
    assert client.get("/compare", params={"a": runs["a"], "b": "../etc"}).status_code == 404


def test_networks_and_words(runs, client):
    page = client.get(f"/runs/{runs['b']}/words")
    assert page.status_code == 200 and "phase1 2015-2017" in page.text
    net = json_block(page.text, "network-data")
    nodes = {n["term"] for n in net["nodes"]}
    assert len(nodes) == 12 and {n["block"] for n in net["nodes"]} == {1, 2}
    table = pd.read_csv(runs["root"] / runs["b"] / "networks" / "edges.csv", encoding="utf-8-sig")
    assert len(net["edges"]) == (table["scope"] == "phase1_2015-2017").sum()
    first = pd.read_csv(runs["root"] / runs["b"] / "word_frequency.csv", encoding="utf-8-sig")
    top = first[(first["scope"] == "2019")].sort_values("rank")["term"].iloc[0]
    year = client.get(f"/runs/{runs['b']}/words", params={"scope": "2019"})
    assert year.status_code == 200 and 'id="network-data"' not in year.text
    assert re.search(rf"<td>1</td><td>{re.escape(top)}</td>", year.text)
    assert client.get(f"/runs/{runs['b']}/words", params={"scope": "nope"}).status_code == 404
    older = client.get(f"/runs/{runs['a']}/words")
    assert older.status_code == 200 and 'id="no-words"' in older.text


# ---------------------------------------------------------------- run ids, files, missing parts

@pytest.mark.parametrize("path", ["/runs/...", "/runs/%2e%2e", "/runs/x..y", "/runs/.partial-x", "/runs/nope",
                                  "/runs/..%2F..%2Fetc%2Fpasswd", "/runs/a%00b", "/runs/%20", "/nowhere",
                                  "/runs/x..y/opinions", "/runs/../topics/lda/1", "/static/../app.py",
                                  "/static/nope.js"])
def test_bad_paths_get_a_korean_4xx_page(client, path):
    page = client.get(path)
    assert 400 <= page.status_code < 500 and "<h1>오류" in page.text and "Traceback" not in page.text


def test_symlinks_out_of_the_runs_folder_are_refused(runs, tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    shutil.copytree(runs["root"] / runs["a"], outside / runs["a"])
    root.mkdir()
    (root / "escape").symlink_to(outside / runs["a"], target_is_directory=True)
    shutil.copytree(runs["root"] / runs["a"], root / runs["a"])
    (root / "alias").symlink_to(root / runs["a"], target_is_directory=True)
    c = TestClient(create_app(root), base_url=LOCAL)
    assert c.get("/runs/escape").status_code == 404 and "escape" not in c.get("/").text
    assert c.get("/runs/alias").status_code == 200


def test_a_run_without_by_does_not_call_its_breakdowns_missing(runs, tmp_path):
    """breakdowns.csv is written only with --by: a run that was not asked for it is not an older run."""
    root = tmp_path / "root"
    plain = root / runs["a"]
    shutil.copytree(runs["root"] / runs["a"], plain)
    (plain / "breakdowns.csv").unlink()
    manifest = json.loads((plain / "manifest.json").read_text(encoding="utf-8"))
    del manifest["analyses"]["breakdowns"]
    (plain / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    page = TestClient(create_app(root), base_url=LOCAL).get(f"/runs/{runs['a']}")
    missing = re.search(r'id="missing">(.*?)</p>', page.text, re.S)
    assert page.status_code == 200 and "breakdowns.csv" not in (missing.group(1) if missing else "")
    (plain / "documents.parquet").unlink()  # a file every run writes is still called missing
    page = TestClient(create_app(root), base_url=LOCAL).get(f"/runs/{runs['a']}")
    assert "documents.parquet" in re.search(r'id="missing">(.*?)</p>', page.text, re.S).group(1)


def test_runs_with_missing_files_still_open_and_say_what_is_missing(runs, tmp_path):
    root = tmp_path / "root"
    old = root / runs["a"]
    shutil.copytree(runs["root"] / runs["a"], old)
    for name in ("documents.parquet", "doc_topics.parquet", "lineage.csv", "breakdowns.csv"):
        (old / name).unlink()
    shutil.rmtree(old / "models")
    broken = root / "run-20240101-000000-broken"
    shutil.copytree(runs["root"] / runs["a"], broken)
    (broken / "topics.csv").unlink()
    c = TestClient(create_app(root), base_url=LOCAL)
    page = c.get(f"/runs/{runs['a']}")
    assert page.status_code == 200 and 'id="missing"' in page.text and "documents.parquet" in page.text
    topic = c.get(f"/runs/{runs['a']}/topics/lda/1")
    assert topic.status_code == 200 and "의견 표가 없는 실행" in topic.text
    assert json_block(topic.text, "terms-data")["partial"]  # no saved model: topics.csv's top-term weights
    search = c.get(f"/runs/{runs['a']}/opinions")
    assert search.status_code == 404 and "documents.parquet" in message(search.text)
    assert c.get(f"/runs/{broken.name}").status_code == 404
    damaged = root / "run-20240202-000000-damaged"
    shutil.copytree(runs["root"] / runs["a"], damaged)
    (damaged / "phases.json").write_text("{not json", encoding="utf-8")
    unreadable = c.get(f"/runs/{damaged.name}")
    assert unreadable.status_code == 422 and "읽지 못했습니다" in message(unreadable.text)
    assert "topics.csv 없음" in c.get("/").text
    assert c.get(f"/runs/{runs['a']}/files/report.html").status_code == 404
    assert c.get(f"/runs/{runs['a']}/files/manifest.json").status_code == 404


# ---------------------------------------------------------------- guards

def test_a_non_loopback_server_wants_its_token(runs):
    token = "t" * 32
    c = TestClient(create_app(runs["root"], token=token, loopback=False), base_url="http://192.0.2.10:8765")
    assert c.get("/").status_code == 401 and "토큰" in message(c.get("/").text)
    assert c.get("/", params={"token": "wrong"}).status_code == 401
    first = c.get(f"/runs/{runs['a']}", params={"token": token, "model": "lda"}, follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == f"/runs/{runs['a']}?model=lda"
    assert "httponly" in first.headers["set-cookie"].lower() and "samesite=strict" in first.headers["set-cookie"].lower()
    assert c.get("/").status_code == 200   # the cookie now
    assert TestClient(create_app(runs["root"], token=token, loopback=False),
                      base_url="http://192.0.2.10:8765").get(f"/runs/{runs['a']}").status_code == 401


def test_a_loopback_server_answers_loopback_host_names_only(runs):
    app = create_app(runs["root"])
    assert TestClient(app, base_url="http://localhost:8765").get("/").status_code == 200
    assert TestClient(app, base_url="http://[::1]:8765").get("/").status_code == 200
    rebound = TestClient(app, base_url="http://attacker.example:8765").get("/")
    assert rebound.status_code == 400 and "127.0.0.1" in message(rebound.text)


def _rename(c, run, model, topic, name, csrf, **headers):
    return c.post(f"/runs/{run}/topics/{model}/{topic}/name", data={"name": name, "csrf": csrf},
                  follow_redirects=False, headers=headers)


def test_rename_is_a_post_with_the_csrf_token_and_rebuilds_the_report(runs, tmp_path):
    from openpyxl import load_workbook

    root = tmp_path / "root"
    shutil.copytree(runs["root"] / runs["a"], root / runs["a"])
    run = root / runs["a"]
    app = create_app(root)
    c = TestClient(app, base_url=LOCAL)
    csrf = re.search(r'name="csrf" value="([^"]+)"', c.get(f"/runs/{runs['a']}/topics/lda/1").text).group(1)
    assert _rename(c, runs["a"], "lda", 1, "원격 상담", "wrong").status_code == 403
    assert _rename(c, runs["a"], "lda", 1, "원격 상담", csrf, origin="http://evil.example").status_code == 403
    assert c.get(f"/runs/{runs['a']}/topics/lda/1/name").status_code == 405
    assert _rename(c, runs["a"], "lda", 1, "  ", csrf).status_code == 400
    assert _rename(c, runs["a"], "lda", 1, "가" * 61, csrf).status_code == 400
    assert _rename(c, runs["a"], "lda", 99, "이름", csrf).status_code == 404
    assert not (run / "labels.toml").exists()  # nothing changed by a refused rename
    name = '원격 <상담> "지원"'
    done = _rename(c, runs["a"], "lda", 1, name, csrf, origin=LOCAL)
    assert done.status_code == 303 and done.headers["location"] == f"/runs/{runs['a']}/topics/lda/1?renamed=1"
    from textmine.analysis.labels import load_labels

    assert load_labels(run / "labels.toml") == {"lda": {1: name}}
    page = c.get(done.headers["location"])
    assert 'id="renamed"' in page.text and "원격 &lt;상담&gt; &#34;지원&#34;" in page.text
    assert name in (run / "report.html").read_text(encoding="utf-8") or \
        "원격 &lt;상담&gt;" in (run / "report.html").read_text(encoding="utf-8")
    sheet = load_workbook(run / "summary.xlsx")["토픽"]
    assert name in [cell.value for row in sheet.iter_rows() for cell in row]
    assert name in c.get(f"/runs/{runs['a']}").text.replace("&lt;", "<").replace("&gt;", ">").replace("&#34;", '"')
    served = c.get(f"/runs/{runs['a']}/files/report.html")
    assert served.status_code == 200 and served.content == (run / "report.html").read_bytes()
    assert c.get(f"/runs/{runs['a']}/files/summary.xlsx").content[:2] == b"PK"
    readonly = TestClient(create_app(root, read_only=True), base_url=LOCAL)
    assert 'id="rename-form"' not in readonly.get(f"/runs/{runs['a']}/topics/lda/1").text
    assert _rename(readonly, runs["a"], "lda", 1, "다른 이름", csrf).status_code == 403


def test_scripts_and_the_korean_font_come_from_the_app(client):
    from textmine.ui.app import plotly_js

    js = client.get("/static/plotly.min.js")
    assert js.status_code == 200 and js.content == plotly_js().read_bytes() and "plotly.js" in js.text[:100]
    font = client.get("/static/NanumGothic.ttf")
    assert font.status_code == 200 and font.headers["content-type"] == "font/ttf" and font.content[:4] == b"\x00\x01\x00\x00"
    assert client.get("/static/ui.css").text.count('url("/static/NanumGothic.ttf")') == 1


def test_highlight_keeps_every_character():
    text = "진로 상담과 진로탐색, 상담"
    parts = highlight(text, ["진로", "상담", "진로탐색"])
    assert "".join(p for p, _ in parts) == text
    assert [p for p, hit in parts if hit] == ["진로", "상담", "진로탐색", "상담"]
    assert highlight("", ["a"]) == [("", False)] and highlight("abc", []) == [("abc", False)]


# ---------------------------------------------------------------- the command

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ui_command_refuses_bad_input_before_starting(tmp_path, capsys):
    code, _, err = run_cli(["ui", tmp_path / "none"], capsys)
    assert code == 2 and "the runs folder does not exist" in err and "what to do" in err
    (tmp_path / "a-file").write_text("x", encoding="utf-8")
    code, _, err = run_cli(["ui", tmp_path / "a-file"], capsys)
    assert code == 2 and "a-file: not a folder" in err
    code, _, err = run_cli(["ui", tmp_path, "--host", "0.0.0.0", "--token", "short"], capsys)
    assert code == 2 and "shorter than 16" in err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        code, _, err = run_cli(["ui", tmp_path, "--port", busy.getsockname()[1]], capsys)
    assert code == 2 and "already in use" in err
    code, _, err = run_cli(["ui", tmp_path, "--port", "70000"], capsys)
    assert code == 2 and "not a TCP port" in err


def _get(url: str, **headers):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
            return r.status, r.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8")


def _start_ui(args, root):
    proc = subprocess.Popen([sys.executable, "-m", "flows", "ui", str(root), *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
    first = proc.stdout.readline()
    return proc, first


def test_textmine_ui_serves_and_a_public_host_prints_a_token_once(runs):
    port = _free_port()
    proc, line = _start_ui(["--port", str(port)], runs["root"])
    try:
        assert f"http://127.0.0.1:{port}/" in line and "token" not in line
        for _ in range(100):
            try:
                status, body = _get(f"http://127.0.0.1:{port}/")
                break
            except OSError:
                time.sleep(0.1)
        assert status == 200 and runs["a"] in body
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    port = _free_port()
    proc, line = _start_ui(["--host", "0.0.0.0", "--port", str(port)], runs["root"])
    try:
        token = re.search(r"\?token=(\S+)", line).group(1)
        assert len(token) >= 16 and "printed only this once" in proc.stdout.readline()
        for _ in range(100):
            try:
                status, body = _get(f"http://127.0.0.1:{port}/")
                break
            except OSError:
                time.sleep(0.1)
        assert status == 401
        status, body = _get(f"http://127.0.0.1:{port}/", Cookie=f"textmine_ui_token={token}")
        assert status == 200 and runs["b"] in body
    finally:
        proc.terminate()
        proc.wait(timeout=20)


# ---------------------------------------------------------------- in a real browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-quic"]


@pytest.fixture
def live(runs, tmp_path):
    """The app under real uvicorn on a free loopback port, over copies of the two runs (one is renamed)."""
    from textmine.ui.server import UIServer, plan

    root = tmp_path / "root"
    for run in (runs["a"], runs["b"]):
        shutil.copytree(runs["root"] / run, root / run)
    server = UIServer(plan(root, "127.0.0.1", _free_port()))
    server.start()
    for _ in range(100):
        if server.server.started:
            break
        time.sleep(0.1)
    yield server.plan.url.rstrip("/"), root
    server.stop()


@pytest.mark.slow
def test_an_analyst_walks_through_the_workspace_in_chromium(runs, live):
    from openpyxl import load_workbook
    from playwright.sync_api import sync_playwright

    assert CHROMIUM, "Debian's chromium is needed: run scripts/setup-test.sh"
    base, root = live
    requests, errors = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on("request", lambda r: requests.append(r.url))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))

            page.goto(base + "/")                                   # the runs list
            page.click(f"text={runs['a']}")                         # a run
            page.wait_for_selector("#traj-chart .main-svg")
            assert "LDA 토픽 비중 추이" in page.inner_text("#traj-chart")
            page.evaluate("window.notReloaded = true")
            page.click("#model-switch a[data-model=bertopic]")     # switch models without a reload
            page.wait_for_function("document.getElementById('traj-chart').dataset.model === 'bertopic'")
            assert "BERTopic 토픽 비중 추이" in page.inner_text("#traj-chart")
            assert page.evaluate("window.notReloaded") and page.url.endswith("?model=bertopic")
            assert page.is_visible(".topics[data-model=bertopic]") and not page.is_visible(".topics[data-model=lda]")

            page.click(".topics[data-model=bertopic] a[href$='/topics/bertopic/2']")   # a topic
            page.wait_for_selector("#share-chart .main-svg")
            assert page.locator("#term-list li").count() == 30
            first_terms = page.inner_text("#term-list")
            page.fill("#lambda", "0")                               # the relevance slider re-ranks
            page.dispatch_event("#lambda", "input")
            assert page.inner_text("#lambda-value") == "0.00" and page.inner_text("#term-list") != first_terms
            opinions_2019 = page.locator("blockquote.opinion[data-year='2019']")
            assert opinions_2019.count() >= 1 and opinions_2019.first.locator("mark").count() >= 1

            page.goto(f"{base}/runs/{runs['b']}/opinions")          # search 원격, then filter by 지역
            page.fill("#q", "원격")
            page.click("#search")
            page.wait_for_url("**q=%EC%9B%90%EA%B2%A9**")
            assert page.inner_text("#result-count").startswith("4건")
            region = page.locator("#results tbody tr").first.locator("td").nth(3).inner_text()
            page.select_option("select[data-column='지역']", region)
            page.click("#search")
            page.wait_for_load_state()
            expected = sum(1 for r in page.locator("#results tbody tr").all())
            assert expected >= 1 and page.inner_text("#result-count").startswith(f"{expected}건")
            assert all(row.locator("td").nth(3).inner_text() == region for row in page.locator("#results tbody tr").all())
            # the opinion written as HTML is text on the page, not an element
            page.goto(f"{base}/runs/{runs['b']}/opinions?q=alert")
            assert "<script>alert" in page.inner_text("#results") and page.locator("#results img").count() == 0

            page.goto(f"{base}/runs/{runs['a']}/topics/lda/1")     # rename a topic
            page.fill("#rename-input", "원격 상담 지원")
            page.click("#rename")
            page.wait_for_selector("#renamed", timeout=120_000)
            assert page.inner_text("#topic-name") == "원격 상담 지원"
            run = root / runs["a"]
            assert "원격 상담 지원" in (run / "report.html").read_text(encoding="utf-8")
            cells = [c.value for row in load_workbook(run / "summary.xlsx")["토픽"].iter_rows() for c in row]
            assert "원격 상담 지원" in cells
            page.fill("#rename-input", "원격 상담")                 # again: the first file is kept beside it
            page.click("#rename")
            page.wait_for_selector("#renamed", timeout=120_000)
            assert page.inner_text("#topic-name") == "원격 상담"
            assert len(list(run.glob("labels.toml.*"))) == 1

            page.goto(f"{base}/runs/{runs['b']}")                  # the phases' networks and words
            page.click("text=의미연결망·단어 빈도")
            page.wait_for_selector("#network-chart .main-svg")
            assert page.locator("#network-chart .textpoint").count() == 12

            page.goto(base + "/")                                   # compare two runs
            page.check(f"input[name=a][value='{runs['a']}']")
            page.check(f"input[name=b][value='{runs['b']}']")
            page.click("#compare")
            page.wait_for_selector("#compare-lda")
            assert page.locator("#compare-lda ul.new li").count() == 1
            assert page.locator("#compare-lda ul.vanished li").count() == 1
            assert "원격 상담" in page.inner_text("#compare-lda")  # the renamed topic, under its new name
        finally:
            browser.close()
    assert not errors, errors
    assert requests and all(u.startswith(base + "/") for u in requests), [u for u in requests if not u.startswith(base)]


# ---------------------------------------------------------------- the notebook API, serve's wiring

def test_open_run_gives_tables_models_and_figures(runs, tmp_path):
    import textmine
    from textmine.core.errors import TextmineError

    run = textmine.open_run(runs["root"] / runs["b"])
    assert run.models == ["lda", "bertopic"]
    assert set(run.topics["scope"].astype(str)) >= {"global", "2019"}
    assert len(run.doc_topics) == 2 * 2 * len(runs["docs"]) and len(run.documents) == len(runs["docs"])
    assert list(run.phase_table.query("model == 'consensus'")["start"]) == [2015, 2018, 2021]
    weights = run.model("lda")
    assert weights.shape[0] == len(runs["themes"]) - 1 and weights.sum(axis=1).round(6).eq(1).all()
    found = run.opinions("원격", year=2019)
    assert len(found) == 4 and found["text"].str.contains("원격").all()
    assert run.opinions(page=10**9).empty
    fig = run.plot_trajectories("bertopic")
    assert len(fig.data) == len(runs["themes"]) - 1 and "BERTopic" in fig.layout.title.text
    assert len(run.plot_topic("lda", 2).data) == 2 and len(run.plot_phases().data) == 9
    with pytest.raises(TextmineError, match="no model 'dtm'"):
        run.plot_trajectories("dtm")
    with pytest.raises(TextmineError, match="not a finished run folder"):
        textmine.open_run(tmp_path)


def test_serve_starts_the_workspace_and_links_runs_to_it(runs, tmp_path, monkeypatch):
    from flows import serve
    from flows.pipeline import workspace_link
    from textmine.core.errors import TextmineError

    from flows.pipeline import started_by

    assert started_by() == "cli"   # outside a deployment run (the e2e serve test sees watch and deployment)
    monkeypatch.delenv(serve.UI_URL_ENV, raising=False)
    folder = str(runs["root"] / runs["a"])
    assert workspace_link(runs["a"], folder) is None   # `textmine run`: the file:// link as before
    ui = serve._start_ui(runs["root"], _free_port())
    try:
        for _ in range(100):
            if ui.server.started:
                break
            time.sleep(0.1)
        assert workspace_link(runs["a"], folder) == f"{ui.plan.url}runs/{runs['a']}"
        assert workspace_link("x", str(tmp_path / "x")) is None   # a run written elsewhere
        assert _get(f"{ui.plan.url}runs/{runs['a']}")[0] == 200
        with pytest.raises(TextmineError, match="already in use"):
            serve._start_ui(runs["root"], ui.plan.port)
    finally:
        ui.stop()
        monkeypatch.delenv(serve.UI_URL_ENV, raising=False)
        monkeypatch.delenv(serve.UI_RUNS_ENV, raising=False)


def test_a_rename_whose_report_cannot_be_rebuilt_says_so(runs, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(runs["root"] / runs["a"], root / runs["a"])
    # A folder where summary.xlsx goes: the rebuilt workbook cannot take its place (the report's charts are
    # drawn in a staging folder first, so a broken charts folder no longer stops a rebuild).
    (root / runs["a"] / "summary.xlsx").unlink(missing_ok=True)
    (root / runs["a"] / "summary.xlsx").mkdir()
    (root / runs["a"] / "summary.xlsx" / "keep").write_text("x", encoding="utf-8")
    c = TestClient(create_app(root), base_url=LOCAL, raise_server_exceptions=False)
    csrf = re.search(r'name="csrf" value="([^"]+)"', c.get(f"/runs/{runs['a']}/topics/lda/1").text).group(1)
    failed = _rename(c, runs["a"], "lda", 1, "원격 상담", csrf)
    assert failed.status_code == 500 and "labels.toml에 저장했지만" in message(failed.text)
    assert "Traceback" not in failed.text and "textmine report" in failed.text
    assert "원격 상담" in (root / runs["a"] / "labels.toml").read_text(encoding="utf-8")


def test_names_are_carried_to_a_later_run_of_the_same_corpus(runs, tmp_path):
    root = tmp_path / "root"
    for run in (runs["a"], runs["b"]):
        shutil.copytree(runs["root"] / run, root / run)
    (root / runs["b"] / "word_frequency.csv").unlink()   # its word clouds and network charts: seconds of drawing
    shutil.rmtree(root / runs["b"] / "networks")
    themes, later = runs["themes"], list(reversed(runs["themes"][1:]))
    (root / runs["a"] / "labels.toml").write_text(
        '[lda]\n0 = "사라진 토픽의 이름"\n3 = "셋째 주제"\n\n[bertopic]\n3 = "버토픽 셋째"\n', encoding="utf-8")
    (root / runs["b"] / "labels.toml").write_text(f'[lda]\n{later.index(themes[4])} = "B가 붙인 이름"\n',
                                                  encoding="utf-8")
    c = TestClient(create_app(root), base_url=LOCAL)
    page = c.get(f"/runs/{runs['a']}/topics/lda/3")
    assert f'<option value="{runs["b"]}">' in page.text
    assert 'id="carry-form"' not in c.get(f"/runs/{runs['b']}/topics/lda/3").text   # no later run
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    refused = c.post(f"/runs/{runs['b']}/carry", data={"to": runs["a"], "csrf": csrf})
    assert refused.status_code == 400
    assert c.post(f"/runs/{runs['a']}/carry", data={"to": runs["b"]}).status_code == 403
    done = c.post(f"/runs/{runs['a']}/carry", data={"to": runs["b"], "csrf": csrf}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/runs/{runs['b']}?carried=2"
    from textmine.analysis.labels import load_labels

    names = load_labels(root / runs["b"] / "labels.toml")
    # the same theme under its new id; the vanished topic's name goes nowhere; B's own name stays
    assert names == {"lda": {later.index(themes[3]): "셋째 주제", later.index(themes[4]): "B가 붙인 이름"},
                     "bertopic": {later.index(themes[3]): "버토픽 셋째"}}
    assert len(list((root / runs["b"]).glob("labels.toml.*"))) == 1
    assert 'id="carried"' in c.get(done.headers["location"]).text


def test_the_notebook_in_docs_runs(runs, monkeypatch):
    """docs/open_run.ipynb, its code cells run in order (as a kernel would) on a run folder."""
    notebook = json.loads((REPO / "docs" / "open_run.ipynb").read_text(encoding="utf-8"))
    monkeypatch.setenv("TEXTMINE_RUN", str(runs["root"] / runs["b"]))
    scope: dict = {}
    cells = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert len(cells) >= 8
    for cell in cells:
        exec(compile("".join(cell["source"]), "open_run.ipynb", "exec"), scope)
    assert scope["run"].models == ["lda", "bertopic"] and len(scope["fig"].data) == len(runs["themes"]) - 1
    assert scope["weights"].shape[0] == len(runs["themes"]) - 1


def test_run_settings_become_overrides():
    from textmine.core.errors import TextmineError
    from textmine.notebook import settings_overrides

    assert settings_overrides({"models": ["lda", "dtm"], "seed": 7, "lda__num_topics": 10, "report__by": "지역",
                               "scale__mode": "off", "run__reselect": True}) == {
        "run.models": "lda,dtm", "run.seed": "7", "lda.num_topics": "10", "report.by": "지역",
        "scale.mode": "off", "run.reselect": "true"}
    with pytest.raises(TextmineError, match="'topics' is not a setting"):
        settings_overrides({"topics": 10})


@pytest.mark.slow
def test_textmine_run_runs_the_flow_and_returns_the_run(prefect_harness, small_synth, tmp_path):
    import textmine
    from textmine.core.errors import TextmineError

    with pytest.raises(TextmineError, match="lda.passes"):   # checked before the engine starts
        textmine.run(small_synth, out_dir=tmp_path, lda__passes=0)
    run = textmine.run(small_synth, models="lda", out_dir=tmp_path / "out", cache_dir=tmp_path / "cache",
                       lda__k_grid="8", lda__seeds=1, lda__passes=3)
    assert run.models == ["lda"] and run.path.parent == tmp_path / "out"
    assert len(run.documents) == len(run.doc_topics.drop_duplicates("doc_id"))
    assert list(run.phase_table["model"].unique()) == ["lda", "consensus"]
    assert run.model("lda").shape[0] == 8
