"""eth-proxy sessions with a 0x wallet name Ethash and Ethereum (or ETC when the pool name says so).

Review: `minewatch scan` of an eth-proxy capture (`eth_submitLogin` with a 0x wallet) gave coin and
algorithm null, so the session had no unit and no place in the host's per-algorithm hashrate.
"""

from __future__ import annotations

from minewatch.net.stratum import refine_with_pool_name
from test_dialects_stratum import run

WALLET = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


def _session(login: bytes) -> list[tuple[int, float, bytes]]:
    target = "0x00000000ffff" + "0" * 52
    msgs = [
        (0, 0.0, b'{"id":1,"jsonrpc":"2.0","method":"eth_submitLogin","params":["' + login + b'"]}\n'),
        (1, 0.1, b'{"id":1,"jsonrpc":"2.0","result":true}\n'),
        (0, 1.0, b'{"id":2,"jsonrpc":"2.0","method":"eth_getWork","params":[]}\n'),
        (1, 1.1, ('{"id":2,"jsonrpc":"2.0","result":["0x' + "11" * 32 + '","0x' + "22" * 32 + '","'
                  + target + '"]}\n').encode()),
    ]
    for i in range(5):
        t = 30.0 + 30.0 * i
        submit = f'{{"id":{10 + i},"jsonrpc":"2.0","method":"eth_submitWork","params":["0x{i:016x}","0x{"33" * 32}","0x{"44" * 32}"]}}\n'
        msgs.append((0, t, submit.encode()))
        msgs.append((1, t + 0.05, f'{{"id":{10 + i},"jsonrpc":"2.0","result":true}}\n'.encode()))
    return msgs


def test_ethproxy_with_a_0x_wallet_is_ethash_ethereum():
    f = run(_session(WALLET.encode() + b".rig1"), dport=9999)
    assert (f.kind, f.variant) == ("mining", "ethproxy")
    assert (f.coin, f.algorithm) == ("ethereum", "ethash")
    assert "eth-proxy" in (f.coin_reason or "")


def test_a_pool_name_saying_etc_makes_it_ethereum_classic():
    f = run(_session(WALLET.encode()), dport=9999)
    g = refine_with_pool_name(f, "etc-eu1.nanopool.org")
    assert (g.coin, g.algorithm) == ("ethereum-classic", "etchash")


def test_a_pool_name_saying_another_coin_wins():
    f = run(_session(WALLET.encode()), dport=9999)
    g = refine_with_pool_name(f, "kawpow.auto.nicehash.com")
    assert g.algorithm == "kawpow" and g.coin != "ethereum"


def test_a_login_without_a_0x_wallet_gets_no_default():
    f = run(_session(b"someuser.rig1"), dport=9999)
    assert f.variant == "ethproxy" and f.coin is None
