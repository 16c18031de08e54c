"""Recognise blockchain node traffic (peer-to-peer and node RPC) so it is never reported as mining.

Why this matters: full nodes, wallets and block explorers speak Bitcoin P2P, Ethereum devp2p,
Monero Levin and node JSON-RPC. nDPI once labelled all of them "mining" and users filed false-alarm
reports (ntopng #3214). minewatch reports them as kind "node" with their own evidence.

Strength of each signal (used as the `protocol` sub-score by the session analyser):
* Bitcoin-family P2P: 4-byte network magic + 12-byte NUL-padded ASCII command, and when the whole
  payload is present its double-SHA256 checksum: essentially certain.
* Monero Levin: the 8-byte signature 0x0101010101012101 (little-endian) plus a known command number.
* Ethereum discovery v4 (UDP): keccak256(signature || type || data) equals the first 32 bytes.
* Ethereum RLPx (TCP): encrypted from the first byte; only the handshake sizes are visible
  (auth 307 bytes pre-EIP-8 or 2-byte size-prefixed under EIP-8, ack 210 bytes or size-prefixed),
  and both start with the 0x04 of an uncompressed ECIES public key. Weaker; port 30303 adds weight.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from minewatch.net.wallets import keccak256

#: Network magic (wire order) -> network name.
BITCOIN_MAGICS: dict[bytes, str] = {
    bytes.fromhex("f9beb4d9"): "bitcoin mainnet",
    bytes.fromhex("0b110907"): "bitcoin testnet3",
    bytes.fromhex("fabfb5da"): "bitcoin regtest",
    bytes.fromhex("0a03cf40"): "bitcoin signet",
    bytes.fromhex("f9beb4fe"): "namecoin",
    bytes.fromhex("fbc0b6db"): "litecoin mainnet",
    bytes.fromhex("c0c0c0c0"): "dogecoin mainnet",
    bytes.fromhex("e3e1f3e8"): "bitcoin-cash mainnet",
    bytes.fromhex("1c160b0c"): "bitcoin testnet4",
}

LEVIN_SIGNATURE = bytes.fromhex("0121010101010101")
#: Monero P2P command numbers (handshake, timed sync, ping, stat/network info, notify_* 2001-2010).
LEVIN_COMMANDS = frozenset({1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, *range(2001, 2011)})

DEVP2P_PORT = 30303
RLPX_AUTH_PRE_EIP8 = 307
RLPX_ACK_PRE_EIP8 = 210


@dataclass(frozen=True, slots=True)
class NodeHit:
    variant: str
    detail: str
    strength: float  # points for the `protocol` sub-score
    offset: int = 0
    detail_zh: str = ""  #: the same in Chinese (protocol names and message names stay as written)


def find_bitcoin_message(data: bytes, limit: int = 4096) -> NodeHit | None:
    """A Bitcoin-family P2P message header anywhere in the first `limit` bytes (mid-stream starts too)."""
    window = data[: limit + 24]
    for magic, net in BITCOIN_MAGICS.items():
        start = 0
        while True:
            i = window.find(magic, start)
            if i < 0 or i + 24 > len(window):
                break
            start = i + 1
            cmd = window[i + 4 : i + 16]
            name = cmd.rstrip(b"\x00")
            if not name or b"\x00" in name or not all(48 <= c <= 57 or 97 <= c <= 122 for c in name):
                continue
            length = int.from_bytes(window[i + 16 : i + 20], "little")
            if length > 32 * 1024 * 1024:
                continue
            checksum = window[i + 20 : i + 24]
            payload = data[i + 24 : i + 24 + length]
            strength = 70.0
            if len(payload) == length:
                if hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] != checksum:
                    continue
                strength = 85.0
            return NodeHit("bitcoin-p2p", f"{net} '{name.decode()}' message", strength, i,
                           f"{net} 的 '{name.decode()}' 消息")
    return None


def find_levin_message(data: bytes, limit: int = 4096) -> NodeHit | None:
    """A Monero Levin header (33 bytes) with a known command anywhere in the first `limit` bytes."""
    window = data[: limit + 33]
    start = 0
    while True:
        i = window.find(LEVIN_SIGNATURE, start)
        if i < 0 or i + 33 > len(window):
            return None
        start = i + 1
        cb = int.from_bytes(window[i + 8 : i + 16], "little")
        command = int.from_bytes(window[i + 17 : i + 21], "little")
        if cb > 100 * 1024 * 1024 or command not in LEVIN_COMMANDS:
            continue
        return NodeHit("monero-p2p", f"Monero Levin command {command}", 80.0, i, f"Monero Levin 命令 {command}")


def rlpx_handshake_shape(first_msg: bytes, size: int) -> str | None:
    """'pre-eip8' or 'eip8' when a turn of `size` bytes starting with `first_msg` fits an RLPx auth/ack."""
    if size in (RLPX_AUTH_PRE_EIP8, RLPX_ACK_PRE_EIP8) and first_msg[:1] == b"\x04":
        return "pre-eip8"
    if len(first_msg) >= 3:
        declared = int.from_bytes(first_msg[:2], "big")
        # EIP-8 packets are padded ECIES blobs: at least 65+16+32 bytes, prefix = remaining size.
        if 200 <= declared <= 2048 and size == declared + 2 and first_msg[2] == 0x04:
            return "eip8"
    return None


def discovery_v4_packet(payload: bytes) -> NodeHit | None:
    """Ethereum node discovery v4: hash(32) || signature(65) || type(1) || RLP, hash = keccak of the rest."""
    if len(payload) < 98 or len(payload) > 1280:
        return None
    ptype = payload[97]
    if not 1 <= ptype <= 6:
        return None
    if keccak256(payload[32:]) != payload[:32]:
        return None
    names = {1: "ping", 2: "pong", 3: "findnode", 4: "neighbors", 5: "enrrequest", 6: "enrresponse"}
    return NodeHit("devp2p", f"Ethereum discovery v4 {names[ptype]}", 80.0, 0, f"以太坊节点发现 v4 {names[ptype]} 消息")


#: Node JSON-RPC methods: a node or wallet asks a node about the chain. Seeing these is "node".
BITCOIN_NODE_METHODS = frozenset(
    {
        "getblockchaininfo", "getblockcount", "getbestblockhash", "getblock", "getblockhash",
        "getblockheader", "getrawtransaction", "sendrawtransaction", "decoderawtransaction",
        "getnetworkinfo", "getpeerinfo", "getmempoolinfo", "getrawmempool", "getchaintips",
        "getwalletinfo", "listunspent", "estimatesmartfee", "gettxout", "getnewaddress",
        "getbalance", "getbalances", "validateaddress", "getconnectioncount", "uptime", "getinfo",
        "getdifficulty", "gettransaction", "listtransactions", "sendtoaddress", "getindexinfo",
        "getblockstats", "getzmqnotifications", "getnetworkhashps", "getmininginfo",
        "createrawtransaction", "signrawtransactionwithwallet", "getaddressinfo", "scantxoutset",
        "testmempoolaccept", "getdescriptorinfo", "listwallets", "loadwallet", "help", "ping",
    }
)  # fmt: skip
ETH_NODE_PREFIXES = (
    "eth_",
    "net_",
    "web3_",
    "debug_",
    "txpool_",
    "admin_",
    "personal_",
    "engine_",
    "trace_",
    "parity_",
)
#: Ethereum methods that are mining, not node queries (a miner fetching work from a node or pool).
ETH_MINING_METHODS = frozenset(
    {"eth_getWork", "eth_submitWork", "eth_submitHashrate", "eth_submitLogin", "eth_login"}
)
MONERO_NODE_METHODS = frozenset(
    {
        "get_info", "get_block_count", "get_last_block_header", "get_block_header_by_hash",
        "get_block_header_by_height", "get_block", "get_connections", "get_fee_estimate",
        "get_transactions", "get_transaction_pool", "send_raw_transaction", "get_version",
        "sync_info", "get_height", "on_get_block_hash", "getblockcount", "get_balance", "get_address",
        "get_transfers", "transfer",
    }
)  # fmt: skip
#: Electrum servers index the chain for light wallets: blockchain infrastructure, not mining.
ELECTRUM_PREFIXES = ("blockchain.", "server.", "mempool.")


def node_rpc_method(method: str) -> bool:
    """Is `method` a node/wallet JSON-RPC method (and not a mining one)?"""
    if method in ETH_MINING_METHODS:
        return False
    if method in BITCOIN_NODE_METHODS or method in MONERO_NODE_METHODS:
        return True
    return method.startswith(ETH_NODE_PREFIXES) or method.startswith(ELECTRUM_PREFIXES)
