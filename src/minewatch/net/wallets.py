"""Validate payout addresses and split pool logins into wallet, worker and account.

Why validate instead of pattern-match: a pool login is free text, and a report that names a wrong
"wallet" misleads an investigation. Every address shown by minewatch has passed its coin's own
checksum (base58check, bech32/bech32m, EIP-55 when mixed-case, Monero keccak); shapes without a
checksum (lower-case Ethereum, Kaspa, Alephium) are marked as format-checked only. An invalid string is
never reported as an address; the raw login stays in the evidence so a person can still read it. A
failed check is called a checksum failure only for forms that can be checked here (`checkable`);
other address-shaped strings are "unchecked", never "invalid".

The checksum algorithms are written here from their specifications (BIP-13/BIP-173/BIP-350,
EIP-55, the CryptoNote base58 description) so that nothing depends on a wallet library.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from Crypto.Hash import keccak

B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(B58_ALPHABET)}
BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_INDEX = {c: i for i, c in enumerate(BECH32_CHARSET)}


@dataclass(frozen=True, slots=True)
class Address:
    """A validated address. `checked` is "checksum" or "format" (no checksum exists for the form)."""

    address: str
    coin: str
    kind: str
    network: str = "mainnet"
    checked: str = "checksum"

    @property
    def wallet_type(self) -> str:
        net = "" if self.network == "mainnet" else f"-{self.network}"
        return f"{self.coin}{net}-{self.kind}"


# --------------------------------------------------------------------------------------------------
# hashing helpers


def keccak256(data: bytes) -> bytes:
    """Original Keccak-256 (not NIST SHA3): what Ethereum and Monero use."""
    h = keccak.new(digest_bits=256)
    h.update(data)
    return h.digest()


def _dsha256(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


# --------------------------------------------------------------------------------------------------
# base58check (Bitcoin family)


def b58decode(s: str) -> bytes | None:
    """Big-number base58 decode with leading '1' -> zero bytes; None on a foreign character."""
    n = 0
    for c in s:
        v = _B58_INDEX.get(c)
        if v is None:
            return None
        n = n * 58 + v
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    pad = len(s) - len(s.lstrip("1"))
    return b"\x00" * pad + body


def b58check_decode(s: str) -> bytes | None:
    """Payload (version + data) of a base58check string whose 4-byte double-SHA256 checksum holds."""
    raw = b58decode(s)
    if raw is None or len(raw) < 5:
        return None
    payload, check = raw[:-4], raw[-4:]
    if _dsha256(payload)[:4] != check:
        return None
    return payload


#: One-byte version prefixes: (coin, kind, network). Bitcoin's 0x05 P2SH prefix is shared by
#: Litecoin's legacy "3" addresses and Bitcoin Cash legacy form; it is reported as bitcoin.
_B58_VERSIONS_1: dict[int, tuple[str, str, str]] = {
    0x00: ("bitcoin", "p2pkh", "mainnet"),
    0x05: ("bitcoin", "p2sh", "mainnet"),
    0x6F: ("bitcoin", "p2pkh", "testnet"),
    0xC4: ("bitcoin", "p2sh", "testnet"),
    0x30: ("litecoin", "p2pkh", "mainnet"),
    0x32: ("litecoin", "p2sh", "mainnet"),
    0x1E: ("dogecoin", "p2pkh", "mainnet"),
    0x16: ("dogecoin", "p2sh", "mainnet"),
    0x3C: ("ravencoin", "p2pkh", "mainnet"),
    0x7A: ("ravencoin", "p2sh", "mainnet"),
    0x4C: ("dash", "p2pkh", "mainnet"),
    0x10: ("dash", "p2sh", "mainnet"),
}
#: Two-byte prefixes of Zcash transparent addresses (t1 = P2PKH, t3 = P2SH; tm/t2 on testnet).
_B58_VERSIONS_2: dict[bytes, tuple[str, str, str]] = {
    b"\x1c\xb8": ("zcash", "p2pkh", "mainnet"),
    b"\x1c\xbd": ("zcash", "p2sh", "mainnet"),
    b"\x1d\x25": ("zcash", "p2pkh", "testnet"),
    b"\x1c\xba": ("zcash", "p2sh", "testnet"),
}


def _validate_base58check(s: str) -> Address | None:
    if not 25 <= len(s) <= 36:
        return None
    payload = b58check_decode(s)
    if payload is None:
        return None
    if len(payload) == 21 and payload[0] in _B58_VERSIONS_1:
        coin, kind, net = _B58_VERSIONS_1[payload[0]]
        return Address(s, coin, kind, net)
    if len(payload) == 22 and payload[:2] in _B58_VERSIONS_2:
        coin, kind, net = _B58_VERSIONS_2[payload[:2]]
        return Address(s, coin, kind, net)
    return None


# --------------------------------------------------------------------------------------------------
# bech32 / bech32m (BIP-173, BIP-350)

BECH32_CONST = 1
BECH32M_CONST = 0x2BC830A3
_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _polymod(values: list[int]) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = ((chk & 0x1FFFFFF) << 5) ^ v
        for i in range(5):
            if (top >> i) & 1:
                chk ^= _GEN[i]
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def bech32_decode(s: str) -> tuple[str, list[int], int] | None:
    """(hrp, 5-bit data without checksum, checksum constant) or None when malformed.

    Mixed case is refused (BIP-173); the constant tells bech32 (1) from bech32m.
    """
    if len(s) > 90 or any(ord(c) < 33 or ord(c) > 126 for c in s):
        return None
    if s.lower() != s and s.upper() != s:
        return None
    s = s.lower()
    pos = s.rfind("1")
    if pos < 1 or pos + 7 > len(s):
        return None
    hrp, rest = s[:pos], s[pos + 1 :]
    try:
        data = [_BECH32_INDEX[c] for c in rest]
    except KeyError:
        return None
    const = _polymod(_hrp_expand(hrp) + data)
    if const not in (BECH32_CONST, BECH32M_CONST):
        return None
    return hrp, data[:-6], const


def bech32_checksum(hrp: str, data: list[int], const: int) -> list[int]:
    """The six checksum symbols; used by tests to build vectors and to check round-trips."""
    pm = _polymod([*_hrp_expand(hrp), *data, 0, 0, 0, 0, 0, 0]) ^ const
    return [(pm >> 5 * (5 - i)) & 31 for i in range(6)]


def convertbits(data: list[int], frombits: int, tobits: int, pad: bool) -> list[int] | None:
    acc = bits = 0
    out: list[int] = []
    maxv = (1 << tobits) - 1
    for v in data:
        if v < 0 or v >> frombits:
            return None
        acc = (acc << frombits) | v
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            out.append((acc >> bits) & maxv)
    if pad:
        if bits:
            out.append((acc << (tobits - bits)) & maxv)
    elif bits >= frombits or ((acc << (tobits - bits)) & maxv):
        return None
    return out


_SEGWIT_HRPS: dict[str, tuple[str, str]] = {
    "bc": ("bitcoin", "mainnet"),
    "tb": ("bitcoin", "testnet"),
    "bcrt": ("bitcoin", "regtest"),
    "ltc": ("litecoin", "mainnet"),
    "tltc": ("litecoin", "testnet"),
}


def segwit_decode(s: str) -> tuple[str, int, bytes] | None:
    """(hrp, witness version, program) for a valid segwit address per BIP-173/BIP-350 rules."""
    d = bech32_decode(s)
    if d is None:
        return None
    hrp, data, const = d
    if not data or data[0] > 16:
        return None
    prog = convertbits(data[1:], 5, 8, False)
    if prog is None or not 2 <= len(prog) <= 40:
        return None
    ver = data[0]
    if ver == 0 and len(prog) not in (20, 32):
        return None
    if (ver == 0) != (const == BECH32_CONST):
        return None
    return hrp, ver, bytes(prog)


def _validate_segwit(s: str) -> Address | None:
    d = segwit_decode(s)
    if d is None or d[0] not in _SEGWIT_HRPS:
        return None
    hrp, ver, prog = d
    coin, net = _SEGWIT_HRPS[hrp]
    if ver == 0:
        kind = "p2wpkh" if len(prog) == 20 else "p2wsh"
    elif ver == 1 and len(prog) == 32:
        kind = "p2tr"
    else:
        kind = f"witness-v{ver}"
    return Address(s, coin, kind, net)


# --------------------------------------------------------------------------------------------------
# Ethereum (EIP-55)


def eip55_checksum(addr_hex40: str) -> str:
    """The EIP-55 mixed-case form of 40 hex digits."""
    low = addr_hex40.lower()
    h = keccak256(low.encode()).hex()
    return "".join(c.upper() if c.isalpha() and int(h[i], 16) >= 8 else c for i, c in enumerate(low))


def _validate_ethereum(s: str) -> Address | None:
    if len(s) != 42 or s[:2] not in ("0x", "0X"):
        return None
    body = s[2:]
    if any(c not in "0123456789abcdefABCDEF" for c in body):
        return None
    if body == body.lower() or body == body.upper():
        # All one case carries no checksum (EIP-55 is opt-in): the format is all we can check.
        return Address("0x" + body.lower(), "ethereum", "account", checked="format")
    if eip55_checksum(body) != body:
        return None
    return Address(s, "ethereum", "account")


# --------------------------------------------------------------------------------------------------
# Monero (CryptoNote base58: 8-byte blocks -> 11 characters, keccak checksum)

_XMR_FULL_BLOCK = 8
_XMR_FULL_ENC = 11
_XMR_ENC_SIZES = [0, 2, 3, 5, 6, 7, 9, 10, 11]
_XMR_NETBYTES: dict[int, tuple[str, str]] = {
    18: ("standard", "mainnet"),
    19: ("integrated", "mainnet"),
    42: ("subaddress", "mainnet"),
    53: ("standard", "testnet"),
    54: ("integrated", "testnet"),
    63: ("subaddress", "testnet"),
    24: ("standard", "stagenet"),
    25: ("integrated", "stagenet"),
    36: ("subaddress", "stagenet"),
}


def xmr_b58decode(s: str) -> bytes | None:
    """Decode CryptoNote base58: each 11-char block is one 8-byte big-endian block; the tail is shorter."""
    out = bytearray()
    full, rem = divmod(len(s), _XMR_FULL_ENC)
    if rem and rem not in _XMR_ENC_SIZES:
        return None
    blocks = [s[i * _XMR_FULL_ENC : (i + 1) * _XMR_FULL_ENC] for i in range(full)]
    if rem:
        blocks.append(s[full * _XMR_FULL_ENC :])
    for blk in blocks:
        nbytes = _XMR_ENC_SIZES.index(len(blk))
        n = 0
        for c in blk:
            v = _B58_INDEX.get(c)
            if v is None:
                return None
            n = n * 58 + v
        if n >= 1 << (8 * nbytes):
            return None
        out += n.to_bytes(nbytes, "big")
    return bytes(out)


def _validate_monero(s: str) -> Address | None:
    if len(s) not in (95, 106):
        return None
    raw = xmr_b58decode(s)
    if raw is None or len(raw) not in (69, 77):
        return None
    if keccak256(raw[:-4])[:4] != raw[-4:]:
        return None
    tag = _XMR_NETBYTES.get(raw[0])
    if tag is None:
        return None
    kind, net = tag
    if (kind == "integrated") != (len(raw) == 77):
        return None
    return Address(s, "monero", kind, net)


# --------------------------------------------------------------------------------------------------
# Kaspa: "kaspa:" + bech32-alphabet payload (its checksum is a cashaddr-style 40-bit polymod; the
# format is checked only, and that is stated in `checked`).

_KASPA_RE = re.compile(r"^(kaspa|kaspatest):([qp][02-9ac-hj-np-z]{60,62})$")


def _validate_kaspa(s: str) -> Address | None:
    m = _KASPA_RE.match(s)
    if not m:
        return None
    net = "mainnet" if m.group(1) == "kaspa" else "testnet"
    kind = "p2pk" if m.group(2)[0] == "q" else "p2sh"
    return Address(s, "kaspa", kind, net, checked="format")


# --------------------------------------------------------------------------------------------------
# CashAddr (Bitcoin Cash) and Conflux CIP-37: "prefix:" + base32 payload with a 40-bit BCH-code
# checksum over the prefix's low 5 bits, a 0 separator and the payload (the cashaddr specification).

_CASHADDR_PREFIXES: dict[str, tuple[str, str]] = {
    "bitcoincash": ("bitcoin-cash", "mainnet"), "bchtest": ("bitcoin-cash", "testnet"),
    "cfx": ("conflux", "mainnet"), "cfxtest": ("conflux", "testnet"),
}  # fmt: skip


#: Conflux CIP-37 uses the same checksum with its own base32 alphabet (no i, l, o, q).
_CIP37_INDEX = {c: i for i, c in enumerate("abcdefghjkmnprstuvwxyz0123456789")}


def cashaddr_polymod(values: list[int]) -> int:
    c = 1
    for d in values:
        c0 = c >> 35
        c = ((c & 0x07FFFFFFFF) << 5) ^ d
        for bit, g in enumerate((0x98F2BC8E61, 0x79B76D99E2, 0xF33E5FB3C4, 0xAE2EABE2A8, 0x1E4F43E470)):
            if c0 >> bit & 1:
                c ^= g
    return c ^ 1


def _validate_cashaddr(s: str) -> Address | None:
    prefix, _, body = s.lower().partition(":")
    info = _CASHADDR_PREFIXES.get(prefix)
    if info is None or not 34 <= len(body) <= 120 or (s != s.lower() and s != s.upper()):
        return None
    index = _CIP37_INDEX if info[0] == "conflux" else _BECH32_INDEX
    vals = [index.get(c, -1) for c in body.lower()]
    if min(vals) < 0 or cashaddr_polymod([ord(c) & 31 for c in prefix] + [0] + vals) != 0:
        return None
    coin, net = info
    kind = "p2pkh" if coin == "bitcoin-cash" and body[0] == "q" else "p2sh" if coin == "bitcoin-cash" else "base32"
    return Address(s, coin, kind, net)


# --------------------------------------------------------------------------------------------------
# Ergo (base58: network+type byte, content, blake2b-256 checksum of 4 bytes), Alephium (base58 of a
# type byte and a 32-byte hash, no checksum: format only), other CryptoNote coins (Monero's base58
# and keccak checksum, told apart by the prefix their documentation gives the address).

_ERGO_TYPES = {0x01: ("p2pk", "mainnet"), 0x02: ("p2sh", "mainnet"), 0x03: ("p2s", "mainnet"),
               0x11: ("p2pk", "testnet"), 0x12: ("p2sh", "testnet"), 0x13: ("p2s", "testnet")}  # fmt: skip
#: Human-readable address prefixes of CryptoNote coins other than Monero (longest first).
_CRYPTONOTE_PREFIXES: tuple[tuple[str, str], ...] = (
    ("ZEPHYR", "zephyr"), ("SaLv", "salvium"), ("hvx", "haven"), ("Wo", "wownero"),
)


def _validate_ergo(s: str) -> Address | None:
    raw = b58decode(s)
    if raw is None or len(raw) < 30 or raw[0] not in _ERGO_TYPES:
        return None
    if hashlib.blake2b(raw[:-4], digest_size=32).digest()[:4] != raw[-4:]:
        return None
    kind, net = _ERGO_TYPES[raw[0]]
    if kind == "p2pk" and len(raw) != 38:
        return None
    return Address(s, "ergo", kind, net)


def _validate_alephium(s: str) -> Address | None:
    raw = b58decode(s)
    if raw is None or len(raw) != 33 or raw[0] != 0x00 or not s.startswith("1"):
        return None
    return Address(s, "alephium", "p2pkh", checked="format")


def _validate_cryptonote_other(s: str) -> Address | None:
    coin = next((c for p, c in _CRYPTONOTE_PREFIXES if s.startswith(p)), None)
    if coin is None or not 90 <= len(s) <= 140:
        return None
    raw = xmr_b58decode(s)
    if raw is None or len(raw) < 69 or keccak256(raw[:-4])[:4] != raw[-4:]:
        return None
    return Address(s, coin, "standard")


def checkable(s: str) -> bool:
    """Can minewatch tell a valid address of this form from a broken one? Only then may a failed
    check be called a checksum failure: other address-shaped strings are *unchecked* (unknown form)."""
    low = s.lower()
    if s[:2] in ("0x", "0X") or low.startswith(("kaspa:", "kaspatest:")) or low.partition(":")[0] in _CASHADDR_PREFIXES:
        return True
    if "1" in low and low.rsplit("1", 1)[0] in _SEGWIT_HRPS:
        return True
    if len(s) in (95, 106):
        return True
    raw = b58decode(s)
    return raw is not None and len(raw) in (25, 26)


def validate_address(s: str) -> Address | None:
    """The coin and kind of `s` when it is a valid address of a known coin, else None."""
    if not isinstance(s, str):
        return None
    s = s.strip()
    if not 14 <= len(s) <= 130:
        return None
    if s[:2] in ("0x", "0X"):
        return _validate_ethereum(s)
    if s.lower().startswith(("kaspa:", "kaspatest:")):
        return _validate_kaspa(s)
    if ":" in s:
        return _validate_cashaddr(s)
    low = s.lower()
    if "1" in low and low.rsplit("1", 1)[0] in _SEGWIT_HRPS:
        a = _validate_segwit(s)
        if a is not None:
            return a
    if len(s) in (95, 106):
        a = _validate_monero(s)
        if a is not None:
            return a
    a = _validate_base58check(s)
    if a is None and len(s) > 36:
        a = _validate_ergo(s) or _validate_alephium(s) or _validate_cryptonote_other(s)
    return a


# --------------------------------------------------------------------------------------------------
# pool logins

#: Address-shaped tokens: candidates worth validating. Anything else in a login is a name.
_CANDIDATE_RE = re.compile(
    r"(?<![0-9A-Za-z])("
    r"0[xX][0-9a-fA-F]{40}"
    r"|(?:kaspa|kaspatest):[0-9a-z]{55,70}"
    r"|(?:bitcoincash|bchtest|BITCOINCASH):[02-9ac-hj-np-zAC-HJ-NP-Z]{34,120}"
    r"|(?:cfx|cfxtest|CFX):[0-9a-hjkmnp-zA-HJKMNP-Z]{34,120}"
    r"|(?:bc|tb|bcrt|ltc|tltc|BC|TB|LTC)1[02-9ac-hj-np-zAC-HJ-NP-Z]{6,87}"
    r"|[1-9A-HJ-NP-Za-km-z]{25,130}"
    r")(?![0-9A-Za-z])"
)
_EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}$")
_DIFF_SUFFIX_RE = re.compile(r"^\+[0-9.]+(?:[kKmMgG])?$|^\+diff.*$", re.IGNORECASE)
#: Passwords that are placeholders, never worker names.
PLACEHOLDER_PASSWORDS = frozenset({"", "x", "X", "password", "pass", "123", "1", "0", "null", "none", "d=1"})


@dataclass(frozen=True, slots=True)
class LoginParts:
    """What a pool login string says. `invalid_candidate` is an address-shaped token that failed its
    checksum: it is kept for the evidence text only and never reported as a wallet."""

    raw: str
    wallet: str | None = None
    wallet_type: str | None = None
    coin: str | None = None
    worker: str | None = None
    account: str | None = None
    email: str | None = None
    invalid_candidate: str | None = None
    wallet_checked: str | None = None
    #: an address-shaped token of a form minewatch cannot check (neither wallet nor invalid)
    unchecked_candidate: str | None = None


def _clean_worker(w: str) -> str | None:
    w = w.strip()
    # A "+1000" / "+diff" tail is a fixed-difficulty request, not part of the name.
    w = re.split(r"\+", w, maxsplit=1)[0] if "+" in w else w
    if not w or len(w) > 64 or any(ord(c) < 32 for c in w):
        return None
    return w


def split_login(login: str) -> LoginParts:
    """Split 'WALLET.rig07', 'WALLET/worker/email', 'WALLET+diff', '30@0xW@rig', 'user.worker', 'a@b.c'.

    Rules: the first address-shaped token that validates is the wallet; the text after it, up to a
    '+difficulty' tail, is the worker (for '/'-separated eth-proxy logins the first part, the part
    with '@' being an e-mail). Without a wallet, an e-mail login is an account and any other login
    (NiceHash-style 'user.worker') is reported as the worker.
    """
    raw = login if isinstance(login, str) else str(login)
    s = raw.strip()
    if not s:
        return LoginParts(raw=raw)
    invalid: str | None = None
    unchecked: str | None = None
    for m in _CANDIDATE_RE.finditer(s):
        tok = m.group(1)
        addr = validate_address(tok)
        if addr is None:
            if checkable(tok):
                invalid = invalid or tok
            else:
                unchecked = unchecked or tok
            continue
        rest = s[m.end() :]
        worker, email = _after_wallet(rest)
        return LoginParts(
            raw=raw,
            wallet=addr.address,
            wallet_type=addr.wallet_type,
            coin=addr.coin,
            worker=worker,
            email=email,
            wallet_checked=addr.checked,
        )
    if invalid is not None:
        # Address-shaped but failing its checksum: keep only what follows it as a worker name.
        pos = s.find(invalid) + len(invalid)
        worker, email = _after_wallet(s[pos:])
        return LoginParts(raw=raw, worker=worker, email=email, invalid_candidate=invalid)
    if unchecked is not None:
        # An address of a form that cannot be checked here: not a wallet, not a failure either.
        pos = s.find(unchecked) + len(unchecked)
        worker, email = _after_wallet(s[pos:])
        return LoginParts(raw=raw, worker=worker, email=email, unchecked_candidate=unchecked)
    if _EMAIL_RE.match(s):
        return LoginParts(raw=raw, account=s, email=s)
    if "/" in s:
        parts = [p for p in s.split("/") if p]
        email = next((p for p in parts if _EMAIL_RE.match(p)), None)
        names = [p for p in parts if p != email]
        return LoginParts(raw=raw, worker=_clean_worker(names[0]) if names else None, email=email)
    worker = _clean_worker(s)
    # p2pool and solo pools take a placeholder login with a difficulty ("x+50000"): no name in it
    return LoginParts(raw=raw, worker=None if worker in PLACEHOLDER_PASSWORDS else worker)


def _after_wallet(rest: str) -> tuple[str | None, str | None]:
    """(worker, email) from the text that follows the wallet in a login."""
    if not rest:
        return None, None
    email = None
    # Drop '+difficulty' tails wherever they sit ('W+5000.rig', 'W.rig+5000').
    if rest[0] == "+":
        m = re.match(r"^\+[^./@:#]*", rest)
        rest = rest[m.end() :] if m else ""
        if not rest:
            return None, None
    sep, body = rest[0], rest[1:]
    if sep not in "./@:#_-":
        return None, None
    if sep in "/@" or "/" in body:
        parts = [p for p in body.split("/") if p]
        for p in list(parts):
            if "@" in p and sep != "@":
                email = email or p
                parts.remove(p)
        if sep == "@" and parts:
            parts = [p for p in parts[0].split("@") if p][:1] + parts[1:]
        worker = _clean_worker(parts[0]) if parts else None
        return worker, email
    return _clean_worker(body), None


def worker_from_password(pw: object) -> str | None:
    """XMRig-style pools take the worker name in `pass` ('rig07' or 'rig07:email'); placeholders are not names."""
    if not isinstance(pw, str):
        return None
    name = pw.split(":", 1)[0].strip()
    if name in PLACEHOLDER_PASSWORDS or not re.fullmatch(r"[A-Za-z0-9_.\-]{1,32}", name):
        return None
    if re.fullmatch(r"[0-9.]+", name) or name.startswith(("d=", "diff")):
        return None
    return name
