"""Shared set-up for the web tests: an app on a temporary store with one user per role."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from minewatch.model import Evidence, Finding
from minewatch.store import cases as C
from minewatch.store.backend import connect
from minewatch.web.app import Settings, create_app

PASSWORD = "a long test password"
T0 = datetime(2024, 6, 10, 6, 0, tzinfo=UTC)


def finding(i: int, *, src: str = "10.1.2.3", coin: str = "XMR", score: float = 90.0, kind: str = "mining") -> Finding:
    return Finding(kind=kind, detector="net.stratum", score=score, subscores={"protocol": score},  # type: ignore[arg-type]
                   evidence=[Evidence("net.stratum.login", f"login #{i}", f"登录 #{i}", ts=T0 + timedelta(minutes=i))],
                   src_ip=src, src_port=40000 + i, dst_ip="203.0.113.7", dst_port=3333, transport="tcp",
                   first_seen=T0 + timedelta(minutes=i), last_seen=T0 + timedelta(minutes=i + 5), coin=coin,
                   pool_host="pool.example.net", source="t.pcap")  # fmt: skip


@dataclass
class Env:
    app: object
    db_path: Path
    data_dir: Path
    tokens: dict[str, str]

    def client(self) -> TestClient:
        return TestClient(self.app, base_url="https://testserver", follow_redirects=False)

    def login(self, role: str) -> TestClient:
        c = self.client()
        page = c.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        r = c.post("/login", data={"username": role, "password": PASSWORD, "csrf": token, "next": "/"})
        assert r.status_code == 303 and r.headers["location"] == "/", r.text
        return c

    def api(self, role: str) -> TestClient:
        c = self.client()
        c.headers["Authorization"] = f"Bearer {self.tokens[role]}"
        return c


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def make_env(tmp: Path, findings: list[Finding] | None = None, **settings: object) -> Env:
    db_path = tmp / "web.duckdb"
    db = connect(db_path)
    tokens = {}
    try:
        for role in C.ROLES:
            u = C.create_user(db, role, PASSWORD, role, actor="test")
            tokens[role] = C.create_api_token(db, u.user_id, actor="test")
        if findings:
            db.add_findings(findings)
    finally:
        db.close()
    data = tmp / "data"
    app = create_app(Settings(db=db_path, data_dir=data, secret_key="k" * 32, **settings))  # type: ignore[arg-type]
    return Env(app, db_path, data, tokens)
