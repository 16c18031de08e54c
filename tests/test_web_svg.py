"""Server-drawn SVG: marks that would overlap are merged, and every text placed in it is escaped."""

from __future__ import annotations

import re
from datetime import timedelta

from minewatch.model import Evidence
from minewatch.web.svg import flow_timeline
from web_helpers import T0, finding


def _marks(svg: str) -> list[tuple[str, str]]:
    titles = re.findall(r'class="mark"><title>(.*?)</title>', svg)
    labels = re.findall(r'class="tick">([^<]*)</text>', svg)
    return list(zip(titles, labels, strict=False))


def test_a_burst_of_evidence_is_one_mark_labelled_with_its_range():
    f = finding(0)
    f.first_seen, f.last_seen = T0, T0 + timedelta(minutes=15)
    f.evidence = [Evidence(f"net.msg.m{i}", "x", "x", ts=T0 + timedelta(milliseconds=200 * i)) for i in range(5)]
    f.evidence.append(Evidence("net.msg.<late>", "x", "x", ts=T0 + timedelta(minutes=10)))
    marks = _marks(flow_timeline(f))
    assert [lab for _, lab in marks] == ["1–5", "6"]
    first, late = marks[0][0], marks[1][0]
    assert first.count(";") == 4 and "1: 2024-06-10 06:00:00 UTC net.msg.m0" in first and "5: " in first
    assert "&lt;late&gt;" in late and "<late>" not in late  # codes come from captures: escaped


def test_items_far_apart_keep_their_own_marks():
    f = finding(0)
    f.first_seen, f.last_seen = T0, T0 + timedelta(minutes=4)
    f.evidence = [Evidence(f"c{i}", "x", "x", ts=T0 + timedelta(minutes=i)) for i in range(5)]
    assert [lab for _, lab in _marks(flow_timeline(f))] == ["1", "2", "3", "4", "5"]


def test_evidence_out_of_time_order_is_placed_by_its_time():
    f = finding(0)
    f.first_seen, f.last_seen = T0, T0 + timedelta(minutes=15)
    f.evidence = [Evidence("late", "x", "x", ts=T0 + timedelta(minutes=14)), Evidence("early", "x", "x", ts=T0),
                  Evidence("mid", "x", "x", ts=T0 + timedelta(minutes=7))]  # fmt: skip
    assert [lab for _, lab in _marks(flow_timeline(f))] == ["2", "3", "1"]  # left to right, numbers kept


def test_timeline_end_label_names_the_day_and_a_readable_span():
    """A 101-day power-style span was labelled "00:00:00 (8,769,600 s)"."""
    from datetime import UTC, datetime, timedelta

    from minewatch.model import Finding
    from minewatch.web.svg import duration_text, flow_timeline

    t0 = datetime(2024, 1, 1, 0, 0, tzinfo=UTC)
    f = Finding(kind="mining", detector="net.behavior", score=80.0, subscores={}, evidence=[], src_ip="10.0.0.1",
                first_seen=t0, last_seen=t0 + timedelta(days=101, hours=12))
    en, zh = flow_timeline(f), flow_timeline(f, lang="zh")
    assert "2024-04-11 12:00:00 (101.5 d)" in en and "(101.5 天)" in zh and " s)" not in en
    assert duration_text(45) == "45 s" and duration_text(600, "zh") == "10 分钟" and duration_text(5400) == "90 min"
