"""Allow-list semantics, persistence of lists and versioned allow-lists, and the `minewatch intel` CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from minewatch.errors import InputError
from minewatch.model import Finding
from minewatch.net.intel import AllowList, AllowRule, parse_list_lines
from minewatch.net.intel_cli import app
from minewatch.store import MIGRATIONS, Store
from minewatch.store import intel_tables as tables


# --- semantics -------------------------------------------------------------------------------------
def test_domain_rule_with_excepted_subdomain():
    r = AllowRule.domain("Example.com.", "corporate", ["pool"])
    assert r.value == "example.com" and r.exceptions == ("pool.example.com",)
    assert r.matches_host("example.com")
    assert r.matches_host("www.EXAMPLE.com.")
    assert not r.matches_host("pool.example.com")
    assert not r.matches_host("eu.pool.example.com"), "an exception covers its own subdomains"
    assert r.matches_host("pool2.example.com")
    assert not r.matches_host("notexample.com")
    assert not r.matches_host("example.com.evil.net")


def test_exact_domain_rule_and_absolute_exception():
    r = AllowRule.domain("example.org", "only the apex", subdomains=False)
    assert r.matches_host("example.org") and not r.matches_host("www.example.org")
    r2 = AllowRule.domain("example.org", "x", ["mine.example.org"])
    assert r2.exceptions == ("mine.example.org",)
    with pytest.raises(InputError):
        AllowRule.domain("example.org", "x", ["example.org"])
    with pytest.raises(InputError):
        AllowRule.domain("not a domain", "x")


def test_cidr_rules_v4_v6():
    r4 = AllowRule.cidr("10.1.2.3/16", "lab")
    assert r4.value == "10.1.0.0/16"
    assert r4.matches_ip("10.1.255.1") and not r4.matches_ip("10.2.0.1")
    r6 = AllowRule.cidr("2001:db8::/32", "lab6")
    assert (
        r6.matches_ip("2001:db8:1::5") and not r6.matches_ip("10.1.0.1") and not r6.matches_ip("2001:db9::1")
    )
    assert not r4.matches_ip("junk")
    with pytest.raises(InputError):
        AllowRule.cidr("10.0.0.0/33", "x")


def test_is_allowed_returns_most_specific_rule():
    allow = AllowList([
        AllowRule.domain("example.com", "corp", ["pool"]),
        AllowRule.domain("pool.example.com", "the lab's own test pool"),
        AllowRule.cidr("10.0.0.0/8", "lan"),
        AllowRule.cidr("10.9.0.0/16", "mining lab"),
    ])  # fmt: skip
    assert allow.is_allowed(host="www.example.com").reason == "corp"
    assert allow.is_allowed(host="pool.example.com").reason == "the lab's own test pool"
    assert allow.is_allowed(ip="10.9.1.1").reason == "mining lab"
    assert allow.is_allowed(ip="10.1.1.1").reason == "lan"
    assert allow.is_allowed(ip="192.0.2.1") is None
    assert allow.is_allowed() is None
    assert allow.is_allowed(ip="192.0.2.1", host="www.example.com").reason == "corp"


def _finding(**kw) -> Finding:
    base = dict(kind="mining", detector="t", score=80.0, subscores={"x": 80.0}, evidence=[],
                first_seen=datetime(2024, 1, 1, tzinfo=UTC))  # fmt: skip
    base.update(kw)
    return Finding(**base)


def test_filter_findings_applies_at_show_time():
    fs = [
        _finding(src_ip="10.9.0.5", dst_ip="198.51.100.1", pool_host="xmr.pool.example"),
        _finding(src_ip="192.168.1.5", dst_ip="198.51.100.2", sni="www.example.com"),
        _finding(src_ip="192.168.1.6", dst_ip="198.51.100.3", pool_host="pool.example.com"),
    ]
    allow = AllowList(
        [AllowRule.cidr("10.9.0.0/16", "mining lab"), AllowRule.domain("example.com", "c", ["pool"])]
    )
    shown, hidden = allow.filter(fs)
    assert [f.src_ip for f in shown] == ["192.168.1.6"]
    assert [(f.src_ip, r.reason) for f, r in hidden] == [("10.9.0.5", "mining lab"), ("192.168.1.5", "c")]



def test_an_excepted_name_is_not_hidden_by_the_connections_other_name():
    """'allow example.com except pool': a pool host under the exception stays visible even when the
    TLS name of the same connection is an allowed CDN name, and an allowed source range does not hide
    it either (the operator said that name is not to be trusted)."""
    allow = AllowList([AllowRule.domain("example.com", "corp", ["pool"]), AllowRule.cidr("10.0.0.0/8", "lan")])
    hidden_by_sni = _finding(src_ip="10.1.1.1", dst_ip="198.51.100.3", pool_host="pool.example.com",
                             sni="cdn.example.com")  # fmt: skip
    plain = _finding(src_ip="10.1.1.2", dst_ip="198.51.100.4", sni="cdn.example.com")
    shown, hidden = allow.filter([hidden_by_sni, plain])
    assert shown == [hidden_by_sni]
    assert [(f.src_ip, r.reason) for f, r in hidden] == [("10.1.1.2", "corp")]


# --- store ---------------------------------------------------------------------------------------
def test_migration_is_registered():
    assert tables.intel_migration() in MIGRATIONS
    with Store(":memory:") as s:
        assert s.schema_version == len(MIGRATIONS)
        assert tables.ensure_tables(s)


def test_list_roundtrip_and_reimport(tmp_path):
    db = tmp_path / "s.duckdb"
    res = parse_list_lines(["# Reference: https://r.example/1", "pool.bad.example", "198.51.100.7:3333",
                            "bad:port:x"], "maltrail", name="feed", path="feed.txt")  # fmt: skip
    with Store(db) as s:
        lid, new = tables.save_list(s, res, "aa" * 32)
        assert new and lid == 1
        assert tables.save_list(s, res, "aa" * 32) == (1, False)
        lid2, new2 = tables.save_list(s, res, "bb" * 32)  # same name, new content replaces
        assert new2 and lid2 == 2 and [x.list_id for x in tables.stored_lists(s)] == [2]
        assert tables.list_rejects(s, 2) == [{"line": 4, "text": "bad:port:x", "reason": "not a host name"}]
    with Store(db) as s:  # reopen: the entries came back from the store, not the file
        intel = tables.load_intel(s)
        m = intel.match_host("eu.pool.bad.example")
        assert m is not None and m.source == "feed" and m.reference == "https://r.example/1"
        assert intel.match_ip("198.51.100.7", 3333) is not None
        assert intel.match_host("btc.f2pool.com").is_builtin
        assert tables.remove_list(s, 2) and not tables.remove_list(s, 2)
        assert tables.load_intel(s).match_host("pool.bad.example") is None


def test_allow_versions_are_kept(tmp_path):
    db = tmp_path / "s.duckdb"
    with Store(db) as s:
        assert tables.current_allow_version(s) == 0 and len(tables.load_allowlist(s)) == 0
        r1, v1 = tables.add_allow_rule(s, AllowRule.domain("example.com", "corp", ["pool"]))
        r2, v2 = tables.add_allow_rule(s, AllowRule.cidr("10.0.0.0/8", "lan"))
        v3 = tables.remove_allow_rule(s, r2)
        assert (v1, v2, v3) == (1, 2, 3)
        with pytest.raises(InputError):
            tables.remove_allow_rule(s, r2)
        with pytest.raises(InputError):
            tables.remove_allow_rule(s, 99)
    with Store(db) as s:
        now = tables.load_allowlist(s)
        assert now.version == 3 and [r.rule_id for r in now.rules] == [r1]
        assert now.rules[0].exceptions == ("pool.example.com",) and now.rules[0].version == 1
        at2 = tables.load_allowlist(s, 2)
        assert [r.value for r in at2.rules] == ["example.com", "10.0.0.0/8"]
        assert at2.is_allowed(ip="10.1.1.1") is not None and now.is_allowed(ip="10.1.1.1") is None
        assert len(tables.load_allowlist(s, 0)) == 0
        hist = tables.allow_history(s)
        assert [(h.version, h.action, h.rule_id) for h in hist] == [
            (1, "add", r1),
            (2, "add", r2),
            (3, "remove", r2),
        ]
        assert all(h.changed_at.tzinfo is not None for h in hist)


# --- CLI -----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_cli_end_to_end(tmp_path):
    runner = CliRunner()
    db = str(tmp_path / "c.duckdb")
    lst = tmp_path / "hosts.txt"
    lst.write_text("0.0.0.0 pool.bad.example\n0.0.0.0 bad..name\n", encoding="utf-8")
    r = runner.invoke(app, ["import", str(lst), "--db", db])
    assert r.exit_code == 0, r.output
    assert "1 entries kept" in r.output and "1 lines rejected" in r.output and "2" in r.output
    r = runner.invoke(app, ["import", str(lst), "--db", db])
    assert "already stored" in r.output
    r = runner.invoke(app, ["list", "--json", "--db", db])
    rows = json.loads(r.output)
    assert rows[0]["name"] == "hosts" and rows[0]["accepted"] == 1 and rows[0]["format"] == "hosts"
    r = runner.invoke(app, ["list", "--builtin", "--json"])
    assert len(json.loads(r.output)) >= 60
    r = runner.invoke(app, ["match", "eu.pool.bad.example", "--json", "--db", db])
    assert json.loads(r.output)["match"]["source"] == "hosts"
    r = runner.invoke(app, ["match", "btc.f2pool.com:3333", "--db", db])
    assert "F2Pool" in r.output
    r = runner.invoke(
        app, ["allow", "add", "--domain", "example.com", "--except", "pool", "--reason", "corp", "--db", db]
    )
    assert r.exit_code == 0 and "version 1" in r.output
    r = runner.invoke(
        app, ["allow", "add", "--cidr", "10.0.0.0/8", "--except", "x", "--reason", "r", "--db", db]
    )
    assert r.exit_code == 2
    r = runner.invoke(app, ["allow", "add", "--reason", "r", "--db", db])
    assert r.exit_code == 2
    r = runner.invoke(app, ["allow", "add", "--cidr", "10.0.0.0/8", "--reason", "lan", "--db", db])
    assert "version 2" in r.output
    r = runner.invoke(app, ["match", "www.example.com", "--json", "--db", db])
    assert json.loads(r.output)["allowed_by"]["reason"] == "corp"
    r = runner.invoke(app, ["match", "pool.example.com", "--json", "--db", db])
    assert json.loads(r.output)["allowed_by"] is None
    r = runner.invoke(app, ["allow", "remove", "2", "--db", db])
    assert r.exit_code == 0 and "version 3" in r.output
    r = runner.invoke(app, ["allow", "remove", "2", "--db", db])
    assert r.exit_code == 2
    r = runner.invoke(app, ["allow", "list", "--json", "--db", db])
    assert [x["value"] for x in json.loads(r.output)["rules"]] == ["example.com"]
    r = runner.invoke(app, ["allow", "list", "--version", "2", "--json", "--db", db])
    assert len(json.loads(r.output)["rules"]) == 2
    r = runner.invoke(app, ["allow", "list", "--history", "--json", "--db", db])
    assert [h["action"] for h in json.loads(r.output)] == ["add", "add", "remove"]
    r = runner.invoke(app, ["import", str(tmp_path / "missing.txt"), "--db", db])
    assert r.exit_code == 2 and "missing.txt" in r.output


def test_cli_speaks_chinese(tmp_path):
    from minewatch.i18n import current, set_lang

    before = current()
    set_lang("zh")
    try:
        r = CliRunner().invoke(app, ["allow", "list", "--db", str(tmp_path / "z.duckdb")])
        assert "白名单" in r.output
    finally:
        set_lang(before)


def test_parallel_allow_rules_on_one_file_all_succeed_with_distinct_ids(tmp_path):
    """The web server's request threads each have a connection: the max()+1 ids are taken under the
    store's write lock (`Store.transaction`), so none is taken twice."""
    from parallel import raised, run_together

    path = tmp_path / "a.duckdb"
    Store(path).close()

    def add(i: int) -> tuple[int, int]:
        s = Store(path)
        try:
            return tables.add_allow_rule(s, AllowRule.cidr(f"10.0.0.{i}", "r"))
        finally:
            s.close()

    results = run_together(8, add)
    errors = raised(results)
    got = [r for r in results if not isinstance(r, BaseException)]
    assert errors == []
    assert sorted(r for r, _v in got) == list(range(1, 9)) and sorted(v for _r, v in got) == list(range(1, 9))
    with Store(path) as s:
        assert len(tables.load_allowlist(s).rules) == 8 and tables.current_allow_version(s) == 8


def test_allow_rule_inside_a_case_transaction_joins_it(tmp_path):
    from minewatch.store.backend import DuckDb, store_like

    db = DuckDb(Store(tmp_path / "s.duckdb"))
    try:
        with db.tx():  # nested: the rule joins the outer transaction (same thread, re-entrant lock)
            rule_id, _v = tables.add_allow_rule(store_like(db), AllowRule.cidr("10.9.0.0/16", "lab"))
        assert [r.rule_id for r in tables.load_allowlist(store_like(db)).rules] == [rule_id]
        with pytest.raises(RuntimeError), db.tx():
            tables.add_allow_rule(store_like(db), AllowRule.cidr("10.8.0.0/16", "lab"))
            raise RuntimeError("rolled back")
        assert [r.rule_id for r in tables.load_allowlist(store_like(db)).rules] == [rule_id]
    finally:
        db.close()
