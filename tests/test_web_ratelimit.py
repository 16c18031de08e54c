"""Log-in brute-force protection: per account and per client address, 429 + Retry-After, no hint
whether an account exists, reset on success, bounded memory, lock-outs in the audit log."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from minewatch.store import cases as C
from minewatch.store.backend import connect
from minewatch.web.ratelimit import Attempt, LoginLimiter
from web_helpers import PASSWORD, csrf_of, make_env


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


# -- the limiter alone -----------------------------------------------------------------------------------
def test_account_locks_after_the_limit_and_unlocks_when_the_window_passes():
    clock = Clock()
    lim = LoginLimiter(per_account=3, per_address=100, window_s=60, clock=clock)
    for _i in range(2):
        assert lim.check("alice", "1.2.3.4") is None
        assert lim.failure("alice", "1.2.3.4") == []
        clock.t += 10
    assert lim.check("alice", "1.2.3.4") is None
    started = lim.failure("alice", "1.2.3.4")  # third failure at t=1020; first was at t=1000
    assert [s.scope for s in started] == ["account"]
    lock = lim.check("ALICE ", "5.6.7.8")  # same account (case and spaces ignored), any address
    assert lock is not None and lock.scope == "account" and lock.retry_after_s == 40
    assert lim.check("bob", "1.2.3.4") is None  # other accounts from the same address are not touched
    clock.t += 40
    assert lim.check("alice", "1.2.3.4") is None  # the first failure left the window
    started = lim.failure("alice", "1.2.3.4")  # ...and a new one locks again at once (3 within 60 s)
    assert [s.scope for s in started] == ["account"]


def test_address_locks_on_password_spraying_and_success_resets_only_the_account():
    clock = Clock()
    lim = LoginLimiter(per_account=3, per_address=5, window_s=60, clock=clock)
    for i in range(4):
        lim.failure(f"user{i}", "9.9.9.9")
    lim.failure("carol", "9.9.9.9")
    lock = lim.check("someone-else", "9.9.9.9")
    assert lock is not None and lock.scope == "address"
    assert lim.check("someone-else", "8.8.8.8") is None
    lim.failure("dave", "1.1.1.1")
    lim.failure("dave", "1.1.1.1")
    lim.success("dave")
    lim.failure("dave", "1.1.1.1")
    lim.failure("dave", "1.1.1.1")
    assert lim.check("dave", "1.1.1.1") is None  # two, not four, since the success
    lim.success("carol")
    assert lim.check("carol", "9.9.9.9") is not None  # the address count was not wiped by a success


def test_memory_is_bounded():
    lim = LoginLimiter(per_account=5, per_address=5, window_s=900, max_keys=100)
    for i in range(10_000):
        lim.failure(f"name{i}", f"10.0.{i // 256 % 256}.{i % 256}")
    assert len(lim) <= 100
    assert all(len(q) <= 5 for q in lim._fails.values())


def test_bad_limits_are_refused():
    with pytest.raises(ValueError):
        LoginLimiter(per_account=0)


# -- through the log-in form ------------------------------------------------------------------------------
@pytest.fixture
def env(tmp_path):
    return make_env(tmp_path, login_max_failures=5, login_max_failures_per_address=8, login_window_s=900)


def _attempt(c: TestClient, username: str, password: str):
    tok = csrf_of(c.get("/login").text)
    return c.post("/login", data={"username": username, "password": password, "csrf": tok, "next": "/"})


def _client(env, address: str) -> TestClient:
    return TestClient(env.app, base_url="https://testserver", follow_redirects=False, client=(address, 40000))


def _actions(env) -> list[tuple[str, str, dict]]:
    db = connect(env.db_path)
    try:
        _, rows = C.audit_log(db, limit=1000)
    finally:
        db.close()
    return [(r.action, r.actor, r.after or {}) for r in rows]


def test_form_refuses_with_429_after_five_failures_even_with_the_right_password(env):
    clock = Clock()
    env.app.state.login_limiter.clock = clock
    c = _client(env, "192.0.2.10")
    for _ in range(5):
        r = _attempt(c, "analyst", "wrong password!")
        assert r.status_code == 303 and "error=1" in r.headers["location"]
    r = _attempt(c, "analyst", PASSWORD)
    assert r.status_code == 429
    assert 0 < int(r.headers["retry-after"]) <= 900
    assert "mw_session" not in r.cookies
    assert 'id="login-locked"' in r.text and "Try again in 15 minutes." in r.text and "minute(s)" not in r.text
    zh = _client(env, "192.0.2.10")
    zh.get("/login", params={"lang": "zh"})
    assert "登录失败次数过多" in _attempt(zh, "analyst", PASSWORD).text
    # from another address too: the account is what is locked
    assert _attempt(_client(env, "192.0.2.99"), "analyst", PASSWORD).status_code == 429
    # other accounts still log in from the first address
    assert _attempt(c, "viewer", PASSWORD).status_code == 303
    # once the window has passed, the right password works and clears the count
    clock.t += 901
    r = _attempt(c, "analyst", PASSWORD)
    assert r.status_code == 303 and r.headers["location"] == "/" and "mw_session" in r.cookies
    for _ in range(4):
        _attempt(c, "analyst", "wrong password!")
    assert _attempt(c, "analyst", PASSWORD).status_code == 303  # 4 < 5 after the reset


def test_unknown_and_real_accounts_are_refused_alike(env):
    def run(name: str, address: str):
        c = _client(env, address)
        firsts = [_attempt(c, name, "wrong password!") for _ in range(5)]
        return firsts, _attempt(c, name, "wrong password!")

    real_first, real = run("admin", "192.0.2.20")
    ghost_first, ghost = run("no-such-user", "192.0.2.21")
    assert [r.status_code for r in real_first] == [r.status_code for r in ghost_first] == [303] * 5
    assert [r.headers["location"] for r in real_first] == [r.headers["location"] for r in ghost_first]
    assert real.status_code == ghost.status_code == 429
    # the same lockout (15 min); the countdown starts at each run's own 5th failure, and on a loaded
    # 2-core machine the password hashes of a run can take a few seconds, so allow that much drift
    assert abs(int(real.headers["retry-after"]) - int(ghost.headers["retry-after"])) <= 5
    assert int(real.headers["retry-after"]) > 600

    def norm(text: str) -> str:
        return re.sub(r'value="[^"]+"', 'value=""', text)

    def norm_time(text: str) -> str:
        return re.sub(r"\d+", "N", norm(text))

    assert norm_time(real.text) == norm_time(ghost.text)


def test_password_spraying_from_one_address_is_stopped(env):
    c = _client(env, "192.0.2.30")
    for i in range(8):
        assert _attempt(c, f"guess{i}", "Winter2024!!").status_code == 303
    assert _attempt(c, "viewer", PASSWORD).status_code == 429  # the address is locked, for every name
    assert _attempt(_client(env, "192.0.2.31"), "viewer", PASSWORD).status_code == 303


def test_lockouts_are_audited_once_with_scope_and_address(env):
    c = _client(env, "192.0.2.40")
    for _ in range(7):
        _attempt(c, "analyst", "wrong password!")
    acts = _actions(env)
    locks = [a for a in acts if a[0] == "login.lockout"]
    assert len(locks) == 1
    _action, actor, after = locks[0]
    assert actor == "analyst" and after["scope"] == "account" and after["address"] == "192.0.2.40"
    assert sum(1 for a in acts if a[0] == "login.fail") == 5  # refused attempts are not re-audited
    assert env.api("admin").get("/api/v1/audit", params={"limit": 5}).json()["chain_broken_at"] is None


def test_locked_form_still_needs_its_csrf_token(env):
    c = _client(env, "192.0.2.50")
    for _ in range(5):
        _attempt(c, "analyst", "wrong password!")
    c.get("/login")
    assert c.post("/login", data={"username": "analyst", "password": PASSWORD, "csrf": "forged"}).status_code == 403


def test_release_gives_back_only_that_attempt():
    clock = Clock()
    lim = LoginLimiter(per_account=3, per_address=100, window_s=60, clock=clock)
    lim.failure("alice", "1.2.3.4")
    clock.t += 1
    got = lim.reserve("alice", "1.2.3.4")
    assert isinstance(got, Attempt)
    got.release()
    got.release()  # once only
    assert [len(q) for q in lim._fails.values()] == [1, 1]  # the earlier failure stays on both keys
    lim.failure("alice", "1.2.3.4")
    assert lim.check("alice", "1.2.3.4") is None  # 2 < 3: the released attempt did not count


def test_an_error_while_checking_the_password_does_not_count_towards_a_lockout(env, monkeypatch):
    c = TestClient(env.app, base_url="https://testserver", follow_redirects=False, client=("192.0.2.60", 40000),
                   raise_server_exceptions=False)  # fmt: skip
    real = C.authenticate

    def broken(*a, **k):
        raise RuntimeError("store unavailable")

    monkeypatch.setattr(C, "authenticate", broken)
    for _ in range(3):
        assert _attempt(c, "analyst", PASSWORD).status_code == 500
    monkeypatch.setattr(C, "authenticate", real)
    for _ in range(5):  # the limit is 5: the three errors left no reservation behind
        r = _attempt(c, "analyst", "wrong password!")
        assert r.status_code == 303 and "error=1" in r.headers["location"]
    assert _attempt(c, "analyst", PASSWORD).status_code == 429
