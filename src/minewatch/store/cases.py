"""Sites, cases, notes, attachments, users and the audit log: the supervision chain after a finding.

Why a state machine instead of a free "status" field: a case is what a regulator signs and a grid
company acts on, so "power cut" must never appear on a case nobody confirmed, and a dismissal must
say why. `TRANSITIONS` is the whole rule book; everything else refuses what it does not list.

Why the audit log is hash-chained: it is append-only by API (nothing here updates or deletes an
entry), and each entry also carries the hash of the one before, so an edit made behind the API's back
(in the database file) is found by `verify_audit`.

Why sites match findings by address range and meter id: a scan tomorrow finds the same rigs under
new session ids; attaching by where they are (not by finding id) puts them on the open case at once.

Every function takes a `minewatch.store.backend.Db`, so the same code runs on DuckDB and PostgreSQL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import os
import re
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from minewatch.errors import InputError, MinewatchError
from minewatch.store.backend import Db, jdump, jload, utc

STATES: tuple[str, ...] = (
    "suspected", "investigating", "confirmed", "network_cut", "power_cut", "closed", "dismissed",
)  # fmt: skip

#: state -> states it may move to. Closed and dismissed are final: new evidence opens a new case.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "suspected": ("investigating", "dismissed"),
    "investigating": ("confirmed", "dismissed"),
    "confirmed": ("network_cut", "power_cut"),
    "network_cut": ("power_cut", "closed"),
    "power_cut": ("network_cut", "closed"),
    "closed": (),
    "dismissed": (),
}
ACTIVE_STATES = ("suspected", "investigating", "confirmed", "network_cut", "power_cut")

STATE_NAMES: dict[str, tuple[str, str]] = {
    "suspected": ("suspected", "疑似"),
    "investigating": ("under investigation", "调查中"),
    "confirmed": ("confirmed", "已确认"),
    "network_cut": ("network cut", "已断网"),
    "power_cut": ("power cut", "已断电"),
    "closed": ("closed", "已结案"),
    "dismissed": ("dismissed (false alarm)", "已排除（误报）"),
}

ROLES: tuple[str, ...] = ("viewer", "analyst", "admin")
ROLE_NAMES: dict[str, tuple[str, str]] = {
    "viewer": ("viewer", "查看者"), "analyst": ("analyst", "分析员"), "admin": ("administrator", "管理员"),
}  # fmt: skip

#: The audit log's action codes as people read them (the codes stay in the log and the API)
ACTION_NAMES: dict[str, tuple[str, str]] = {
    "case.open": ("case opened", "立案"), "case.state": ("state changed", "状态变更"),
    "case.note": ("note added", "添加备注"), "case.attach": ("file attached", "添加附件"),
    "case.link": ("findings linked", "关联发现"), "case.report": ("report made", "生成报告"),
    "site.create": ("site created", "新建场所"), "site.update": ("site changed", "修改场所"),
    "user.create": ("user created", "新建用户"), "user.role": ("role changed", "角色变更"),
    "user.password": ("password changed", "修改密码"), "user.token": ("API token issued", "签发 API 令牌"),
    "login": ("logged in", "登录"), "login.fail": ("log-in failed", "登录失败"),
    "login.lockout": ("log-in locked", "登录锁定"), "logout": ("logged out", "退出登录"),
    "allow.add": ("allow rule added", "添加白名单规则"), "allow.remove": ("allow rule removed", "删除白名单规则"),
    "add": ("added", "添加"), "remove": ("removed", "删除"), "export": ("export made", "导出"),
    "findings.replace": ("findings replaced by a new reading of their file", "发现由其文件的重新读取替换"),
}  # fmt: skip
#: object types of the audit log
OBJECT_NAMES: dict[str, tuple[str, str]] = {
    "case": ("case", "案件"), "site": ("site", "场所"), "user": ("user", "用户"), "allow": ("allow rule", "白名单规则"),
    "finding": ("finding", "发现"), "session": ("session", "会话"), "export": ("export", "导出"),
}  # fmt: skip


def action_name(code: str, lang: str) -> str:
    """An audit action in the reader's language (unknown codes as they are)."""
    return ACTION_NAMES.get(code, (code, code))[1 if lang == "zh" else 0]


#: Largest attachment kept by default (bytes); the web server passes its own limit.
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024


class CaseError(MinewatchError):
    """A request the case rules refuse (unknown id, illegal transition, missing reason)."""


class NotFound(CaseError):
    pass


class TransitionError(CaseError):
    pass


class PermissionDenied(CaseError):
    pass


@dataclass(slots=True)
class Site:
    site_id: int
    name: str
    address: str | None
    ip_ranges: list[str]
    meter_ids: list[str]
    created_at: datetime
    created_by: str
    findings: int = 0
    open_cases: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["created_at"] = _iso(self.created_at)
        return d


@dataclass(slots=True)
class Case:
    case_id: int
    title: str
    state: str
    site_id: int | None
    reason: str | None
    created_at: datetime
    updated_at: datetime
    created_by: str
    findings: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["created_at"] = _iso(self.created_at)
        d["updated_at"] = _iso(self.updated_at)
        d["allowed_next"] = list(TRANSITIONS[self.state])
        return d


@dataclass(slots=True)
class Note:
    note_id: int
    case_id: int
    author: str
    body: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["created_at"] = _iso(self.created_at)
        return d


@dataclass(slots=True)
class Attachment:
    attachment_id: int
    case_id: int
    filename: str
    content_sha256: str
    size_bytes: int
    content_type: str | None
    uploaded_by: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["created_at"] = _iso(self.created_at)
        return d


@dataclass(slots=True)
class AuditEntry:
    audit_id: int
    changed_at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str | None
    before: Any
    after: Any
    prev_hash: str
    entry_hash: str

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["changed_at"] = _iso(self.changed_at)
        return d


@dataclass(slots=True)
class User:
    user_id: int
    username: str
    role: str
    disabled: bool
    created_at: datetime

    def can(self, needed: str) -> bool:
        """Roles are ordered: an admin can do what an analyst can, an analyst what a viewer can."""
        return not self.disabled and ROLES.index(self.role) >= ROLES.index(needed)

    def to_dict(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "username": self.username, "role": self.role,
                "disabled": self.disabled, "created_at": _iso(self.created_at)}  # fmt: skip


def _iso(ts: datetime | None) -> str | None:
    from minewatch.model import iso

    return iso(ts)


def _now() -> datetime:
    return datetime.now(UTC)


def _next(db: Db, seq: str) -> int:
    row = db.one(f"SELECT nextval('{seq}')")
    return int(row[0]) if row else 1


# -- audit log ------------------------------------------------------------------------------------
_GENESIS = "0" * 64

#: largest row offset a listing passes to the database (far past any real table, well inside int64)
MAX_OFFSET = 10**15


def _entry_hash(prev: str, audit_id: int, at: datetime, actor: str, action: str, otype: str,
                oid: str | None, before: Any, after: Any) -> str:  # fmt: skip
    body = json.dumps(
        [audit_id, _iso(at), actor, action, otype, oid, before, after],
        ensure_ascii=False, sort_keys=True, default=str,
    )  # fmt: skip
    return hashlib.sha256((prev + body).encode()).hexdigest()


def audit(db: Db, actor: str, action: str, object_type: str, object_id: Any, before: Any = None,
          after: Any = None) -> int:  # fmt: skip
    """Append one entry; returns its id. Call inside the caller's transaction so the change and its
    record commit together.

    Writers take turns at the chain's end, or two of them would read the same last entry and both link
    to it (a fork that `verify_audit` reports as tampering). On PostgreSQL (several processes) the
    table is locked here until the transaction ends; on DuckDB (one writing process, many request
    threads) the transaction holds the store's write lock from before its BEGIN (`DuckDb.tx`), so the
    last entry read here is the last one committed and stays the last until this one is.
    """
    before = json.loads(jdump(before) or "null") if before is not None else None
    after = json.loads(jdump(after) or "null") if after is not None else None
    with db.tx():  # joins the caller's transaction when there is one
        if db.dialect == "postgres":
            db.execute("LOCK TABLE audit_log IN EXCLUSIVE MODE")
        row = db.one("SELECT entry_hash FROM audit_log ORDER BY audit_id DESC LIMIT 1")
        prev = row[0] if row else _GENESIS
        aid = _next(db, "audit_ids")
        at = _now()
        oid = None if object_id is None else str(object_id)
        h = _entry_hash(prev, aid, at, actor, action, object_type, oid, before, after)
        db.execute(
            "INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [aid, at, actor, action, object_type, oid, jdump(before), jdump(after), prev, h],
        )
    return aid


def _audit_row(r: tuple[Any, ...]) -> AuditEntry:
    return AuditEntry(int(r[0]), utc(r[1]) or _now(), r[2], r[3], r[4], r[5], jload(r[6]), jload(r[7]), r[8], r[9])


_AUDIT_COLS = "audit_id, changed_at, actor, action, object_type, object_id, before_state, after_state, prev_hash, entry_hash"


def audit_log(db: Db, *, object_type: str | None = None, object_id: Any = None, limit: int = 200,
              offset: int = 0) -> tuple[int, list[AuditEntry]]:  # fmt: skip
    """(total, newest first page) of the log, optionally for one object. The offset is clamped to what
    the database's 64-bit OFFSET holds (a page number typed into the address bar can be any size)."""
    offset = max(0, min(int(offset), MAX_OFFSET))
    where, params = [], []
    if object_type:
        where.append("object_type = ?")
        params.append(object_type)
    if object_id is not None:
        where.append("object_id = ?")
        params.append(str(object_id))
    w = (" WHERE " + " AND ".join(where)) if where else ""
    total_row = db.one(f"SELECT count(*) FROM audit_log{w}", params)
    rows = db.execute(
        f"SELECT {_AUDIT_COLS} FROM audit_log{w} ORDER BY audit_id DESC LIMIT ? OFFSET ?",
        [*params, int(limit), int(offset)],
    )
    return int(total_row[0]) if total_row else 0, [_audit_row(r) for r in rows]


def verify_audit(db: Db) -> int | None:
    """The id of the first entry whose chain does not hold (edited, removed or reordered), else None."""
    prev = _GENESIS
    for r in db.execute(f"SELECT {_AUDIT_COLS} FROM audit_log ORDER BY audit_id"):
        e = _audit_row(r)
        want = _entry_hash(prev, e.audit_id, e.changed_at, e.actor, e.action, e.object_type, e.object_id,
                           e.before, e.after)  # fmt: skip
        if e.prev_hash != prev or e.entry_hash != want:
            return e.audit_id
        prev = e.entry_hash
    return None


# -- users ------------------------------------------------------------------------------------------
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**15, 8, 1


def hash_password(password: str) -> str:
    """scrypt (memory-hard KDF) with a per-user random salt; parameters are stored with the hash so
    they can be raised later without breaking old accounts."""
    salt = os.urandom(16)
    dk = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P,
                        maxmem=64 * 1024 * 1024, dklen=32)  # fmt: skip
    b = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b(salt).decode()}${b(dk).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        algo, n, r, p, salt, dk = stored.split("$")
        if algo != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             maxmem=64 * 1024 * 1024, dklen=len(base64.b64decode(dk)))  # fmt: skip
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(dk))


_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_USER_COLS = "user_id, username, role, disabled, created_at"


def _user(r: tuple[Any, ...]) -> User:
    return User(int(r[0]), r[1], r[2], bool(r[3]), utc(r[4]) or _now())


def create_user(db: Db, username: str, password: str, role: str, *, actor: str) -> User:
    if not _USERNAME.match(username or ""):
        raise InputError(f"user name {username!r}: use 1-64 letters, digits, _ . @ -")
    if role not in ROLES:
        raise InputError(f"role {role!r}: choose from {', '.join(ROLES)}")
    if len(password or "") < 10:
        raise InputError("password: at least 10 characters")
    if db.one("SELECT 1 FROM users WHERE username = ?", [username]):
        raise CaseError(f"user {username!r} exists")
    with db.tx():
        uid = _next(db, "user_ids")
        db.execute(
            "INSERT INTO users VALUES (?, ?, ?, ?, NULL, FALSE, ?)",
            [uid, username, role, hash_password(password), _now()],
        )
        audit(db, actor, "user.create", "user", uid, None, {"username": username, "role": role})
    return get_user(db, uid)


def get_user(db: Db, user_id: int) -> User:
    r = db.one(f"SELECT {_USER_COLS} FROM users WHERE user_id = ?", [user_id])
    if not r:
        raise NotFound(f"no user {user_id}")
    return _user(r)


def user_by_name(db: Db, username: str) -> User | None:
    r = db.one(f"SELECT {_USER_COLS} FROM users WHERE username = ?", [username])
    return _user(r) if r else None


def list_users(db: Db) -> list[User]:
    return [_user(r) for r in db.execute(f"SELECT {_USER_COLS} FROM users ORDER BY username")]


def authenticate(db: Db, username: str, password: str) -> User | None:
    """The user when name and password match and the account is enabled. A missing user costs the
    same KDF time as a wrong password, so response times do not reveal which names exist."""
    r = db.one("SELECT user_id, pw_hash, disabled FROM users WHERE username = ?", [username])
    if not r:
        verify_password(password, _DUMMY_HASH)
        return None
    if not verify_password(password, r[1]) or bool(r[2]):
        return None
    return get_user(db, int(r[0]))


_DUMMY_HASH = "scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


def set_role(db: Db, user_id: int, role: str, *, actor: str, disabled: bool | None = None) -> User:
    if role not in ROLES:
        raise InputError(f"role {role!r}: choose from {', '.join(ROLES)}")
    old = get_user(db, user_id)
    dis = old.disabled if disabled is None else disabled
    with db.tx():
        db.execute("UPDATE users SET role = ?, disabled = ? WHERE user_id = ?", [role, dis, user_id])
        audit(db, actor, "user.role", "user", user_id, {"role": old.role, "disabled": old.disabled},
              {"role": role, "disabled": dis})  # fmt: skip
    return get_user(db, user_id)


def set_password(db: Db, user_id: int, password: str, *, actor: str) -> None:
    if len(password or "") < 10:
        raise InputError("password: at least 10 characters")
    get_user(db, user_id)
    with db.tx():
        db.execute("UPDATE users SET pw_hash = ? WHERE user_id = ?", [hash_password(password), user_id])
        audit(db, actor, "user.password", "user", user_id)


def create_api_token(db: Db, user_id: int, *, actor: str) -> str:
    """A new bearer token for the HTTP API (replaces the old one). Only its SHA-256 is stored: the
    token is shown once."""
    get_user(db, user_id)
    token = "mw_" + secrets.token_urlsafe(32)
    with db.tx():
        db.execute("UPDATE users SET token_sha256 = ? WHERE user_id = ?",
                   [hashlib.sha256(token.encode()).hexdigest(), user_id])  # fmt: skip
        audit(db, actor, "user.token", "user", user_id)
    return token


def user_for_token(db: Db, token: str) -> User | None:
    if not token or not token.startswith("mw_"):
        return None
    r = db.one(f"SELECT {_USER_COLS} FROM users WHERE token_sha256 = ?", [hashlib.sha256(token.encode()).hexdigest()])
    u = _user(r) if r else None
    return u if u and not u.disabled else None


# -- web sessions ---------------------------------------------------------------------------------------
def _session_key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def revoke_session(db: Db, session_id: str, user_id: int, expires_at: datetime, *, actor: str) -> None:
    """End one web session for good (log-out) and audit it. The session cookie is signed and carries
    its own expiry, so deleting it in the browser is not enough: a copy of it would keep working. Only
    the hash of the session id is kept, until the cookie would have expired anyway."""
    now = _now()
    with db.tx():
        db.execute("DELETE FROM revoked_sessions WHERE expires_at < ?", [now])
        db.execute("INSERT INTO revoked_sessions VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                   [_session_key(session_id), user_id, now, expires_at])  # fmt: skip
        audit(db, actor, "logout", "user", user_id)


def session_revoked(db: Db, session_id: str) -> bool:
    return db.one("SELECT 1 FROM revoked_sessions WHERE session_sha256 = ?", [_session_key(session_id)]) is not None


# -- sites --------------------------------------------------------------------------------------------
def parse_ranges(values: Iterable[str]) -> list[str]:
    """CIDR ranges or single addresses, normalised; InputError names the bad one."""
    out = []
    for v in values:
        v = v.strip()
        if not v:
            continue
        try:
            out.append(str(ipaddress.ip_network(v, strict=False)))
        except ValueError as e:
            raise InputError(f"not an address or CIDR range: {v!r}") from e
    return list(dict.fromkeys(out))


def _site(r: tuple[Any, ...]) -> Site:
    return Site(int(r[0]), r[1], r[2], list(jload(r[3]) or []), list(jload(r[4]) or []), utc(r[5]) or _now(),
                r[6], int(r[7] or 0), int(r[8] or 0))  # fmt: skip


_SITE_SQL = (
    "SELECT s.site_id, s.name, s.address, s.ip_ranges, s.meter_ids, s.created_at, s.created_by, "
    "(SELECT count(*) FROM site_findings sf WHERE sf.site_id = s.site_id), "
    "(SELECT count(*) FROM cases c WHERE c.site_id = s.site_id AND c.state IN "
    f"({', '.join(repr(s) for s in ACTIVE_STATES)})) FROM sites s"
)


def create_site(db: Db, name: str, *, ip_ranges: Iterable[str] = (), meter_ids: Iterable[str] = (),
                address: str | None = None, actor: str) -> Site:  # fmt: skip
    """A new site; findings already in the store that fall inside it are attached at once."""
    name = (name or "").strip()
    if not name:
        raise InputError("site name is empty")
    ranges = parse_ranges(ip_ranges)
    meters = list(dict.fromkeys(m.strip() for m in meter_ids if m and m.strip()))
    if not ranges and not meters:
        raise InputError("a site needs at least one address range or meter id")
    with db.tx():
        sid = _next(db, "site_ids")
        db.execute("INSERT INTO sites VALUES (?, ?, ?, ?, ?, ?, ?)",
                   [sid, name, address or None, jdump(ranges), jdump(meters), _now(), actor])  # fmt: skip
        audit(db, actor, "site.create", "site", sid, None,
              {"name": name, "address": address, "ip_ranges": ranges, "meter_ids": meters})  # fmt: skip
    attach_findings(db, site_ids=[sid])
    return get_site(db, sid)


def update_site(db: Db, site_id: int, *, actor: str, name: str | None = None, address: str | None = None,
                ip_ranges: Iterable[str] | None = None, meter_ids: Iterable[str] | None = None) -> Site:  # fmt: skip
    old = get_site(db, site_id)
    new_name = old.name if name is None else name.strip()
    new_addr = old.address if address is None else (address or None)
    ranges = old.ip_ranges if ip_ranges is None else parse_ranges(ip_ranges)
    meters = old.meter_ids if meter_ids is None else [m.strip() for m in meter_ids if m.strip()]
    if not new_name:
        raise InputError("site name is empty")
    with db.tx():
        db.execute("UPDATE sites SET name = ?, address = ?, ip_ranges = ?, meter_ids = ? WHERE site_id = ?",
                   [new_name, new_addr, jdump(ranges), jdump(meters), site_id])  # fmt: skip
        audit(db, actor, "site.update", "site", site_id,
              {"name": old.name, "address": old.address, "ip_ranges": old.ip_ranges, "meter_ids": old.meter_ids},
              {"name": new_name, "address": new_addr, "ip_ranges": ranges, "meter_ids": meters})  # fmt: skip
    attach_findings(db, site_ids=[site_id])
    return get_site(db, site_id)


def get_site(db: Db, site_id: int) -> Site:
    r = db.one(_SITE_SQL + " WHERE s.site_id = ?", [site_id])
    if not r:
        raise NotFound(f"no site {site_id}")
    return _site(r)


def list_sites(db: Db) -> list[Site]:
    return [_site(r) for r in db.execute(_SITE_SQL + " ORDER BY s.site_id")]


def site_finding_ids(db: Db, site_id: int) -> list[str]:
    return [r[0] for r in db.execute("SELECT finding_id FROM site_findings WHERE site_id = ? ORDER BY finding_id",
                                     [site_id])]  # fmt: skip


class _SiteMatcher:
    """Address ranges and meter ids of many sites, matched against one finding at a time."""

    def __init__(self, sites: list[Site]) -> None:
        self.nets = [(s.site_id, ipaddress.ip_network(r)) for s in sites for r in s.ip_ranges]
        self.meters: dict[str, list[int]] = {}
        for s in sites:
            for m in s.meter_ids:
                self.meters.setdefault(m, []).append(s.site_id)

    def match(self, src_ip: str | None, dst_ip: str | None, meter_id: str | None) -> set[int]:
        hit: set[int] = set(self.meters.get(meter_id, ())) if meter_id else set()
        for ip in (src_ip, dst_ip):
            if not ip or not self.nets:
                continue
            try:
                a = ipaddress.ip_address(ip)
            except ValueError:
                continue
            hit.update(sid for sid, net in self.nets if a.version == net.version and a in net)
        return hit


def attach_findings(db: Db, *, site_ids: list[int] | None = None, since: datetime | None = None) -> int:
    """Link findings to the sites they fall in, and to those sites' open cases; returns new links.

    With `site_ids`, every stored finding is checked against those sites (a site just drawn);
    otherwise only findings stored after `since`.
    """
    sites = list_sites(db) if site_ids is None else [get_site(db, s) for s in site_ids]
    if not sites:
        return 0
    m = _SiteMatcher(sites)
    sql = "SELECT finding_id, src_ip, dst_ip, meter_id FROM findings"
    params: list[Any] = []
    if since is not None:
        sql += " WHERE stored_at > ?"
        params.append(since)
    links: list[tuple[int, str]] = []
    for fid, src, dst, meter in db.execute(sql, params):
        links.extend((sid, fid) for sid in m.match(src, dst, meter))
    if not links:
        return 0
    open_cases: dict[int, list[int]] = {}
    for cid, sid in db.execute(
        f"SELECT case_id, site_id FROM cases WHERE site_id IS NOT NULL AND state IN "
        f"({', '.join('?' for _ in ACTIVE_STATES)})", list(ACTIVE_STATES),
    ):  # fmt: skip
        open_cases.setdefault(int(sid), []).append(int(cid))
    now = _now()
    before = _count(db, "site_findings")
    with db.tx():
        for sid, fid in links:
            db.execute("INSERT INTO site_findings VALUES (?, ?, ?) ON CONFLICT DO NOTHING", [sid, fid, now])
            for cid in open_cases.get(sid, ()):
                db.execute("INSERT INTO case_findings VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                           [cid, fid, now, "auto"])  # fmt: skip
    return _count(db, "site_findings") - before


def attach_new(db: Db) -> int:
    """Attach findings stored since the last call (a watermark kept in the store). Cheap when nothing
    is new, so the scan command and the web upload job both call it after storing findings."""
    row = db.one("SELECT stored_at FROM attach_state WHERE name = 'findings'")
    since = utc(row[0]) if row else None
    top = db.one("SELECT max(stored_at) FROM findings")
    newest = utc(top[0]) if top else None
    if newest is None or (since is not None and newest <= since):
        return 0
    n = attach_findings(db, since=since)
    with db.tx():
        db.execute("DELETE FROM attach_state WHERE name = 'findings'")
        db.execute("INSERT INTO attach_state VALUES ('findings', ?)", [newest])
    return n


def _count(db: Db, table: str) -> int:
    r = db.one(f"SELECT count(*) FROM {table}")
    return int(r[0]) if r else 0


# -- cases ----------------------------------------------------------------------------------------------
_CASE_SQL = (
    "SELECT c.case_id, c.title, c.state, c.site_id, c.reason, c.created_at, c.updated_at, c.created_by, "
    "(SELECT count(*) FROM case_findings cf WHERE cf.case_id = c.case_id) FROM cases c"
)


def _case(r: tuple[Any, ...]) -> Case:
    return Case(int(r[0]), r[1], r[2], None if r[3] is None else int(r[3]), r[4], utc(r[5]) or _now(),
                utc(r[6]) or _now(), r[7], int(r[8] or 0))  # fmt: skip


def open_case(db: Db, title: str, *, actor: str, site_id: int | None = None,
              finding_ids: Iterable[str] = ()) -> Case:  # fmt: skip
    """A new case in state `suspected`, with the given findings and (for a site) all of the site's."""
    title = (title or "").strip()
    if not title:
        raise InputError("case title is empty")
    if site_id is not None:
        get_site(db, site_id)
    ids = list(dict.fromkeys(finding_ids))
    for fid in ids:
        if not db.one("SELECT 1 FROM findings WHERE finding_id = ?", [fid]):
            raise NotFound(f"no finding {fid}")
    if site_id is not None:
        ids += [f for f in site_finding_ids(db, site_id) if f not in ids]
    now = _now()
    with db.tx():
        cid = _next(db, "case_ids")
        db.execute("INSERT INTO cases VALUES (?, ?, 'suspected', ?, NULL, ?, ?, ?)",
                   [cid, title, site_id, now, now, actor])  # fmt: skip
        for fid in ids:
            db.execute("INSERT INTO case_findings VALUES (?, ?, ?, ?)", [cid, fid, now, actor])
        audit(db, actor, "case.open", "case", cid, None,
              {"title": title, "state": "suspected", "site_id": site_id, "findings": ids})  # fmt: skip
    return get_case(db, cid)


def get_case(db: Db, case_id: int) -> Case:
    r = db.one(_CASE_SQL + " WHERE c.case_id = ?", [case_id])
    if not r:
        raise NotFound(f"no case {case_id}")
    return _case(r)


def list_cases(db: Db, *, state: str | None = None, site_id: int | None = None) -> list[Case]:
    where, params = [], []
    if state:
        where.append("c.state = ?")
        params.append(state)
    if site_id is not None:
        where.append("c.site_id = ?")
        params.append(site_id)
    w = (" WHERE " + " AND ".join(where)) if where else ""
    return [_case(r) for r in db.execute(_CASE_SQL + w + " ORDER BY c.case_id DESC", params)]


def transition(db: Db, case_id: int, new_state: str, *, actor: str, reason: str | None = None) -> Case:
    """Move a case along `TRANSITIONS`; a dismissal needs the reason it was a false alarm.

    The state is read and changed in one transaction, and the change only applies while the case is
    still in the state that was read: of two analysts moving a case at the same moment, the second
    is judged against the first one's result (refused with `TransitionError` when the rules say so),
    never silently overwritten and never a raw database conflict.
    """
    if new_state not in STATES:
        raise TransitionError(f"unknown state {new_state!r}; states: {', '.join(STATES)}")
    reason = (reason or "").strip() or None
    if new_state == "dismissed" and not reason:
        raise TransitionError("a dismissal needs the reason it was a false alarm")
    with db.tx():
        old = get_case(db, case_id)
        if new_state not in TRANSITIONS[old.state]:
            allowed = ", ".join(TRANSITIONS[old.state]) or "none (final state)"
            raise TransitionError(f"case {case_id}: {old.state} -> {new_state} is not allowed; next: {allowed}")
        done = db.execute("UPDATE cases SET state = ?, reason = ?, updated_at = ? WHERE case_id = ? AND state = ? "
                          "RETURNING case_id",
                          [new_state, reason if reason else old.reason, _now(), case_id, old.state])  # fmt: skip
        if not done:  # PostgreSQL: another server moved it after our read
            raise TransitionError(f"case {case_id} was changed by someone else meanwhile; reload it and try again")
        audit(db, actor, "case.state", "case", case_id, {"state": old.state},
              {"state": new_state, "reason": reason})  # fmt: skip
    return get_case(db, case_id)


def link_findings(db: Db, case_id: int, finding_ids: Iterable[str], *, actor: str) -> int:
    """Add findings to a case that is still open. Closed and dismissed are final (`TRANSITIONS`): new
    evidence opens a new case, so linking to them is refused with `TransitionError`; checked inside
    the transaction, so a case closed a moment ago is not added to either."""
    added = []
    now = _now()
    with db.tx():
        case = get_case(db, case_id)
        if case.state not in ACTIVE_STATES:
            raise TransitionError(f"case {case_id} is {case.state} (a final state): findings cannot be added to it; "
                                  "new evidence opens a new case")  # fmt: skip
        for fid in dict.fromkeys(finding_ids):
            if not db.one("SELECT 1 FROM findings WHERE finding_id = ?", [fid]):
                raise NotFound(f"no finding {fid}")
            if db.one("SELECT 1 FROM case_findings WHERE case_id = ? AND finding_id = ?", [case_id, fid]):
                continue
            db.execute("INSERT INTO case_findings VALUES (?, ?, ?, ?)", [case_id, fid, now, actor])
            added.append(fid)
        if added:
            audit(db, actor, "case.link", "case", case_id, None, {"findings": added})
    return len(added)


def case_finding_ids(db: Db, case_id: int) -> list[str]:
    return [r[0] for r in db.execute("SELECT finding_id FROM case_findings WHERE case_id = ? ORDER BY added_at, finding_id",
                                     [case_id])]  # fmt: skip


def cases_for_finding(db: Db, finding_id: str) -> list[Case]:
    return [_case(r) for r in db.execute(
        _CASE_SQL + " WHERE c.case_id IN (SELECT case_id FROM case_findings WHERE finding_id = ?) ORDER BY c.case_id",
        [finding_id])]  # fmt: skip


def sites_for_finding(db: Db, finding_id: str) -> list[Site]:
    return [_site(r) for r in db.execute(
        _SITE_SQL + " WHERE s.site_id IN (SELECT site_id FROM site_findings WHERE finding_id = ?) ORDER BY s.site_id",
        [finding_id])]  # fmt: skip


def add_note(db: Db, case_id: int, body: str, *, actor: str) -> Note:
    body = (body or "").strip()
    if not body:
        raise InputError("note is empty")
    if len(body) > 20000:
        raise InputError("note is longer than 20000 characters")
    get_case(db, case_id)
    with db.tx():
        nid = _next(db, "note_ids")
        now = _now()
        db.execute("INSERT INTO notes VALUES (?, ?, ?, ?, ?)", [nid, case_id, actor, body, now])
        audit(db, actor, "case.note", "case", case_id, None, {"note_id": nid, "body": body})
    return Note(nid, case_id, actor, body, now)


def notes(db: Db, case_id: int) -> list[Note]:
    return [Note(int(r[0]), int(r[1]), r[2], r[3], utc(r[4]) or _now()) for r in db.execute(
        "SELECT note_id, case_id, author, body, created_at FROM notes WHERE case_id = ? ORDER BY note_id", [case_id])]  # fmt: skip


# -- attachments ----------------------------------------------------------------------------------------
def safe_filename(name: str | None) -> str:
    """A display name only: the file is stored under its content hash, never under this name, so a
    name like `../../etc/passwd` cannot choose where bytes land."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(c for c in unicodedata.normalize("NFC", base) if c.isprintable() and c not in '<>:"|?*')
    base = base.strip(" .")[:200]
    return base or "attachment"


def blob_path(data_dir: Path, sha256: str) -> Path:
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise InputError(f"not a content hash: {sha256!r}")
    return Path(data_dir) / "attachments" / sha256[:2] / sha256


def add_attachment(db: Db, case_id: int, filename: str | None, data: bytes, *, actor: str, data_dir: Path,
                   content_type: str | None = None, max_bytes: int = MAX_ATTACHMENT_BYTES) -> Attachment:  # fmt: skip
    """Keep a file (photo of the site, signed decision, grid work order) with the case."""
    get_case(db, case_id)
    if len(data) > max_bytes:
        raise InputError(f"attachment is {len(data)} bytes; the limit is {max_bytes}")
    if not data:
        raise InputError("attachment is empty")
    sha = hashlib.sha256(data).hexdigest()
    p = blob_path(data_dir, sha)
    if not p.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(p)
    name = safe_filename(filename)
    ctype = (content_type or "application/octet-stream")[:100]
    with db.tx():
        aid = _next(db, "attachment_ids")
        now = _now()
        db.execute("INSERT INTO attachments VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   [aid, case_id, name, sha, len(data), ctype, actor, now])  # fmt: skip
        audit(db, actor, "case.attach", "case", case_id, None,
              {"attachment_id": aid, "filename": name, "sha256": sha, "size_bytes": len(data)})  # fmt: skip
    return Attachment(aid, case_id, name, sha, len(data), ctype, actor, now)


def _att(r: tuple[Any, ...]) -> Attachment:
    return Attachment(int(r[0]), int(r[1]), r[2], r[3], int(r[4]), r[5], r[6], utc(r[7]) or _now())


def attachments(db: Db, case_id: int) -> list[Attachment]:
    return [_att(r) for r in db.execute("SELECT * FROM attachments WHERE case_id = ? ORDER BY attachment_id", [case_id])]


def get_attachment(db: Db, attachment_id: int) -> Attachment:
    r = db.one("SELECT * FROM attachments WHERE attachment_id = ?", [attachment_id])
    if not r:
        raise NotFound(f"no attachment {attachment_id}")
    return _att(r)
