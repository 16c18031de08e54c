"""Imported pool lists and versioned allow-lists in the store.

Why version the allow-list instead of editing rows: findings are filtered when they are shown, so a
report made last week must be reproducible with last week's rules, and a rule removed by mistake must
be visible in the history. Every add or remove is a new version (number + time + what changed); a rule
carries the version that added it and the version that removed it, and `load_allowlist(store, v)`
rebuilds the list exactly as it was at version `v`.

Why store imported lists whole (every accepted entry, plus the rejects with line numbers): a scan on
another day, or on another machine reading the same store, must match against the same entries
without the original file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from minewatch.errors import InputError
from minewatch.net.intel import AllowList, AllowRule, ImportResult, ListEntry, PoolIntel
from minewatch.store import MIGRATIONS, Store
from minewatch.store.backend import jload

_MAX_STORED_REJECTS = 1000


@dataclass(frozen=True, slots=True)
class StoredList:
    list_id: int
    name: str
    path: str | None
    fmt: str
    content_sha256: str | None
    imported_at: datetime
    accepted: int
    rejected: int
    counts: dict[str, int]


@dataclass(frozen=True, slots=True)
class AllowVersion:
    version: int
    changed_at: datetime
    action: str
    rule_id: int
    summary: str | None


_TABLES = ("intel_lists", "intel_entries", "allow_rules", "allow_versions")


def intel_migration() -> str:
    """The migration in `minewatch.store.MIGRATIONS` that creates these tables (one source of truth)."""
    for sql in MIGRATIONS:
        if "CREATE TABLE IF NOT EXISTS intel_lists" in sql:
            return sql
    raise RuntimeError("the intel migration is missing from minewatch.store.MIGRATIONS")


def ensure_tables(store: Store) -> bool:
    """True when the tables exist. Normally the migration made them; a read-only store without them
    just reads as empty."""
    row = store.con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name IN (?, ?, ?, ?)", list(_TABLES)
    ).fetchone()
    if row and int(row[0]) == len(_TABLES):
        return True
    try:
        store.con.execute(intel_migration())
    except duckdb.Error:
        return False
    return True


def _next_id(store: Store, table: str, col: str) -> int:
    row = store.con.execute(f"SELECT coalesce(max({col}), 0) + 1 FROM {table}").fetchone()
    return int(row[0]) if row else 1


# -- imported lists ----------------------------------------------------------------------------------
def save_list(store: Store, res: ImportResult, content_sha256: str | None = None) -> tuple[int, bool]:
    """Store a parsed list; returns (list_id, is_new). The same content imported again is a no-op;
    a list with the same name and new content replaces the old one (a refreshed feed)."""
    ensure_tables(store)
    con = store.con
    # The same-content check runs inside the transaction too, so two imports of one file at once store it once.
    with store.transaction():
        if content_sha256 is not None:
            row = con.execute(
                "SELECT list_id FROM intel_lists WHERE content_sha256 = ? AND name = ?",
                [content_sha256, res.name],
            ).fetchone()
            if row:
                return int(row[0]), False
        old = con.execute("SELECT list_id FROM intel_lists WHERE name = ?", [res.name]).fetchall()
        for (lid,) in old:
            con.execute("DELETE FROM intel_entries WHERE list_id = ?", [lid])
            con.execute("DELETE FROM intel_lists WHERE list_id = ?", [lid])
        # From a sequence, not max()+1: a replaced or removed list's number is never handed out again.
        row = con.execute("SELECT nextval('intel_list_ids')").fetchone()
        list_id = int(row[0]) if row else 1
        rejects = [{"line": ln, "text": t, "reason": r} for ln, t, r in res.rejects[:_MAX_STORED_REJECTS]]
        con.execute(
            "INSERT INTO intel_lists VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                list_id, res.name, res.path, res.fmt, content_sha256, datetime.now(UTC), res.accepted,
                res.rejected, json.dumps(res.counts()), json.dumps(rejects, ensure_ascii=False),
            ],
        )  # fmt: skip
        if res.entries:
            tbl = pa.table(
                {
                    "list_id": pa.array([list_id] * len(res.entries), pa.int32()),
                    "kind": [e.kind for e in res.entries],
                    "value": [e.value for e in res.entries],
                    "port": pa.array([e.port for e in res.entries], pa.int32()),
                    "line": pa.array([e.line for e in res.entries], pa.int32()),
                    "reference": pa.array([e.reference for e in res.entries], pa.string()),
                }
            )
            if hasattr(con, "register"):  # DuckDB: one columnar insert
                con.register("_intel_new_entries", tbl)
                con.execute("INSERT INTO intel_entries SELECT * FROM _intel_new_entries")
                con.unregister("_intel_new_entries")
            else:  # PostgreSQL through the backend's adapter
                con.executemany("INSERT INTO intel_entries VALUES (?, ?, ?, ?, ?, ?)", [
                    [list_id, e.kind, e.value, e.port, e.line, e.reference] for e in res.entries])  # fmt: skip
    return list_id, True


def stored_lists(store: Store) -> list[StoredList]:
    if not ensure_tables(store):
        return []
    rows = store.con.execute(
        "SELECT list_id, name, path, fmt, content_sha256, imported_at, accepted, rejected, counts "
        "FROM intel_lists ORDER BY list_id"
    ).fetchall()
    return [
        StoredList(
            int(r[0]),
            r[1],
            r[2],
            r[3],
            r[4],
            r[5].astimezone(UTC),
            int(r[6]),
            int(r[7]),
            jload(r[8]) or {},
        )
        for r in rows
    ]


def list_rejects(store: Store, list_id: int) -> list[dict[str, Any]]:
    if not ensure_tables(store):
        return []
    row = store.con.execute("SELECT rejects FROM intel_lists WHERE list_id = ?", [list_id]).fetchone()
    return (jload(row[0]) or []) if row else []


def remove_list(store: Store, list_id: int) -> bool:
    ensure_tables(store)
    row = store.con.execute("SELECT 1 FROM intel_lists WHERE list_id = ?", [list_id]).fetchone()
    if not row:
        return False
    store.con.execute("DELETE FROM intel_entries WHERE list_id = ?", [list_id])
    store.con.execute("DELETE FROM intel_lists WHERE list_id = ?", [list_id])
    return True


def load_intel(store: Store | None, *, builtin: bool = True) -> PoolIntel:
    """The built-in pools plus every list stored in `store` (None: built-in only)."""
    intel = PoolIntel()
    if builtin:
        intel.load_builtin()
    if store is None:
        return intel
    for sl in stored_lists(store):
        res = ImportResult(name=sl.name, path=sl.path, fmt=sl.fmt)
        for kind, value, port, line, ref in store.con.execute(
            "SELECT kind, value, port, line, reference FROM intel_entries WHERE list_id = ? ORDER BY line",
            [sl.list_id],
        ).fetchall():
            res.entries.append(ListEntry(kind, value, port, line, ref))
        intel.add_list(res)
    return intel


# -- allow-lists ----------------------------------------------------------------------------------
def _new_version(store: Store, action: str, rule_id: int, summary: str) -> int:
    version = _next_id(store, "allow_versions", "version")
    store.con.execute(
        "INSERT INTO allow_versions VALUES (?, ?, ?, ?, ?)",
        [version, datetime.now(UTC), action, rule_id, summary],
    )
    return version


def add_allow_rule(store: Store, rule: AllowRule) -> tuple[int, int]:
    """Store a rule as a new allow-list version; returns (rule_id, version)."""
    ensure_tables(store)
    with store.transaction():  # holds the store's write lock: the max()+1 ids are not taken twice
        rule_id = _next_id(store, "allow_rules", "rule_id")
        version = _new_version(store, "add", rule_id, f"{rule.kind} {rule.describe()}: {rule.reason}")
        store.con.execute(
            "INSERT INTO allow_rules VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?)",
            [rule_id, rule.kind, rule.value, json.dumps(list(rule.exceptions)), rule.subdomains, rule.reason,
             version, datetime.now(UTC)],
        )  # fmt: skip
    return rule_id, version


def remove_allow_rule(store: Store, rule_id: int) -> int:
    """Retire a rule (kept for older versions); returns the new version. InputError if not active."""
    ensure_tables(store)
    con = store.con
    with store.transaction():  # checked and retired in one turn: a rule removed twice at once gets one version
        row = con.execute(
            "SELECT kind, value FROM allow_rules WHERE rule_id = ? AND removed_version IS NULL", [rule_id]
        ).fetchone()
        if not row:
            raise InputError(f"no active allow rule with id {rule_id}")
        version = _new_version(store, "remove", rule_id, f"{row[0]} {row[1]}")
        con.execute("UPDATE allow_rules SET removed_version = ? WHERE rule_id = ?", [version, rule_id])
    return version


def current_allow_version(store: Store) -> int:
    if not ensure_tables(store):
        return 0
    row = store.con.execute("SELECT coalesce(max(version), 0) FROM allow_versions").fetchone()
    return int(row[0]) if row else 0


def load_allowlist(store: Store, version: int | None = None) -> AllowList:
    """The allow-list as it was at `version` (default: now). Version 0 is the empty list."""
    if not ensure_tables(store):
        return AllowList([], version=0)
    v = current_allow_version(store) if version is None else version
    rows = store.con.execute(
        "SELECT rule_id, kind, value, exceptions, subdomains, reason, added_version, created_at "
        "FROM allow_rules WHERE added_version <= ? AND (removed_version IS NULL OR removed_version > ?) "
        "ORDER BY rule_id",
        [v, v],
    ).fetchall()
    rules = []
    for rid, kind, value, exc, sub, reason, added, created in rows:
        rules.append(
            AllowRule(
                kind,
                value,
                reason,
                tuple(jload(exc) or ()),
                bool(sub),
                int(rid),
                int(added),
                created.astimezone(UTC) if created else None,
            )
        )
    return AllowList(rules, version=v)


def allow_history(store: Store) -> list[AllowVersion]:
    if not ensure_tables(store):
        return []
    rows = store.con.execute(
        "SELECT version, changed_at, action, rule_id, summary FROM allow_versions ORDER BY version"
    ).fetchall()
    return [AllowVersion(int(r[0]), r[1].astimezone(UTC), r[2], int(r[3]), r[4]) for r in rows]
