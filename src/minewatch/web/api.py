"""The HTTP API (`/api/v1`): everything the pages do, for a SOC platform or a grid work-order system.

Bearer tokens only (`minewatch user token NAME`): no cookies, so no CSRF surface. Errors are JSON
`{"detail": ...}` with 400 (bad input), 401 (no/bad token), 403 (role), 404, 409 (case rules), 413.
The `detail` text is in the caller's language (`?lang=zh|en`, else Accept-Language, else English: a
script that sends neither reads English whatever the server's page default), and a stable
machine-readable `X-Error-Code` header says what it is (`API_ERROR_CODES`); keys stay English and the
body's structure is the one FastAPI gives, so clients that read `detail` keep working (review 15).
FastAPI's own 422 list stays as FastAPI makes it.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from fastapi import Path as FPath
from fastapi.responses import Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from minewatch.errors import InputError
from minewatch.i18n import normalise
from minewatch.store import cases as C
from minewatch.store.backend import Db
from minewatch.web.app import accepted_lang, get_db
from minewatch.web.messages import localise, localise_error
from minewatch.web.queries import (
    MAX_PAGE,
    SORTS,
    FindingFilter,
    finding_json,
    get_finding,
    overview,
    query_findings,
)
from minewatch.web.service import (
    EXPORT_EXT,
    allow_from_finding,
    allow_state,
    case_bundle,
    export,
    remove_allow,
)

bearer = HTTPBearer(auto_error=False, description="API token from `minewatch user token NAME`")

#: the code of an error that names none, by status
_CODE_OF_STATUS = {400: "bad_input", 401: "token_missing_or_unknown", 403: "role_required", 404: "not_found",
                   409: "case_refused", 413: "too_large"}  # fmt: skip


class ApiError(HTTPException):
    """An API error that keeps what it was made of, so it can be worded for whoever asked: the exception it
    came from (a `Worded` error carries its own Chinese, others go through the message catalogue) and
    its stable code."""

    def __init__(self, status: int, message: str, code: str, source: Exception | None = None,
                 headers: dict[str, str] | None = None) -> None:  # fmt: skip
        super().__init__(status, message, headers=headers)
        self.code = code
        self.source = source


def api_lang(request: Request) -> str:
    """The language of an API answer's text: `?lang=`, else Accept-Language, else English. Not the
    server's page default nor a cookie: a token client sends no cookie, and a script that asks for no
    language keeps the English it always got."""
    q = request.query_params.get("lang")
    if q:
        return normalise(q)
    return accepted_lang(request.headers.get("accept-language", ""), "en")


def worded(exc: HTTPException, request: Request) -> HTTPException:
    """`exc` with its text in the caller's language and its code in `X-Error-Code` (review 15: every API
    error was English, while the pages follow the reader's language)."""
    code = getattr(exc, "code", None) or _CODE_OF_STATUS.get(exc.status_code, f"http_{exc.status_code}")
    headers = {**(exc.headers or {}), "X-Error-Code": code}
    detail = exc.detail
    if isinstance(detail, str):
        lang = api_lang(request)
        source = getattr(exc, "source", None)
        detail = localise_error(source, lang) if source is not None and str(source) == detail \
            else localise(detail, lang)
    return HTTPException(exc.status_code, detail, headers=headers)


class _WordedRoute(APIRoute):
    """A route whose HTTP errors are worded for the caller (`worded`); the app's handler then answers
    `{"detail": ...}` as before."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except HTTPException as exc:
                raise worded(exc, request) from exc

        return route


router = APIRouter(prefix="/api/v1", route_class=_WordedRoute)

#: the `X-Error-Code` of each kind of API error: stable, for scripts (the `detail` text follows the language)
API_ERROR_CODES = {
    "token_missing_or_unknown": 401, "role_required": 403, "not_found": 404, "case_transition_refused": 409,
    "case_refused": 409, "bad_input": 400, "too_large": 413,
}  # fmt: skip
_CODE_HEADER = {"X-Error-Code": {"description": "What the error is, for scripts (stable; the detail text follows "
                                                "?lang= or Accept-Language): " + ", ".join(API_ERROR_CODES),
                                 "schema": {"type": "string"}}}
ERR = {
    400: {"description": "Bad input", "headers": _CODE_HEADER},
    401: {"description": "Missing or unknown token", "headers": _CODE_HEADER},
    403: {"description": "Role too low", "headers": _CODE_HEADER},
    404: {"description": "Not found", "headers": _CODE_HEADER},
    409: {"description": "Refused by the case rules", "headers": _CODE_HEADER},
    413: {"description": "Body too large", "headers": _CODE_HEADER},
    422: {"description": "Malformed request"},
}


def api_user(cred: HTTPAuthorizationCredentials | None = Depends(bearer), db: Db = Depends(get_db)) -> C.User:
    user = C.user_for_token(db, cred.credentials) if cred else None
    if user is None:
        raise ApiError(401, "missing or unknown API token", "token_missing_or_unknown",
                       headers={"WWW-Authenticate": "Bearer"})
    return user


def analyst(user: C.User = Depends(api_user)) -> C.User:
    if not user.can("analyst"):
        raise ApiError(403, "this needs the analyst role", "role_required")
    return user


def admin(user: C.User = Depends(api_user)) -> C.User:
    if not user.can("admin"):
        raise ApiError(403, "this needs the admin role", "role_required")
    return user


def _bad(e: Exception, status: int | None = None) -> HTTPException:
    """The API error for an exception of the store or the service (`status` where the route knows better)."""
    if isinstance(e, C.NotFound):
        return ApiError(status or 404, str(e), "not_found", e)
    if isinstance(e, C.TransitionError):
        return ApiError(status or 409, str(e), "case_transition_refused", e)
    if isinstance(e, C.CaseError):
        return ApiError(status or 409, str(e), "case_refused", e)
    st = status or 400
    return ApiError(st, str(e), _CODE_OF_STATUS.get(st, "bad_input"), e)


# -- models ---------------------------------------------------------------------------------------------
class FindingPage(BaseModel):
    total: int = Field(description="How many findings match the filters (all pages)")
    offset: int
    limit: int
    items: list[dict[str, Any]]


class SiteIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    address: str | None = Field(default=None, max_length=500)
    ip_ranges: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list, max_length=1000)
    meter_ids: list[Annotated[str, Field(max_length=128)]] = Field(default_factory=list, max_length=10000)


class CaseIn(BaseModel):
    title: str = Field(min_length=1, max_length=300)
    site_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    finding_ids: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list, max_length=10000)


class TransitionIn(BaseModel):
    state: Literal["suspected", "investigating", "confirmed", "network_cut", "power_cut", "closed", "dismissed"]
    reason: str | None = Field(default=None, max_length=5000)


class NoteIn(BaseModel):
    body: str = Field(min_length=1, max_length=20000)


class LinkIn(BaseModel):
    finding_ids: list[Annotated[str, Field(max_length=64)]] = Field(min_length=1, max_length=10000)


class AllowIn(BaseModel):
    kind: Literal["cidr", "domain"]
    value: str = Field(min_length=1, max_length=255)
    reason: str = Field(min_length=1, max_length=1000)


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=10, max_length=1024)
    role: Literal["viewer", "analyst", "admin"]


class AllowRuleOut(BaseModel):
    rule_id: int | None
    kind: str
    value: str
    reason: str
    exceptions: list[str]
    subdomains: bool
    version: int | None


class AllowOut(BaseModel):
    version: int
    rules: list[AllowRuleOut]
    history: list[dict[str, Any]]


IntId = Annotated[int, Query(ge=1, le=2**31 - 1)]
PathId = Annotated[int, FPath(ge=1, le=2**31 - 1)]
PathStr = Annotated[str, FPath(max_length=64)]


# -- findings -------------------------------------------------------------------------------------------
@router.get("/overview", responses=ERR)
def api_overview(user: C.User = Depends(api_user), db: Db = Depends(get_db)) -> dict[str, Any]:
    return overview(db).to_dict()


@router.get("/findings", response_model=FindingPage, responses=ERR)
def api_findings(
    since: datetime | None = None,
    until: datetime | None = None,
    kind: Literal["mining", "node"] | None = None,
    coin: Annotated[str | None, Query(max_length=32)] = None,
    min_score: Annotated[float | None, Query(ge=0, le=100)] = None,
    max_score: Annotated[float | None, Query(ge=0, le=100)] = None,
    site_id: IntId | None = None,
    case_id: IntId | None = None,
    ip: Annotated[str | None, Query(max_length=64)] = None,
    meter_id: Annotated[str | None, Query(max_length=128)] = None,
    sort: Literal["score", "newest", "oldest"] = "score",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    user: C.User = Depends(api_user),
    db: Db = Depends(get_db),
) -> FindingPage:
    assert sort in SORTS
    flt = FindingFilter(since=since, until=until, kind=kind, coin=coin, min_score=min_score, max_score=max_score,
                        site_id=site_id, case_id=case_id, ip=ip, meter_id=meter_id, sort=sort)  # fmt: skip
    total, rows = query_findings(db, flt, limit=limit, offset=offset)
    return FindingPage(total=total, offset=offset, limit=limit, items=[finding_json(f) for f in rows])


@router.get("/findings/{finding_id}", responses=ERR)
def api_finding(finding_id: PathStr, user: C.User = Depends(api_user),
                db: Db = Depends(get_db)) -> dict[str, Any]:  # fmt: skip
    f = get_finding(db, finding_id)
    if f is None:
        raise ApiError(404, f"no finding {finding_id}", "not_found")
    d = finding_json(f)
    d["cases"] = [c.case_id for c in C.cases_for_finding(db, finding_id)]
    d["sites"] = [s.site_id for s in C.sites_for_finding(db, finding_id)]
    return d


@router.post("/findings/{finding_id}/allow", status_code=201, responses=ERR)
def api_finding_allow(finding_id: str, body: AllowIn, user: C.User = Depends(analyst),
                      db: Db = Depends(get_db)) -> dict[str, int]:  # fmt: skip
    try:
        rule_id, version = allow_from_finding(db, finding_id, body.kind, body.value, body.reason, actor=user.username)
    except (InputError, C.CaseError) as e:
        raise _bad(e) from e
    return {"rule_id": rule_id, "version": version}


# -- sites ---------------------------------------------------------------------------------------------
@router.get("/sites", responses=ERR)
def api_sites(user: C.User = Depends(api_user), db: Db = Depends(get_db)) -> list[dict[str, Any]]:
    return [s.to_dict() for s in C.list_sites(db)]


@router.post("/sites", status_code=201, responses=ERR)
def api_site_create(body: SiteIn, user: C.User = Depends(analyst), db: Db = Depends(get_db)) -> dict[str, Any]:
    try:
        return C.create_site(db, body.name, address=body.address, ip_ranges=body.ip_ranges, meter_ids=body.meter_ids,
                             actor=user.username).to_dict()  # fmt: skip
    except (InputError, C.CaseError) as e:
        raise _bad(e) from e


@router.get("/sites/{site_id}", responses=ERR)
def api_site(site_id: PathId, user: C.User = Depends(api_user),
             db: Db = Depends(get_db)) -> dict[str, Any]:  # fmt: skip
    try:
        d = C.get_site(db, site_id).to_dict()
    except C.CaseError as e:
        raise _bad(e) from e
    d["cases"] = [c.case_id for c in C.list_cases(db, site_id=site_id)]
    _, hist = C.audit_log(db, object_type="site", object_id=site_id)
    d["history"] = [h.to_dict() for h in hist]
    return d


# -- cases -----------------------------------------------------------------------------------------------
@router.get("/cases", responses=ERR)
def api_cases(
    state: Literal["suspected", "investigating", "confirmed", "network_cut", "power_cut", "closed", "dismissed"]
    | None = None,
    site_id: IntId | None = None,
    user: C.User = Depends(api_user),
    db: Db = Depends(get_db),
) -> list[dict[str, Any]]:
    return [c.to_dict() for c in C.list_cases(db, state=state, site_id=site_id)]


@router.post("/cases", status_code=201, responses=ERR)
def api_case_create(body: CaseIn, user: C.User = Depends(analyst), db: Db = Depends(get_db)) -> dict[str, Any]:
    try:
        return C.open_case(db, body.title, site_id=body.site_id, finding_ids=body.finding_ids,
                           actor=user.username).to_dict()  # fmt: skip
    except (InputError, C.CaseError) as e:
        raise _bad(e) from e


@router.get("/cases/{case_id}", responses=ERR)
def api_case(case_id: PathId, user: C.User = Depends(api_user),
             db: Db = Depends(get_db)) -> dict[str, Any]:  # fmt: skip
    try:
        b = case_bundle(db, case_id)
    except C.CaseError as e:
        raise _bad(e) from e
    d = b.case.to_dict()
    d["site"] = b.site.to_dict() if b.site else None
    d["finding_ids"] = [f.finding_id for f in b.findings]
    d["notes"] = [n.to_dict() for n in b.notes]
    d["attachments"] = [a.to_dict() for a in b.attachments]
    d["history"] = [h.to_dict() for h in b.history]
    return d


@router.post("/cases/{case_id}/transition", responses=ERR)
def api_case_transition(case_id: PathId, body: TransitionIn,
                        user: C.User = Depends(analyst), db: Db = Depends(get_db)) -> dict[str, Any]:  # fmt: skip
    try:
        return C.transition(db, case_id, body.state, actor=user.username, reason=body.reason).to_dict()
    except (InputError, C.CaseError) as e:
        raise _bad(e) from e


@router.post("/cases/{case_id}/notes", status_code=201, responses=ERR)
def api_case_note(case_id: PathId, body: NoteIn, user: C.User = Depends(analyst),
                  db: Db = Depends(get_db)) -> dict[str, Any]:  # fmt: skip
    try:
        return C.add_note(db, case_id, body.body, actor=user.username).to_dict()
    except (InputError, C.CaseError) as e:
        raise _bad(e) from e


@router.post("/cases/{case_id}/findings", responses=ERR)
def api_case_link(case_id: PathId, body: LinkIn, user: C.User = Depends(analyst),
                  db: Db = Depends(get_db)) -> dict[str, int]:  # fmt: skip
    try:
        return {"added": C.link_findings(db, case_id, body.finding_ids, actor=user.username)}
    except (InputError, C.CaseError) as e:
        raise _bad(e) from e


@router.post("/cases/{case_id}/attachments", status_code=201, responses=ERR)
async def api_case_attach(request: Request, case_id: PathId,
                          file: UploadFile = File(...), user: C.User = Depends(analyst),
                          db: Db = Depends(get_db)) -> dict[str, Any]:  # fmt: skip
    s = request.app.state.settings
    data = await file.read(s.max_attachment_bytes + 1)
    try:
        return C.add_attachment(db, case_id, file.filename, data, actor=user.username, data_dir=Path(s.data_dir),
                                content_type=file.content_type, max_bytes=s.max_attachment_bytes).to_dict()  # fmt: skip
    except InputError as e:
        raise _bad(e, 413 if "limit" in str(e) else 400) from e
    except C.CaseError as e:
        raise _bad(e) from e


@router.get("/cases/{case_id}/report", responses={**ERR, 200: {"content": {"text/html": {}, "application/pdf": {}}}})
def api_case_report(case_id: PathId, format: Literal["html", "pdf"] = "html",
                    lang: Literal["en", "zh", "both"] = "both", user: C.User = Depends(api_user),
                    db: Db = Depends(get_db)) -> Response:  # fmt: skip
    from minewatch.export.report import case_report_html, case_report_pdf

    try:
        b = case_bundle(db, case_id)
    except C.CaseError as e:
        raise _bad(e) from e
    text = case_report_html(b, lang=lang)
    C.audit(db, user.username, "case.report", "case", case_id, None, {"format": format, "via": "api"})
    if format == "html":
        return Response(text, media_type="text/html; charset=utf-8")
    return Response(case_report_pdf(text), media_type="application/pdf")


# -- allow-list, exports, uploads, audit, users -------------------------------------------------------------------
@router.get("/allow", response_model=AllowOut, responses=ERR)
def api_allow(user: C.User = Depends(api_user), db: Db = Depends(get_db)) -> AllowOut:
    cur, hist = allow_state(db)
    return AllowOut(
        version=cur.version,
        rules=[AllowRuleOut(rule_id=r.rule_id, kind=r.kind, value=r.value, reason=r.reason,
                            exceptions=list(r.exceptions), subdomains=r.subdomains, version=r.version)
               for r in cur.rules],
        history=[{"version": h.version, "changed_at": h.changed_at.isoformat(), "action": h.action,
                  "rule_id": h.rule_id, "summary": h.summary} for h in hist],
    )  # fmt: skip


@router.delete("/allow/{rule_id}", responses=ERR)
def api_allow_remove(rule_id: PathId, user: C.User = Depends(analyst),
                     db: Db = Depends(get_db)) -> dict[str, int]:  # fmt: skip
    try:
        return {"version": remove_allow(db, rule_id, actor=user.username)}
    except InputError as e:
        raise _bad(e, 404) from e


ExportKind = Literal["nft", "ipset", "rpz", "suricata", "suricata-dataset", "sigma", "stix", "ecs", "csv", "jsonl"]
assert set(ExportKind.__args__) == set(EXPORT_EXT)  # type: ignore[attr-defined]


@router.get("/exports/{kind}", responses={**ERR, 200: {"content": {"text/plain": {}}}})
def api_export(
    kind: ExportKind,
    min_score: Annotated[float, Query(ge=0, le=100)] = 70.0,
    site_id: IntId | None = None,
    case_id: IntId | None = None,
    since: datetime | None = None,
    lang: Literal["en", "zh"] = "en",
    include_timing_only: bool = False,
    user: C.User = Depends(api_user),
    db: Db = Depends(get_db),
) -> Response:
    r = export(db, kind, FindingFilter(site_id=site_id, case_id=case_id, since=since), min_score=min_score, lang=lang,
               include_timing_only=include_timing_only)
    C.audit(db, user.username, "export", "export", kind, None, {"findings": r.used, "min_score": min_score, "via": "api"})
    return Response(r.text, media_type=r.media_type, headers=r.headers())


@router.post("/uploads", status_code=202, responses=ERR)
async def api_upload(request: Request, file: list[UploadFile] = File(..., description=(
        "One or more files scanned together: a capture (pcap, pcapng, gzip), meter readings (CSV, Excel), or "
        "flow logs (Zeek conn/dns/ssl in TSV or JSON, Suricata EVE, NetFlow Parquet from `minewatch collect`, "
        "nfcapd files, DNS resolver query logs of BIND, dnsmasq or Unbound). Logs of one upload are read "
        "together, so a conn.log is named by the dns.log and ssl.log beside it.")),
        rescan: bool = Form(False, description=(
            "Scan files again even if the store's import ledger knows their content (by default their stored "
            "findings are shown), e.g. after importing a pool list; as `minewatch scan --rescan`.")),
        tz_offset: float = Form(0.0, ge=-14, le=14, description=(
            "Hours the clock of uploaded DNS resolver logs is ahead of UTC (they write local time without a "
            "zone); as `minewatch scan --tz-offset`.")),
        meter_unit: Literal["", "kwh", "kw"] = Form("", description=(
            "Unit of the values in meter files: `kwh` (energy per interval) or `kw`; empty: from the column "
            "names, else assumed (the job's `warnings` say so); as `minewatch power scan --unit`.")),
        meter_interval: str = Form("", max_length=16, description=(
            "Reading interval of meter files: 15min, 30min, 1h, 1d or seconds; empty: detected; as "
            "`minewatch power scan --interval`.")),
        meter_tz_offset: float = Form(0.0, ge=-14, le=14, description=(
            "Hours the meter clock is ahead of UTC (8 for China); as `minewatch power scan --tz-offset`.")),
        meta: UploadFile | None = File(None, description=(
            "Customer metadata CSV for the meter files (meter_id, tariff_class, business, contracted_kw, "
            "transformer, role); not scanned as meter data; as `minewatch power scan --meta`.")),
        user: C.User = Depends(analyst)) -> dict[str, Any]:  # fmt: skip
    from minewatch.web.jobs import MeterOptions
    from minewatch.web.pages import submit_uploads

    try:
        meter = MeterOptions.parse(meter_unit, meter_interval, meter_tz_offset)
        job = await submit_uploads(request, file, user.username, rescan=rescan, tz_offset=tz_offset, meter=meter,
                                   meta=meta)
    except InputError as e:
        raise _bad(e, 400) from e
    return job.to_dict()


@router.get("/jobs/{job_id}", responses=ERR)
def api_job(request: Request, job_id: PathStr, user: C.User = Depends(api_user)) -> dict[str, Any]:
    job = request.app.state.jobs.get(job_id)
    if job is None:
        raise ApiError(404, f"no job {job_id}", "not_found")
    return job.to_dict()


@router.get("/audit", responses=ERR)
def api_audit(
    object_type: Annotated[str | None, Query(max_length=32)] = None,
    object_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    user: C.User = Depends(api_user),
    db: Db = Depends(get_db),
) -> dict[str, Any]:
    total, rows = C.audit_log(db, object_type=object_type, object_id=object_id, limit=limit, offset=offset)
    return {"total": total, "offset": offset, "limit": limit, "items": [r.to_dict() for r in rows],
            "chain_broken_at": C.verify_audit(db)}  # fmt: skip


@router.get("/users", responses=ERR)
def api_users(user: C.User = Depends(admin), db: Db = Depends(get_db)) -> list[dict[str, Any]]:
    return [u.to_dict() for u in C.list_users(db)]


@router.post("/users", status_code=201, responses=ERR)
def api_user_create(body: UserIn, user: C.User = Depends(admin), db: Db = Depends(get_db)) -> dict[str, Any]:
    try:
        return C.create_user(db, body.username, body.password, body.role, actor=user.username).to_dict()
    except (InputError, C.CaseError) as e:
        raise _bad(e) from e


@router.get("/me", responses=ERR)
def api_me(user: C.User = Depends(api_user)) -> dict[str, Any]:
    return user.to_dict()


__all__ = ["API_ERROR_CODES", "EXPORT_EXT", "ApiError", "api_lang", "router", "worded"]
