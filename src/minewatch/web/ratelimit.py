"""Brute-force protection for the log-in form: failed attempts counted per account and per client address.

Why both keys: per account stops a slow guesser aimed at one name from many addresses; per address
stops one machine trying many names (password spraying), which a per-account count never sees.
Why the count is kept for names that do not exist: a refusal that only real accounts get would tell
an attacker which names are real. Why the check comes before the password hash: a locked key must
not cost the server a scrypt run (that would turn the log-in into a CPU denial of service).
Why a success resets only its account: if it also cleared the address, an attacker holding one
account could wipe their address's count between guesses at the others.
Why an attempt is reserved before the password hash (`reserve`), not counted after it: the hash
takes 100 ms or more, and many parallel requests that were all checked before any of them had failed
would all get through (38 of 100 parallel guesses passed a limit of 5). A reservation is counted as a
failure at once, under the lock; a successful log-in gives it back (`Attempt.succeeded`).
Why a lock-out is reported once: the attempts refused after it run no hash and write no log line;
only the failure that fills a key's window starts a lock (`Attempt.failed` returns it).
Why bounded: keys come from anyone who can reach the form, so the table is an LRU of at most
`max_keys` entries, each holding at most the last `limit` failure times (memory is O(max_keys * limit)).
The state is per server process and is lost on restart; that is acceptable for a throttle (the
audit log keeps the record).
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Lockout:
    """Why an attempt is refused: which key ('account' or 'address') and for how many more seconds."""

    scope: str
    retry_after_s: int


@dataclass
class Attempt:
    """A log-in attempt that holds its place in the failure counts while the password is checked.
    Report the outcome with `failed()` or `succeeded()` (once), or `release()` it when there is none
    (an error while checking)."""

    limiter: LoginLimiter
    username: str
    address: str | None
    at: float
    #: keys whose window this attempt filled (a lock starts if it turns out to be a failure)
    filled: list[tuple[str, str]]
    done: bool = False

    def failed(self) -> list[Lockout]:
        """The attempt was a failure (it stays counted); returns the lock-outs it started."""
        return self.limiter._settle(self, failed=True)

    def succeeded(self) -> None:
        """The password was right: the account's count is cleared and this attempt no longer counts
        against the address (the address's other failures stay)."""
        self.limiter._settle(self, failed=False)

    def release(self) -> None:
        """The attempt had no outcome (the password check or its audit write raised): it stops
        counting against both keys, and nothing else is cleared. Why: a few server errors must not
        lock a real user out."""
        self.limiter._release(self)


class LoginLimiter:
    """Sliding window: a key with `limit` failures in the last `window_s` seconds is refused until
    the oldest of them leaves the window."""

    def __init__(self, *, per_account: int = 5, per_address: int = 20, window_s: float = 900.0,
                 max_keys: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        if per_account < 1 or per_address < 1 or window_s <= 0 or max_keys < 2:
            raise ValueError("log-in limits must be positive")
        self.per_account = per_account
        self.per_address = per_address
        self.window_s = float(window_s)
        self.max_keys = max_keys
        self.clock = clock
        self._fails: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _account(username: str) -> tuple[str, str]:
        return ("account", (username or "").strip().lower()[:128])

    @staticmethod
    def _address(address: str | None) -> tuple[str, str]:
        return ("address", address or "?")

    def _limit(self, key: tuple[str, str]) -> int:
        return self.per_account if key[0] == "account" else self.per_address

    def _recent(self, key: tuple[str, str], now: float) -> deque[float] | None:
        q = self._fails.get(key)
        if q is None:
            return None
        while q and q[0] <= now - self.window_s:
            q.popleft()
        if not q:
            del self._fails[key]
            return None
        return q

    def check(self, username: str, address: str | None) -> Lockout | None:
        """The lock-out that refuses this attempt, or None when it may go ahead."""
        now = self.clock()
        with self._lock:
            return self._locked((self._account(username), self._address(address)), now)

    def _locked(self, keys: tuple[tuple[str, str], ...], now: float) -> Lockout | None:
        worst: Lockout | None = None
        for key in keys:
            q = self._recent(key, now)
            if q is not None and len(q) >= self._limit(key):
                wait = max(1, math.ceil(q[-self._limit(key)] + self.window_s - now))
                if worst is None or wait > worst.retry_after_s:
                    worst = Lockout(key[0], wait)
        return worst

    def reserve(self, username: str, address: str | None) -> Attempt | Lockout:
        """Before the password is checked: the `Lockout` that refuses this attempt, or an `Attempt`
        already counted as a failure on both keys (checked and counted in one step under the lock, so
        parallel requests cannot all pass the check first)."""
        now = self.clock()
        keys = (self._account(username), self._address(address))
        with self._lock:
            locked = self._locked(keys, now)
            if locked is not None:
                return locked
            filled = []
            for key in keys:
                q = self._recent(key, now)
                if q is None:
                    q = self._fails[key] = deque(maxlen=self._limit(key))
                q.append(now)
                self._fails.move_to_end(key)
                if len(q) == self._limit(key):
                    filled.append(key)
            while len(self._fails) > self.max_keys:
                self._fails.popitem(last=False)
        return Attempt(self, username, address, now, filled)

    def _settle(self, attempt: Attempt, *, failed: bool) -> list[Lockout]:
        if attempt.done:
            return []
        attempt.done = True
        now = self.clock()
        account, address = self._account(attempt.username), self._address(attempt.address)
        with self._lock:
            if failed:
                started = []
                for key in attempt.filled:
                    q = self._recent(key, now)
                    # still full with this attempt in it (a success in between may have freed a place)
                    if q is not None and len(q) >= self._limit(key) and attempt.at in q:
                        started.append(Lockout(key[0], max(1, math.ceil(q[0] + self.window_s - now))))
                return started
            self._fails.pop(account, None)
            q = self._fails.get(address)
            if q is not None:
                with contextlib.suppress(ValueError):
                    q.remove(attempt.at)
                if not q:
                    del self._fails[address]
        return []

    def _release(self, attempt: Attempt) -> None:
        if attempt.done:
            return
        attempt.done = True
        with self._lock:
            for key in (self._account(attempt.username), self._address(attempt.address)):
                q = self._fails.get(key)
                if q is None:
                    continue
                with contextlib.suppress(ValueError):
                    q.remove(attempt.at)
                if not q:
                    del self._fails[key]

    def failure(self, username: str, address: str | None) -> list[Lockout]:
        """Count a failed attempt that was not reserved; returns the lock-outs this failure started
        (for the audit log): only the failure that fills a window, not every one after it."""
        got = self.reserve(username, address)
        return [] if isinstance(got, Lockout) else got.failed()

    def success(self, username: str) -> None:
        with self._lock:
            self._fails.pop(self._account(username), None)

    def __len__(self) -> int:
        return len(self._fails)


__all__ = ["Attempt", "Lockout", "LoginLimiter"]
