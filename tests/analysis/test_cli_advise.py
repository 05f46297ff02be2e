import json
import subprocess
import sys

import pytest

from spotshield import youngdaly as yd


def _run(*args):
    return subprocess.run([sys.executable, "-m", "spotshield.cli.main", *args], capture_output=True, text=True)


def test_advise_json_matches_the_math_and_the_simulation():
    p = _run("advise", "--rate", "4", "--checkpoint-s", "20", "--restart-s", "60",
             "--spot-price", "0.25", "--ondemand-price", "0.70", "--simulate", "500", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["young_s"] == pytest.approx(yd.young_interval(20, 900))
    assert out["break_even_per_h"] == pytest.approx(yd.break_even_rate(20, 60, 0.25, 0.70))
    assert out["simulation"]["ok"] is True and out["simulation"]["runs"] == 500


@pytest.mark.parametrize("args, needle", [
    (["--rate", "0", "--checkpoint-s", "1", "--restart-s", "1", "--spot-price", "1", "--ondemand-price", "2"], "rate"),
    (["--rate", "1"], "--checkpoint-s"),
    (["--rate", "1", "--checkpoint-s", "1", "--restart-s", "1", "--spot-price", "-1", "--ondemand-price", "2"], "price"),
    (["--rate", "x"], "rate"),
])
def test_advise_bad_input_is_one_line_and_exit_1(args, needle):
    p = _run("advise", *args)
    assert p.returncode == 1
    assert needle in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
