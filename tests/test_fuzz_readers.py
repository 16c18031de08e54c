"""Mutation fuzzing of every reader a user reaches through `minewatch scan` and `minewatch power scan`.

Why: each reader had hand-written bad-input tests, but the mutation campaign of 2026-11-22 still found
inputs that ended a whole run in a traceback (a DNS time after 2255, a meter time before year 1, a cut
gzip meter file, a stray quote in the metadata file). The regression tests below pin each of those
classes; the seeded loop at the end keeps mutating valid inputs of every kind so a new one shows up
here, not at a user's: no traceback, an error names the file, nothing lost without a count.
"""

from __future__ import annotations

import json

from typer.testing import CliRunner

from minewatch.cli import app
from minewatch.errors import Rejects
from minewatch.sources.resolver import read_resolver_log

BIND_LINE = ("{d} 06:00:05.123 client @0x7f8b2c0a1b20 10.1.2.3#53211 (xmr.f2pool.com): query: xmr.f2pool.com IN A "
             "+E(0)K (10.0.0.1)\n")


def _scan(*args: str):
    r = CliRunner().invoke(app, ["scan", *args, "--no-store", "--format", "jsonl", "-q"])
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    assert "Traceback" not in r.output
    return r


def test_a_dns_time_after_2255_is_scanned_not_a_traceback(tmp_path, tmp_home):
    """Times past 2^53 µs (year 2255) cannot be cast to float64 exactly; the scan rounds them."""
    p = tmp_path / "dns.log"
    p.write_text(json.dumps({"ts": 9_999_000_000.0, "uid": "D1", "id.orig_h": "10.0.0.5", "id.orig_p": 5353,
                             "id.resp_h": "10.0.0.53", "id.resp_p": 53, "proto": "udp", "query": "xmr.f2pool.com",
                             "answers": ["45.77.1.10"], "TTLs": [60.0]}) + "\n")
    r = _scan(str(p))
    assert r.exit_code == 0, r.output


def test_a_resolver_time_outside_1970_to_9999_is_a_rejected_line(tmp_path):
    p = tmp_path / "named.log"
    p.write_text(BIND_LINE.format(d="22-Nov-2026") + BIND_LINE.format(d="22-Nov-1600")
                 + BIND_LINE.format(d="22-Nov-9999") + BIND_LINE.format(d="22-Nov-2026"))
    rej = Rejects()
    counts: dict[str, int] = {}
    rows = [r for b in read_resolver_log(p, rej, counts=counts) for r in b.to_pylist()]
    assert len(rows) == 3 and counts["queries"] == 3
    assert rej.counts == {"resolver log query time out of range (before 1970 or after 9999)": 1}
    assert rej.examples[0].startswith(f"{p}:2:")


def _power(*args: str):
    r = CliRunner().invoke(app, ["power", "scan", *args, "--no-store", "--format", "jsonl"])
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    assert "Traceback" not in r.output
    return r


def _long_rows(n: int = 72) -> list[str]:
    return [f"A,2024-01-{1 + h // 24:02d} {h % 24:02d}:00:00,1.0" for h in range(n)]


def test_a_meter_time_in_year_0_or_99999_is_an_unparsable_line(tmp_path, tmp_home):
    """Polars parses "0000-..." as a date; Python's datetime then could not name it (year 0)."""
    rows = _long_rows()
    rows[5] = "A,0000-01-01 05:00:00,1.0"
    rows[9] = "A,99999-01-01 09:00:00,1.0"
    p = tmp_path / "long.csv"
    p.write_text("meter_id,ts,kwh\n" + "\n".join(rows) + "\n")
    r = _power(str(p))
    assert r.exit_code == 0, r.output
    assert "unparsable timestamp in 2 line(s): 7, 11" in r.stderr


def test_a_cut_gzip_meter_file_names_the_file(tmp_path, tmp_home):
    import gzip

    good = tmp_path / "good.csv"
    good.write_text("meter_id,ts,kwh\n" + "\n".join(_long_rows()) + "\n")
    cut = tmp_path / "cut.csv"
    cut.write_bytes(gzip.compress(good.read_bytes())[:60])
    r = _power(str(cut), str(good))
    # named with where it ended: in the text, and in the file (its end; review 15)
    assert f"{cut}, byte " in r.stderr and "(compressed file read up to byte 60): compressed stream is broken or " \
        "truncated" in " ".join(r.stderr.split()), r.stderr
    assert "meter A: 72 readings" in r.stderr  # the other file is still read


def test_a_stray_carriage_return_in_the_metadata_names_file_and_line(tmp_path, tmp_home):
    data = tmp_path / "long.csv"
    data.write_text("meter_id,ts,kwh\n" + "\n".join(_long_rows()) + "\n")
    meta = tmp_path / "meta.csv"
    meta.write_bytes(b"meter_id,business\nA,shop\nB,ho\rme\n")
    r = _power(str(data), "--meta", str(meta))
    assert r.exit_code == 2 and f"{meta}, line 3: malformed CSV" in r.stderr


def _collector_dir(tmp_path):
    """A `minewatch collect --out` folder with one good hour file of 10 v5 records."""
    import time

    from minewatch.sources.collector import PartitionedWriter
    from minewatch.sources.netflow import TemplateCache, decode_datagram
    from test_flows_netflow import v5

    out = tmp_path / "flows"
    w = PartitionedWriter(out)
    recs, _ = decode_datagram(v5([("10.0.0.1", "45.77.1.10", 40000 + i, 3333, 6, 300, 40000, 5, 3600000)
                                  for i in range(10)]), "e:1", TemplateCache())
    w.add(recs, int(time.time() * 1e6), 0.0)
    w.flush()
    return out, next(out.rglob("*.parquet"))


def test_a_damaged_or_foreign_parquet_file_in_a_collector_folder_costs_only_its_records(tmp_path, tmp_home):
    import pyarrow as pa
    import pyarrow.parquet as pq

    out, good = _collector_dir(tmp_path)
    cut = good.with_name("part-cut.parquet")
    cut.write_bytes(good.read_bytes()[:700])
    t = pq.read_table(good)
    t = t.set_column(t.column_names.index("src_port"), "src_port", pa.array(["x"] * t.num_rows))
    pq.write_table(t, good.with_name("part-foreign.parquet"))
    r = _scan(str(out))
    assert r.exit_code == 0, r.output
    assert " 10 flows" in r.stderr  # the good file's records
    assert f"{cut}: records of an unreadable Parquet file" in r.stderr
    assert f"{cut}: unreadable Parquet file (" in r.stderr  # the damage itself, named
    assert "Parquet column src_port cannot be int32: the file's records: 10" in r.stderr


def test_a_collector_folder_whose_first_file_is_damaged_is_still_recognised(tmp_path, tmp_home):
    out, good = _collector_dir(tmp_path)
    good.rename(good.with_name("part-z.parquet"))
    good.with_name("part-a.parquet").write_bytes(b"PAR1" + b"\0" * 50)
    r = _scan(str(out))
    assert r.exit_code == 0 and " 10 flows" in r.stderr, r.output


def test_a_zeek_data_line_above_the_fields_header_is_rejected_not_taken_as_column_names(tmp_path):
    """A line swapped above `#fields` was consumed as the headerless-TSV column names: lost, uncounted."""
    from minewatch.sources.zeek import read_zeek
    from test_flows_readers import CONN_FIELDS, CONN_TYPES, conn_line, tsv_header

    head = tsv_header("conn", CONN_FIELDS, CONN_TYPES).splitlines(keepends=True)
    body = [conn_line(1_700_000_000 + i, 40000 + i, "60.0", "100", "(empty)") for i in range(4)]
    p = tmp_path / "conn.log"
    p.write_text("".join(head[:5] + body[:1] + head[5:] + body[1:]))
    rej = Rejects()
    rows = [r for b in read_zeek(p, rejects=rej) for r in b.to_pylist()]
    assert len(rows) == 3 and rej.examples == [f"{p}:6: malformed conn line: data line before the #fields header"]


def test_a_cut_separator_escape_is_a_rejected_header_line(tmp_path):
    from minewatch.sources.zeek import read_zeek
    from test_flows_readers import CONN_FIELDS, CONN_TYPES, conn_line, tsv_header

    p = tmp_path / "conn.log"
    p.write_text(tsv_header("conn", CONN_FIELDS, CONN_TYPES).replace("\\x09", "\\x", 1)
                 + conn_line(1_700_000_000, 40000, "60.0", "100", "(empty)"))
    rej = Rejects()
    rows = [r for b in read_zeek(p, rejects=rej) for r in b.to_pylist()]
    assert len(rows) == 1 and rej.counts == {"Zeek header #separator not readable (tab kept)": 1}


def test_a_zeek_log_with_a_byte_order_mark_is_read(tmp_path):
    """The BOM hid the first `#separator` line and with it the log type: every line was rejected."""
    from minewatch.sources.zeek import read_zeek
    from test_flows_readers import CONN_FIELDS, CONN_TYPES, conn_line, tsv_header

    p = tmp_path / "x.log"
    p.write_bytes(b"\xef\xbb\xbf" + (tsv_header("conn", CONN_FIELDS, CONN_TYPES)
                                     + conn_line(1_700_000_000, 40000, "60.0", "100", "(empty)")).encode())
    rej = Rejects()
    reader = read_zeek(p, rejects=rej)
    rows = [r for b in reader for r in b.to_pylist()]
    assert reader.log_type == "conn" and len(rows) == 1 and rej.total == 0


# -- the seeded loop ----------------------------------------------------------------------------------

_WEIRD = ["NaN", "inf", "-inf", "1e400", "-1", "99999999999999999999999", "", "-", "(empty)", "null", "\x00", "é",
          "9999-12-31T23:59:59Z", "0000-01-01 00:00:00", "3e14", '"', "{}", "[1]", "18446744073709551616"]


def _mutate(rng, data: bytes) -> bytes:
    """A few line, field and byte edits of the kinds that broke readers: swaps, duplicates, cuts, odd
    values, a BOM, CRLF, bytes that are not UTF-8, a gzip stream cut short."""
    import gzip

    lines = data.split(b"\n")
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(lines))
        op = rng.randrange(8)
        if op == 0:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == 1:
            lines.insert(i, lines[i])
        elif op == 2 and len(lines) > 1:
            del lines[i]
        elif op == 3:
            sep = next((s for s in (b"\t", b",", b" ") if s in lines[i]), b" ")
            cells = lines[i].split(sep)
            cells[rng.randrange(len(cells))] = rng.choice(_WEIRD).encode()
            lines[i] = sep.join(cells)
        elif op == 4:
            lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)]
        elif op == 5 and lines[i]:
            b = bytearray(lines[i])
            b[rng.randrange(len(b))] = rng.randrange(256)
            lines[i] = bytes(b)
        elif op == 6:
            lines[i] = lines[i].replace(b"20", rng.choice([b"99", b"00", b"16"]), 1)
        else:
            lines.insert(i, rng.choice([b"", b"garbage", b"#fields\tts", b"{", b"null", b"\xff\xfe"]))
    out = b"\n".join(lines)
    r = rng.random()
    if r < 0.08:
        out = b"\xef\xbb\xbf" + out
    elif r < 0.16:
        out = out.replace(b"\n", b"\r\n")
    elif r < 0.24:
        out = gzip.compress(out)[: rng.choice([None, rng.randrange(10, 400)])]
    return out


def _data_lines(data: bytes, comment: bytes | None) -> int:
    lines = data.removeprefix(b"\xef\xbb\xbf").split(b"\n")
    return sum(1 for x in lines if x.rstrip(b"\r") and not (comment and x.startswith(comment)))


def _zeek_seeds() -> list[tuple[str, bytes]]:
    from test_flows_readers import CONN_FIELDS, CONN_TYPES, conn_line, tsv_header

    tsv = tsv_header("conn", CONN_FIELDS, CONN_TYPES) + "".join(
        conn_line(1_700_000_000 + i, 40000 + i, "600.5", "900", "(empty)") for i in range(12))
    js = "".join(json.dumps({"ts": 1_700_000_000 + i, "uid": f"C{i}", "id.orig_h": "10.0.0.5", "id.orig_p": 40000 + i,
                             "id.resp_h": "45.77.1.10", "id.resp_p": 3333, "proto": "tcp", "duration": 60.0,
                             "orig_bytes": 900, "resp_bytes": 2400, "orig_pkts": 9, "resp_pkts": 9}) + "\n"
                 for i in range(12))
    return [("conn.log", tsv.encode()), ("conn.json.log", js.encode())]


def _resolver_seeds() -> list[tuple[str, bytes]]:
    bind = "".join(BIND_LINE.format(d="22-Nov-2026").replace("06:00", f"06:{i:02d}") for i in range(8))
    dnsmasq = "".join(f"Nov 22 06:{i:02d}:05 gw dnsmasq[311]: query[A] btc.viabtc.io from 192.168.1.20\n"
                      for i in range(8))
    unbound = "".join(f"[17637944{i:02d}] unbound[1:0] info: 172.16.0.5 pool.supportxmr.com. A IN\n" for i in range(8))
    windows = "".join(f"11/22/2026 6:{i:02d}:37 AM 0E6C PACKET  000000A1B2C3D4E0 UDP Rcv 10.1.2.3        c5e3   Q "
                      "[0001   D   NOERROR] A      (3)xmr(6)f2pool(3)com(0)\n" for i in range(8))
    return [("named.log", bind.encode()), ("dnsmasq.log", dnsmasq.encode()), ("unbound.log", unbound.encode()),
            ("dns.log", windows.encode())]


def test_seeded_mutations_of_every_reader_keep_the_invariants(tmp_path):
    """Deterministic (seeded) and bounded (~10 s): only InputError naming the file leaves a reader, and
    for the line readers every data line is a row or a counted reject (nothing lost silently)."""
    import random

    import pyarrow.parquet as pq

    from minewatch.errors import InputError
    from minewatch.power.readers import read_files, read_meta
    from minewatch.sources.collector import read_partitions
    from minewatch.sources.eve import iter_eve
    from minewatch.sources.zeek import read_zeek

    rng = random.Random(20261122)
    zeek, resolver = _zeek_seeds(), _resolver_seeds()
    eve = "".join(json.dumps({"timestamp": "2024-05-29T16:26:40.000000+0000", "event_type": "flow", "src_ip": "10.0.0.7",
                              "src_port": 50000 + i, "dest_ip": "45.77.2.2", "dest_port": 7777, "proto": "TCP",
                              "flow": {"pkts_toserver": 400, "pkts_toclient": 420, "bytes_toserver": 60000,
                                       "bytes_toclient": 90000, "start": "2024-05-29T16:00:00.000000+0000",
                                       "end": "2024-05-29T16:26:40.000000+0000"}}) + "\n" for i in range(8)).encode()
    meter = ("meter_id,ts,kwh\n" + "\n".join(_long_rows(24 * 15)) + "\n").encode()
    meta = b"meter_id,business,contracted_kw\nA,shop,10\nB,home,5\n"
    _, good = _collector_dir(tmp_path)
    part = good.read_bytes()

    def check(e: InputError, p) -> None:
        assert e.path and str(p) in str(e.path), e

    for k in range(400):
        d = tmp_path / f"c{k}"
        d.mkdir()
        kind = k % 6
        if kind == 0:
            name, data = rng.choice(zeek)
            p = d / name
            p.write_bytes(m := _mutate(rng, data))
            rej = Rejects()
            try:
                rows = sum(b.num_rows for b in read_zeek(p, rejects=rej))
            except InputError as e:
                check(e, p)
                continue
            if m[:2] != b"\x1f\x8b":
                lines = rej.total - sum(n for r, n in rej.counts.items() if r.startswith("Zeek header"))
                assert rows + lines == _data_lines(m, b"#"), (p, m, rej.counts)
        elif kind == 1:
            name, data = rng.choice(resolver)
            p = d / name
            p.write_bytes(m := _mutate(rng, data))
            rej, counts = Rejects(), {}
            try:
                rows = sum(b.num_rows for b in read_resolver_log(p, rej, counts=counts))
            except InputError as e:
                check(e, p)
                continue
            if m[:2] != b"\x1f\x8b":
                assert rows + counts["other_lines"] + rej.total == len(m.splitlines()), (p, m)
        elif kind == 2:
            p = d / "eve.json"
            p.write_bytes(m := _mutate(rng, eve))
            rej = Rejects()
            try:
                rows = sum(b.num_rows for _, b in iter_eve(p, rejects=rej))
            except InputError as e:
                check(e, p)
                continue
            if m[:2] != b"\x1f\x8b":
                assert rows + rej.total >= _data_lines(m, None) - 1, (p, m)  # a swapped-in "{" line may join
        elif kind == 3:
            p = d / "long.csv"
            p.write_bytes(_mutate(rng, meter))
            _, errors = read_files([p])
            for e in errors:
                check(e, p)
        elif kind == 4:
            p = d / "meta.csv"
            p.write_bytes(_mutate(rng, meta))
            try:
                read_meta(p, [])
            except InputError as e:
                check(e, p)
        else:
            q = d / "date=2023-11-14" / "hour=21" / "part-1.parquet"
            q.parent.mkdir(parents=True)
            b = bytearray(part)
            for _ in range(rng.randint(1, 4)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            q.write_bytes(bytes(b[: rng.choice([None, rng.randrange(len(b))])]))
            rej = Rejects()
            table, damage = read_partitions(d, rej)
            assert damage is None or str(q) in str(damage.path)
            if damage is None and rej.total == 0:
                assert table.num_rows == pq.read_metadata(good).num_rows


def test_collector_times_outside_1970_to_9999_are_null_and_counted(tmp_path, tmp_home):
    """A damaged end time of year 146000 made a duration float64 could not hold: ArrowInvalid."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out, good = _collector_dir(tmp_path)
    t = pq.read_table(good)
    i = t.column_names.index("end")
    t = t.set_column(i, "end", pa.array([2**62] + [None] * (t.num_rows - 1), pa.int64()).cast(t.schema.field("end").type))
    pq.write_table(t, good)
    r = _scan(str(out))
    assert r.exit_code == 0 and " 10 flows" in r.stderr, r.output
    assert "end out of range (before 1970 or after 9999): set to null: 1" in r.stderr


def test_one_ragged_quoted_or_undecodable_meter_line_costs_only_that_line(tmp_path, tmp_home):
    """Polars refused the whole file for one line with a field too many, a stray quote or a byte that is
    neither UTF-8 nor GBK: every meter in it was lost. Now that line is an unparsable, counted line."""
    rows = _long_rows(24 * 15)
    rows[10] += ",9,9"
    rows[20] = rows[20].replace("A,", 'A,"', 1)
    p = tmp_path / "long.csv"
    p.write_bytes(("meter_id,ts,kwh\n" + "\n".join(rows) + "\n").encode().replace(b"A,2024-01-02 07", b"A,2024-01-02 \xff7"))
    r = _power(str(p))
    assert r.exit_code == 0, r.output
    # the ragged and the quoted line are taken out (a reading each in a long table); the bad byte is a cell
    assert "2 line(s) not readable as table rows (a field too many, a stray quote), 2 reading(s) lost: " \
        "line(s) 12, 22" in r.stderr, r.stderr
    assert "unparsable timestamp in 1 line(s): 33" in r.stderr, r.stderr
    # 360 in: the 3 readings of the rejected lines count among them (review 15: "357 of 357")
    assert "357 of 360 readings used" in r.stderr and "rejected readings: 3" in r.stderr


def test_seeded_mutations_never_break_sniffing_or_the_hints(tmp_path):
    """Sniffing and the hints `scan` reads before any reader (content sniffing, capture check, meter and
    unread hints) on mutated inputs of every kind, plain and gzip, and gzip streams with bytes flipped in
    their body: they answer, they never raise (a corrupt .gz in a folder ended `scan DIR` in a zlib.error
    traceback, review of 2026-11-22)."""
    import gzip
    import random

    from minewatch.scan_cli import _is_capture, expand_directories, looks_like_meter_table, unread_hint
    from minewatch.sources.zeek import sniff_format

    rng = random.Random(1122)
    eve = json.dumps({"timestamp": "2024-05-29T16:26:40.000000+0000", "event_type": "flow", "src_ip": "10.0.0.7",
                      "dest_ip": "45.77.2.2", "proto": "TCP"}).encode() + b"\n"
    seeds = [*_zeek_seeds(), *_resolver_seeds(), ("eve.json", eve * 4),
             ("long.csv", ("meter_id,ts,kwh\n" + "\n".join(_long_rows(24)) + "\n").encode())]
    for k in range(300):
        name, data = rng.choice(seeds)
        m = _mutate(rng, data)
        if k % 3 == 0:  # a gzip stream damaged inside its body, not only cut
            z = bytearray(gzip.compress(m))
            for _ in range(rng.randint(1, 3)):
                z[rng.randrange(10, len(z))] = rng.randrange(256)
            m, name = bytes(z), name + ".gz"
        d = tmp_path / f"s{k}"
        d.mkdir()
        p = d / name
        p.write_bytes(m)
        sniff_format(p)
        _is_capture(p)
        looks_like_meter_table(p)
        unread_hint(p)
        expand_directories([d])
