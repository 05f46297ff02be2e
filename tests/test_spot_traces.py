"""spotshield/spot_traces.py: the one trace reader, its two file kinds and the real traces' polarity."""
import csv

import pytest

from spotshield import spot_traces as traces
from spotshield.errors import SpotShieldError
from spotshield.spot_traces import Preemption, SpotTrace, any_available_fraction, from_csv, parse

EXPORT = "# source: skypilot-org/spot-traces preemption/1-node/x.json; tick 10s; 100 ticks = 0.3 h"


def write(tmp_path, rows, header="# test trace; tick 10s; 100 ticks = 0.3 h"):
    p = tmp_path / "t.csv"
    p.write_text(header + "\npreempted_at_s,unavailable_for_s\n" + "".join(f"{a},{b}\n" for a, b in rows))
    return p


def test_a_plain_list_is_read_as_written(tmp_path):
    tr = from_csv(write(tmp_path, [(100, 50), (400, 100)]))
    assert tr.span_s == 1000  # 100 ticks x 10 s from the header
    assert tr.available(0) and tr.available(99.9)
    assert not tr.available(100) and not tr.available(149.9) and tr.available(150)
    assert tr.next_change(0) == 100 and tr.next_change(120) == 150 and tr.next_change(150) == 400
    assert tr.next_change(600) == 1000  # the end of the span, where the trace repeats
    assert not tr.available(1120) and tr.next_change(1120) == 1150  # repeated from its start
    assert tr.spot_fraction() == pytest.approx(850 / 1000)
    assert tr.preemptions() == [Preemption(100, 50), Preemption(400, 100)]


def test_a_plain_list_keeps_preemptions_without_an_outage(tmp_path):
    p = tmp_path / "p.csv"
    p.write_text("preempted_at_s\n30\n10\n")
    tr = from_csv(p)
    assert tr.outages == () and [e.t for e in tr.preemptions()] == [10, 30]


def test_an_export_is_read_with_the_projects_polarity(tmp_path):
    """Rows of an export are stretches of source ticks = 1: running instances. A preemption is where
    a stretch ends; the gap before the first stretch is the launch."""
    p = write(tmp_path, [(10, 290), (500, 100)], header=EXPORT)
    tr = from_csv(p)
    assert tr.outages == ((0, 10), (300, 500), (600, 1000))
    assert tr.preemptions() == [Preemption(300, 200), Preemption(600, 400)]
    assert tr.spot_fraction() == pytest.approx(390 / 1000)
    named = from_csv(p, reading=traces.READING_AS_NAMED)  # what the columns' names say
    assert named.outages == ((10, 300), (500, 600)) and named.preemptions() == [Preemption(10, 290),
                                                                                   Preemption(500, 100)]
    assert traces.SOURCE_ONE_MEANS == traces.READING_AVAILABLE


def test_overlapping_stretches_merge_and_span_falls_back_to_the_last_end(tmp_path):
    tr = from_csv(write(tmp_path, [(10, 20), (25, 10), (50, 0)], header="# no span here"))
    assert tr.outages == ((10, 35),)
    assert tr.span_s == 50  # the last event when the header says nothing


def test_inverted_reading_swaps_stretches():
    tr = SpotTrace("x", 100, ((0, 10), (40, 60)))
    inv = tr.inverted()
    assert inv.outages == ((10, 40), (60, 100))
    assert inv.spot_fraction() == pytest.approx(1 - tr.spot_fraction())
    assert inv.preemptions() == [Preemption(10, 30), Preemption(60, 40)]


def test_replay_from_an_offset_wraps_and_seeds_spread():
    tr = SpotTrace("x", 100, ((10, 20), (50, 60), (80, 90)))
    assert [p.t for p in tr.replay(0)] == [10, 50, 80]
    assert [p.t for p in tr.replay(60)] == [20, 50, 90]  # 80 -> 20, then 10 and 50 after the wrap
    assert traces.seeded_offset(tr, 0) == 0
    offs = sorted(traces.seeded_offset(tr, s) for s in range(5))
    assert len(set(offs)) == 5 and all(0 <= o < 100 for o in offs)
    assert min(b - a for a, b in zip(offs, offs[1:])) > 10  # spread, not bunched


def test_any_zone_fraction():
    a, b = SpotTrace("a", 100, ((0, 50),)), SpotTrace("b", 100, ((25, 100),))
    assert any_available_fraction([a, b]) == pytest.approx(0.75)  # only 25..50 has neither


def test_shipped_traces_are_the_shared_exports_read_as_available():
    shipped = traces.shipped()
    assert set(shipped) == {"aws-04-22-2023_us-east-1c_v100_1", "aws-04-22-2023_us-west-2b_v100_1",
                            "gcp-04-30-2023_us-central1-a_c3-88", "gcp-04-30-2023_us-east1-b_c3-88"}
    for name, path in shipped.items():
        tr = traces.load(name)
        rows = list(csv.DictReader(line for line in path.read_text().splitlines() if not line.startswith("#")))
        up = sum(float(r["unavailable_for_s"]) for r in rows)  # the shipped traces have no overlaps
        assert tr.spot_fraction() == pytest.approx(up / tr.span_s, abs=1e-9)
    assert traces.load("aws-04-22-2023_us-west-2b_v100_1").span_s == 19961 * 32
    assert traces.load().name == traces.DEFAULT_NAME and traces.load().span_s == 19961 * 32
    # read as available, the GCP us-central1-a instance ran for the whole 45.6 h: no preemption
    assert traces.load("gcp-04-30-2023_us-central1-a_c3-88").preemptions() == []
    # the paper's "70% to 90%" spot availability for its workloads' traces: us-west-2b, us-east1-b
    assert traces.load("aws-04-22-2023_us-west-2b_v100_1").spot_fraction() == pytest.approx(0.79, abs=0.01)
    assert traces.load("gcp-04-30-2023_us-east1-b_c3-88").spot_fraction() == pytest.approx(0.95, abs=0.01)


def test_unknown_trace_and_bad_rows_are_one_line(tmp_path):
    with pytest.raises(SpotShieldError, match="trace nowhere.csv not found"):
        traces.load("nowhere.csv")
    with pytest.raises(SpotShieldError, match="line 2"):
        parse("preempted_at_s\nsoon\n", "x")
    with pytest.raises(SpotShieldError, match="reading must be one of"):
        parse("preempted_at_s\n1\n", "x", reading="sideways")
