import csv

import pytest

from spotshield.deadline import traces
from spotshield.deadline.traces import SpotTrace, any_available_fraction, from_csv
from spotshield.errors import SpotShieldError


def write(tmp_path, rows, header="# test trace; tick 10s; 100 ticks = 0.3 h"):
    p = tmp_path / "t.csv"
    p.write_text(header + "\npreempted_at_s,unavailable_for_s\n" + "".join(f"{a},{b}\n" for a, b in rows))
    return p


def test_available_and_next_change(tmp_path):
    tr = from_csv(write(tmp_path, [(100, 50), (400, 100)]))
    assert tr.span_s == 1000  # 100 ticks x 10 s from the header
    assert tr.available(0) and tr.available(99.9)
    assert not tr.available(100) and not tr.available(149.9) and tr.available(150)
    assert tr.next_change(0) == 100 and tr.next_change(120) == 150 and tr.next_change(150) == 400
    assert tr.next_change(600) == 1000  # the end of the span, where the trace repeats
    assert not tr.available(1120) and tr.next_change(1120) == 1150  # repeated from its start
    assert tr.spot_fraction() == pytest.approx(850 / 1000)


def test_overlapping_stretches_merge_and_span_falls_back_to_the_last_end(tmp_path):
    tr = from_csv(write(tmp_path, [(10, 20), (25, 10), (50, 0)], header="# no span here"))
    assert tr.outages == ((10, 35),)
    assert tr.span_s == 50  # the last event when the header says nothing


def test_inverted_reading_swaps_stretches():
    tr = SpotTrace("x", 100, ((0, 10), (40, 60)))
    inv = tr.inverted()
    assert inv.outages == ((10, 40), (60, 100))
    assert inv.spot_fraction() == pytest.approx(1 - tr.spot_fraction())


def test_any_zone_fraction():
    a, b = SpotTrace("a", 100, ((0, 50),)), SpotTrace("b", 100, ((25, 100),))
    assert any_available_fraction([a, b]) == pytest.approx(0.75)  # only 25..50 has neither


def test_shipped_traces_match_the_shared_data():
    shipped = traces.shipped()
    assert set(shipped) == {"aws-04-22-2023_us-east-1c_v100_1", "aws-04-22-2023_us-west-2b_v100_1",
                            "gcp-04-30-2023_us-central1-a_c3-88", "gcp-04-30-2023_us-east1-b_c3-88"}
    for name, path in shipped.items():
        tr = traces.load(name)
        rows = list(csv.DictReader(line for line in path.read_text().splitlines() if not line.startswith("#")))
        down = sum(float(r["unavailable_for_s"]) for r in rows)  # the shipped traces have no overlaps
        assert tr.spot_fraction() == pytest.approx(1 - down / tr.span_s, abs=1e-9)
    # the AWS traces: 19961 ticks of 32 s; the default one's header only says 177.4 h
    assert traces.load("aws-04-22-2023_us-west-2b_v100_1").span_s == 19961 * 32
    assert traces.load("aws-04-22-2023_us-east-1c_v100_1").span_s == pytest.approx(177.4 * 3600)


def test_unknown_trace_is_one_line():
    with pytest.raises(SpotShieldError, match="trace nowhere.csv not found"):
        traces.load("nowhere.csv")
