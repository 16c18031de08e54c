"""Findings list latency with 1 million findings in the embedded store (target: < 300 ms).

Builds the store once with SQL (row generation in DuckDB; going through Finding objects would
measure the loader, not the list), then times the page and API requests end to end through the
ASGI app, store opening per request included. Run: .venv/bin/python bench/bench_web.py [N]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb


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


def timed(fn, repeat: int = 15) -> tuple[float, float]:
    fn()  # warm
    xs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        xs.append((time.perf_counter() - t) * 1000)
    return statistics.median(xs), max(xs)


def main(n: int = 1_000_000) -> None:
    from fastapi.testclient import TestClient

    from minewatch.store import cases as C
    from minewatch.store.backend import connect
    from minewatch.web.app import Settings, create_app

    tmp = Path(tempfile.mkdtemp(prefix="minewatch-bench-web-"))
    db_path = tmp / "big.duckdb"
    t = time.perf_counter()
    build(db_path, n)
    db = connect(db_path)
    u = C.create_user(db, "bench", "bench password 123", "viewer", actor="bench")
    token = C.create_api_token(db, u.user_id, actor="bench")
    C.create_site(db, "bench site", ip_ranges=["10.0.1.0/24"], actor="bench")
    db.close()
    print(f"built {n:,} findings in {time.perf_counter() - t:.1f} s")
    app = create_app(Settings(db=db_path, data_dir=tmp / "data", secret_key="x" * 32))
    c = TestClient(app, base_url="https://testserver")
    c.headers["Authorization"] = f"Bearer {token}"
    cases = {
        "api first page (score order)": "/api/v1/findings?limit=50",
        "api page 1000": "/api/v1/findings?limit=50&offset=50000",
        "api coin+min_score filter": "/api/v1/findings?coin=XMR&min_score=90&limit=50",
        "api newest first": "/api/v1/findings?sort=newest&limit=50",
        "api time window": "/api/v1/findings?since=2024-03-01T00:00:00Z&until=2024-03-02T00:00:00Z",
        "api site filter": "/api/v1/findings?site_id=1&limit=50",
    }
    ok = True
    for name, url in cases.items():
        r = c.get(url)
        assert r.status_code == 200, r.text
        med, worst = timed(lambda url=url: c.get(url))
        ok &= med < 300
        print(f"{name:34s} total={r.json()['total']:>9,}  median {med:6.1f} ms  max {worst:6.1f} ms")
    print("target < 300 ms (median):", "met" if ok else "NOT met")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
