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
