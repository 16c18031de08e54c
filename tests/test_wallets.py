"""Address validation against published test vectors, and pool-login splitting."""

from __future__ import annotations

import pytest

from minewatch.net.wallets import (
    bech32_checksum,
    bech32_decode,
    eip55_checksum,
    segwit_decode,
    split_login,
    validate_address,
    worker_from_password,
)

# BIP-350 "valid segwit addresses" (v0 bech32 and v1+ bech32m) with their scriptPubKey.
SEGWIT_VALID = [
    ("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "0014751e76e8199196d454941c45d1b3a323f1433bd6"),
    (
        "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
        "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262",
    ),
    (
        "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y",
        "5128751e76e8199196d454941c45d1b3a323f1433bd6751e76e8199196d454941c45d1b3a323f1433bd6",
    ),
    ("BC1SW50QGDZ25J", "6002751e"),
    ("bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", "5210751e76e8199196d454941c45d1b3a323"),
    (
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
        "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
    ),
]

# BIP-350 invalid segwit addresses (each for a stated reason).
SEGWIT_INVALID = [
    "tc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq5zuyut",
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd",
    "tb1z0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqglt7rf",
    "BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL",
    "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh",
    "tb1q0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq24jc47",
    "bc1p38j9r5y49hruaue7wxjce0updqjuyyx0kh56v8s25huc6995vvpql3jow4",
    "BC130XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ7ZWS8R",
    "bc1pw5dgrnzv",
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v8n0nx0muaewav253zgeav",
    "BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P",
    "tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq47Zagq",
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v07qwwzcrf",
    "tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vpggkg4j",
    "bc1gmk9yu",
]


@pytest.mark.parametrize(("addr", "spk"), SEGWIT_VALID)
def test_bip350_valid_segwit(addr, spk):
    _, ver, prog = segwit_decode(addr)
    op = 0 if ver == 0 else 0x50 + ver
    assert bytes([op, len(prog)]).hex() + prog.hex() == spk
    assert validate_address(addr) is not None


@pytest.mark.parametrize("addr", SEGWIT_INVALID)
def test_bip350_invalid_segwit(addr):
    if not addr.lower().startswith("tc1"):  # 'tc' is a well-formed string with an unknown HRP
        assert segwit_decode(addr) is None
    assert validate_address(addr) is None


@pytest.mark.parametrize(
    "s",
    [
        "A1LQFN3A",
        "a1lqfn3a",
        "abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx",
        "split1checkupstagehandshakeupstreamerranterredcaperredlc445v",
    ],
)
def test_bip350_bech32m_strings_have_m_constant(s):
    d = bech32_decode(s)
    assert d is not None and d[2] == 0x2BC830A3


def test_bech32_checksum_roundtrip_and_single_error_detected():
    hrp, data, const = bech32_decode("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4")
    assert const == 1
    assert bech32_checksum(hrp, data, const) == [
        "qpzry9x8gf2tvdw0s3jn54khce6mua7l".index(c) for c in "v8f3t4"
    ]
    assert bech32_decode("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5") is None


@pytest.mark.parametrize(
    ("addr", "wallet_type"),
    [
        ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "bitcoin-p2pkh"),  # genesis block coinbase
        ("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", "bitcoin-p2sh"),  # BIP-13 era example
        ("LVg2kJoFNg45Nbpy53h7Fe1wKyeXVRhMH9", "litecoin-p2pkh"),
        ("DH5yaieqoZN36fDVciNyRueRGvGLR3mr7L", "dogecoin-p2pkh"),
        ("t1KJkEGkUrmBRQdeQeNchfqgvDFD7Pk1kKQ", "zcash-p2pkh"),
        (
            "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A",
            "monero-standard",
        ),
    ],
)
def test_known_addresses(addr, wallet_type):
    a = validate_address(addr)
    assert a is not None and a.wallet_type == wallet_type and a.checked == "checksum"


def _flip(s: str, i: int) -> str:
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    c = s[i]
    return s[:i] + alphabet[(alphabet.index(c) + 1) % 58] + s[i + 1 :]


@pytest.mark.parametrize(
    "addr",
    [
        "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
        "t1KJkEGkUrmBRQdeQeNchfqgvDFD7Pk1kKQ",
        "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A",
    ],
)
@pytest.mark.parametrize("pos", [5, 20])
def test_one_character_change_is_rejected(addr, pos):
    assert validate_address(_flip(addr, pos)) is None


@pytest.mark.parametrize(
    "addr",
    [
        # EIP-55 specification examples
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    ],
)
def test_eip55(addr):
    assert eip55_checksum(addr[2:]) == addr[2:]
    a = validate_address(addr)
    assert a is not None and a.checked == "checksum"
    wrong = addr[:-1] + (addr[-1].lower() if addr[-1].isupper() else addr[-1].upper())
    if wrong != addr and any(c.isalpha() for c in addr[-1]):
        assert validate_address(wrong) is None


def test_lowercase_ethereum_is_format_only():
    a = validate_address("0x9c99d212f7e5daa18ab50810e0fd255d1f04303b")
    assert a is not None and a.checked == "format"
    assert validate_address("0x9c99d212f7e5daa18ab50810e0fd255d1f04303") is None
    assert validate_address("0x9c99d212f7e5daa18ab50810e0fd255d1f04303g") is None


def test_kaspa_format():
    ok = "kaspa:qqkqkzjvr7zwxxmjxjkmxxdwju9kjs6e9u82uh59z07vgaks6gg62v8707g73"
    a = validate_address(ok)
    assert a is not None and a.coin == "kaspa" and a.checked == "format"
    assert (
        validate_address("kaspa:qqkqkzjvr7zwxxmjxjkmxxbwju9kjs6e9u82uh59z07vgaks6gg62v8707g73") is None
    )  # 'b'


@pytest.mark.parametrize(
    ("login", "wallet", "worker", "email"),
    [
        ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa.rig07", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "rig07", None),
        ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa+65536", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", None, None),
        (
            "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa.rig07+65536",
            "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
            "rig07",
            None,
        ),
        (
            "0x9c99d212f7e5daa18ab50810e0fd255d1f04303b/kvetak.worker1/someone@mail.example",
            "0x9c99d212f7e5daa18ab50810e0fd255d1f04303b",
            "kvetak.worker1",
            "someone@mail.example",
        ),
        (
            "30@0x4b999ba68e017854ffb6b494bc2ddb9ef02bd745@OptionalRigName",
            "0x4b999ba68e017854ffb6b494bc2ddb9ef02bd745",
            "OptionalRigName",
            None,
        ),
        ("t1KJkEGkUrmBRQdeQeNchfqgvDFD7Pk1kKQ.kvetak", "t1KJkEGkUrmBRQdeQeNchfqgvDFD7Pk1kKQ", "kvetak", None),
        ("user.worker", None, "user.worker", None),
    ],
)
def test_split_login(login, wallet, worker, email):
    p = split_login(login)
    assert (p.wallet, p.worker, p.email) == (wallet, worker, email)


def test_email_login_is_account_not_wallet():
    p = split_login("someone@example.com")
    assert p.wallet is None and p.account == "someone@example.com"


def test_invalid_address_never_becomes_wallet():
    p = split_login("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb.rig7")
    assert p.wallet is None
    assert p.invalid_candidate == "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb"
    assert p.worker == "rig7"


@pytest.mark.parametrize(
    ("pw", "worker"), [("x", None), ("rig07", "rig07"), ("rig07:me@x.org", "rig07"), ("", None), (5, None)]
)
def test_worker_from_password(pw, worker):
    assert worker_from_password(pw) == worker
