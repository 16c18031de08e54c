"""The dashboard: FastAPI serving server-rendered pages (no JavaScript needed) plus the HTTP API.

Security choices, and why:
- Log-in for everything but the log-in page; sessions are signed cookies (HttpOnly, SameSite=Strict,
  Secure unless turned off for plain-HTTP testing) that carry only the user id, a session id and a
  CSRF token, and the user is re-read on every request so a disabled account loses access at once.
  Log-out revokes the session id in the store, so a copy of the cookie stops working too.
- Failed log-ins are counted per account and per client address (`web.ratelimit`): past the limit
  the form answers 429 with Retry-After, for real and unknown names alike, without running the KDF.
- Every state-changing form carries the session's CSRF token; the log-in form a double-submit one.
  The API takes bearer tokens only (no cookies), so a browser cannot be tricked into calling it.
- Roles are checked per route: viewer reads, analyst changes cases/sites/allow-lists and uploads,
  admin manages users.
- Request bodies are capped before they are parsed (`BodyLimit`), uploads are stored under their
  content hash, exports are looked up in the registry by name: no user text ever becomes a path.
- The store is opened per request and closed after it, so `minewatch scan` can write between
  requests (DuckDB allows one writing process).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import duckdb
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from starlette.exceptions import HTTPException as StarletteHTTPException

from minewatch import __version__
from minewatch.errors import InputError
from minewatch.i18n import normalise, tr
from minewatch.store import cases as C
from minewatch.store.backend import Db, StoreBusy, connect
from minewatch.web.jobs import JobManager
from minewatch.web.ratelimit import LoginLimiter

HERE = Path(__file__).resolve().parent
log = logging.getLogger("minewatch.web")
SESSION_COOKIE = "mw_session"
LOGIN_CSRF_COOKIE = "mw_login_csrf"
LANG_COOKIE = "mw_lang"


@dataclass
class Settings:
    """Where the store is and how the server behaves. `db` is a DuckDB path or a PostgreSQL URL."""

    db: Any = None
    data_dir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "minewatch-web")
    secret_key: str | None = None
    secure_cookies: bool = True
    max_upload_bytes: int = 512 * 1024 * 1024
    max_form_bytes: int = 1024 * 1024
    max_attachment_bytes: int = C.MAX_ATTACHMENT_BYTES
    session_seconds: int = 12 * 3600
    page_size: int = 50
    #: failed log-ins allowed per account / per client address within `login_window_s` (then 429)
    login_max_failures: int = 5
    login_max_failures_per_address: int = 20
    login_window_s: float = 900.0
    #: the language of a reader who states none (no ?lang, cookie or Accept-Language naming en or zh):
    #: the server's own --lang / locale, as for the CLI (`serve` passes `i18n.current()`)
    default_lang: str = "en"

    def key(self) -> str:
        """The signing key: given, or kept in the data directory (0600) so sessions survive restarts."""
        if self.secret_key:
            return self.secret_key
        p = Path(self.data_dir) / "web-secret.key"
        if not p.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
        self.secret_key = p.read_text().strip()
        return self.secret_key


class LoginRequired(Exception):
    pass


class BodyLimit:
    """Refuse request bodies over the limit before anything parses them (413). Uploads get the
    upload limit, everything else the small form limit; chunked bodies are counted as they arrive."""

    def __init__(self, app: Any, settings: Settings) -> None:
        self.app = app
        self.s = settings

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        big = path in ("/upload", "/api/v1/uploads") or path.endswith("/attachments")
        limit = (self.s.max_upload_bytes if path.endswith("upload") or path.endswith("uploads")
                 else self.s.max_attachment_bytes + 64 * 1024) if big else self.s.max_form_bytes  # fmt: skip
        for k, v in scope.get("headers", []):
            if k == b"content-length":
                try:
                    if int(v) > limit:
                        await _too_big(send, limit, scope, self.s)
                        return
                except ValueError:
                    await _too_big(send, limit, scope, self.s)
                    return
        seen = 0
        started = False
        over = False

        async def counted() -> dict[str, Any]:
            nonlocal seen, over
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    over = True
                    raise _TooBig()
            return msg

        async def watch(msg: dict[str, Any]) -> None:
            # A multipart parser catches our _TooBig and answers "400 error parsing the body" itself;
            # once the limit was passed, that answer is replaced by the documented 413.
            nonlocal started
            if over:
                if not started:
                    started = True
                    await _too_big(send, limit, scope, self.s)
                return
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, counted, watch)
        except _TooBig:
            if not started:
                await _too_big(send, limit, scope, self.s)


class _TooBig(Exception):
    pass


async def _too_big(send: Any, limit: int, scope: dict[str, Any], settings: Settings) -> None:
    """413 before any handler runs: JSON for the API, a page in the reader's language for a browser
    (an attachment or upload over the limit used to show a bare English JSON body)."""
    if scope.get("path", "").startswith("/api/"):
        body = f'{{"detail": "request body larger than {limit} bytes"}}'.encode()
        ctype = b"application/json"
    else:
        from html import escape
        from urllib.parse import parse_qs

        # the pages' own lenient cookie parser: one odd cookie does not hide the language one
        from starlette.requests import cookie_parser

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        lang = (parse_qs(scope.get("query_string", b"").decode("latin-1")).get("lang") or [None])[0]
        if not lang:
            lang = cookie_parser(headers.get("cookie", "")).get(LANG_COOKIE)
        lang = normalise(lang) if lang else accepted_lang(headers.get("accept-language", ""), settings.default_lang)
        mb = limit / (1024 * 1024)
        text = tr(f"The file is too large: the limit is {mb:,.1f} MB. Go back and choose a smaller file.",
                  f"文件过大：上限为 {mb:,.1f} MB。请返回并选择较小的文件。", lang)
        html_lang = "zh-CN" if lang == "zh" else "en"
        body = (f'<!doctype html><html lang="{html_lang}"><head><meta charset="utf-8"><title>413</title></head>'
                f'<body><p id="too-large">{escape(text)}</p></body></html>').encode()
        ctype = b"text/html; charset=utf-8"
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode())]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


def create_app(settings: Settings | None = None) -> FastAPI:
    s = settings or Settings()
    Path(s.data_dir).mkdir(parents=True, exist_ok=True)
    signer = URLSafeTimedSerializer(s.key(), salt="minewatch-session")
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.jobs.shutdown()

    # FastAPI's own /docs page loads Swagger UI from a CDN and runs inline scripts, which our
    # Content-Security-Policy (and "no resource from the internet") forbids: it stayed blank. The
    # document and a server-rendered page of it are served by `pages.api_docs`/`pages.openapi_json`
    # instead, behind a log-in like everything else.
    app = FastAPI(
        lifespan=lifespan,
        title="minewatch",
        version=__version__,
        description="Findings, sites, cases and exports of minewatch. Authenticate with `Authorization: Bearer <token>`"
        " (create one with `minewatch user token NAME`).",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = s
    app.state.jobs = JobManager(s.db, Path(s.data_dir))
    app.state.signer = signer
    app.state.login_limiter = LoginLimiter(per_account=s.login_max_failures,
                                           per_address=s.login_max_failures_per_address,
                                           window_s=s.login_window_s)  # fmt: skip
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.autoescape = True
    # change records hold names people typed (Chinese site names, addresses): Jinja's `tojson` writes
    # them as \uXXXX escapes; this one keeps the characters and lets autoescaping make them safe
    templates.env.filters["json_text"] = lambda v: json.dumps(v, ensure_ascii=False, default=str, sort_keys=True)
    app.state.templates = templates
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.add_middleware(BodyLimit, settings=s)

    @app.middleware("http")
    async def headers(request: Request, call_next: Any) -> Response:
        resp: Response = await call_next(request)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        resp.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'none'; frame-ancestors 'none'; "
            "form-action 'self'",
        )
        return resp

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse("/login?" + urlencode({"next": _safe_next(request.url.path)}), status_code=303)

    @app.exception_handler(StoreBusy)
    async def _busy(request: Request, exc: StoreBusy) -> Response:
        # The store's path and the holder's process id are for the operator (the server log), not
        # for clients, who may not even have logged in yet (the store is opened before the check).
        log.warning("%s", exc)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": "the store is in use by another process (a scan is writing); try again"},
                                status_code=503, headers={"Retry-After": "5"})  # fmt: skip
        # A page (a job page that refreshes itself, a list) asks again by itself: with a DuckDB file a
        # scan holds the store for a moment, and a page that stopped refreshing would look finished.
        from html import escape

        msg = escape(tr("The store is busy (a scan is writing); this page tries again in 2 seconds.",
                        "存储正忙（扫描正在写入）；本页将在 2 秒后重试。", lang_of(request)))  # fmt: skip
        body = (f'<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="2">'
                f"<title>503</title></head><body><p id=\"store-busy\">{msg}</p></body></html>")  # fmt: skip
        return HTMLResponse(body, status_code=503, headers={"Retry-After": "2"})

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """The API and static files answer JSON as before; a page (a form post refused for its role or
        CSRF token, an upload too large, an unknown address) answers with the error page, in the
        reader's language, instead of a bare JSON body."""
        if request.url.path.startswith(("/api/", "/static/")):
            return await http_exception_handler(request, exc)
        from minewatch.web.pages import fail

        resp = fail(request, HTTPError(str(exc.detail)), exc.status_code)
        for k, v in (exc.headers or {}).items():
            resp.headers[k] = v
        return resp

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        """The API keeps FastAPI's 422 list; a page (an address like /cases/abc, a form without its file)
        answers with the error page in the reader's language instead of a raw JSON list."""
        if request.url.path.startswith("/api/"):
            return await request_validation_exception_handler(request, exc)
        from minewatch.web.pages import fail

        names = ", ".join(str(e.get("loc", ["?"])[-1]) for e in exc.errors()) or "?"
        lang = lang_of(request)
        msg = tr(f"a value in the address or the form is not valid: {names}",
                 f"地址或表单中的取值无效：{names}", lang)
        return fail(request, HTTPError(msg), 422)

    @app.exception_handler(duckdb.TransactionException)
    async def _conflict(request: Request, exc: Exception) -> Response:
        """A write that met another one at the same row ("Conflict on update"): 409, never a 500.
        Writers of one process take turns (`minewatch.store.write_lock`), so this is a last resort."""
        en = "a simultaneous change conflicted with this one; reload and try again"
        if request.url.path.startswith("/api/"):  # API bodies are English, like every JSON key
            return JSONResponse({"detail": en}, status_code=409)
        msg = tr(en, "与同时进行的另一项修改冲突；请刷新后重试", lang_of(request))
        from minewatch.web.pages import fail

        return fail(request, HTTPError(msg), 409)

    from minewatch.web.api import router as api_router
    from minewatch.web.pages import router as page_router

    app.include_router(api_router)
    app.include_router(page_router)
    return app


def _safe_next(path: str) -> str:
    """Only a local path may follow the log-in (no `//evil.example` open redirect)."""
    return path if path.startswith("/") and not path.startswith("//") and "\\" not in path else "/"


# -- shared dependencies ------------------------------------------------------------------------------
#: how long a request waits for a scan that holds the DuckDB file before it answers 503
REQUEST_WAIT_S = 3.0


def get_db(request: Request) -> Iterator[Db]:
    db = connect(request.app.state.settings.db, wait_s=REQUEST_WAIT_S)
    try:
        yield db
    finally:
        db.close()


def lang_of(request: Request) -> str:
    """The reader's language: ?lang, then the cookie it sets, then Accept-Language, then the server's."""
    q = request.query_params.get("lang")
    if q:
        return normalise(q)
    c = request.cookies.get(LANG_COOKIE)
    if c:
        return normalise(c)
    settings = getattr(request.app.state, "settings", None)
    return accepted_lang(request.headers.get("accept-language", ""), getattr(settings, "default_lang", "en"))


def accepted_lang(header: str, default: str = "en") -> str:
    """en or zh from an Accept-Language header, by its q-values (RFC 9110 §12.5.4); `default` when it
    names neither.

    Why parse the weights: browsers send lists such as `en;q=0.1, zh-CN;q=0.9` or `de-DE,zh-CN;q=0.8`;
    taking the first tag only gave English to readers who prefer Chinese."""
    best: tuple[float, int, str] | None = None
    for pos, item in enumerate(header.split(",")):
        tag, _, params = item.strip().partition(";")
        tag = tag.strip().lower()
        q = 1.0
        for p in params.split(";"):
            k, _, v = p.strip().partition("=")
            if k.strip() == "q":
                try:
                    q = float(v)
                except ValueError:
                    q = 0.0
                # RFC 9110 weights are 0..1: nan counts as 0, inf or 2 as 1 (not above a real q=1)
                q = min(max(q, 0.0), 1.0) if q == q else 0.0
        if q <= 0 or not tag:
            continue
        lang = "zh" if tag.startswith("zh") else "en" if tag.startswith("en") else None
        if lang is None:
            continue
        key = (q, -pos, lang)
        if best is None or key[:2] > best[:2]:
            best = key
    return best[2] if best else normalise(default)


def read_session(request: Request) -> dict[str, Any] | None:
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        data = request.app.state.signer.loads(raw, max_age=request.app.state.settings.session_seconds)
    except (BadSignature, SignatureExpired):
        return None
    return data if isinstance(data, dict) and "u" in data and "c" in data else None


def session_id(sess: dict[str, Any]) -> str:
    """The id a log-out revokes: `s`, or for a cookie made before sessions had one its CSRF token
    (random per session as well)."""
    return str(sess.get("s") or sess["c"])


def session_user(request: Request, db: Db = Depends(get_db)) -> C.User:
    sess = read_session(request)
    if sess is None:
        raise LoginRequired()
    try:
        user = C.get_user(db, int(sess["u"]))
    except (C.NotFound, ValueError, TypeError):
        raise LoginRequired() from None
    if user.disabled or C.session_revoked(db, session_id(sess)):
        raise LoginRequired()
    request.state.session = sess
    request.state.csrf = sess["c"]
    request.state.user = user
    return user


class HTTPError(Exception):
    """A message already worded for the reader (the error page shows it as it is)."""


def require(user: C.User, role: str, lang: str = "en") -> None:
    if not user.can(role):
        raise HTTPException(403, tr(f"this needs the {role} role", f"此操作需要{C.ROLE_NAMES[role][1]}角色", lang))


def check_csrf(request: Request, token: str | None) -> None:
    want = getattr(request.state, "csrf", None)
    if not want or not token or not secrets.compare_digest(str(want), str(token)):
        raise HTTPException(403, tr("CSRF token missing or wrong; reload the page and try again",
                                    "CSRF 令牌缺失或错误；请刷新页面后重试", lang_of(request)))  # fmt: skip


def new_session_cookie(request: Request, resp: Response, user_id: int) -> None:
    s: Settings = request.app.state.settings
    value = request.app.state.signer.dumps({"u": user_id, "s": secrets.token_urlsafe(18), "c": secrets.token_urlsafe(24)})
    resp.set_cookie(SESSION_COOKIE, value, max_age=s.session_seconds, httponly=True, secure=s.secure_cookies,
                    samesite="strict", path="/")  # fmt: skip


def fmt_num(v: float | int | None, digits: int = 1) -> str:
    if v is None:
        return "—"
    if isinstance(v, int) or (float(v).is_integer() and abs(v) >= 100):
        return f"{v:,.0f}"
    return f"{v:,.{digits}f}"


def fmt_bytes(n: int | float | None) -> str:
    """A file size people read: 20.0 MB, 3.1 kB, 512 B (decimal units, as browsers show downloads)."""
    if n is None:
        return "—"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n:,.0f} B"


def fmt_ts(v: datetime | None) -> str:
    return v.strftime("%Y-%m-%d %H:%M:%S") if v else "—"


def plain(text: str, status: int = 200) -> PlainTextResponse:
    return PlainTextResponse(text, status_code=status)


def html(text: str) -> HTMLResponse:
    return HTMLResponse(text)


__all__ = ["InputError", "Settings", "create_app"]
