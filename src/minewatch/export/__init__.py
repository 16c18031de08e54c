"""Exports that enforce: firewall sets, DNS policy, IDS rules, threat-intel bundles, SIEM alerts.

Every exporter reads findings only (never the raw data) and goes through `collect_indicators`, so
all formats block the same things: the public pool addresses and domains of mining findings with a
high enough score, minus the allow-list. Internal miner hosts are left out unless asked for
(`quarantine_hosts=True`, `minewatch export nft|ipset --quarantine-hosts`), because "cut the network"
for a site (quarantine the host) and "block the pool" for everyone are different decisions an
operator makes on purpose: a false positive at the score threshold must not take a server off the
network. Node findings are never exported as indicators.

Firewall files replace what an earlier export loaded (nft deletes and re-creates its table in one
transaction, ipset swaps freshly filled sets in), so a finding that was allow-listed since, or that
fell out of the `--since` window, is unblocked by loading the next export.

The registry `EXPORTERS` maps a name to a function (pySigma-style), so `minewatch export KIND` and
the web page offer exactly the same formats.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import ipaddress
import json
import re
import uuid
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import yaml

from minewatch import __version__
from minewatch.i18n import tr
from minewatch.model import STABLE_KEYS, Finding, iso
from minewatch.net.findings import is_public

#: Findings under this score are not turned into blocking indicators by default.
DEFAULT_MIN_SCORE = 70.0

#: Origin of the RPZ zone unless `zone=` says otherwise; it also bounds how long a pool name may be.
DEFAULT_RPZ_ORIGIN = "rpz.minewatch."

#: Namespace of the name-based ids (Sigma rule ids, STIX ids): the same input gives the same id.
_NS = uuid.UUID("6f1e4a53-4d55-4f6b-9d0c-6d696e657761")

#: Reasons a pool name is left out of every format (keys of `Indicators.skipped`).
SKIP_INVALID = "invalid"
SKIP_TOO_LONG = "too_long"


def _ip_key(ip: str) -> tuple[int, int]:
    """Sort key for addresses of both families: IPv4Address and IPv6Address do not compare with each
    other, so a mixed list sorted by the address alone raises TypeError (v4 first, then v6)."""
    a = ipaddress.ip_address(ip)
    return (a.version, int(a))


@dataclass
class Indicators:
    """What to block, each entry linked to the findings that justify it."""

    pool_ips: dict[str, set[str]] = field(default_factory=dict)  # ip -> finding ids
    pool_domains: dict[str, set[str]] = field(default_factory=dict)  # domain -> finding ids
    pool_endpoints: dict[tuple[str, int], set[str]] = field(default_factory=dict)
    #: (ip, port) -> transports ("tcp", "udp") the findings saw there, for per-port firewall sets
    endpoint_transports: dict[tuple[str, int], set[str]] = field(default_factory=dict)
    miner_hosts: dict[str, set[str]] = field(default_factory=dict)
    coins: dict[str, set[str]] = field(default_factory=dict)  # indicator -> coins
    skipped: dict[str, set[str]] = field(default_factory=dict)  # SKIP_* reason -> names left out

    def ips(self, version: int) -> list[str]:
        return sorted((i for i in self.pool_ips if ipaddress.ip_address(i).version == version), key=_ip_key)

    def hosts(self, version: int) -> list[str]:
        return sorted((i for i in self.miner_hosts if ipaddress.ip_address(i).version == version), key=_ip_key)

    def domains(self) -> list[str]:
        return sorted(self.pool_domains)

    def endpoints(self) -> list[tuple[str, int]]:
        return sorted(self.pool_endpoints, key=lambda e: (*_ip_key(e[0]), e[1]))

    def ports(self, version: int) -> list[tuple[str, str, int]]:
        """(address, transport, port) of the pool endpoints seen in findings, of one address family."""
        return [(ip, t, port) for ip, port in self.endpoints() if ipaddress.ip_address(ip).version == version
                for t in sorted(self.endpoint_transports.get((ip, port), ()))]  # fmt: skip


def max_domain_len(origin: str = DEFAULT_RPZ_ORIGIN) -> int:
    """Longest pool name (in characters, A-labels) whose RPZ owner `*.NAME.ORIGIN` fits 255 octets.

    Wire length of a name is its text length plus 2 (first length octet and the root label); one name
    too long makes named reject the whole zone, so such names are left out of every format.
    """
    o = origin.rstrip(".")
    return min(253, 255 - 2 - len("*.") - (len(o) + 1 if o else 0))


#: Full stops that IDNA (UTS #46) treats as label separators besides ".".
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})


def _a_label(label: str) -> str | None:
    """A Unicode label as its IDNA A-label (`xn--...`), the form DNS queries and SNI carry on the wire.

    Uses the `idna` package (IDNA 2008 with UTS #46 mapping), a declared dependency; Python's own codec
    (IDNA 2003) is only a fallback for an installation without it.
    """
    try:
        import idna
    except ImportError:
        try:
            return label.encode("idna").decode("ascii").lower()
        except UnicodeError:
            return None
    try:
        return str(idna.encode(label, uts46=True).decode("ascii"))
    except (idna.IDNAError, UnicodeError):
        return None


_LDH_ = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?$")


def normalise_domain(name: str, max_len: int = 253) -> tuple[str | None, str | None]:
    """`(name, None)` with `name` lower-case ASCII (Unicode labels as A-labels), `(None, reason)` when
    it cannot be used, `(None, None)` when it is an address and not a name at all.

    Why convert: a Unicode name in an RPZ owner, a Suricata `content` or a Sigma list never matches,
    because resolvers, DNS queries and TLS SNI carry the punycode form.
    """
    n = name.strip().translate(_DOTS).rstrip(".")
    try:
        ipaddress.ip_address(n)
        return None, None
    except ValueError:
        pass
    if not n or "." not in n:
        return None, SKIP_INVALID
    labels: list[str] = []
    for lab in n.split("."):
        a = lab.lower() if lab.isascii() else _a_label(lab)
        if not a or len(a) > 63 or not _LDH_.match(a):
            return None, SKIP_INVALID
        labels.append(a)
    out = ".".join(labels)
    if len(out) > 253:
        return None, SKIP_INVALID
    if len(out) > max_len:
        return None, SKIP_TOO_LONG
    return out, None


def collect_indicators(
    findings: Iterable[Finding],
    *,
    min_score: float = DEFAULT_MIN_SCORE,
    allow: Any = None,
    max_name_len: int | None = None,
) -> Indicators:
    """Indicators of the mining findings scored at least `min_score`, minus the allow-list.

    `max_name_len` defaults to what fits an owner name under the default RPZ origin, so every format
    blocks the same names; names left out are listed in `Indicators.skipped` by reason.
    """
    limit = max_domain_len() if max_name_len is None else max_name_len
    ind = Indicators()
    for f in findings:
        if f.kind != "mining" or f.score < min_score:
            continue
        fid = f.finding_id
        if f.dst_ip and is_public(f.dst_ip) and not (allow and allow.is_allowed(ip=f.dst_ip)):
            ind.pool_ips.setdefault(f.dst_ip, set()).add(fid)
            if f.dst_port:
                ind.pool_endpoints.setdefault((f.dst_ip, f.dst_port), set()).add(fid)
                transport = (f.transport or "tcp").lower()
                if transport in ("tcp", "udp"):
                    ind.endpoint_transports.setdefault((f.dst_ip, f.dst_port), set()).add(transport)
            if f.coin:
                ind.coins.setdefault(f.dst_ip, set()).add(f.coin)
        for name in (f.pool_host, f.sni):
            if not name:
                continue
            d, why = normalise_domain(name, limit)
            if why:
                ind.skipped.setdefault(why, set()).add(name)
            # the name as found is asked too: allow rules hold IDNA 2003 A-labels, which differ from
            # IDNA 2008 for a few letters (ß, ς), and an allowed name must never end up blocked
            if d and not (allow and (allow.is_allowed(host=d) or (name != d and allow.is_allowed(host=name)))):
                ind.pool_domains.setdefault(d, set()).add(fid)
                if f.coin:
                    ind.coins.setdefault(d, set()).add(f.coin)
        if f.src_ip and not (allow and allow.is_allowed(ip=f.src_ip)):
            try:
                ipaddress.ip_address(f.src_ip)
                ind.miner_hosts.setdefault(f.src_ip, set()).add(fid)
            except ValueError:
                pass
    return ind


def _collect(findings: Iterable[Finding], opts: dict[str, Any]) -> Indicators:
    """`collect_indicators` with an exporter's options; names it leaves out are added to the
    `opts["skipped"]` dict (reason -> names) when the caller passed one, so the CLI can warn."""
    ind = collect_indicators(
        findings,
        min_score=opts.get("min_score", DEFAULT_MIN_SCORE),
        allow=opts.get("allow"),
        max_name_len=max_domain_len(opts.get("zone", DEFAULT_RPZ_ORIGIN)),
    )
    sink = opts.get("skipped")
    if sink is not None:
        for why, names in ind.skipped.items():
            sink.setdefault(why, set()).update(names)
    return ind


#: `ports=` of the firewall exports: block every port of a pool address, or only the ports seen.
PORTS_ALL = "all"
PORTS_OBSERVED = "observed"
PORT_MODES: tuple[str, ...] = (PORTS_ALL, PORTS_OBSERVED)


def _port_mode(opts: dict[str, Any]) -> str:
    mode = str(opts.get("ports") or PORTS_ALL)
    if mode not in PORT_MODES:
        raise ValueError(f"ports must be one of {', '.join(PORT_MODES)}, not {mode!r}")
    return mode


def _header(comment: str) -> str:
    return f"{comment} generated by minewatch {__version__} at {iso(datetime.now(UTC))}\n"


# -- firewall ------------------------------------------------------------------------------------
def export_nft(findings: Iterable[Finding], **opts: Any) -> str:
    """An nftables table `inet minewatch` with interval sets of pool addresses and drop rules.

    Loaded with `nft -f`. The file declares the table, deletes it and defines it again: `nft -f` runs
    the whole file as one transaction, so each load replaces the previous export atomically (nothing
    left behind from an earlier load, no window without rules) and the first load works as well,
    without touching other tables. Internal miner hosts get sets and drop rules only with
    `quarantine_hosts=True` (see the module docstring).

    `ports="all"` (default) drops every port of a pool address: a pool server usually listens on
    several ports (3333, 4444, 14444, TLS on 443...) and miners fall back from one to the next, while
    a finding records only the port it saw. `ports="observed"` drops only the (address, protocol,
    port) endpoints seen in findings, in sets `pool_ports_v4/6` of type
    `ipv4_addr . inet_proto . inet_service`: for a pool on a shared address (an HTTP getwork pool on
    port 80 of a shared web host) where dropping the address would cut every other site there.
    """
    ind = _collect(findings, opts)
    quarantine = bool(opts.get("quarantine_hosts", False))
    observed = _port_mode(opts) == PORTS_OBSERVED

    def elems(xs: list[str]) -> str:
        return f"\t\telements = {{ {', '.join(xs)} }}\n" if xs else ""

    if observed:
        sets = [(f"pool_ports_v{v}", f"ipv{v}_addr . inet_proto . inet_service",
                 [f"{ip} . {t} . {port}" for ip, t, port in ind.ports(v)]) for v in (4, 6)]  # fmt: skip
        pool_rules = ["ip daddr . meta l4proto . th dport @pool_ports_v4",
                      "ip6 daddr . meta l4proto . th dport @pool_ports_v6"]
    else:
        sets = [("pool_v4", "ipv4_addr", ind.ips(4)), ("pool_v6", "ipv6_addr", ind.ips(6))]
        pool_rules = ["ip daddr @pool_v4", "ip6 daddr @pool_v6"]
    if quarantine:
        sets += [("miner_v4", "ipv4_addr", ind.hosts(4)), ("miner_v6", "ipv6_addr", ind.hosts(6))]
    out = [
        _header("#"),
        "# Replaces the table of an earlier export: declared (so the delete also works on the first load),\n"
        "# deleted, then defined again, all in the one transaction of `nft -f`.\n",
        "table inet minewatch {}\ndelete table inet minewatch\n",
        "table inet minewatch {\n",
    ]
    for name, typ, xs in sets:
        flags = "" if "." in typ else "\t\tflags interval\n"  # endpoints are single (address, port) pairs
        out.append(f"\tset {name} {{\n\t\ttype {typ}\n{flags}{elems(xs)}\t}}\n")
    out.append(
        "\tchain forward {\n\t\ttype filter hook forward priority 0; policy accept;\n"
        + "".join(f'\t\t{r} counter drop comment "mining pool"\n' for r in pool_rules)
    )
    if quarantine:
        out.append(
            '\t\tip saddr @miner_v4 counter drop comment "quarantined miner host"\n'
            '\t\tip6 saddr @miner_v6 counter drop comment "quarantined miner host"\n'
        )
    out.append(
        "\t}\n"
        "\tchain output {\n\t\ttype filter hook output priority 0; policy accept;\n"
        + "".join(f"\t\t{r} counter drop\n" for r in pool_rules)
        + "\t}\n}\n"
    )
    return "".join(out)


def export_ipset(findings: Iterable[Finding], **opts: Any) -> str:
    """`ipset restore` input: hash:ip sets of pool addresses per address family.

    Each set is filled as `NAME-tmp` and swapped in (`ipset swap` exchanges the sets atomically, and
    iptables rules that reference NAME see the new content), so a restore replaces what an earlier
    export put there: addresses allow-listed since are unblocked. Re-running the file is safe, also
    after an interrupted run. `quarantine_hosts=True` adds the miner host sets `minewatch-miner4/6`
    (see the module docstring); without it the file does not touch them.

    The pool endpoints go to `hash:ip,port` sets `minewatch-poolport4/6` (`ADDRESS,tcp:PORT`, matched
    with `-m set --match-set minewatch-poolport4 dst,dst`). With `ports="all"` (default, see
    `export_nft` for why) the address sets are filled and the port sets emptied; with
    `ports="observed"` the other way round, so switching modes never leaves the wider block behind.
    """
    ind = _collect(findings, opts)
    observed = _port_mode(opts) == PORTS_OBSERVED
    sets = [("minewatch-pool4", "hash:ip", "inet", [] if observed else ind.ips(4)),
            ("minewatch-pool6", "hash:ip", "inet6", [] if observed else ind.ips(6)),
            ("minewatch-poolport4", "hash:ip,port", "inet", [f"{ip},{t}:{p}" for ip, t, p in ind.ports(4)] if observed else []),
            ("minewatch-poolport6", "hash:ip,port", "inet6", [f"{ip},{t}:{p}" for ip, t, p in ind.ports(6)] if observed else [])]  # fmt: skip
    if opts.get("quarantine_hosts", False):
        sets += [("minewatch-miner4", "hash:ip", "inet", ind.hosts(4)),
                 ("minewatch-miner6", "hash:ip", "inet6", ind.hosts(6))]  # fmt: skip
    lines = [_header("#").rstrip("\n")]
    for name, typ, fam, xs in sets:
        tmp = f"{name}-tmp"
        lines.append(f"create {name} {typ} family {fam} -exist")
        lines.append(f"create {tmp} {typ} family {fam} -exist")
        lines.append(f"flush {tmp}")
        lines.extend(f"add {tmp} {x} -exist" for x in xs)
        lines.append(f"swap {tmp} {name}")
        lines.append(f"destroy {tmp}")
    return "\n".join(lines) + "\n"


# -- DNS ----------------------------------------------------------------------------------------------
_SERIAL_MOD = 1 << 32
_SOA_SERIAL = re.compile(r"\bIN\s+SOA\s+\S+\s+\S+\s+\(\s*(\d+)")


def rpz_serial_of(text: str) -> int | None:
    """The SOA serial of an RPZ file written earlier (`None` if there is none to read)."""
    m = _SOA_SERIAL.search(text)
    return int(m.group(1)) % _SERIAL_MOD if m else None


def rpz_serial(now: datetime | None = None, previous: int | None = None) -> int:
    """SOA serial for a new export: Unix time in seconds, or `previous + 1` when that is not later.

    Why seconds: secondaries fetch the zone only when the serial increases (RFC 1982 serial
    arithmetic), so two exports in the same hour or minute must still differ. `previous` (the serial
    of the file being replaced) keeps the serial increasing for two exports within one second and
    after older minewatch versions, which wrote hour serials (YYYYMMDDHH, larger than Unix time
    until 2034). The value wraps modulo 2**32, which serial arithmetic allows.
    """
    cand = int((now or datetime.now(UTC)).timestamp()) % _SERIAL_MOD
    if previous is not None and not 0 < (cand - previous) % _SERIAL_MOD < (1 << 31):
        cand = (previous + 1) % _SERIAL_MOD
    return cand


def export_rpz(findings: Iterable[Finding], **opts: Any) -> str:
    """A DNS Response Policy Zone answering NXDOMAIN for pool names and all their subdomains.

    Options: `zone` (origin), `serial` (forced), `previous_serial` (serial of the zone being replaced;
    see `rpz_serial`).
    """
    ind = _collect(findings, opts)
    origin = opts.get("zone", DEFAULT_RPZ_ORIGIN)
    serial = int(opts["serial"]) if opts.get("serial") is not None else rpz_serial(previous=opts.get("previous_serial"))
    out = [
        _header(";"),
        f"$ORIGIN {origin}\n$TTL 300\n",
        f"@ IN SOA localhost. hostmaster.localhost. ( {serial} 3600 600 604800 300 )\n",
        "@ IN NS localhost.\n",
    ]
    for d in ind.domains():
        ids = ",".join(sorted(ind.pool_domains[d]))[:200]
        out.append(f"; findings {ids}\n{d} CNAME .\n*.{d} CNAME .\n")
    return "".join(out)


# -- IDS ------------------------------------------------------------------------------------------
SID_BASE = 1_000_000
SID_SPAN = 1_000_000  # the local range 1 000 000–1 999 999


def _sid_candidate(text: str, attempt: int) -> int:
    """The `attempt`-th SID an indicator asks for: CRC-32 first (the SIDs of earlier versions), then
    SHA-256-derived probes of its own, so a moved rule does not push a third one out of its place."""
    if attempt == 0:
        h = zlib.crc32(text.encode())
    else:
        h = int.from_bytes(hashlib.sha256(f"{attempt}\0{text}".encode()).digest()[:8], "big")
    return SID_BASE + h % SID_SPAN


def assign_sids(keys: Iterable[str]) -> dict[str, int]:
    """A unique SID for every rule key, derived from the key itself.

    Why: a SID derived from the indicator stays the same across exports, so suppressions and
    thresholds written against it keep working; but 1 000 000 hash values collide (about 12 % for 500
    rules), and Suricata rejects a duplicate SID, which would silently drop one pool's rule. Keys
    claim their candidates in rounds: every key's first candidate before anyone's second, and on a
    tie the key that sorts first wins. So a key keeps its first-choice SID unless another key of the
    same export wants the same one and sorts before it; the result depends only on the set of keys.
    """
    pending = sorted(set(keys))
    if len(pending) > SID_SPAN:
        raise ValueError(f"{len(pending)} rules do not fit the {SID_SPAN} local SIDs")
    sids: dict[str, int] = {}
    taken: set[int] = set()
    attempt = 0
    while pending:
        losers: list[str] = []
        for k in pending:
            s = _sid_candidate(k, attempt)
            if s in taken:
                losers.append(k)
            else:
                taken.add(s)
                sids[k] = s
        pending = losers
        attempt += 1
    return sids


def _defang(domain: str) -> str:
    """ET convention for names in a rule message: `pool .example .net` never leaks as a live name."""
    return domain.replace(".", " .")


def _escape_dots(domain: str) -> str:
    return domain.replace(".", "|2e|")


def export_suricata(findings: Iterable[Finding], **opts: Any) -> str:
    """Suricata rules: DNS queries and TLS SNI of pool names, and connections to pool endpoints.

    SIDs are derived from the indicator (`assign_sids`) so the same indicator keeps its SID across
    exports and suppressions written against it keep working, and no SID appears twice in a file.
    Metadata follows the ET conventions that suricata-check expects, so the rules drop into an
    existing ruleset without style warnings.
    """
    ind = _collect(findings, opts)
    created = datetime.now(UTC).strftime("%Y_%m_%d")
    meta = (
        f"metadata:attack_target Client_Endpoint, created_at {created}, deployment Perimeter, "
        "signature_severity Major, performance_impact Low;"
    )
    domains = [d.replace('"', "") for d in ind.domains()]
    endpoints = ind.endpoints()
    sid = assign_sids(
        [f"{p}:{d}" for d in domains for p in ("dns", "sni")] + [f"ep:{ip}:{port}" for ip, port in endpoints]
    )
    rules = [_header("#").rstrip("\n")]
    for dom in domains:
        rules.append(
            f'alert dns $HOME_NET any -> any any (msg:"MINEWATCH COINMINER Mining Pool Domain in DNS Lookup ({_defang(dom)})"; '
            f'dns.query; dotprefix; content:"|2e|{_escape_dots(dom)}"; nocase; endswith; '
            f"classtype:coin-mining; sid:{sid['dns:' + dom]}; rev:1; {meta})"
        )
        rules.append(
            f"alert tls $HOME_NET any -> $EXTERNAL_NET any (msg:\"MINEWATCH COINMINER Mining Pool Domain in TLS SNI "
            f'({_defang(dom)})"; flow:established,to_server; tls.sni; dotprefix; content:"|2e|{_escape_dots(dom)}"; nocase; '
            f"endswith; classtype:coin-mining; sid:{sid['sni:' + dom]}; rev:1; {meta})"
        )
    for ip, port in endpoints:
        rules.append(
            f'alert tcp $HOME_NET any -> {ip} {port} (msg:"MINEWATCH COINMINER Connection to Mining Pool Endpoint '
            f'({ip} port {port})"; flow:to_server; flags:S; target:dest_ip; '
            f"threshold:type limit, track by_src, count 1, seconds 3600; "
            f"classtype:coin-mining; sid:{sid[f'ep:{ip}:{port}']}; rev:1; {meta})"
        )
    return "\n".join(rules) + "\n"


def export_suricata_dataset(findings: Iterable[Finding], **opts: Any) -> str:
    """A Suricata dataset file (type string: base64 per line) of pool names for `dataset:isset`.

    Use with: `dns.query; dataset:isset,minewatch-pools,type string,load minewatch-pools.lst;`.
    """
    ind = _collect(findings, opts)
    return "".join(base64.b64encode(d.encode()).decode() + "\n" for d in ind.domains())


# -- Sigma -------------------------------------------------------------------------------------------
def export_sigma(findings: Iterable[Finding], **opts: Any) -> str:
    """Sigma rules (multi-document YAML) for Zeek dns and conn logs.

    A pool name matches as itself or as a sub-domain (`query: pool.eth.pp.ua` or
    `query|endswith: .pool.eth.pp.ua`), the same boundary the Suricata rules draw with `dotprefix`:
    a bare `endswith: pool.eth.pp.ua` also matched the unrelated `xpool.eth.pp.ua`.
    """
    ind = _collect(findings, opts)
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    docs: list[dict[str, Any]] = []
    if ind.domains():
        docs.append(
            {
                "title": "Mining pool domain lookup (minewatch)",
                "id": str(uuid.uuid5(_NS, "dns|" + "|".join(ind.domains()))),
                "status": "experimental",
                "description": "DNS query for a mining pool found by minewatch.",
                "author": "minewatch",
                "date": today,
                "tags": ["attack.impact", "attack.t1496"],
                "logsource": {"product": "zeek", "service": "dns"},
                "detection": {
                    "selection_name": {"query": ind.domains()},
                    "selection_subdomain": {"query|endswith": ["." + d for d in ind.domains()]},
                    "condition": "selection_name or selection_subdomain",
                },
                "falsepositives": ["Visits to a pool's public web site"],
                "level": "high",
            }
        )
    ips = ind.ips(4) + ind.ips(6)
    if ips:
        docs.append(
            {
                "title": "Connection to mining pool address (minewatch)",
                "id": str(uuid.uuid5(_NS, "conn|" + "|".join(ips))),
                "status": "experimental",
                "description": "Connection to a mining pool address found by minewatch.",
                "author": "minewatch",
                "date": today,
                "tags": ["attack.impact", "attack.t1496"],
                "logsource": {"product": "zeek", "service": "conn"},
                "detection": {"selection": {"id.resp_h": ips}, "condition": "selection"},
                "falsepositives": ["Shared hosting of a pool with other services"],
                "level": "high",
            }
        )
    return yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True)


# -- STIX ----------------------------------------------------------------------------------------------
#: `created`/`modified` of the minewatch identity: fixed, so every export carries the same object.
_IDENTITY_TIME = datetime(2024, 1, 1, tzinfo=UTC)


def stix_id(kind: str, name: str) -> str:
    """A STIX id that is the same for the same name on every export: a UUID with the version 4 layout
    whose bits come from SHA-256 over minewatch's namespace and `name`.

    Why not uuid5: STIX 2.1 says domain objects and bundles SHOULD use UUIDv4 (uuid5 is for cyber
    observables), and stix2-validator --strict rejects uuid5 there. Deterministic ids let a threat-
    intel platform update an indicator on re-import instead of adding a duplicate.
    """
    h = hashlib.sha256(_NS.bytes + f"{kind}|{name}".encode()).digest()
    return f"{kind}--{uuid.UUID(bytes=h[:16], version=4)}"


def export_stix(findings: Iterable[Finding], **opts: Any) -> str:
    """A STIX 2.1 bundle: the minewatch identity and one indicator per pool name and address.

    Ids are deterministic (`stix_id`: the identity by name, an indicator by its pattern) and so are
    the times (`created` = `valid_from` = first sighting, `modified` = last sighting of the findings
    behind it), so exporting the same findings twice gives the same objects and a platform updates
    rather than duplicates them. Sightings by internal host are deliberately not included: the bundle
    is meant to be shared, and which internal hosts mined is not for outside parties.
    """
    import stix2

    findings = list(findings)
    ind = _collect(findings, opts)
    ident = stix2.Identity(
        id=stix_id("identity", "minewatch"),
        created=_IDENTITY_TIME,
        modified=_IDENTITY_TIME,
        name="minewatch",
        identity_class="system",
    )
    objs: list[Any] = [ident]
    now = datetime.now(UTC)
    by_id = {f.finding_id: f for f in findings}

    def seen(ids: set[str]) -> tuple[datetime, datetime]:
        fs = [by_id[i] for i in ids if i in by_id]
        first = [f.first_seen for f in fs if f.first_seen]
        last = [t for f in fs for t in (f.last_seen, f.first_seen) if t]
        t0 = min(first) if first else now
        return t0, max([t0, *last])

    def indicator(name: str, pattern: str, ids: set[str], key: str) -> Any:
        t0, t1 = seen(ids)
        return stix2.Indicator(
            id=stix_id("indicator", pattern),
            created=t0,
            modified=t1,
            name=name,
            pattern=pattern,
            pattern_type="stix",
            valid_from=t0,
            indicator_types=["malicious-activity"],
            created_by_ref=ident.id,
            labels=["coin-mining", *sorted(ind.coins.get(key, ()))],
            description="Found by minewatch in findings " + ", ".join(sorted(ids)),
        )

    for d in ind.domains():
        objs.append(indicator(f"Mining pool domain {d}", f"[domain-name:value = '{d}']", ind.pool_domains[d], d))
    for ip in ind.ips(4) + ind.ips(6):
        typ = "ipv4-addr" if ipaddress.ip_address(ip).version == 4 else "ipv6-addr"
        objs.append(indicator(f"Mining pool address {ip}", f"[{typ}:value = '{ip}']", ind.pool_ips[ip], ip))
    content = "|".join(f"{o.id}@{o.modified}" for o in objs)
    return stix2.Bundle(objects=objs, id=stix_id("bundle", content), allow_custom=False).serialize(pretty=True)


# -- SIEM -------------------------------------------------------------------------------------------
def _fallback_message(f: Finding, lang: str) -> str:
    """Message of a finding without evidence, in the export's language."""
    if f.kind == "node":
        return tr("blockchain node finding", "区块链节点检测结果", lang)
    if f.meter_id:
        return tr(f"mining load on meter {f.meter_id}", f"电表 {f.meter_id} 上的挖矿负荷", lang)
    return tr("mining finding", "挖矿检测结果", lang)


def _ecs(f: Finding, lang: str) -> dict[str, Any]:
    """One ECS alert document. Fields ECS has no place for sit under `minewatch.*` (keys stay
    English in every language): `subscores`, `wallet`, `agent`, `hashrate_hs`, and for power
    findings `meter_id`, `kw_mining`, `machines_est`, `onset` (ISO 8601 UTC) and `site`, so a SIEM
    can filter and aggregate by meter."""
    mw: dict[str, Any] = {"subscores": f.subscores, "wallet": f.wallet, "agent": f.agent, "hashrate_hs": f.hashrate_hs}
    power = {
        "meter_id": f.meter_id,
        "kw_mining": f.kw_mining,
        "machines_est": f.machines_est,
        "onset": iso(f.onset),
        "site": f.site,
    }
    if any(v is not None for v in power.values()):
        mw.update(power)
    doc: dict[str, Any] = {
        "@timestamp": iso(f.first_seen or f.onset),
        "message": f.evidence[0].render(lang) if f.evidence else _fallback_message(f, lang),
        "event": {
            "kind": "alert",
            "category": ["network"] if f.src_ip else ["host"],
            "type": ["connection"] if f.src_ip else ["info"],
            "module": "minewatch",
            "dataset": "minewatch.findings",
            "id": f.finding_id,
            "risk_score": f.score,
            "severity": round(f.score),
            "start": iso(f.first_seen),
            "end": iso(f.last_seen),
        },
        "rule": {"name": f.detector, "category": f.kind},
        "observer": {"product": "minewatch", "version": __version__},
        "labels": {k: v for k, v in {"coin": f.coin, "variant": f.variant, "worker": f.worker}.items() if v},
        "minewatch": mw,
    }
    if f.src_ip:
        doc["source"] = {"ip": f.src_ip, "port": f.src_port}
        doc["destination"] = {"ip": f.dst_ip, "port": f.dst_port}
        if f.pool_host:
            doc["destination"]["domain"] = f.pool_host
        doc["network"] = {"transport": f.transport}
        if f.community_id:
            doc["network"]["community_id"] = f.community_id
    if f.sni:
        doc["tls"] = {"client": {"server_name": f.sni}}
    return doc


def export_ecs(findings: Iterable[Finding], **opts: Any) -> str:
    """ECS-shaped alert documents, one JSON object per line, ready for an Elasticsearch bulk load."""
    lang = opts.get("lang", "en")
    return "".join(json.dumps(_ecs(f, lang), ensure_ascii=False) + "\n" for f in findings)


#: first characters that make a spreadsheet take a cell for a formula (OWASP, "CSV Injection"); a
#: line feed is included because carriage returns are turned into line feeds first (see `csv_cell`)
CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell a person can open safely: text that a spreadsheet would evaluate (it
    starts with = + - @, a tab or a carriage return) gets a leading single quote, as OWASP advises.

    Why: worker names, user agents, pool and server names come from the traffic, that is from whoever
    runs the miner; `=cmd|' /C calc'!A0` as an agent string would otherwise run when an analyst opens
    the export in Excel or LibreOffice. Carriage returns inside text become line feeds: our files end
    lines with a line feed, so Python's writer quotes a cell holding one, while a bare carriage return
    went out unquoted and started a new row for many readers (a way to smuggle a formula into the
    first cell of a row of its own). Numbers stay numbers (a negative number is not text), and JSON
    exports are left as they are (no program evaluates them).
    """
    if not isinstance(value, str):
        return value
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    return "'" + value if value.startswith(CSV_FORMULA_START) else value


def csv_record(rec: dict[str, Any]) -> dict[str, Any]:
    """One `Finding.to_record()` row for a CSV file: nested values as JSON text, every cell through
    `csv_cell`. Shared by `export_csv` and `minewatch scan|findings --format csv`."""
    return {k: csv_cell(json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v) for k, v in rec.items()}


def export_csv(findings: Iterable[Finding], **opts: Any) -> str:
    buf = io.StringIO()
    recs = [f.to_record() for f in findings]
    keys = list(STABLE_KEYS) + [k for k in (recs[0] if recs else {}) if k not in STABLE_KEYS]
    w = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in recs:
        w.writerow(csv_record(r))
    return buf.getvalue()


def export_jsonl(findings: Iterable[Finding], **opts: Any) -> str:
    return "".join(f.to_json() + "\n" for f in findings)


#: formats a device enforces (a firewall drops, a resolver sinkholes, an IDS alerts inline): findings
#: from timing alone stay out of them unless asked for. Timing says "shaped like a pool session", which
#: a benign flow can be (docs/behavior.md), and a wrong block cuts a cloud service for everyone.
ENFORCING_KINDS: tuple[str, ...] = ("nft", "ipset", "rpz", "suricata", "suricata-dataset")


def select_for_export(kind: str, findings: Iterable[Finding], *, include_timing_only: bool = False) -> list[Finding]:
    """The findings an export of `kind` is made from: all of them, but for the enforcing formats not
    those from timing alone (`net.findings.timing_only`) unless `include_timing_only`. One rule for the
    CLI, the page and the API, so the three give the same file."""
    rows = list(findings)
    if include_timing_only or kind not in ENFORCING_KINDS:
        return rows
    from minewatch.net.findings import timing_only

    return [f for f in rows if not timing_only(f)]


EXPORTERS: dict[str, Callable[..., str]] = {
    "nft": export_nft,
    "ipset": export_ipset,
    "rpz": export_rpz,
    "suricata": export_suricata,
    "suricata-dataset": export_suricata_dataset,
    "sigma": export_sigma,
    "stix": export_stix,
    "ecs": export_ecs,
    "csv": export_csv,
    "jsonl": export_jsonl,
}
