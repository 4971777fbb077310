"""The workspace's routes (Starlette), its guards and its error pages.

Why this stack: Starlette, Jinja2 and uvicorn are already installed with Prefect (no new web
dependency), Jinja2 already writes report.html (the same autoescaping and Korean templates), and
server-rendered pages with small scripts need no JavaScript build, work from a pasted URL and
keep every query on the server, where the Parquet files are.

Guards (docs/contract.md §2, ``textmine ui``):

- bound to a loopback address, requests must name a loopback host (``Host: 127.0.0.1:8765``): a
  web page elsewhere cannot reach the app through a DNS name that resolves to 127.0.0.1;
- bound to any other address, a token is required: ``?token=...`` once (the URL ``textmine ui``
  prints), then an HttpOnly, SameSite=Strict cookie;
- renaming is a POST carrying the app's CSRF token (a page of another site cannot read it), with
  an Origin, when the browser sends one, of this host; ``read_only`` refuses it;
- every page is rendered with autoescaping, and sent with a Content-Security-Policy allowing
  scripts from this app only;
- a bad run id, topic, page or query is a Korean 4xx page; an unexpected error a 500 page without
  a traceback (it is logged).
"""
from __future__ import annotations

import hmac
import logging
import re
import secrets
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs, urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

import textmine.ui.queries as queries
import textmine.ui.views as views
from textmine.ui.rename import carry_labels, earlier_versions, rename_topic
from textmine.ui.runs import PageError, RunStore, _display

log = logging.getLogger(__name__)

TOKEN_COOKIE = "textmine_ui_token"
LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1", "[::1]"}
MAX_FORM_BYTES = 8192
_TOPIC = re.compile(r"^-?\d{1,6}$")
_INT = re.compile(r"^-?\d{1,18}$")  # past 18 digits a number is not a page, year or topic
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
STATIC = {"ui.css": "text/css; charset=utf-8", "ui.js": "text/javascript; charset=utf-8"}
# Files of a run folder the app serves as they are (the static report, the workbook).
RUN_FILES = {"report.html": "text/html; charset=utf-8",
             "summary.xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def is_loopback(host: str) -> bool:
    import ipaddress

    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The host of a Host header, without the port ("127.0.0.1:8765" -> "127.0.0.1", "[::1]:80" -> "[::1]")."""
    if header.startswith("["):
        return header.split("]", 1)[0] + "]"
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


_font: bytes | None = None


def korean_font() -> bytes | None:
    """The NanumGothic that charts use (koreanize-matplotlib), for browsers on machines without a Korean font;
    without its VTT hinting tables, which browsers' font sanitiser rejects (as report.html's inlined font)."""
    global _font
    if _font is None:
        import importlib.util
        import io

        from fontTools.ttLib import TTFont

        from textmine.outputs import charts

        spec = importlib.util.find_spec(charts.FONT_PACKAGE)
        if spec is None or not spec.submodule_search_locations:
            return None
        font = TTFont(Path(list(spec.submodule_search_locations)[0]) / "fonts" / charts.FONT_FILES[0])
        for table in [t for t in font.keys() if t.startswith("TSI")]:
            del font[table]
        buffer = io.BytesIO()
        font.save(buffer)
        _font = buffer.getvalue()
    return _font


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("textmine.ui", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)

    def pct(value, digits=1):
        return "–" if value is None else f"{value * 100:.{digits}f}%"

    def pp(value, digits=1):
        return "–" if value is None else f"{value * 100:+.{digits}f}%p"

    def num(value, digits=None):
        if value is None:
            return "–"
        if digits is None:
            return f"{int(value):,}" if float(value).is_integer() else f"{value:,}"
        return f"{value:.{digits}f}"

    env.filters.update(pct=pct, pp=pp, num=num, display=_display)
    return env


class Guard(BaseHTTPMiddleware):
    """Host check on loopback, the token elsewhere, and the security headers of every response."""

    def __init__(self, app, *, token: str | None, loopback: bool, render):
        super().__init__(app)
        self.token, self.loopback, self.render = token, loopback, render

    async def dispatch(self, request: Request, call_next):
        host = host_name(request.headers.get("host") or "")
        if self.loopback and not is_loopback(host):
            return self.render(request, PageError(400, "이 서버는 이 컴퓨터(127.0.0.1)에서만 열 수 있습니다.",
                                                  "주소창에 http://127.0.0.1:포트/ 로 여세요."))
        if self.token:
            given = request.query_params.get("token")
            if given is not None:
                if not hmac.compare_digest(given.encode(), self.token.encode()):
                    return self.render(request, PageError(401, "토큰이 맞지 않습니다.",
                                                          "textmine ui가 시작할 때 출력한 주소로 여세요."))
                rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
                target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
                response = RedirectResponse(target, status_code=303)
                response.set_cookie(TOKEN_COOKIE, self.token, httponly=True, samesite="strict",
                                    secure=request.url.scheme == "https")
                return response
            cookie = request.cookies.get(TOKEN_COOKIE, "")
            if not hmac.compare_digest(cookie.encode(), self.token.encode()):
                return self.render(request, PageError(401, "이 서버는 토큰이 있어야 열립니다.",
                                                      "textmine ui가 시작할 때 출력한 주소(…?token=…)로 한 번 여세요."))
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        return response


def _locked(lock, fn, *args):
    """``fn(*args)`` holding ``lock``, in a worker thread (never blocking the event loop while it waits)."""
    with lock:
        return fn(*args)


def _int(value: str | None, what: str, *, default: int | None = None) -> int | None:
    if value is None or value == "":
        return default
    if not _INT.match(value):
        raise PageError(400, f"{what} '{value}'은(는) 정수가 아닙니다.", f"{what}에는 숫자를 쓰세요.")
    return int(value)


def _topic(value: str) -> int:
    if not _TOPIC.match(value):
        raise PageError(404, f"토픽 '{value}'이(가) 없습니다.", "실행 페이지의 토픽 목록에서 고르세요.")
    return int(value)


def create_app(runs_dir: str | Path, *, read_only: bool = False, token: str | None = None,
               loopback: bool = True) -> Starlette:
    """The app over the run folders of ``runs_dir``.  ``loopback``: the server is bound to a loopback address
    (requests must name one); ``token``: required from every client (``textmine ui`` sets one for any other
    address)."""
    store = RunStore(runs_dir)
    env = _environment()
    csrf = secrets.token_urlsafe(32)
    static_dir = resources.files("textmine.ui") / "static"

    def page(request: Request, template: str, status: int = 200, **context) -> HTMLResponse:
        html = env.get_template(template).render(request_path=request.url.path, read_only=read_only, csrf=csrf,
                                                 **context)
        return HTMLResponse(html, status_code=status)

    def error_page(request: Request, exc: PageError) -> HTMLResponse:
        return page(request, "error.html.j2", status=exc.status, error=exc)

    async def on_page_error(request: Request, exc: PageError):
        return error_page(request, exc)

    async def on_http_error(request: Request, exc: HTTPException):
        message = {404: "없는 페이지입니다.", 405: "이 주소는 그 방식(메서드)으로 열 수 없습니다."}.get(
            exc.status_code, "요청을 처리할 수 없습니다.")
        return error_page(request, PageError(exc.status_code, message, "실행 목록에서 다시 시작하세요."))

    async def on_error(request: Request, exc: Exception):
        log.exception("textmine ui: %s %s failed", request.method, request.url.path)
        return error_page(request, PageError(500, "서버에서 오류가 났습니다.", "서버의 로그를 확인하세요."))

    # ------------------------------------------------------------ pages
    def runs_page(request: Request):
        return page(request, "runs.html.j2", runs=store.list(), root=str(store.root))

    def run_page(request: Request):
        run_id = request.path_params["run_id"]
        data = store.load(run_id)
        models = data["models"]
        model = request.query_params.get("model") or (models[0] if models else "")
        if models and model not in models:
            raise PageError(404, f"이 실행에는 모델 '{model}'이(가) 없습니다.", f"다음 중 하나: {', '.join(models)}")
        opinions = queries.Opinions(store.path(run_id))
        counts = {m: opinions.dominant_counts(m) for m in models}
        return page(request, "run.html.j2", run=data, run_id=run_id, model=model, models=models,
                    carried=_int(request.query_params.get("carried"), "옮긴 이름 수"),
                    narrative=views.narrative(data), phases=views.phases_context(data),
                    trajectories=views.trajectories_data(data),
                    topics={m: views.topics_table(data, m) for m in models}, counts=counts,
                    files={n: (store.path(run_id) / n).is_file() for n in RUN_FILES})

    def topic_page(request: Request):
        run_id, model = request.path_params["run_id"], request.path_params["model"]
        topic = _topic(request.path_params["topic"])
        data = store.load(run_id)
        row = views.topic_row(data, model, topic)
        folder = store.path(run_id)
        opinions = queries.Opinions(folder)
        relevance = views.relevance_terms(folder, data, model, topic)
        words = views.topic_words(row, relevance)
        page_no = _int(request.query_params.get("page"), "쪽", default=1)
        docs = opinions.search(model=model, topic=topic, page=page_no) if opinions.available() \
            and opinions.doc_topics.is_file() else None
        representative = opinions.representative(model, topic)
        for r in representative + (docs.rows if docs else []):
            r["parts"] = queries.highlight(r["text"], words)

        later = store.later_runs(run_id) if not read_only and data.get("labels") else []
        return page(request, "topic.html.j2", run=data, run_id=run_id, model=model, topic=topic, row=row, later=later,
                    relevance=relevance, series=views.share_series(data, model, topic),
                    over_time=views.words_per_period(data, model, topic),
                    lineage=views.lineage_chain(data, model, topic), breakdowns=views.breakdowns(data, model, topic),
                    representative=representative, docs=docs, meta=opinions.metadata_columns() if docs else [],
                    renamed=request.query_params.get("renamed") == "1", versions=earlier_versions(folder))

    async def rename(request: Request):
        from starlette.concurrency import run_in_threadpool

        run_id, model = request.path_params["run_id"], request.path_params["model"]
        topic = _topic(request.path_params["topic"])
        form = await checked_form(request)
        folder = store.path(run_id)
        data = store.load(run_id)
        views.topic_row(data, model, topic)  # the topic exists
        await run_in_threadpool(_locked, store.lock(run_id), rename_topic, folder, model, topic, form.get("name", ""))
        store.forget(run_id)
        return RedirectResponse(f"/runs/{run_id}/topics/{model}/{topic}?renamed=1", status_code=303)

    async def checked_form(request: Request) -> dict:
        """The form of a POST that changes a run: refused when read-only, from another site, or without the
        page's CSRF token."""
        if read_only:
            raise PageError(403, "읽기 전용으로 시작한 서버에서는 토픽 이름을 바꿀 수 없습니다.",
                            "--read-only 없이 textmine ui를 시작하세요.")
        origin = request.headers.get("origin")
        if origin and origin != "null" and origin.split("://", 1)[-1] != request.headers.get("host"):
            raise PageError(403, "다른 사이트에서 보낸 요청은 받지 않습니다.", "토픽 페이지에서 이름을 바꾸세요.")
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            raise PageError(413, "보낸 내용이 너무 큽니다.", "이름은 60자까지 쓸 수 있습니다.")
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True).items()}
        if not hmac.compare_digest(form.get("csrf", "").encode(), csrf.encode()):
            raise PageError(403, "요청을 확인할 수 없습니다(CSRF 토큰이 없거나 맞지 않음).",
                            "토픽 페이지를 새로 고친 뒤 다시 하세요.")
        return form

    async def carry(request: Request):
        from starlette.concurrency import run_in_threadpool

        run_id = request.path_params["run_id"]
        form = await checked_form(request)
        source, target = store.path(run_id), store.path(form.get("to", ""))
        if target.name not in {r.run_id for r in store.later_runs(run_id)}:
            raise PageError(400, f"'{target.name}'은(는) 같은 말뭉치의 이후 실행이 아닙니다.", "목록에서 이후 실행을 고르세요.")
        n = await run_in_threadpool(_locked, store.lock(target.name), carry_labels, source, target)
        store.forget(target.name)
        return RedirectResponse(f"/runs/{target.name}?carried={n}", status_code=303)

    def opinions_page(request: Request):
        run_id = request.path_params["run_id"]
        data = store.load(run_id)
        opinions = queries.Opinions(store.path(run_id))
        params = request.query_params
        q = params.get("q", "").strip()
        year = _int(params.get("year"), "연도")
        model = params.get("model") or None
        if model is not None and model not in data["models"]:
            raise PageError(400, f"이 실행에는 모델 '{model}'이(가) 없습니다.", f"다음 중 하나: {', '.join(data['models'])}")
        topic = _int(params.get("topic"), "토픽")
        meta = opinions.metadata_columns() if opinions.available() else []
        filters = {c: params[c] for c in meta if params.get(c)}
        page_no = _int(params.get("page"), "쪽", default=1)
        result = opinions.search(text=q, year=year, model=model or (data["models"][0] if data["models"] else None),
                                 topic=topic, filters=filters, page=page_no)
        for r in result.rows:
            r["parts"] = queries.highlight(r["text"], [q] if q else [])
        labels = {int(t["topic"]): t["label"] for t in views.topics_table(data, model or data["models"][0])} \
            if data["models"] else {}
        years = sorted((data.get("manifest") or {}).get("documents_per_year") or {}, reverse=True)
        keep = [(k, v) for k, v in params.multi_items() if k != "page" and v]
        return page(request, "opinions.html.j2", run=data, run_id=run_id, q=q, year=year, model=model,
                    topic=topic, filters=filters, meta=meta,
                    meta_values={c: opinions.metadata_values(c) for c in meta}, result=result, labels=labels,
                    years=years, query=urlencode(keep), shown_model=model or (data["models"][0] if data["models"] else ""))

    def words_page(request: Request):
        run_id = request.path_params["run_id"]
        data = store.load(run_id)
        return page(request, "words.html.j2", run=data, run_id=run_id,
                    ctx=views.words_context(data, request.query_params.get("scope") or None))

    def compare_page(request: Request):
        a, b = request.query_params.get("a", ""), request.query_params.get("b", "")
        if not a or not b:
            raise PageError(400, "비교할 두 실행을 고르세요.", "실행 목록에서 두 실행에 표시하고 '비교'를 누르세요.")
        return page(request, "compare.html.j2", cmp=views.compare(store, a, b))

    def run_file(request: Request):
        run_id, name = request.path_params["run_id"], request.path_params["name"]
        if name not in RUN_FILES:
            raise PageError(404, f"'{name}'은(는) 열 수 없는 파일입니다.", "report.html 또는 summary.xlsx만 열 수 있습니다.")
        path = store.path(run_id) / name
        if not path.is_file():
            raise PageError(404, f"이 실행에는 {name}이(가) 없습니다.", f"textmine report {run_id} 로 다시 만드세요.")
        response = FileResponse(path, media_type=RUN_FILES[name])
        # the static report inlines its scripts and styles: its own policy, still no network
        response.headers["Content-Security-Policy"] = ("default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
                                                       "style-src 'unsafe-inline'; img-src data:; font-src data:")
        return response

    def static(request: Request):
        name = request.path_params["name"]
        if name == "plotly.min.js":
            return FileResponse(plotly_js(), media_type="text/javascript; charset=utf-8",
                                headers={"Cache-Control": "max-age=86400"})
        if name == "NanumGothic.ttf" and (font := korean_font()):
            return Response(font, media_type="font/ttf", headers={"Cache-Control": "max-age=86400"})
        if name not in STATIC:
            raise PageError(404, "없는 파일입니다.")
        return Response((static_dir / name).read_bytes(), media_type=STATIC[name])

    def runs_json(request: Request):
        return JSONResponse([{"run_id": r.run_id, "status": r.status, "started": r.started} for r in store.list()])

    routes = [
        Route("/", runs_page),
        Route("/runs.json", runs_json),
        Route("/compare", compare_page),
        Route("/static/{name}", static),
        Route("/runs/{run_id}", run_page),
        Route("/runs/{run_id}/opinions", opinions_page),
        Route("/runs/{run_id}/words", words_page),
        Route("/runs/{run_id}/files/{name}", run_file),
        Route("/runs/{run_id}/topics/{model}/{topic}", topic_page),
        Route("/runs/{run_id}/topics/{model}/{topic}/name", rename, methods=["POST"]),
        Route("/runs/{run_id}/carry", carry, methods=["POST"]),
    ]
    app = Starlette(routes=routes, exception_handlers={PageError: on_page_error, HTTPException: on_http_error,
                                                        Exception: on_error},
                    middleware=[Middleware(Guard, token=token, loopback=loopback, render=error_page)])
    app.state.store = store
    app.state.csrf = csrf
    return app
