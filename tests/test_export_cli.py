"""`minewatch export` on the command line: store that must exist, output path errors, options."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from minewatch.cli import app
from test_exports import F  # the same finding the format tests use


def run(*args: str):
    return CliRunner().invoke(app, [*args])



@pytest.fixture
def store(tmp_path, tmp_home) -> Path:
    from minewatch.store import Store

    p = tmp_path / "s.duckdb"
    with Store(p) as st:
        st.add_findings([
            F(),
            F(src_ip="10.1.2.8", dst_ip="2a01:4f8:1:2::21", pool_host="bücher.example"),
            F(src_ip="10.1.2.9", dst_ip="45.77.10.22", pool_host="pool.example.com:3333"),
        ])
    return p


def test_export_from_a_missing_store_fails_and_creates_nothing(tmp_path, tmp_home, monkeypatch):
    """#4: a mistyped --db created an empty store (and its directories) and exported an empty blocklist."""
    for target in (tmp_path / "typo.duckdb", tmp_path / "no" / "such" / "dir" / "x.duckdb"):
        r = run("export", "nft", "--db", str(target))
        assert r.exit_code == 2, r.output
        assert str(target) in r.stderr and "does not exist" in r.stderr and "Traceback" not in r.output
        assert r.stdout == ""
        assert not target.exists() and not (tmp_path / "no").exists()
    monkeypatch.setenv("MINEWATCH_DB", str(tmp_path / "env-typo.duckdb"))
    r = run("export", "rpz")
    assert r.exit_code == 2 and "env-typo.duckdb" in r.stderr
    monkeypatch.delenv("MINEWATCH_DB")
    r = run("export", "csv")  # the default per-user store, never scanned into
    assert r.exit_code == 2 and "minewatch.duckdb" in r.stderr
    assert not (tmp_home / "minewatch.duckdb").exists()
    r = run("--lang", "zh", "export", "nft", "--db", str(tmp_path / "typo.duckdb"))
    assert r.exit_code == 2 and "不存在" in r.stderr


def test_open_store_must_exist_only_for_readers(tmp_path, tmp_home):
    """#4: `must_exist` is opt-in; commands that write still create the store on first use."""
    from minewatch.store.backend import StoreMissing, connect, open_store

    p = tmp_path / "new" / "s.duckdb"
    with pytest.raises(StoreMissing) as e:
        open_store(str(p), must_exist=True)
    assert e.value.path == str(p) and str(p) in str(e.value)
    with pytest.raises(StoreMissing):
        connect(p, must_exist=True)
    assert not p.parent.exists()
    with open_store(str(p)) as st:  # unchanged default: created
        assert st.findings() == []
    assert p.is_file()
    with open_store(str(p), must_exist=True) as st:
        assert st.findings() == []
    connect(p, must_exist=True).close()


def test_export_to_a_missing_directory_is_a_clean_error(store, tmp_path):
    """#16: `-o /no/such/dir/x.nft` gave a FileNotFoundError traceback."""
    target = tmp_path / "no" / "such" / "dir" / "x.nft"
    r = run("export", "nft", "--db", str(store), "-o", str(target))
    assert r.exit_code == 2, r.output
    assert isinstance(r.exception, SystemExit)
    assert str(target) in r.stderr and "Traceback" not in r.output
    r = run("export", "nft", "--db", str(store), "-o", str(tmp_path))  # a directory, not a file
    assert r.exit_code == 2 and str(tmp_path) in r.stderr


def test_quarantine_hosts_is_an_explicit_flag(store, tmp_path):
    """#2: the default firewall export blocks pools only; internal hosts only with --quarantine-hosts."""
    r = run("export", "nft", "--db", str(store))
    assert r.exit_code == 0, r.output
    assert "45.77.10.20" in r.stdout and "10.1.2.7" not in r.stdout and "miner" not in r.stdout
    r = run("export", "ipset", "--db", str(store), "--quarantine-hosts")
    assert r.exit_code == 0 and "add minewatch-miner4-tmp 10.1.2.7" in r.stdout
    r = run("export", "rpz", "--db", str(store), "--quarantine-hosts")
    assert r.exit_code != 0 and "nft and ipset" in r.output


def test_rpz_serial_grows_over_the_file_it_replaces(store, tmp_path):
    """#10: two exports within one hour had the same serial, so secondaries kept the old zone."""
    from minewatch.export import rpz_serial_of

    out = tmp_path / "rpz.zone"
    out.write_text("@ IN SOA localhost. hostmaster.localhost. ( 2026112201 3600 600 604800 300 )\n")  # old hour serial
    serials = []
    for _ in range(3):
        r = run("export", "rpz", "--db", str(store), "-o", str(out))
        assert r.exit_code == 0, r.output
        serials.append(rpz_serial_of(out.read_text()))
    assert serials[0] > 2026112201 and serials[0] < serials[1] < serials[2]


def test_skipped_pool_names_are_counted_on_stderr(store):
    """#15: names no consumer can use are left out with a counted warning; Unicode ones are converted."""
    r = run("export", "rpz", "--db", str(store))
    assert r.exit_code == 0, r.output
    assert "xn--bcher-kva.example CNAME ." in r.stdout and "bücher" not in r.stdout
    assert "1 pool name(s) left out" in r.stderr and "pool.example.com:3333" in r.stderr
    assert "pool.example.com:3333" not in r.stdout


def test_ports_observed_blocks_only_the_endpoints_seen(store):
    """Review 13: `--ports observed` puts address+port elements in the firewall sets."""
    r = run("export", "nft", "--db", str(store), "--ports", "observed")
    assert r.exit_code == 0, r.output
    assert "45.77.10.20 . tcp . 3333" in r.stdout and "@pool_v4" not in r.stdout
    r = run("export", "ipset", "--db", str(store), "--ports", "observed")
    assert r.exit_code == 0 and "add minewatch-poolport4-tmp 45.77.10.20,tcp:3333 -exist" in r.stdout
    assert "@pool_v4 counter drop" in run("export", "nft", "--db", str(store)).stdout  # default: every port
    r = run("export", "rpz", "--db", str(store), "--ports", "observed")
    assert r.exit_code != 0 and "nft and ipset" in r.output
    r = run("export", "nft", "--db", str(store), "--ports", "some")
    assert r.exit_code == 2 and "observed" in r.output
