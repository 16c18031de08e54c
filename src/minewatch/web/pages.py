"""The HTML pages. Each state change is a POST form with the CSRF token, answered by a redirect
(post/redirect/get), so a reload never repeats an action."""

from __future__ import annotations

import math
import secrets
import tempfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials

from minewatch.errors import InputError
from minewatch.i18n import tr
from minewatch.net.hashrate import format_rate
from minewatch.store import cases as C
from minewatch.store.backend import Db
from minewatch.web import svg
from minewatch.web.api import bearer
from minewatch.web.app import (
    LANG_COOKIE,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    LoginRequired,
    _safe_next,
    check_csrf,
    fmt_bytes,
    fmt_num,
    fmt_ts,
    get_db,
    lang_of,
    new_session_cookie,
    read_session,
    require,
    session_id,
    session_user,
)
from minewatch.web.jobs import (
    DONE_STATES,
    KIND_NAMES,
    MAX_FILES_PER_JOB,
    STATE_NAMES,
    UNIT_WORDS,
    MeterOptions,
    step_words,
)
from minewatch.web.messages import localise_error
from minewatch.web.queries import SORTS, FindingFilter, coins, get_finding, overview, query_findings
from minewatch.web.ratelimit import Lockout
from minewatch.web.service import (
    BLOCKING_KINDS,
    EXPORT_EXT,
    LISTING_KINDS,
    allow_candidates,
    allow_from_finding,
    allow_state,
    allowlist,
    case_bundle,
    export,
    export_params,
    remove_allow,
)

router = APIRouter(include_in_schema=False)


def render(request: Request, name: str, ctx: dict[str, Any], status: int = 200) -> Response:
    lang = lang_of(request)
    t = partial(tr, lang=lang)
    base = {
        "request": request, "lang": lang, "t": t, "user": getattr(request.state, "user", None),
        "csrf": getattr(request.state, "csrf", ""), "num": fmt_num, "ts": fmt_ts, "size": fmt_bytes, "rate": format_rate,
        "state_name": lambda s: C.STATE_NAMES.get(s, (s, s))[1 if lang == "zh" else 0],
        "role_name": lambda r: C.ROLE_NAMES.get(r, (r, r))[1 if lang == "zh" else 0],
        "action_name": lambda a: C.action_name(str(a), lang),
        "object_name": lambda o: C.OBJECT_NAMES.get(str(o), (o, o))[1 if lang == "zh" else 0],
        "path": request.url.path,
        "lang_link": partial(_lang_link, request),
    }  # fmt: skip
    base.update(ctx)
    resp = request.app.state.templates.TemplateResponse(request, name, base, status_code=status)
    if request.query_params.get("lang"):
        resp.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="strict", httponly=True,
                        secure=request.app.state.settings.secure_cookies)  # fmt: skip
    return resp


def _lang_link(request: Request, code: str) -> str:
    """This page in another language. After a form post (an error page answering POST /cases/1/state)
    the address only takes POST, so the link leads back to the page the form was on (a same-site
    Referer) or to the start page: following it used to answer 405."""
    from urllib.parse import parse_qsl, urlsplit

    if request.method in ("GET", "HEAD"):
        return request.url.path + "?" + urlencode({**request.query_params, "lang": code})
    ref = urlsplit(request.headers.get("referer", ""))
    if ref.netloc == request.url.netloc and ref.path.startswith("/") and not ref.path.startswith("//"):
        query = {k: v for k, v in parse_qsl(ref.query) if k != "lang"}
        return ref.path + "?" + urlencode({**query, "lang": code})
    return "/?" + urlencode({"lang": code})


def back(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def fail(request: Request, e: Exception, status: int | None = None) -> Response:
    """The error page, in the reader's language (`web.messages` words the store's English errors in
    Chinese). Without a status: 404 for something that does not exist, 409 for what the case rules
    refuse (as the API answers), else 400."""
    if status is None:
        status = 404 if isinstance(e, C.NotFound) else 409 if isinstance(e, C.TransitionError) else 400
    message = localise_error(e, lang_of(request))
    return render(request, "error.html", {"message": message, "status": status}, status=status)


def _int(v: str | None) -> int | None:
    try:
        return int(v) if v not in (None, "") else None
    except ValueError:
        return None


def _float(v: str | None) -> float | None:
    try:
        return float(v) if v not in (None, "") else None
    except ValueError:
        return None


_WINDOWS = {"24h": 1, "7d": 7, "30d": 30, "90d": 90, "365d": 365}

#: (en, zh) label per sort key of the findings list
SORT_NAMES: dict[str, tuple[str, str]] = {
    "score": ("highest score", "评分最高"), "newest": ("newest first", "最新在前"), "oldest": ("oldest first", "最早在前"),
}  # fmt: skip

def filter_from(q: Any) -> tuple[FindingFilter, list[str]]:
    """A filter from query parameters; a value that does not parse is reported, not ignored."""
    problems: list[str] = []
    f = FindingFilter()
    win = q.get("window") or ""
    if win in _WINDOWS:
        f.since = datetime.now(UTC) - timedelta(days=_WINDOWS[win])
    elif win:
        problems.append(f"window={win}")
    for key in ("since", "until"):
        v = q.get(key)
        if v:
            try:
                dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
                setattr(f, key, dt if dt.tzinfo else dt.replace(tzinfo=UTC))
            except ValueError:
                problems.append(f"{key}={v}")
    if q.get("kind") in ("mining", "node"):
        f.kind = q.get("kind")
    elif q.get("kind"):
        problems.append(f"kind={q.get('kind')}")
    f.coin = (q.get("coin") or None) and q.get("coin")[:32]
    for key in ("min_score", "max_score"):
        v = q.get(key)
        if v:
            x = _float(v)
            if x is None:
                problems.append(f"{key}={v}")
            setattr(f, key, x)
    for key in ("site_id", "case_id"):
        v = q.get(key)
        if v:
            x = _int(v)
            if x is None:
                problems.append(f"{key}={v}")
            setattr(f, key, x)
    f.ip = (q.get("ip") or None) and q.get("ip")[:64]
    f.meter_id = (q.get("meter_id") or None) and q.get("meter_id")[:128]
    f.sort = q.get("sort") if q.get("sort") in SORTS else "score"
    return f, problems


# -- log-in -------------------------------------------------------------------------------------------
@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/", error: str | None = None) -> Response:
    token = secrets.token_urlsafe(24)
    resp = render(request, "login.html", {"next": _safe_next(next), "login_csrf": token, "error": error})
    resp.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, httponly=True, samesite="strict",
                    secure=request.app.state.settings.secure_cookies)  # fmt: skip
    return resp


@router.post("/login")
def login(request: Request, username: str = Form(""), password: str = Form(""), csrf: str = Form(""),
          next: str = Form("/"), db: Db = Depends(get_db)) -> Response:  # fmt: skip
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not cookie or not secrets.compare_digest(cookie, csrf):
        raise HTTPException(403, "CSRF token missing or wrong; reload the log-in page")
    limiter = request.app.state.login_limiter
    address = request.client.host if request.client else None
    # The attempt is counted before the password hash runs, so parallel guesses cannot all pass the check.
    attempt = limiter.reserve(username, address)
    if isinstance(attempt, Lockout):
        return _login_refused(request, next, attempt.retry_after_s)
    try:
        user = C.authenticate(db, username, password)
    except BaseException:
        attempt.release()  # no outcome (a store error): the reservation must not count against the user
        raise
    if user is None:
        # Settled before the audit writes: a wrong password counts even if writing its log line fails.
        locks = attempt.failed()
        actor = username[:64] or "?"
        C.audit(db, actor, "login.fail", "user", None, None, {"address": address})
        for lock in locks:
            # Audited once, when the lock starts: the refused attempts after it cost no KDF and no log line.
            C.audit(db, actor, "login.lockout", "user", None, None,
                    {"scope": lock.scope, "address": address, "retry_after_s": lock.retry_after_s})  # fmt: skip
        return back("/login?" + urlencode({"next": _safe_next(next), "error": "1"}))
    attempt.succeeded()
    C.audit(db, user.username, "login", "user", user.user_id)
    resp = back(_safe_next(next))
    new_session_cookie(request, resp, user.user_id)
    resp.delete_cookie(LOGIN_CSRF_COOKIE)
    return resp


def _login_refused(request: Request, next: str, retry_after_s: int) -> Response:
    """429 with Retry-After and the log-in form again; the same answer whether the name exists or not."""
    minutes = max(1, (retry_after_s + 59) // 60)
    token = secrets.token_urlsafe(24)
    resp = render(request, "login.html", {"next": _safe_next(next), "login_csrf": token, "error": None,
                                          "locked_minutes": minutes}, status=429)  # fmt: skip
    resp.headers["Retry-After"] = str(retry_after_s)
    resp.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, httponly=True, samesite="strict",
                    secure=request.app.state.settings.secure_cookies)  # fmt: skip
    return resp


@router.post("/logout")
def logout(request: Request, csrf: str = Form(""), user: C.User = Depends(session_user),
           db: Db = Depends(get_db)) -> Response:  # fmt: skip
    """End the session on the server too (revoked in the store, audited), not only in this browser."""
    check_csrf(request, csrf)
    sess = request.state.session
    expires = datetime.now(UTC) + timedelta(seconds=request.app.state.settings.session_seconds)
    C.revoke_session(db, session_id(sess), user.user_id, expires, actor=user.username)
    resp = back("/login")
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


# -- overview and findings -------------------------------------------------------------------------------
@router.get("/", response_class=HTMLResponse)
def home(request: Request, user: C.User = Depends(session_user), db: Db = Depends(get_db)) -> Response:
    ov = overview(db)
    lang = lang_of(request)
    chart = svg.trend_bars(ov.trend, label=tr("findings per day", "每日发现数", lang))
    cases = C.list_cases(db)[:10]
    sites = [s for s in C.list_sites(db) if s.open_cases][:10]
    return render(request, "overview.html", {"ov": ov, "chart": chart, "cases": cases, "sites": sites})


@router.get("/findings", response_class=HTMLResponse)
def findings_page(request: Request, page: int = 1, per_page: int = 0, user: C.User = Depends(session_user),
                  db: Db = Depends(get_db)) -> Response:  # fmt: skip
    flt, problems = filter_from(request.query_params)
    size = per_page if 1 <= per_page <= 500 else request.app.state.settings.page_size
    page = max(1, page)  # a huge number is an empty page: the query clamps the offset (MAX_OFFSET)
    total, rows = query_findings(db, flt, limit=size, offset=(page - 1) * size)
    allow = allowlist(db)
    allowed = {f.finding_id: allow.finding_rule(f) for f in rows}
    pages = max(1, (total + size - 1) // size)
    q = {k: v for k, v in request.query_params.items() if k not in ("page",) and v}
    return render(request, "findings.html", {
        "rows": rows, "total": total, "page": page, "pages": pages, "size": size, "q": q, "problems": problems,
        "first": (page - 1) * size + 1 if rows else 0, "last": (page - 1) * size + len(rows), "allowed": allowed,
        "coins": coins(db), "sites": C.list_sites(db), "sorts": list(SORTS), "sort_names": SORT_NAMES,
        "windows": list(_WINDOWS),
        "page_link": lambda p: "/findings?" + urlencode({**q, "page": p}),
    })  # fmt: skip


@router.get("/findings/{finding_id}", response_class=HTMLResponse)
def finding_page(request: Request, finding_id: str, user: C.User = Depends(session_user),
                 db: Db = Depends(get_db)) -> Response:  # fmt: skip
    f = get_finding(db, finding_id)
    if f is None:
        return fail(request, C.NotFound(f"no finding {finding_id}"), 404)
    lang = lang_of(request)
    rule = allowlist(db).finding_rule(f)
    return render(request, "finding.html", {
        "f": f, "rule": rule, "cases": C.cases_for_finding(db, finding_id), "sites": C.sites_for_finding(db, finding_id),
        "timeline": svg.flow_timeline(f, label=tr("session timeline", "会话时间线", lang), lang=lang),
        "curve": svg.load_curve(f, label=tr("load curve", "负荷曲线", lang), lang=lang),
        "candidates": allow_candidates(f), "open_cases": [c for c in C.list_cases(db) if c.state in C.ACTIVE_STATES],
        "impact": f.impact or None,
    })  # fmt: skip


@router.post("/findings/{finding_id}/allow")
def finding_allow(request: Request, finding_id: str, value: str = Form(""), reason: str = Form(""),
                  csrf: str = Form(""), user: C.User = Depends(session_user), db: Db = Depends(get_db)) -> Response:  # fmt: skip
    check_csrf(request, csrf)
    require(user, "analyst", lang_of(request))
    kind, _, val = value.partition(":")
    try:
        allow_from_finding(db, finding_id, kind, val, reason, actor=user.username)
    except (InputError, C.CaseError) as e:
        return fail(request, e)
    return back(f"/findings/{finding_id}")


@router.post("/findings/{finding_id}/case")
def finding_case(request: Request, finding_id: str, title: str = Form(""), case_id: str = Form(""),
                 csrf: str = Form(""), user: C.User = Depends(session_user), db: Db = Depends(get_db)) -> Response:  # fmt: skip
    check_csrf(request, csrf)
    require(user, "analyst", lang_of(request))
    try:
        cid = _int(case_id)
        if cid is not None:
            C.link_findings(db, cid, [finding_id], actor=user.username)
        else:
            cid = C.open_case(db, title, actor=user.username, finding_ids=[finding_id]).case_id
    except (InputError, C.CaseError) as e:
        return fail(request, e)
    return back(f"/cases/{cid}")


# -- sites ---------------------------------------------------------------------------------------------
@router.get("/sites", response_class=HTMLResponse)
def sites_page(request: Request, user: C.User = Depends(session_user), db: Db = Depends(get_db)) -> Response:
    return render(request, "sites.html", {"sites": C.list_sites(db)})


def _lines(text: str) -> list[str]:
    return [x.strip() for x in text.replace(",", "\n").splitlines() if x.strip()]


@router.post("/sites")
def sites_create(request: Request, name: str = Form(""), address: str = Form(""), ip_ranges: str = Form(""),
                 meter_ids: str = Form(""), csrf: str = Form(""), user: C.User = Depends(session_user),
                 db: Db = Depends(get_db)) -> Response:  # fmt: skip
    check_csrf(request, csrf)
    require(user, "analyst", lang_of(request))
    try:
        site = C.create_site(db, name, address=address or None, ip_ranges=_lines(ip_ranges),
                             meter_ids=_lines(meter_ids), actor=user.username)  # fmt: skip
    except (InputError, C.CaseError) as e:
        return fail(request, e)
    return back(f"/sites/{site.site_id}")


@router.get("/sites/{site_id}", response_class=HTMLResponse)
def site_page(request: Request, site_id: int, user: C.User = Depends(session_user), db: Db = Depends(get_db)) -> Response:
    try:
        site = C.get_site(db, site_id)
    except C.NotFound as e:
        return fail(request, e, 404)
    total, rows = query_findings(db, FindingFilter(site_id=site_id), limit=50)
    _, hist = C.audit_log(db, object_type="site", object_id=site_id)
    return render(request, "site.html", {"site": site, "rows": rows, "total": total, "history": hist,
                                         "cases": C.list_cases(db, site_id=site_id)})  # fmt: skip


@router.post("/sites/{site_id}/case")
def site_case(request: Request, site_id: int, title: str = Form(""), csrf: str = Form(""),
              user: C.User = Depends(session_user), db: Db = Depends(get_db)) -> Response:  # fmt: skip
    check_csrf(request, csrf)
    require(user, "analyst", lang_of(request))
    try:
        c = C.open_case(db, title, site_id=site_id, actor=user.username)
    except (InputError, C.CaseError) as e:
        return fail(request, e)
    return back(f"/cases/{c.case_id}")


# -- cases ---------------------------------------------------------------------------------------------
@router.get("/cases", response_class=HTMLResponse)
def cases_page(request: Request, state: str = "", user: C.User = Depends(session_user), db: Db = Depends(get_db)) -> Response:
    st = state if state in C.STATES else None
    return render(request, "cases.html", {"cases": C.list_cases(db, state=st), "state": st, "states": C.STATES,
                                          "sites": {s.site_id: s for s in C.list_sites(db)}})  # fmt: skip


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, case_id: int, user: C.User = Depends(session_user), db: Db = Depends(get_db)) -> Response:
    try:
        b = case_bundle(db, case_id)
    except C.NotFound as e:
        return fail(request, e, 404)
    return render(request, "case.html", {"b": b, "next_states": C.TRANSITIONS[b.case.state],
                                         "exports": list(EXPORT_EXT)})  # fmt: skip


@router.post("/cases/{case_id}/state")
def case_state(request: Request, case_id: int, state: str = Form(""), reason: str = Form(""), csrf: str = Form(""),
               user: C.User = Depends(session_user), db: Db = Depends(get_db)) -> Response:  # fmt: skip
    check_csrf(request, csrf)
    require(user, "analyst", lang_of(request))
    try:
        C.transition(db, case_id, state, actor=user.username, reason=reason)
    except C.NotFound as e:
        return fail(request, e, 404)
    except (InputError, C.CaseError) as e:
        return fail(request, e, 409)
    return back(f"/cases/{case_id}")


@router.post("/cases/{case_id}/notes")
def case_note(request: Request, case_id: int, body: str = Form(""), csrf: str = Form(""),
              user: C.User = Depends(session_user), db: Db = Depends(get_db)) -> Response:  # fmt: skip
    check_csrf(request, csrf)
    require(user, "analyst", lang_of(request))
    try:
        C.add_note(db, case_id, body, actor=user.username)
    except (InputError, C.CaseError) as e:
        return fail(request, e)
    return back(f"/cases/{case_id}")


@router.post("/cases/{case_id}/attachments")
async def case_attach(request: Request, case_id: int, csrf: str = Form(""), file: UploadFile = File(...),
                      user: C.User = Depends(session_user), db: Db = Depends(get_db)) -> Response:  # fmt: skip
    check_csrf(request, csrf)
    require(user, "analyst", lang_of(request))
    s = request.app.state.settings
    data = await file.read(s.max_attachment_bytes + 1)
    try:
        C.add_attachment(db, case_id, file.filename, data, actor=user.username, data_dir=Path(s.data_dir),
                         content_type=file.content_type, max_bytes=s.max_attachment_bytes)  # fmt: skip
    except (InputError, C.CaseError) as e:
        return fail(request, e, 413 if "limit" in str(e) else 400)
    return back(f"/cases/{case_id}")


@router.get("/attachments/{attachment_id}")
def attachment_get(request: Request, attachment_id: int, user: C.User = Depends(session_user),
                   db: Db = Depends(get_db)) -> Response:  # fmt: skip
    try:
        a = C.get_attachment(db, attachment_id)
    except C.NotFound as e:
        return fail(request, e, 404)
    p = C.blob_path(Path(request.app.state.settings.data_dir), a.content_sha256)
    # Always a download, never rendered inline: an uploaded HTML file must not run in our origin.
    return FileResponse(p, media_type="application/octet-stream", filename=a.filename)


@router.get("/cases/{case_id}/report.{fmt}")
def case_report(request: Request, case_id: int, fmt: str, user: C.User = Depends(session_user),
                db: Db = Depends(get_db)) -> Response:  # fmt: skip
    from minewatch.export.report import case_report_html, case_report_pdf

    if fmt not in ("html", "pdf"):
        return fail(request, C.NotFound(f"no report format {fmt!r}"), 404)
    try:
        b = case_bundle(db, case_id)
    except C.NotFound as e:
        return fail(request, e, 404)
    lang = request.query_params.get("lang") or "both"
    text = case_report_html(b, lang=lang if lang in ("en", "zh", "both") else "both")
    C.audit(db, user.username, "case.report", "case", case_id, None, {"format": fmt})
    if fmt == "html":
        return HTMLResponse(text, headers={"Content-Disposition": f'inline; filename="case-{case_id}.html"'})
    return Response(case_report_pdf(text), media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="case-{case_id}.pdf"'})  # fmt: skip


# -- allow-list ---------------------------------------------------------------------------------------------
@router.get("/allow", response_class=HTMLResponse)
def allow_page(request: Request, user: C.User = Depends(session_user), db: Db = Depends(get_db)) -> Response:
    current, history = allow_state(db)
    return render(request, "allow.html", {"rules": current.rules, "version": current.version, "history": history})


@router.post("/allow/{rule_id}/remove")
def allow_remove(request: Request, rule_id: int, csrf: str = Form(""), user: C.User = Depends(session_user),
                 db: Db = Depends(get_db)) -> Response:  # fmt: skip
    check_csrf(request, csrf)
    require(user, "analyst", lang_of(request))
    try:
        remove_allow(db, rule_id, actor=user.username)
    except InputError as e:
        return fail(request, e, 404)
    return back("/allow")


# -- upload and jobs ---------------------------------------------------------------------------------------------
@router.get("/upload", response_class=HTMLResponse)
def upload_page(request: Request, user: C.User = Depends(session_user)) -> Response:
    jobs = sorted(request.app.state.jobs.jobs.values(), key=lambda j: -j.created)[:20]
    return render(request, "upload.html", {"jobs": jobs, "limit_mb": request.app.state.settings.max_upload_bytes // 2**20,
                                           "max_files": MAX_FILES_PER_JOB, "state_names": STATE_NAMES})  # fmt: skip


async def save_upload(request: Request, file: UploadFile) -> Path:
    """Stream the upload to a temporary file in the data directory, counting bytes (the body limit
    already refused oversized requests; this is the second line)."""
    s = request.app.state.settings
    tmpdir = Path(s.data_dir) / "uploads"
    tmpdir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=tmpdir, suffix=".part")
    size = 0
    with open(fd, "wb") as out:
        while chunk := await file.read(1 << 20):
            size += len(chunk)
            if size > s.max_upload_bytes:
                out.close()
                Path(name).unlink(missing_ok=True)
                raise HTTPException(413, f"upload larger than {s.max_upload_bytes} bytes")
            out.write(chunk)
    if size == 0:
        Path(name).unlink(missing_ok=True)
        raise HTTPException(400, "the uploaded file is empty")
    return Path(name)


@router.post("/upload")
async def upload(request: Request, csrf: str = Form(""), file: list[UploadFile] = File(...), rescan: str = Form(""),
                 tz_offset: str = Form(""), meter_unit: str = Form(""), meter_interval: str = Form(""),
                 meter_tz_offset: str = Form(""), meta: UploadFile | None = File(None),
                 user: C.User = Depends(session_user)) -> Response:  # fmt: skip
    check_csrf(request, csrf)
    require(user, "analyst", lang_of(request))
    try:
        tz = float(tz_offset) if tz_offset.strip() else 0.0
        if not (math.isfinite(tz) and -14 <= tz <= 14):
            raise ValueError(tz_offset)
    except ValueError:
        return fail(request, InputError(f"the resolver-log clock must be between -14 and 14 hours, got {tz_offset!r}"))
    try:
        meter = MeterOptions.parse(meter_unit, meter_interval, meter_tz_offset)
        job = await submit_uploads(request, file, user.username, rescan=bool(rescan), tz_offset=tz, meter=meter,
                                   meta=meta)
    except InputError as e:
        return fail(request, e)
    return back(f"/jobs/{job.job_id}")


async def submit_uploads(request: Request, files: list[UploadFile], owner: str, *, rescan: bool = False,
                         tz_offset: float = 0.0, meter: MeterOptions | None = None,
                         meta: UploadFile | None = None) -> Any:
    """Save every file of the upload, then queue one job for them (pages and API alike). Files the
    import ledger knows are not scanned again unless `rescan` (their stored findings are shown).
    `meta` is the customer metadata CSV: a field of its own, so it is never taken for a meter file;
    it is checked before the job is queued (a browser sends an empty, nameless part when none is chosen)."""
    if len(files) > MAX_FILES_PER_JOB:
        raise InputError(f"at most {MAX_FILES_PER_JOB} files in one upload")
    meter = meter or MeterOptions()
    jobs = request.app.state.jobs
    kept_meta = None
    if meta is not None and meta.filename:
        kept_meta = jobs.keep_meta(await save_upload(request, meta), C.safe_filename(meta.filename))
        meter = replace(meter, meta=kept_meta)
    saved: list[tuple[Path, str]] = []
    try:
        for f in files:
            saved.append((await save_upload(request, f), C.safe_filename(f.filename)))
    except BaseException:
        for tmp, _ in saved:
            tmp.unlink(missing_ok=True)
        raise
    return jobs.submit_files(saved, owner, rescan=rescan, tz_offset=tz_offset, meter=meter)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: str, user: C.User = Depends(session_user), db: Db = Depends(get_db)) -> Response:
    job = request.app.state.jobs.get(job_id)
    if job is None:
        return fail(request, C.NotFound(f"no job {job_id}"), 404)
    rows: list[Any] = []
    total = 0
    if job.state in DONE_STATES:
        total, rows = query_findings(db, _job_filter(db, job.shas), limit=50)
    return render(request, "job.html", {"job": job, "rows": rows, "total": total, "kind_names": KIND_NAMES,
                                        "unit_words": UNIT_WORDS, "step_words": step_words,
                                        "state_names": STATE_NAMES, "done_states": DONE_STATES})


def _job_filter(db: Db, shas: list[str]) -> FindingFilter:
    marks = ", ".join("?" for _ in shas)
    ids = [r[0] for r in db.execute(f"SELECT finding_id FROM findings WHERE import_sha256 IN ({marks})", shas)]
    return FindingFilter(ids=ids)


# -- exports --------------------------------------------------------------------------------------------------
@router.get("/exports", response_class=HTMLResponse)
def exports_page(request: Request, user: C.User = Depends(session_user), db: Db = Depends(get_db)) -> Response:
    return render(request, "exports.html", {"kinds": list(EXPORT_EXT), "sites": C.list_sites(db),
                                            "cases": C.list_cases(db), "blocking": BLOCKING_KINDS,
                                            "listing": LISTING_KINDS})  # fmt: skip


@router.get("/exports/download")
def export_form(request: Request, kind: str = "", user: C.User = Depends(session_user),
                db: Db = Depends(get_db)) -> Response:  # fmt: skip
    """The exports page's form: the format is one of its fields, so the other fields apply to every format."""
    return _export(request, kind, user, db)


@router.get("/exports/{kind}")
def export_get(request: Request, kind: str, user: C.User = Depends(session_user), db: Db = Depends(get_db)) -> Response:
    return _export(request, kind, user, db)


def _export(request: Request, kind: str, user: C.User, db: Db) -> Response:
    """The same parameters as `GET /api/v1/exports/{kind}` (`min_score`, `site_id`, `case_id`, `since`)
    with the same meaning, so the page, the API and `minewatch export` give the same file. `min_score`
    is the blocking threshold only; it does not narrow which findings the listing formats hold."""
    q = request.query_params
    try:
        flt, min_score = export_params(q.get("min_score"), q.get("site_id"), q.get("case_id"), q.get("since"))
        r = export(db, kind, flt, min_score=min_score, lang=lang_of(request),
                   include_timing_only=q.get("include_timing_only", "").lower() in ("1", "true", "on", "yes"))
    except InputError as e:
        return fail(request, e)
    except C.NotFound as e:
        return fail(request, e, 404)
    C.audit(db, user.username, "export", "export", kind, None, {"findings": r.used, "min_score": min_score})
    return Response(r.text, media_type=r.media_type, headers=r.headers())


# -- API documentation ---------------------------------------------------------------------------------------
@router.get("/api/openapi.json")
def openapi_json(request: Request, cred: HTTPAuthorizationCredentials | None = Depends(bearer),
                 db: Db = Depends(get_db)) -> Response:  # fmt: skip
    """The OpenAPI document, for an API token or a logged-in browser (like every route but the log-in)."""
    user = C.user_for_token(db, cred.credentials) if cred else None
    if user is None:
        try:
            user = session_user(request, db)
        except LoginRequired:
            raise HTTPException(401, "log in or send an API token (Authorization: Bearer ...)",
                                headers={"WWW-Authenticate": "Bearer"}) from None  # fmt: skip
    return JSONResponse(request.app.openapi())


@router.get("/api/docs", response_class=HTMLResponse)
def api_docs(request: Request, user: C.User = Depends(session_user)) -> Response:
    """The API described from its OpenAPI document as a plain page: Swagger UI would need scripts
    (forbidden by our Content-Security-Policy) and, by default, a CDN."""
    spec = request.app.openapi()
    ops = []
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            body = op.get("requestBody", {}).get("content", {})
            ops.append({
                "method": method.upper(), "path": path, "summary": op.get("summary") or op.get("operationId", ""),
                "params": [{"name": x.get("name"), "where": x.get("in"), "required": x.get("required", False)}
                           for x in op.get("parameters", [])],
                "body": ", ".join(body), "codes": sorted(op.get("responses", {})),
            })  # fmt: skip
    return render(request, "apidocs.html", {"ops": ops, "info": spec.get("info", {})})


# -- users and audit ---------------------------------------------------------------------------------------------
@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, token: str | None = None, user: C.User = Depends(session_user),
               db: Db = Depends(get_db)) -> Response:  # fmt: skip
    require(user, "admin", lang_of(request))
    return render(request, "users.html", {"users": C.list_users(db), "roles": C.ROLES})


@router.post("/users")
def users_create(request: Request, username: str = Form(""), password: str = Form(""), role: str = Form("viewer"),
                 csrf: str = Form(""), user: C.User = Depends(session_user), db: Db = Depends(get_db)) -> Response:  # fmt: skip
    check_csrf(request, csrf)
    require(user, "admin", lang_of(request))
    try:
        C.create_user(db, username, password, role, actor=user.username)
    except (InputError, C.CaseError) as e:
        return fail(request, e)
    return back("/users")


@router.post("/users/{user_id}/role")
def users_role(request: Request, user_id: int, role: str = Form(""), disabled: str = Form(""), csrf: str = Form(""),
               user: C.User = Depends(session_user), db: Db = Depends(get_db)) -> Response:  # fmt: skip
    check_csrf(request, csrf)
    require(user, "admin", lang_of(request))
    try:
        C.set_role(db, user_id, role, actor=user.username, disabled=bool(disabled))
    except (InputError, C.CaseError) as e:
        return fail(request, e)
    return back("/users")


@router.post("/users/{user_id}/token", response_class=HTMLResponse)
def users_token(request: Request, user_id: int, csrf: str = Form(""), user: C.User = Depends(session_user),
                db: Db = Depends(get_db)) -> Response:  # fmt: skip
    check_csrf(request, csrf)
    require(user, "admin", lang_of(request))
    try:
        tok = C.create_api_token(db, user_id, actor=user.username)
        target = C.get_user(db, user_id)
    except C.CaseError as e:
        return fail(request, e, 404)
    # Shown once, on this response only (no redirect: the token must not travel in a URL).
    return render(request, "users.html", {"users": C.list_users(db), "roles": C.ROLES, "new_token": tok,
                                          "token_user": target.username})  # fmt: skip


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, page: int = 1, user: C.User = Depends(session_user), db: Db = Depends(get_db)) -> Response:
    page = max(1, page)  # a huge number is an empty page: the query clamps the offset (MAX_OFFSET)
    total, rows = C.audit_log(db, limit=100, offset=(page - 1) * 100)
    return render(request, "audit.html", {"rows": rows, "total": total, "page": page,
                                          "pages": max(1, (total + 99) // 100), "broken": C.verify_audit(db)})  # fmt: skip


def session_or_none(request: Request) -> dict[str, Any] | None:
    return read_session(request)
