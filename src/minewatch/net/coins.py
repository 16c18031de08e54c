"""Coins, their proof-of-work algorithms, and how to infer the coin of a mining session.

Why infer at all: the impact estimate (energy, money) needs the algorithm family, and a regulator's
report needs the coin. The protocol rarely names the coin, but the evidence around it usually does:
a validated wallet is the strongest clue (a Monero address mines Monero), then an explicit algorithm
field ("rx/0", "kawpow"), then tokens in the pool host name ("xmr-eu1", "etc.2miners"), then the
miner program. Each inference carries its reason so the report can say why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Coin:
    """One coin. `family` selects the hashes-per-difficulty rule in `minewatch.net.hashrate`."""

    name: str
    symbol: str
    algorithm: str
    family: str
    block_time_s: float
    note: str = ""


COINS: dict[str, Coin] = {
    c.name: c
    for c in (
        Coin("bitcoin", "BTC", "sha256d", "sha256d", 600),
        Coin("bitcoin-cash", "BCH", "sha256d", "sha256d", 600),
        Coin("bitcoin-sv", "BSV", "sha256d", "sha256d", 600),
        Coin("litecoin", "LTC", "scrypt", "scrypt", 150),
        Coin("dogecoin", "DOGE", "scrypt", "scrypt", 60, "merge-mined with Litecoin"),
        Coin("monero", "XMR", "randomx", "cryptonote", 120),
        Coin("wownero", "WOW", "randomx-wow", "cryptonote", 300),
        Coin("ethereum", "ETH", "ethash", "ethash", 13, "proof of work ended 2022-09 (historic)"),
        Coin("ethereum-classic", "ETC", "etchash", "ethash", 13),
        Coin("zcash", "ZEC", "equihash-200-9", "equihash", 75),
        Coin("ravencoin", "RVN", "kawpow", "kawpow", 60),
        Coin("kaspa", "KAS", "kheavyhash", "kheavyhash", 1),
        Coin("ergo", "ERG", "autolykos2", "autolykos2", 120),
        Coin("dash", "DASH", "x11", "sha256d", 150, "x11 difficulty uses the Bitcoin 2^32 convention"),
        Coin("zephyr", "ZEPH", "randomx", "cryptonote", 120),
        Coin("haven", "XHV", "randomx", "cryptonote", 120),
        Coin("conflux", "CFX", "octopus", "ethash", 0.5),
        Coin("flux", "FLUX", "zelhash", "equihash", 120),
        Coin("beam", "BEAM", "beamhash3", "equihash", 60),
        Coin("grin", "GRIN", "cuckatoo32", "cuckoo", 60),
        Coin("alephium", "ALPH", "blake3", "sha256d", 16),
        Coin("neoxa", "NEOX", "kawpow", "kawpow", 60),
        Coin("clore", "CLORE", "kawpow", "kawpow", 60),
        Coin("karlsen", "KLS", "karlsenhash", "kheavyhash", 1),
        Coin("salvium", "SAL", "randomx", "cryptonote", 120),
    )
}
#: Coins added after the timing detector's block-rhythm test was calibrated (kept out of it).
_NOT_IN_RHYTHM = frozenset({"ethereum", "salvium"})

#: Ticker -> mean block interval (s) of coins mined today, for the timing detector's rhythm test.
#: Ethereum is left out: its proof of work ended in 2022, and ETC has the same 13 s rhythm.
BLOCK_TIME_S: dict[str, float] = {c.symbol: c.block_time_s for c in COINS.values() if c.name not in _NOT_IN_RHYTHM}


def coin_by_symbol(symbol: str | None) -> str | None:
    """Coin name ("monero") for a ticker ("XMR") or a name; None when unknown."""
    if not symbol:
        return None
    if symbol in COINS:
        return symbol
    up = symbol.upper()
    return next((c.name for c in COINS.values() if c.symbol == up), None)


#: Algorithm name -> (family, most likely coin or None when several coins share it).
ALGORITHMS: dict[str, tuple[str, str | None]] = {
    "sha256d": ("sha256d", "bitcoin"),
    "sha256": ("sha256d", "bitcoin"),
    "scrypt": ("scrypt", "litecoin"),
    "randomx": ("cryptonote", "monero"),
    "rx/0": ("cryptonote", "monero"),
    "rx/wow": ("cryptonote", "wownero"),
    "rx/arq": ("cryptonote", None),
    "rx/sfx": ("cryptonote", None),
    "rx/graft": ("cryptonote", None),
    "rx/keva": ("cryptonote", None),
    "cn/r": ("cryptonote", "monero"),
    "cn/2": ("cryptonote", "monero"),
    "cn/1": ("cryptonote", "monero"),
    "cn/0": ("cryptonote", None),
    "cryptonight": ("cryptonote", "monero"),
    "argon2/chukwa": ("cryptonote", None),
    "ethash": ("ethash", "ethereum"),
    "etchash": ("ethash", "ethereum-classic"),
    "kawpow": ("kawpow", "ravencoin"),
    "progpow": ("kawpow", None),
    "equihash": ("equihash", "zcash"),
    "equihash-200-9": ("equihash", "zcash"),
    "kheavyhash": ("kheavyhash", "kaspa"),
    "autolykos2": ("autolykos2", "ergo"),
    "x11": ("sha256d", "dash"),
    "blake3": ("sha256d", "alephium"),
    "octopus": ("ethash", "conflux"),
    "zelhash": ("equihash", "flux"),
    "equihash-144-5": ("equihash", None),
    "beamhash3": ("equihash", "beam"),
    "cuckatoo32": ("cuckoo", "grin"),
    "cuckaroo29": ("cuckoo", "grin"),
    "karlsenhash": ("kheavyhash", "karlsen"),
}

#: Tokens in pool host names. Matched on whole labels or '-'-separated parts, never as substrings
#: of longer words, so "ethz.ch" does not read as Ethereum.
HOST_TOKENS: dict[str, str] = {
    "btc": "bitcoin",
    "bitcoin": "bitcoin",
    "bch": "bitcoin-cash",
    "bsv": "bitcoin-sv",
    "ltc": "litecoin",
    "litecoin": "litecoin",
    "doge": "dogecoin",
    "dogecoin": "dogecoin",
    "xmr": "monero",
    "monero": "monero",
    "moneroocean": "monero",
    "supportxmr": "monero",
    "minexmr": "monero",
    "wow": "wownero",
    "eth": "ethereum",
    "ethash": "ethereum",
    "ether": "ethereum",
    "etc": "ethereum-classic",
    "etchash": "ethereum-classic",
    "zec": "zcash",
    "zcash": "zcash",
    "rvn": "ravencoin",
    "ravencoin": "ravencoin",
    "kas": "kaspa",
    "kaspa": "kaspa",
    "erg": "ergo",
    "ergo": "ergo",
    "dash": "dash",
    "flux": "flux",
    "beam": "beam",
    "grin": "grin",
    "cfx": "conflux",
    "alph": "alephium",
}

#: Algorithm names as multi-algorithm pools and hashrate marketplaces put them in host labels
#: ("kawpow.auto.nicehash.com", "sha256.auto.nicehash.com"), from NiceHash's public algorithm list,
#: mapped to the names used here. Matched on whole labels only. A None algorithm family means the
#: algorithm is named but its difficulty convention is not known here (no hashrate is claimed).
HOST_ALGORITHMS: dict[str, str] = {
    "sha256": "sha256d", "sha256asicboost": "sha256d", "sha256d": "sha256d", "scrypt": "scrypt",
    "x11": "x11", "daggerhashimoto": "ethash", "ethash": "ethash", "etchash": "etchash",
    "kawpow": "kawpow", "kheavyhash": "kheavyhash", "randomxmonero": "randomx", "randomx": "randomx",
    "cryptonight": "cryptonight", "cryptonightr": "cn/r", "cryptonightv8": "cn/2", "equihash": "equihash-200-9",
    "zhash": "equihash-144-5", "zelhash": "zelhash", "beamv3": "beamhash3", "autolykos": "autolykos2",
    "autolykos2": "autolykos2", "octopus": "octopus", "grincuckatoo32": "cuckatoo32",
    "cuckatoo32": "cuckatoo32", "karlsenhash": "karlsenhash", "alephium": "blake3", "blake3": "blake3",
    "eaglesong": "eaglesong", "handshake": "blake2b-sha3", "kadena": "blake2s-kadena",
    "verushash": "verushash", "nexapow": "nexapow", "ironfish": "fishhash-ironfish", "fishhash": "fishhash",
    "pyrinhash": "pyrinhash", "xelishashv2": "xelishashv2", "lbry": "lbry", "neoscrypt": "neoscrypt",
    "lyra2rev3": "lyra2rev3", "x16rv2": "x16rv2", "keccak": "keccak", "yespower": "yespower",
}  # fmt: skip
#: Hashrate marketplaces: they pay every seller in BTC whatever the algorithm, so the payout wallet
#: never names the coin mined (NiceHash: "Mining address: your NiceHash BTC address").
MARKETPLACE_DOMAINS: tuple[str, ...] = ("nicehash.com",)

#: Address forms shared by several chains: a wallet of the key's coin decides the family only, and a
#: pool host token naming one of the others decides the coin (Flux transparent addresses use Zcash's
#: t1/t3 prefixes, so a t1 address on a Flux pool mines Flux).
SHARED_WALLET_FORMS: dict[str, frozenset[str]] = {"zcash": frozenset({"flux"})}

#: Miner programs whose algorithm is known from the name alone (the default when nothing overrides).
AGENT_HINTS: tuple[tuple[str, str, str | None], ...] = (
    # (lower-case prefix, algorithm, coin)
    ("xmrig", "randomx", "monero"),
    ("xmr-stak", "cryptonight", "monero"),
    ("xmr/", "cryptonight", "monero"),
    ("xmr-node-proxy", "randomx", "monero"),
    ("srbminer", "randomx", None),
    # Generic programs name the algorithm only: bfgminer and Bitmain's bmminer are pointed at any
    # SHA-256d pool, ethminer at any Ethash chain. cgminer and cpuminer name none: cgminer is the
    # firmware of scrypt ASICs too (Antminer L3/L7 report "cgminer/4.x"), and cpuminer-multi/-opt
    # hash dozens of algorithms (yespower, scrypt, sha256d...), so their name must not fix the family.
    ("bfgminer", "sha256d", None),
    ("bmminer", "sha256d", None),
    ("ethminer", "ethash", None),
    ("claymore", "ethash", None),
    ("phoenixminer", "ethash", None),
    ("equihashminer", "equihash-200-9", "zcash"),
    ("ewbf", "equihash-200-9", "zcash"),
    ("kawpowminer", "kawpow", "ravencoin"),
    ("kaspa-miner", "kheavyhash", "kaspa"),
)


@dataclass(frozen=True, slots=True)
class CoinGuess:
    coin: str | None
    algorithm: str | None
    family: str | None
    reason: str | None


def family_of(algorithm: str | None, coin: str | None = None) -> str | None:
    """Hashrate family of an algorithm (or of the coin's algorithm when the algorithm is unknown)."""
    if algorithm:
        a = normalise_algo(algorithm)
        if a in ALGORITHMS:
            return ALGORITHMS[a][0]
        if a.startswith(("rx/", "cn/", "cn-", "argon2", "randomx", "cryptonight")):
            return "cryptonote"
    if coin and coin in COINS:
        return COINS[coin].family
    return None


def normalise_algo(algo: str) -> str:
    a = algo.strip().lower().replace("_", "-")
    aliases = {"cryptonight/r": "cn/r", "randomxmonero": "rx/0", "rx": "rx/0", "sha-256": "sha256d"}
    return aliases.get(a, a)


#: Spellings of one algorithm -> the name `COINS` gives it (else the most common name), so rates that
#: miners, pools and coin tables spell differently meet: XMRig says "rx/0" and "rx/wow", pools and
#: NiceHash "randomx"/"randomxmonero", Zcash pools "equihash" for Equihash 200,9, NiceHash "zhash" for
#: 144,5, "daggerhashimoto" for Ethash, "beamv3", "autolykos". Public names only (XMRig's algorithm list,
#: NiceHash's algorithm list).
ALGORITHM_ALIASES: dict[str, str] = {
    "rx/0": "randomx", "rx": "randomx", "randomxmonero": "randomx", "randomx-monero": "randomx",
    "rx/wow": "randomx-wow", "randomwow": "randomx-wow",
    "equihash": "equihash-200-9", "equihash200-9": "equihash-200-9", "equihash-200,9": "equihash-200-9",
    "zhash": "equihash-144-5", "equihash144-5": "equihash-144-5", "equihash-144,5": "equihash-144-5",
    "sha256": "sha256d", "sha-256": "sha256d", "sha256asicboost": "sha256d",
    "daggerhashimoto": "ethash", "beamv3": "beamhash3", "beamhashiii": "beamhash3", "autolykos": "autolykos2",
    "cryptonight/r": "cn/r", "cryptonightr": "cn/r", "cryptonightv8": "cn/2", "grincuckatoo32": "cuckatoo32",
}  # fmt: skip


def canonical_algorithm(algo: str | None) -> str | None:
    """One name per algorithm (`ALGORITHM_ALIASES`): "rx/0", "RandomX" and "randomxmonero" are all
    "randomx", "equihash" is "equihash-200-9"; a name not listed comes back lower-cased. None stays None."""
    if not algo or not algo.strip():
        return None
    a = algo.strip().lower().replace("_", "-")
    return ALGORITHM_ALIASES.get(a, a)


#: Words pool operators wrap around a coin name ('litecoinpool', 'xmrpool', 'supportxmr', 'ethermine').
_POOL_AFFIXES = ("pool", "pools", "mining", "miner", "mine", "hash", "stratum", "support", "proxy")


def host_coin(host: str | None) -> tuple[str, str] | None:
    """(coin, token) from pool host labels such as 'xmr-eu1.nanopool.org' or 'us2.litecoinpool.org'.

    A label matches when it, one of its '-'/'_' parts, or that part with pool words ('pool',
    'mine', 'support', ...) and a trailing number removed equals a token. Tokens never match
    inside arbitrary words, so 'ethz.ch' or 'kasse.de' say nothing.
    """
    if not host:
        return None
    labels = host.lower().strip(".").split(".")
    for label in labels[:-1] or labels:  # the TLD never names a coin
        for p in [label, *re.split(r"[-_]", label)]:
            for cand in _candidates(p):
                if cand in HOST_TOKENS:
                    return HOST_TOKENS[cand], cand
    return None


def _candidates(part: str) -> list[str]:
    out = [part, re.sub(r"\d+$", "", part)]
    stripped = out[-1]
    changed = True
    while changed and stripped:
        changed = False
        for a in _POOL_AFFIXES:
            if stripped.endswith(a) and len(stripped) > len(a) + 2:
                stripped, changed = stripped[: -len(a)], True
            elif stripped.startswith(a) and len(stripped) > len(a) + 2:
                stripped, changed = stripped[len(a) :], True
        stripped = re.sub(r"\d+$", "", stripped)
        out.append(stripped)
    return out


def host_algorithm(host: str | None) -> tuple[str, str] | None:
    """(algorithm, label) when a label of the host names an algorithm ('kawpow.auto.nicehash.com')."""
    if not host:
        return None
    labels = host.lower().strip(".").split(".")
    for label in labels[:-1]:
        if label in HOST_ALGORITHMS:
            return HOST_ALGORITHMS[label], label
    return None


def is_marketplace(host: str | None) -> bool:
    """Is the host a hashrate marketplace's, where the payout wallet says nothing of the coin?"""
    h = (host or "").lower().strip(".")
    return any(h == d or h.endswith("." + d) for d in MARKETPLACE_DOMAINS)


def agent_hint(agent: str | None) -> tuple[str, str | None] | None:
    if not agent:
        return None
    a = agent.strip().lower()
    for prefix, algo, coin in AGENT_HINTS:
        if a.startswith(prefix):
            return algo, coin
    return None


def infer_coin(
    *,
    wallet_coin: str | None = None,
    algo: str | None = None,
    hosts: tuple[str | None, ...] = (),
    agent: str | None = None,
    variant: str | None = None,
) -> CoinGuess:
    """Best coin/algorithm guess with the reason; None fields when the evidence says nothing.

    Order of trust: an explicit algorithm field, a wallet of a single-chain coin, pool host tokens,
    the miner program, then the protocol variant's family. Ethereum-format wallets are shared by
    many chains, so they decide the family but not the coin.
    """
    coin: str | None = None
    algorithm: str | None = None
    reason: list[str] = []
    if any(is_marketplace(h) for h in hosts):
        # NiceHash pays in BTC for every algorithm: the BTC address is a payout, not the coin mined.
        if wallet_coin:
            reason.append(f"{wallet_coin} wallet is a hashrate marketplace's payout address (coin not stated)")
        wallet_coin = None
    if not algo:
        ha = next((hit for hit in (host_algorithm(h) for h in hosts) if hit), None)
        if ha:
            algorithm = ha[0]
            reason.append(f"pool host label '{ha[1]}' names the algorithm")
    if algo:
        a = normalise_algo(algo)
        fam_coin = ALGORITHMS.get(a)
        algorithm = a if a not in ("rx/0", "randomx") else "randomx"
        if fam_coin and fam_coin[1]:
            coin = fam_coin[1]
        reason.append(f"algorithm field '{algo}'")
    same_family = bool(
        wallet_coin
        and algorithm
        and wallet_coin in COINS
        and family_of(algorithm) == COINS[wallet_coin].family
    )
    # A wallet names the coin unless an algorithm of another family was named (a BTC payout address
    # on a kawpow port is a payout, not Bitcoin mining).
    wallet_fits = algorithm is None or same_family or wallet_coin not in COINS
    if wallet_coin and wallet_coin != "ethereum" and ((coin is None and wallet_fits) or same_family):
        coin = wallet_coin
        reason.append(f"{wallet_coin} wallet")
    host_hit = None
    for h in hosts:
        host_hit = host_coin(h)
        if host_hit:
            break
    if host_hit:
        hc, tok = host_hit
        fam_ok = algorithm is None or family_of(algorithm) == COINS[hc].family
        shared = coin == wallet_coin and hc in SHARED_WALLET_FORMS.get(wallet_coin or "", ())
        if fam_ok and (coin is None or shared or (wallet_coin == "ethereum" and COINS[hc].family == "ethash")):
            coin = hc
            reason.append(f"pool host token '{tok}'")
    ah = agent_hint(agent)
    if ah:
        a_algo, a_coin = ah
        if algorithm is None and (coin is None or family_of(a_algo) == COINS[coin].family):
            algorithm = a_algo
            reason.append(f"miner program '{agent}'")
        if coin is None and a_coin and (algorithm is None or family_of(algorithm) == family_of(a_algo)):
            coin = a_coin
            if f"miner program '{agent}'" not in reason:
                reason.append(f"miner program '{agent}'")
    if coin is None and wallet_coin == "ethereum" and variant in ("ethproxy", "ethstratum-1", "ethstratum-2"):
        reason.append("Ethereum-format wallet on an Ethereum Stratum dialect (chain not stated)")
    if algorithm is None and coin in COINS:
        algorithm = COINS[coin].algorithm
    family = family_of(algorithm, coin)
    if family is None and variant:
        family = {
            "cryptonote-login": "cryptonote",
            "ethproxy": "ethash",
            "ethstratum-1": "ethash",
            "ethstratum-2": "ethash",
        }.get(variant)
    return CoinGuess(coin, algorithm, family, "; ".join(reason) or None)
