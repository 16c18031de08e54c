"""Operations shared by the pages and the API, so both do exactly the same thing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from minewatch.errors import InputError
from minewatch.export import DEFAULT_MIN_SCORE
from minewatch.model import Finding
from minewatch.store import cases as C
from minewatch.store.backend import Db, store_like
from minewatch.web.queries import FindingFilter, all_findings, get_finding

#: file name extension per export kind (the file name is ours, never the user's)
EXPORT_EXT: dict[str, str] = {
    "nft": "nft", "ipset": "ipset", "rpz": "zone", "suricata": "rules", "suricata-dataset": "lst",
    "sigma": "yml", "stix": "json", "ecs": "ndjson", "csv": "csv", "jsonl": "jsonl",
}  # fmt: skip


def allow_candidates(f: Finding) -> list[tuple[str, str]]:
    """The values of a finding an allow rule can be made from: (kind, value)."""
    out: list[tuple[str, str]] = []
    for ip in (f.src_ip, f.dst_ip):
        if ip and ("cidr", ip) not in out:
            out.append(("cidr", ip))
    for host in (f.pool_host, f.sni):
        if host and ("domain", host) not in out:
            out.append(("domain", host))
    return out


def allow_from_finding(db: Db, finding_id: str, kind: str, value: str, reason: str, *, actor: str) -> tuple[int, int]:
    """"This is our node, not a miner": an allow rule from one of the finding's own values; returns
    (rule_id, allow-list version)."""
    from minewatch.net.intel import AllowRule
    from minewatch.store.intel_tables import add_allow_rule

    f = get_finding(db, finding_id)
    if f is None:
        raise C.NotFound(f"no finding {finding_id}")
    if (kind, value) not in allow_candidates(f):
        raise InputError(f"{kind} {value!r} is not a value of finding {finding_id}")
    reason = (reason or "").strip()
    if not reason:
        raise InputError("an allow rule needs a reason")
    rule = AllowRule.cidr(value, reason) if kind == "cidr" else AllowRule.domain(value, reason)
    rule_id, version = add_allow_rule(store_like(db), rule)
    C.audit(db, actor, "allow.add", "allow_rule", rule_id, None,
            {"kind": rule.kind, "value": rule.value, "reason": reason, "finding_id": finding_id, "version": version})  # fmt: skip
    return rule_id, version


def remove_allow(db: Db, rule_id: int, *, actor: str) -> int:
    from minewatch.store.intel_tables import remove_allow_rule

    version = remove_allow_rule(store_like(db), rule_id)
    C.audit(db, actor, "allow.remove", "allow_rule", rule_id, None, {"version": version})
    return version


def allow_state(db: Db) -> tuple[Any, list[Any]]:
    from minewatch.store.intel_tables import allow_history, load_allowlist

    st = store_like(db)
    return load_allowlist(st), allow_history(st)


def allowlist(db: Db) -> Any:
    from minewatch.store.intel_tables import load_allowlist

    return load_allowlist(store_like(db))


#: formats made of blocking indicators: the pools of mining findings scored at least `min_score`
BLOCKING_KINDS: tuple[str, ...] = ("nft", "ipset", "rpz", "suricata", "suricata-dataset", "sigma", "stix")
#: formats that list every selected finding, whatever its score
LISTING_KINDS: tuple[str, ...] = ("ecs", "csv", "jsonl")
assert set(BLOCKING_KINDS) | set(LISTING_KINDS) == set(EXPORT_EXT)


def export_params(min_score: str | None, site_id: str | None, case_id: str | None,
                  since: str | None) -> tuple[FindingFilter, float]:  # fmt: skip
    """(selection, blocking threshold) from the export parameters as text (the page's query string):
    the parameters `GET /api/v1/exports/{kind}` takes, with the same meaning, so the page gives the
    same file as the API for the same address. A value that does not parse is an `InputError`."""
    from datetime import UTC, datetime

    def num(name: str, v: str | None, cast: Any) -> Any:
        try:
            return cast(v) if v not in (None, "") else None
        except ValueError:
            raise InputError(f"bad export parameter {name}={v!r}") from None

    score = num("min_score", min_score, float)
    if score is not None and not 0 <= score <= 100:
        raise InputError(f"bad export parameter min_score={min_score!r}: 0 to 100")
    flt = FindingFilter(site_id=num("site_id", site_id, int), case_id=num("case_id", case_id, int))
    if since:
        try:
            dt = datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            raise InputError(f"bad export parameter since={since!r}: use ISO 8601, e.g. 2024-06-01T00:00") from None
        flt.since = dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    return flt, DEFAULT_MIN_SCORE if score is None else score  # the API's and `minewatch export`'s default


@dataclass
class ExportResult:
    text: str
    filename: str
    media_type: str
    matched: int
    used: int

    def headers(self) -> dict[str, str]:
        """Download name and counts: `X-Findings-Matched` selected, `X-Findings-Used` of them given to
        the exporter (the allow-listed ones are not)."""
        return {"Content-Disposition": f'attachment; filename="{self.filename}"',
                "X-Findings-Matched": str(self.matched), "X-Findings-Used": str(self.used)}  # fmt: skip


def export(db: Db, kind: str, flt: FindingFilter, *, min_score: float, lang: str,
           include_timing_only: bool = False) -> ExportResult:  # fmt: skip
    """One export file, for the page and the API alike. `used` counts the findings left after the
    allow-list and, for the enforcing formats, without timing-only findings unless asked for
    (`export.select_for_export`, the CLI's rule too), not every one selected."""
    from minewatch.export import EXPORTERS, select_for_export

    if kind not in EXPORTERS:
        raise C.NotFound(f"unknown export {kind!r}")
    total, rows = all_findings(db, flt)
    allow = allowlist(db)
    shown, _hidden = allow.filter(rows)
    shown = select_for_export(kind, shown, include_timing_only=include_timing_only)
    text = EXPORTERS[kind](shown, min_score=min_score, allow=allow, lang=lang)
    media = {"json": "application/json", "csv": "text/csv"}.get(EXPORT_EXT[kind], "text/plain")
    return ExportResult(text, f"minewatch-{kind}.{EXPORT_EXT[kind]}", f"{media}; charset=utf-8", total, len(shown))


@dataclass
class CaseBundle:
    case: C.Case
    site: C.Site | None
    findings: list[Finding]
    notes: list[C.Note]
    attachments: list[C.Attachment]
    history: list[C.AuditEntry]


def case_bundle(db: Db, case_id: int) -> CaseBundle:
    case = C.get_case(db, case_id)
    site = C.get_site(db, case.site_id) if case.site_id is not None else None
    _, fs = all_findings(db, FindingFilter(case_id=case_id), cap=5000)
    _, hist = C.audit_log(db, object_type="case", object_id=case_id, limit=1000)
    return CaseBundle(case, site, fs, C.notes(db, case_id), C.attachments(db, case_id), list(reversed(hist)))
