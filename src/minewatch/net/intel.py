"""Pool intelligence: which names and addresses belong to mining pools, and which ones the user allows.

Three kinds of knowledge, kept apart because they deserve different trust:

* the built-in list (`data/pools.yaml`), typed from what pools publish on their own getting-started
  pages and what the press reported; curated, so a hit is strong evidence;
* lists a user imports (hosts files, plain domain lists, maltrail trails, nDPI category files, IP
  lists); they are large, stale and noisy (ad networks, browser-miner script hosts), so a hit counts
  less and always names the list it came from;
* a keyword heuristic for names on no list (DeCrypto-style tokens such as `pool`, `stratum`, `xmr`),
  a separate and much weaker signal.

Allow-lists are applied when results are shown, not when data is imported: a rule added today must
hide yesterday's findings too, and removing it must bring them back (RITA's users asked for exactly
this, rita#566). Everything in this module is pure except the explicit file readers.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml

from minewatch.errors import InputError, Rejects
from minewatch.model import Evidence, Finding, endpoint

ListFormat = Literal["auto", "hosts", "domains", "maltrail", "ndpi", "ips"]
FORMATS: tuple[str, ...] = ("auto", "hosts", "domains", "maltrail", "ndpi", "ips")

#: Confidence (0-1) of each kind of hit; sub-scores scale from these, the evidence shows them.
CONF_BUILTIN_DOMAIN = 0.9
CONF_IMPORTED_DOMAIN = 0.6
CONF_IMPORTED_IP_PORT = 0.7
CONF_IMPORTED_IP = 0.5

#: Multi-tenant suffixes: one tenant on a list says nothing about the others, so an entry under one of
#: these matches only itself, and the suffix alone is rejected. Not a full public-suffix list, just
#: the hosting platforms that actually appear in miner lists (browser-miner script hosts, proxies).
SHARED_SUFFIXES: frozenset[str] = frozenset(
    {
        "now.sh", "github.io", "gitlab.io", "herokuapp.com", "cloudfront.net", "amazonaws.com",
        "azurewebsites.net", "blogspot.com", "appspot.com", "firebaseapp.com", "web.app", "netlify.app",
        "netlify.com", "vercel.app", "glitch.me", "000webhostapp.com", "duckdns.org", "no-ip.org",
        "ddns.net", "hopto.org", "zapto.org", "cdn77.org", "rsc.cdn77.org", "editmysite.com",
        "rhcloud.com", "workers.dev", "pages.dev", "ngrok.io", "wordpress.com", "tumblr.com",
        "weebly.com", "wixsite.com", "googleusercontent.com", "cloudapp.net", "azureedge.net",
        "akamaihd.net", "fastly.net", "b-cdn.net", "surge.sh", "repl.co", "onrender.com",
    }
)  # fmt: skip
#: Second-level public suffixes that a list entry must never be on its own.
_PUBLIC_2LD: frozenset[str] = frozenset(
    {
        "co.uk", "org.uk", "com.cn", "net.cn", "org.cn", "com.hk", "com.tw", "com.br", "com.au", "net.au",
        "co.jp", "co.kr", "com.ru", "com.ua", "co.in", "com.tr", "com.mx", "co.za", "com.sg", "com.my",
    }
)  # fmt: skip

_LABEL_RE = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_SCHEME_RE = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)

# --- keyword heuristic ---------------------------------------------------------------------------
#: Tokens that say "pool" on their own. Whole tokens only: `carpool`, `examine` and `minecraft` stay out.
POOL_WORDS: frozenset[str] = frozenset(
    {"pool", "pools", "mining", "miner", "miners", "stratum", "hashrate", "solo", "mine", "minepool"}
)
#: Coin tickers, coin names and PoW algorithm names; weaker alone (`eth` may be an interface name).
COIN_WORDS: frozenset[str] = frozenset(
    {
        "btc", "bch", "bsv", "ltc", "doge", "xmr", "monero", "eth", "etc", "ethw", "zec", "zcash", "rvn",
        "ravencoin", "kas", "kaspa", "erg", "ergo", "etn", "dash", "beam", "grin", "ckb", "flux", "cfx",
        "nexa", "alph", "kls", "clore", "neox", "xmv", "aleo", "dero", "zeph", "qrl", "firo", "ethash",
        "etchash", "kawpow", "randomx", "equihash", "scrypt", "sha256", "autolykos", "cryptonight",
        "kheavyhash", "octopus", "cuckoo", "xmrig",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class PoolEntry:
    """One built-in pool as typed in pools.yaml."""

    name: str
    coins: tuple[str, ...]
    domains: tuple[str, ...]
    ports: tuple[int, ...]
    tls_ports: tuple[int, ...]
    source: str
    operator: str | None = None
    country: str | None = None
    status: str = "active"
    notes: str | None = None


@dataclass(frozen=True, slots=True)
class PoolMatch:
    """Why a name or address counts as a pool: which entry matched, from which list, how sure."""

    pool: str
    entry: str
    source: str
    coins: tuple[str, ...]
    is_builtin: bool
    confidence: float
    kind: Literal["domain", "ip", "keyword"]
    ports: tuple[int, ...] = ()
    tls_ports: tuple[int, ...] = ()
    reference: str | None = None

    def with_entry(self, entry: str) -> PoolMatch:
        return PoolMatch(
            self.pool, entry, self.source, self.coins, self.is_builtin, self.confidence, self.kind,
            self.ports, self.tls_ports, self.reference,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class KeywordHit:
    """Pool-like tokens in a name on no list. `strength` 0-1: pool word and coin word together 1.0."""

    name: str
    pool_words: tuple[str, ...]
    coin_words: tuple[str, ...]
    strength: float


@dataclass(slots=True)
class ListEntry:
    """One accepted line of an imported list."""

    kind: Literal["domain", "ip", "cidr"]
    value: str
    port: int | None = None
    line: int | None = None
    reference: str | None = None


@dataclass(slots=True)
class ImportResult:
    """What one list yielded: entries kept, lines rejected (with line numbers), duplicates folded."""

    name: str
    path: str | None
    fmt: str
    entries: list[ListEntry] = field(default_factory=list)
    rejects: list[tuple[int, str, str]] = field(default_factory=list)  # (line, text, reason)
    duplicates: int = 0
    comments: int = 0
    blank: int = 0
    tally: Rejects = field(default_factory=Rejects)

    @property
    def accepted(self) -> int:
        return len(self.entries)

    @property
    def rejected(self) -> int:
        return len(self.rejects)

    def counts(self) -> dict[str, int]:
        kinds = {"domain": 0, "ip": 0, "cidr": 0, "ip_port": 0}
        for e in self.entries:
            kinds["ip_port" if e.kind == "ip" and e.port is not None else e.kind] += 1
        return {
            "accepted": self.accepted,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "comments": self.comments,
            "blank": self.blank,
            **kinds,
        }


# --- name and address normalisation -----------------------------------------------------------------
def normalise_host(name: str) -> str | None:
    """Lower-case, no trailing dot, IDN as punycode; None when this cannot be a DNS host name."""
    n = name.strip().rstrip(".").lower()
    if n.startswith("*."):
        n = n[2:]
    n = n.lstrip(".")
    if not n or len(n) > 253:
        return None
    if not n.isascii():
        try:
            n = n.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    labels = n.split(".")
    if not all(_LABEL_RE.match(lbl) for lbl in labels):
        return None
    return n


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _split_host_port(text: str) -> tuple[str, int | None] | None:
    """`host`, `host:port`, `1.2.3.4:port`, `[v6]:port`; None when the port part is not a port."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        host, rest = text[1:end], text[end + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":") or not rest[1:].isdigit():
            return None
        port = int(rest[1:])
        return (host, port) if 0 < port < 65536 else None
    if text.count(":") == 1:
        host, p = text.split(":")
        if not p.isdigit():
            return None
        port = int(p)
        return (host, port) if 0 < port < 65536 else None
    return text, None


def _classify(token: str) -> tuple[ListEntry | None, str | None]:
    """One list token -> an entry, or the reason it was rejected."""
    t = _SCHEME_RE.sub("", token.strip())
    t = t.split("/", 1)[0] if "/" in t and not _looks_cidr(t) else t
    hp = _split_host_port(t)
    if hp is None:
        return None, "bad port"
    host, port = hp
    if _looks_cidr(host):
        try:
            net = ipaddress.ip_network(host, strict=False)
        except ValueError:
            return None, "bad CIDR"
        if net.num_addresses == 1:
            return ListEntry("ip", str(net.network_address), port), None
        if net.prefixlen < (8 if net.version == 4 else 16):
            return None, "CIDR too wide to be a pool"
        return ListEntry("cidr", str(net), port), None
    if _is_ip(host):
        addr = ipaddress.ip_address(host)
        if addr.is_unspecified or addr.is_loopback:
            return None, "unspecified or loopback address"
        return ListEntry("ip", str(addr), port), None
    if re.fullmatch(r"[0-9.]+", host):
        return None, "malformed IPv4 address"
    name = normalise_host(host)
    if name is None:
        return None, "not a host name"
    if "." not in name:
        return None, "single-label name (a TLD or local name)"
    if name in SHARED_SUFFIXES or name in _PUBLIC_2LD:
        return None, "shared-hosting or public suffix: would match every tenant"
    if name.rsplit(".", 1)[1].isdigit():
        return None, "numeric top-level label"
    return ListEntry("domain", name, port), None


def _looks_cidr(text: str) -> bool:
    if "/" not in text:
        return False
    a, _, b = text.partition("/")
    return b.isdigit() and (_is_ip(a))


_HOSTS_SKIP = frozenset(
    {"localhost", "localhost.localdomain", "local", "broadcasthost", "ip6-localhost", "ip6-loopback",
     "ip6-localnet", "ip6-mcastprefix", "ip6-allnodes", "ip6-allrouters", "ip6-allhosts", "0.0.0.0"}
)  # fmt: skip


def detect_format(lines: Sequence[str]) -> str:
    """Guess a list's format from its first data lines (comments and blanks ignored)."""
    sample = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith(("#", "!", ";"))][:200]
    if not sample:
        return "domains"
    tab_num = sum(1 for ln in sample if re.fullmatch(r"\S+\t+\d+", ln))
    hosts = sum(1 for ln in sample if len(ln.split()) >= 2 and _is_ip(ln.split()[0]))
    if tab_num >= 0.5 * len(sample):
        return "ndpi"
    if hosts >= 0.5 * len(sample):
        return "hosts"
    kinds = [_classify(ln.split()[0])[0] for ln in sample]
    n_dom = sum(1 for e in kinds if e is not None and e.kind == "domain")
    n_ip = sum(1 for e in kinds if e is not None and e.kind in ("ip", "cidr"))
    n_ipport = sum(1 for e in kinds if e is not None and e.kind == "ip" and e.port is not None)
    if n_ip and not n_dom and not n_ipport:
        return "ips"
    if n_ip and (n_dom or n_ipport):
        return "maltrail"
    has_refs = any(ln.lower().startswith("# reference") for ln in lines[:400])
    return "maltrail" if has_refs else "domains"


def parse_list_lines(lines: Iterable[str], fmt: str, *, name: str, path: str | None = None) -> ImportResult:
    """Parse a list already split into lines. Line numbers in rejects are 1-based."""
    lines = list(lines)
    if fmt not in FORMATS:
        raise InputError(f"unknown list format {fmt!r} (one of {', '.join(FORMATS)})", path=path)
    if fmt == "auto":
        fmt = detect_format(lines)
    res = ImportResult(name=name, path=path, fmt=fmt)
    seen: set[tuple[str, str, int | None]] = set()
    reference: str | None = None
    in_comment_block = False

    def reject(lineno: int, text: str, reason: str) -> None:
        res.rejects.append((lineno, text[:200], reason))
        res.tally.add(reason, f"{path or name}:{lineno}")

    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip().lstrip("\ufeff")
        if not line:
            res.blank += 1
            in_comment_block = False
            continue
        if line.startswith(("#", "!", ";")):
            res.comments += 1
            if fmt == "maltrail":
                m = re.match(r"#\s*reference:\s*(\S+)", line, re.I)
                if m:
                    # A new block of references starts after data lines; consecutive ones accumulate.
                    reference = m.group(1) if not in_comment_block or reference is None else reference
                    in_comment_block = True
            continue
        in_comment_block = False
        body = line.split("#", 1)[0].strip() if fmt in ("hosts", "maltrail", "domains", "ips") else line
        tokens: list[str]
        if fmt == "hosts":
            parts = body.split()
            if len(parts) < 2:
                if len(parts) == 1 and not _is_ip(parts[0]):
                    tokens = parts  # a bare name in a hosts file: accept it as a domain
                else:
                    reject(lineno, line, "hosts line without a name")
                    continue
            elif not _is_ip(parts[0]):
                reject(lineno, line, "hosts line does not start with an address")
                continue
            else:
                tokens = [p for p in parts[1:] if p.lower() not in _HOSTS_SKIP]
                if not tokens:
                    res.comments += 1  # `127.0.0.1 localhost` and friends: boilerplate, not data
                    continue
        elif fmt == "ndpi":
            parts = body.split("\t") if "\t" in body else body.split()
            if len(parts) != 2 or not parts[1].strip().isdigit():
                reject(lineno, line, "nDPI line is not host<TAB>category")
                continue
            tokens = [parts[0]]
        else:
            tokens = body.split()
            if len(tokens) != 1:
                reject(lineno, line, "more than one field on the line")
                continue
        for tok in tokens:
            entry, why = _classify(tok)
            if entry is None:
                reject(lineno, line, why or "unreadable")
                continue
            if fmt == "domains" and entry.kind != "domain":
                reject(lineno, line, "an address in a domain list")
                continue
            if fmt == "ips" and entry.kind == "domain":
                reject(lineno, line, "a name in an address list")
                continue
            if fmt in ("hosts", "ndpi") and entry.kind != "domain":
                reject(lineno, line, "an address where a host name belongs")
                continue
            key = (entry.kind, entry.value, entry.port)
            if key in seen:
                res.duplicates += 1
                continue
            seen.add(key)
            entry.line = lineno
            entry.reference = reference if fmt == "maltrail" else None
            res.entries.append(entry)
    return res


def read_list(path: str | Path, fmt: str = "auto", name: str | None = None) -> ImportResult:
    """Read a list file. Lines that are not valid UTF-8 are rejected with their number, not fatal."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read list: {exc.strerror or exc}", path=str(p)) from exc
    lines: list[str] = []
    bad: list[int] = []
    for i, raw in enumerate(data.splitlines(), start=1):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            lines.append("")
            bad.append(i)
    res = parse_list_lines(lines, fmt, name=name or p.stem, path=str(p))
    for i in bad:
        res.blank -= 1
        res.rejects.append((i, "", "not UTF-8 text"))
        res.tally.add("not UTF-8 text", f"{p}:{i}")
    res.rejects.sort()
    return res


# --- the built-in list ---------------------------------------------------------------------------
def load_builtin_entries(path: str | Path | None = None) -> list[PoolEntry]:
    """Read pools.yaml; a malformed entry is an InputError naming the pool, because the file ships with
    the package and a broken entry is a bug to fix, not noise to step over."""
    if path is None:
        from minewatch.paths import package_data

        path = package_data("pools.yaml")
    text = Path(path).read_text(encoding="utf-8")
    doc = yaml.safe_load(text) or {}
    out: list[PoolEntry] = []
    for i, raw in enumerate(doc.get("pools") or [], start=1):
        where = f"pool #{i} {raw.get('name', '?')!r}" if isinstance(raw, dict) else f"pool #{i}"
        if not isinstance(raw, dict):
            raise InputError(f"{where}: not a mapping", path=str(path))
        missing = [k for k in ("name", "coins", "domains", "ports", "source") if not raw.get(k)]
        if missing:
            raise InputError(f"{where}: missing {', '.join(missing)}", path=str(path))
        domains = []
        for d in raw["domains"]:
            n = normalise_host(str(d))
            if n is None or "." not in n:
                raise InputError(f"{where}: bad domain {d!r}", path=str(path))
            domains.append(n)
        ports = tuple(int(p) for p in raw["ports"])
        tls_ports = tuple(int(p) for p in raw.get("tls_ports") or ())
        if not all(0 < p < 65536 for p in (*ports, *tls_ports)):
            raise InputError(f"{where}: port out of range", path=str(path))
        out.append(
            PoolEntry(
                name=str(raw["name"]),
                coins=tuple(str(c).upper() for c in raw["coins"]),
                domains=tuple(domains),
                ports=ports,
                tls_ports=tls_ports,
                source=str(raw["source"]),
                operator=raw.get("operator"),
                country=raw.get("country"),
                status=str(raw.get("status") or "active"),
                notes=raw.get("notes"),
            )
        )
    return out


def pool_keywords(name: str | None) -> KeywordHit | None:
    """DeCrypto-style tokens in a host name, on token boundaries (`.`, `-`, `_`, digits).

    The last label (the TLD) is ignored. A name with only coin words is weak (0.4), only pool words
    medium (0.6), both strong (1.0); callers scale their points by `strength`.
    """
    if not name:
        return None
    n = normalise_host(name)
    if n is None:
        return None
    labels = n.split(".")[:-1]
    tokens = [t for lbl in labels for t in re.split(r"[^a-z]+", lbl) if t]
    pw = tuple(dict.fromkeys(t for t in tokens if t in POOL_WORDS))
    cw = tuple(dict.fromkeys(t for t in tokens if t in COIN_WORDS))
    if not pw and not cw:
        return None
    strength = 1.0 if pw and cw else 0.6 if pw else 0.4
    return KeywordHit(n, pw, cw, strength)


class PoolIntel:
    """Built-in pools plus imported lists, with suffix matching on label boundaries."""

    def __init__(self) -> None:
        self.pools: list[PoolEntry] = []
        self.lists: dict[str, ImportResult] = {}
        # suffix -> [(exact_only, match)]; ip -> [(port or None, match)]; [(network, port, match)]
        self._domains: dict[str, list[tuple[bool, PoolMatch]]] = {}
        self._ips: dict[str, list[tuple[int | None, PoolMatch]]] = {}
        self._nets: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, int | None, PoolMatch]] = []
        self._common_ports: frozenset[int] = frozenset()

    @classmethod
    def builtin(cls) -> PoolIntel:
        intel = cls()
        intel.load_builtin()
        return intel

    # -- loading ------------------------------------------------------------------------------
    def load_builtin(self, path: str | Path | None = None) -> int:
        """Add the curated pools; returns how many pools were loaded."""
        entries = load_builtin_entries(path)
        for p in entries:
            m = PoolMatch(
                pool=p.name, entry="", source="builtin", coins=p.coins, is_builtin=True,
                confidence=CONF_BUILTIN_DOMAIN, kind="domain", ports=p.ports, tls_ports=p.tls_ports,
                reference=p.source,
            )  # fmt: skip
            for d in p.domains:
                self._domains.setdefault(d, []).append((False, m.with_entry(d)))
        self.pools.extend(entries)
        self._recount_ports()
        return len(entries)

    def _recount_ports(self) -> None:
        """Ports above 1024 published by at least three pools: a weak hint even with no name known."""
        counts: dict[int, int] = {}
        for p in self.pools:
            for port in set(p.ports) | set(p.tls_ports):
                counts[port] = counts.get(port, 0) + 1
        self._common_ports = frozenset(port for port, c in counts.items() if c >= 3 and port > 1024)

    @property
    def common_ports(self) -> frozenset[int]:
        return self._common_ports

    def import_list(self, path: str | Path, fmt: str = "auto", name: str | None = None) -> ImportResult:
        """Read a list file and make its entries matchable; returns counts and rejects."""
        res = read_list(path, fmt, name)
        self.add_list(res)
        return res

    def add_list(self, res: ImportResult) -> None:
        """Make a parsed (or stored) list matchable. A list with the same name replaces the old one."""
        if res.name in self.lists:
            self.remove_list(res.name)
        self.lists[res.name] = res
        for e in res.entries:
            if e.kind == "domain":
                exact = any(e.value.endswith("." + s) for s in SHARED_SUFFIXES)
                m = PoolMatch(res.name, e.value, res.name, (), False, CONF_IMPORTED_DOMAIN, "domain",
                              (e.port,) if e.port else (), (), e.reference)  # fmt: skip
                self._domains.setdefault(e.value, []).append((exact, m))
            else:
                entry = e.value if e.port is None else f"{e.value}:{e.port}"
                conf = CONF_IMPORTED_IP_PORT if e.port is not None else CONF_IMPORTED_IP
                m = PoolMatch(res.name, entry, res.name, (), False, conf, "ip",
                              (e.port,) if e.port else (), (), e.reference)  # fmt: skip
                if e.kind == "ip":
                    self._ips.setdefault(e.value, []).append((e.port, m))
                else:
                    self._nets.append((ipaddress.ip_network(e.value), e.port, m))

    def remove_list(self, name: str) -> None:
        self.lists.pop(name, None)
        for key in list(self._domains):
            kept = [(x, m) for x, m in self._domains[key] if m.is_builtin or m.source != name]
            if kept:
                self._domains[key] = kept
            else:
                del self._domains[key]
        for key in list(self._ips):
            kept_ip = [(p, m) for p, m in self._ips[key] if m.source != name]
            if kept_ip:
                self._ips[key] = kept_ip
            else:
                del self._ips[key]
        self._nets = [t for t in self._nets if t[2].source != name]

    # -- matching -----------------------------------------------------------------------------
    def match_host(self, name: str | None) -> PoolMatch | None:
        """The best list entry that `name` equals or is a subdomain of (label boundaries: `xf2pool.com`
        is not `f2pool.com`). A built-in hit wins over imported ones at any depth, because it names the
        pool, its coins and ports; among imported hits the most specific wins."""
        hits = self.match_host_all(name)
        if not hits:
            return None
        builtin = [m for m in hits if m.is_builtin]
        return builtin[0] if builtin else hits[0]

    def match_host_all(self, name: str | None) -> list[PoolMatch]:
        """Every entry `name` falls under, most specific first (one per list and suffix)."""
        if not name:
            return []
        n = normalise_host(name)
        if n is None:
            return []
        labels = n.split(".")
        out: list[PoolMatch] = []
        for i in range(len(labels) - 1):
            suffix = ".".join(labels[i:])
            for exact, m in self._domains.get(suffix, ()):
                if i == 0 or not exact:
                    out.append(m)
        return out

    def match_ip(self, ip: str | None, port: int | None = None) -> PoolMatch | None:
        """An imported address entry for `ip`. An `IP:port` entry needs the same port when `port` is
        given; entries without a port match any port. The built-in list has no addresses on purpose:
        pool IPs move, names stay."""
        if not ip or (not self._ips and not self._nets):
            return None  # built-in pools have no addresses: nothing to parse for
        addr = _ip_cached(ip)
        if addr is None:
            return None
        cands = [(p, m) for p, m in self._ips.get(str(addr), ()) if p is None or port is None or p == port]
        if cands:
            # An entry naming this very port beats an address-only entry.
            return max(cands, key=lambda pm: (pm[0] is not None and pm[0] == port, pm[1].confidence))[1]
        for net, p, m in self._nets:
            if addr.version == net.version and addr in net and (p is None or port is None or p == port):
                return m
        return None

    def pool_by_name(self, name: str) -> PoolEntry | None:
        low = name.lower()
        return next((p for p in self.pools if p.name.lower() == low), None)


@functools.lru_cache(maxsize=65536)
def _ip_cached(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Parsed address, cached: a scan asks about the same servers again and again."""
    try:
        return ipaddress.ip_address(ip)
    except ValueError:
        return None


# --- sub-scores --------------------------------------------------------------------------------
def _match_text(m: PoolMatch) -> tuple[str, str]:
    if m.is_builtin:
        return f"known {m.pool} endpoint (built-in list)", f"已知的 {m.pool} 矿池地址（内置列表）"
    return f"listed in imported list {m.source!r}", f"出现在导入的列表“{m.source}”中"


def intel_subscores(
    host: str | None,
    sni: str | None,
    ip: str | None,
    port: int | None,
    intel: PoolIntel,
) -> tuple[dict[str, float], list[Evidence]]:
    """Named sub-scores (points) and their evidence for one flow's names and destination.

    * `pool_domain`: 40 for a built-in hit, 30 for an imported-list hit (imported lists are noisy);
    * `pool_keyword`: up to 15, only when no list matched a name (a weaker, separate signal);
    * `pool_ip`: 30 for an imported `IP:port` entry with the same port, 20 for an address-only entry;
    * `known_pool_port`: 5 when the port is one the matched pool publishes, else 2 when it is a port
      that several built-in pools publish (never for ports below 1024).
    """
    sub: dict[str, float] = {}
    ev: list[Evidence] = []
    names = list(dict.fromkeys(n for n in (sni, host) if n))
    where = f":{port}" if port is not None else ""
    matched: PoolMatch | None = None
    for n in names:
        m = intel.match_host(n)
        if m is not None and (
            matched is None or (m.is_builtin, m.confidence) > (matched.is_builtin, matched.confidence)
        ):
            matched, matched_name = m, n
    if matched is not None:
        pts = 40.0 if matched.is_builtin else 30.0
        sub["pool_domain"] = pts
        en, zh = _match_text(matched)
        via = "TLS SNI" if matched_name == sni else "host name"
        via_zh = "TLS SNI" if matched_name == sni else "主机名"
        ev.append(
            Evidence(
                code="intel.pool_domain",
                text=f"{matched_name}{where} ({via}) is a {en}, entry {matched.entry}",
                text_zh=f"{matched_name}{where}（{via_zh}）是{zh}，条目 {matched.entry}",
                data={
                    "name": matched_name,
                    "entry": matched.entry,
                    "pool": matched.pool,
                    "list": matched.source,
                    "builtin": matched.is_builtin,
                    "coins": list(matched.coins),
                    "confidence": matched.confidence,
                    "points": pts,
                    "reference": matched.reference,
                },
            )
        )
    else:
        best: KeywordHit | None = None
        for n in names:
            k = pool_keywords(n)
            if k is not None and (best is None or k.strength > best.strength):
                best = k
        if best is not None:
            pts = round(15.0 * best.strength, 1)
            sub["pool_keyword"] = pts
            words = ", ".join((*best.pool_words, *best.coin_words))
            ev.append(
                Evidence(
                    code="intel.pool_keyword",
                    text=f"{best.name} is on no pool list but has pool-like words: {words}",
                    text_zh=f"{best.name} 不在任何矿池列表中，但含有矿池相关词：{words}",
                    data={
                        "name": best.name,
                        "pool_words": list(best.pool_words),
                        "coin_words": list(best.coin_words),
                        "strength": best.strength,
                        "points": pts,
                    },
                )
            )
    ipm = intel.match_ip(ip, port)
    if ipm is not None:
        exact = ipm.ports and port is not None and port in ipm.ports
        pts = 30.0 if exact else 20.0
        sub["pool_ip"] = pts
        ev.append(
            Evidence(
                code="intel.pool_ip",
                text=f"{endpoint(ip, port)} matches {ipm.entry} in imported list {ipm.source!r}",
                text_zh=f"{endpoint(ip, port)} 与导入列表“{ipm.source}”中的 {ipm.entry} 相符",
                data={
                    "ip": ip,
                    "port": port,
                    "entry": ipm.entry,
                    "list": ipm.source,
                    "reference": ipm.reference,
                    "points": pts,
                },
            )
        )
    if port is not None:
        ref = matched or ipm
        if ref is not None and ref.is_builtin and port in (*ref.ports, *ref.tls_ports):
            tls = port in ref.tls_ports and port not in ref.ports
            sub["known_pool_port"] = 5.0
            kind_en = "TLS stratum" if tls else "stratum"
            kind_zh = "TLS 加密 stratum" if tls else "stratum"
            ev.append(
                Evidence(
                    code="intel.known_pool_port",
                    text=f"port {port} is a {kind_en} port {ref.pool} publishes",
                    text_zh=f"端口 {port} 是 {ref.pool} 公布的 {kind_zh} 端口",
                    data={"port": port, "pool": ref.pool, "tls": tls, "points": 5.0},
                )
            )
        elif port in intel.common_ports and (matched is not None or ipm is not None or "pool_keyword" in sub):
            sub["known_pool_port"] = 2.0
            ev.append(
                Evidence(
                    code="intel.known_pool_port",
                    text=f"port {port} is published as a stratum port by several pools",
                    text_zh=f"端口 {port} 被多个矿池公布为 stratum 端口",
                    data={"port": port, "points": 2.0},
                )
            )
    return sub, ev


# --- allow-lists -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AllowRule:
    """One allow rule. Domain rules cover the domain and, unless `subdomains` is False, its subdomains,
    minus the `exceptions` (each with its own subdomains): allow `example.com` but not
    `pool.example.com`. CIDR rules cover addresses (IPv4 or IPv6)."""

    kind: Literal["domain", "cidr"]
    value: str
    reason: str
    exceptions: tuple[str, ...] = ()
    subdomains: bool = True
    rule_id: int | None = None
    version: int | None = None
    created_at: datetime | None = None

    @staticmethod
    def domain(
        value: str, reason: str, exceptions: Iterable[str] = (), *, subdomains: bool = True,
        rule_id: int | None = None, version: int | None = None, created_at: datetime | None = None,
    ) -> AllowRule:  # fmt: skip
        """Build a domain rule; an exception given relative (`pool`) is read under the domain."""
        d = normalise_host(value)
        if d is None or "." not in d:
            raise InputError(f"not a domain name: {value!r}")
        exc: list[str] = []
        for e in exceptions:
            n = normalise_host(e)
            if n is None:
                raise InputError(f"not a domain name: {e!r}")
            if n != d and not n.endswith("." + d):
                n = f"{n}.{d}"
            if n == d:
                raise InputError(f"exception {e!r} would cancel the whole rule for {d}")
            exc.append(n)
        return AllowRule(
            "domain", d, reason, tuple(dict.fromkeys(exc)), subdomains, rule_id, version, created_at
        )

    @staticmethod
    def cidr(
        value: str, reason: str, *, rule_id: int | None = None, version: int | None = None,
        created_at: datetime | None = None,
    ) -> AllowRule:  # fmt: skip
        try:
            net = ipaddress.ip_network(value.strip(), strict=False)
        except ValueError as exc:
            raise InputError(f"not an address or CIDR: {value!r}") from exc
        return AllowRule("cidr", str(net), reason, (), True, rule_id, version, created_at)

    def matches_host(self, host: str | None) -> bool:
        if self.kind != "domain" or not host:
            return False
        n = normalise_host(host)
        if n is None:
            return False
        if n != self.value and not (self.subdomains and n.endswith("." + self.value)):
            return False
        return not any(n == e or n.endswith("." + e) for e in self.exceptions)

    def matches_ip(self, ip: str | None) -> bool:
        if self.kind != "cidr" or not ip:
            return False
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        net = ipaddress.ip_network(self.value)
        return addr.version == net.version and addr in net

    def describe(self, lang: str = "en") -> str:
        if self.kind == "cidr":
            return self.value
        scope = ("and subdomains" if lang == "en" else "及其子域名") if self.subdomains else (
            "only" if lang == "en" else "（仅此域名）")  # fmt: skip
        text = f"{self.value} {scope}"
        if self.exceptions:
            text += (" except " if lang == "en" else "，不含 ") + ", ".join(self.exceptions)
        return text

    def specificity(self) -> int:
        if self.kind == "cidr":
            return ipaddress.ip_network(self.value).prefixlen
        return self.value.count(".") + 1


@dataclass
class AllowList:
    """A set of allow rules, as of one version of the stored allow-list (None = not from a store)."""

    rules: list[AllowRule] = field(default_factory=list)
    version: int | None = None

    def add(self, rule: AllowRule) -> None:
        self.rules.append(rule)

    def __len__(self) -> int:
        return len(self.rules)

    def is_allowed(self, ip: str | None = None, host: str | None = None) -> AllowRule | None:
        """The most specific rule that allows this host or address (host rules first), or None."""
        if host:
            hits = [r for r in self.rules if r.matches_host(host)]
            if hits:
                return max(hits, key=AllowRule.specificity)
        if ip:
            hits = [r for r in self.rules if r.matches_ip(ip)]
            if hits:
                return max(hits, key=AllowRule.specificity)
        return None

    def excepted(self, host: str) -> bool:
        """Whether a domain rule covers this host but names it among its exceptions."""
        n = normalise_host(host)
        return n is not None and any(
            r.kind == "domain" and any(n == e or n.endswith("." + e) for e in r.exceptions) for r in self.rules
        )

    def finding_rule(self, f: Finding) -> AllowRule | None:
        """Which rule, if any, hides this finding: its pool host or SNI, then its destination, then its
        source (an allowed lab subnet)."""
        names = [h for h in (f.pool_host, f.sni) if h]
        if any(self.excepted(h) for h in names):
            # a name the operator carved out of a rule ("allow example.com except pool") keeps the finding,
            # whatever the connection's other name is: a pool behind a CDN-looking SNI must not hide it
            return None
        for host in names:
            r = self.is_allowed(host=host)
            if r is not None:
                return r
        for ip in (f.dst_ip, f.src_ip):
            r = self.is_allowed(ip=ip)
            if r is not None:
                return r
        return None

    def filter(self, findings: Iterable[Finding]) -> tuple[list[Finding], list[tuple[Finding, AllowRule]]]:
        """Split findings into shown and hidden-with-the-rule-that-hid-them."""
        shown: list[Finding] = []
        hidden: list[tuple[Finding, AllowRule]] = []
        for f in findings:
            r = self.finding_rule(f)
            if r is None:
                shown.append(f)
            else:
                hidden.append((f, r))
        return shown, hidden


def match_to_dict(m: PoolMatch | None) -> dict[str, Any] | None:
    if m is None:
        return None
    return {
        "pool": m.pool, "entry": m.entry, "source": m.source, "coins": list(m.coins),
        "is_builtin": m.is_builtin, "confidence": m.confidence, "kind": m.kind,
        "ports": list(m.ports), "tls_ports": list(m.tls_ports), "reference": m.reference,
    }  # fmt: skip
