"""Findings list latency with 1 million findings in the embedded store (target: < 300 ms).

Builds the store once with SQL (row generation in DuckDB; going through Finding objects would
measure the loader, not the list), then times the page and API requests end to end through the
ASGI app, store opening per request included. The built store is kept (default under the temporary
directory, keyed by N) and reused by the next run, because building 1M rows and attaching the sites
takes minutes on the 2-core machine and says nothing about the list. Median and p95 per query.

Run: .venv/bin/python bench/bench_web.py [N] [--store PATH] [--rebuild] [--repeat K]
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

PASSWORD = "bench password 123"


def build(path: Path, n: int) -> None:
    from minewatch.store import Store

    Store(path).close()  # schema via the migrations
    con = duckdb.connect(str(path))
    con.execute(
        f"""
        INSERT INTO findings (finding_id, kind, detector, score, subscores, evidence, source, first_seen, last_seen,
            src_ip, src_port, dst_ip, dst_port, transport, coin, variant, pool_host, stored_at)
        SELECT substr(md5(i::VARCHAR), 1, 20), CASE WHEN i % 10 = 0 THEN 'node' ELSE 'mining' END, 'net.stratum',
            (i * 7919) % 1000 / 10.0, '{{"protocol": 50}}',
            '[{{"code": "net.msg.login", "text": "login seen", "text_zh": "看到登录", "data": {{}}, "ts": null}}]',
            'bench.pcap', TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_seconds(i * 30),
            TIMESTAMPTZ '2024-01-01 00:10:00+00' + to_seconds(i * 30),
            '10.' || (i // 65536 % 256) || '.' || (i // 256 % 256) || '.' || (i % 256), 40000 + i % 20000,
            '203.0.113.' || (i % 200), 3333, 'tcp', CASE i % 3 WHEN 0 THEN 'BTC' WHEN 1 THEN 'XMR' ELSE 'ETC' END,
            'stratum', 'pool' || (i % 50) || '.example.net', now()
        FROM range({n}) t(i)
        """
    )
    con.close()


def prepare(path: Path, n: int, rebuild: bool) -> str:
    """The store (built or reused) and an API token for a viewer. Site 1 is small (256 findings:
    the id-list path), site 2 large (65,536: the sub-query path); case 1 holds site 1's findings."""
    from minewatch.store import cases as C
    from minewatch.store.backend import connect

    if rebuild and path.exists():
        path.unlink()
        Path(str(path) + ".wal").unlink(missing_ok=True)
    if path.exists():
        db = connect(path)
        try:
            row = db.one("SELECT count(*) FROM findings")
            have = int(row[0]) if row else 0
            if have == n and C.user_by_name(db, "bench") is not None and len(C.list_sites(db)) >= 2:
                u = C.user_by_name(db, "bench")
                assert u is not None
                print(f"reusing {path} ({have:,} findings)")
                return C.create_api_token(db, u.user_id, actor="bench")
        finally:
            db.close()
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    build(path, n)
    print(f"built {n:,} findings in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    db = connect(path)
    try:
        u = C.create_user(db, "bench", PASSWORD, "viewer", actor="bench")
        token = C.create_api_token(db, u.user_id, actor="bench")
        small = C.create_site(db, "bench site", ip_ranges=["10.0.1.0/24"], actor="bench")
        C.create_site(db, "big bench site", ip_ranges=["10.1.0.0/16"], actor="bench")
        C.open_case(db, "bench case", site_id=small.site_id, actor="bench")
    finally:
        db.close()
    print(f"sites and case attached in {time.perf_counter() - t:.1f} s")
    return token


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    fn()  # warm
    xs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        xs.append((time.perf_counter() - t) * 1000)
    xs.sort()
    p95 = xs[min(len(xs) - 1, max(0, round(0.95 * len(xs)) - 1))]
    return statistics.median(xs), p95


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", nargs="?", type=int, default=1_000_000)
    ap.add_argument("--store", type=Path, default=None)
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    from fastapi.testclient import TestClient

    from minewatch.web.app import Settings, create_app

    n = args.n
    path = args.store or Path(tempfile.gettempdir()) / "minewatch-bench-web" / f"findings-{n}.duckdb"
    token = prepare(path, n, args.rebuild)
    tmp = Path(tempfile.mkdtemp(prefix="minewatch-bench-web-"))
    app = create_app(Settings(db=path, data_dir=tmp / "data", secret_key="x" * 32))
    api = TestClient(app, base_url="https://testserver")
    api.headers["Authorization"] = f"Bearer {token}"
    page = TestClient(app, base_url="https://testserver", follow_redirects=False)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.get("/login").text)
    assert csrf is not None
    r = page.post("/login", data={"username": "bench", "password": PASSWORD, "csrf": csrf.group(1), "next": "/"})
    assert r.status_code == 303, r.text
    last = max(0, (n - 1) // 50 * 50)
    cases: dict[str, tuple[TestClient, str]] = {
        "api first page (score order)": (api, "/api/v1/findings?limit=50"),
        "api page 1,000 (offset 50,000)": (api, "/api/v1/findings?limit=50&offset=50000"),
        "api page 10,000 (offset 500,000)": (api, "/api/v1/findings?limit=50&offset=500000"),
        "api last page": (api, f"/api/v1/findings?limit=50&offset={last}"),
        "api coin+min_score filter": (api, "/api/v1/findings?coin=XMR&min_score=90&limit=50"),
        "api kind=node, deep page": (api, "/api/v1/findings?kind=node&limit=50&offset=50000"),
        "api newest first": (api, "/api/v1/findings?sort=newest&limit=50"),
        "api newest first, deep page": (api, "/api/v1/findings?sort=newest&limit=50&offset=500000"),
        "api oldest first": (api, "/api/v1/findings?sort=oldest&limit=50"),
        "api one-day window": (api, "/api/v1/findings?since=2024-03-01T00:00:00Z&until=2024-03-02T00:00:00Z"),
        "api ip filter": (api, "/api/v1/findings?ip=10.0.1.7"),
        "api site filter (256 linked)": (api, "/api/v1/findings?site_id=1&limit=50"),
        "api site filter (65,536 linked)": (api, "/api/v1/findings?site_id=2&limit=50"),
        "api big site, deep page": (api, "/api/v1/findings?site_id=2&limit=50&offset=30000"),
        "api case filter": (api, "/api/v1/findings?case_id=1&limit=50"),
        "page /findings": (page, "/findings"),
        "page /findings page 10,000": (page, "/findings?page=10000"),
        "page /findings big site": (page, "/findings?site_id=2"),
    }
    ok = True
    print(f"{'query':34s} {'total':>9s}  {'median':>9s}  {'p95':>9s}  (repeat {args.repeat})")
    for name, (client, url) in cases.items():
        r = client.get(url)
        assert r.status_code == 200, (url, r.status_code, r.text[:300])
        total = r.json()["total"] if url.startswith("/api") else -1
        med, p95 = timed(lambda client=client, url=url: client.get(url), args.repeat)
        ok &= med < 300
        flag = "" if med < 300 else "  OVER"
        print(f"{name:34s} {total:>9,}  {med:6.1f} ms  {p95:6.1f} ms{flag}")
    print("target < 300 ms (median):", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
