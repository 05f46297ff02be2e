import pytest

from spotshield.deadline import policies, report
from spotshield.deadline.report import HEADER, SETTINGS, Setting, main, markdown, rows
from spotshield.deadline.simulate import Job, compare
from spotshield.errors import SpotShieldError

H = 3600.0
ONE = Setting("test", (report.US_EAST_1C,), 10, 14, 0.2, 0.4, "UP -50%")


def test_cells_are_the_comparison_of_the_simulator():
    (row,) = rows([ONE], "as documented", starts=3, tick_s=120)
    assert len(row) == len(HEADER) and row[0] == "test" and row[-1] == "UP -50%"
    job, zones = Job(10 * H, 14 * H, 0.2 * H), report.zones_for(ONE, "as documented")
    summaries = compare([policies.make(n) for n in report.POLICIES], job, zones, report.ratio_prices(ONE),
                        n_offsets=3, tick_s=120)
    for cell, s in zip(row[4:9], summaries):
        assert cell.startswith(f"{s.cost_ratio:.2f}") and f"({s.misses}/3 missed)" in cell
    assert row[7].startswith("1.00 ")  # on-demand is the reference


def test_the_two_readings_differ_where_the_trace_is_lopsided():
    doc, = rows([ONE], "as documented", starts=2, tick_s=300)
    inv, = rows([ONE], "inverted", starts=2, tick_s=300)
    assert doc[1] == "us-east-1c (69%)" and inv[1] == "us-east-1c (31%)"


def test_markdown_table_shape():
    text = markdown([["a"] * len(HEADER)])
    lines = text.splitlines()
    assert len(lines) == 3 and lines[0].count("|") == len(HEADER) + 1


def test_every_setting_names_shipped_traces_and_sane_numbers():
    for s in SETTINGS:
        assert s.work_h < s.deadline_h and 0 < s.spot_ratio < 1
        for z in report.zones_for(s, "as documented").values():
            assert z.span_s > 0


def test_unknown_trace_is_a_clear_error():
    with pytest.raises(SpotShieldError, match="not found"):
        rows([Setting("x", ("nowhere",), 1, 2, 0.1, 0.5, "")], "as documented", starts=1, tick_s=300)


def test_main_writes_the_markdown(tmp_path):
    out = tmp_path / "t.md"
    assert main(["--starts", "1", "--tick-s", "600", "--out", str(out)]) == 0
    text = out.read_text()
    assert "#### Traces read as documented" in text and "#### Traces read inverted" in text
    assert text.count("| ML (Table 5), tight |") == 2 and "Uniform Progress: on-demand + spot (h)" in text
