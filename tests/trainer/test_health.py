import json
import time
import urllib.error
import urllib.request

from spotshield.trainer.health import HealthServer, Heartbeat


def get(port: int, path: str = "/healthz") -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}") if path == "/healthz" else {}


def test_healthz_200_while_steps_progress_then_503_when_stalled():
    hb = Heartbeat(stall_timeout_s=1.0)
    server = HealthServer(hb, port=0, host="127.0.0.1").start()  # port 0: any free port (tests)
    try:
        for step in range(1, 4):
            hb.beat(step)
            status, body = get(server.port)
            assert status == 200 and body["ok"] is True and body["step"] == step
            time.sleep(0.1)
        time.sleep(1.2)  # no step for longer than the stall timeout
        status, body = get(server.port)
        assert status == 503 and body["ok"] is False and body["seconds_since_step"] >= 1.0
        hb.beat(4)
        assert get(server.port)[0] == 200
        assert get(server.port, "/other")[0] == 404
    finally:
        server.stop()


def test_busy_port_is_a_clear_error():
    import pytest

    from spotshield.errors import SpotShieldError

    first = HealthServer(Heartbeat(1.0), port=0, host="127.0.0.1")
    try:
        with pytest.raises(SpotShieldError, match=f"health port {first.port} is unavailable"):
            HealthServer(Heartbeat(1.0), port=first.port, host="127.0.0.1")
    finally:
        first.server.server_close()


def test_the_phase_file_follows_each_change_of_phase(tmp_path):
    from spotshield.trainer.health import read_phase

    path = tmp_path / "phase"
    hb = Heartbeat(stall_timeout_s=60, phase_file=path)
    assert read_phase(path) == "starting" and read_phase(None) == "starting"  # nothing written yet
    hb.beat(1)
    assert path.read_text() == "training"
    hb.beat(2, "busy")
    assert read_phase(path) == "busy"
    path.unlink()
    hb.beat(3, "busy")  # no change of phase: no write
    assert not path.exists()
    hb.beat(4)
    assert read_phase(path) == "training" and [p.name for p in tmp_path.iterdir()] == ["phase"]  # no temp left
