"""nodehealth: a torchrun node's /healthz is 200 while its agent lives (workers or not), 503 once it is gone."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request

from spotshield.distributed import nodehealth
from spotshield.trainer.health import Heartbeat
from spotshield.local.procs import free_port


def _get(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_healthy_while_the_agent_lives_then_unhealthy_and_the_server_exits(tmp_path):
    agent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    port = free_port()
    phase = tmp_path / "phase"
    rc: list[int] = []
    t = threading.Thread(target=lambda: rc.append(nodehealth.main(["--port", str(port), "--pid", str(agent.pid),
                                                                   "--phase-file", str(phase), "--poll-s", "0.05"])))
    t.start()
    try:
        for _ in range(100):
            try:
                status, body = _get(port)
                break
            except OSError:
                t.join(0.05)
        # no worker has stepped on this boot yet: still starting (the emulator holds its clock)
        assert status == 200 and body["ok"] and body["phase"] == "starting"
        Heartbeat(60, phase).beat(1)  # the first local rank's first step
        status, body = _get(port)
        assert status == 200 and body["phase"] == "training"
        agent.kill()
        agent.wait()
        assert not nodehealth.agent_alive(agent.pid)
        t.join(10)
        assert rc == [0]  # it stops once the agent is gone
    finally:
        agent.kill()


def test_a_zombie_agent_is_not_alive():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    import time

    for _ in range(100):  # exited, but not reaped yet: a zombie
        if open(f"/proc/{child.pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z":
            break
        time.sleep(0.05)
    assert not nodehealth.agent_alive(child.pid)
    child.wait()


def test_a_taken_port_is_one_line(capsys):
    import socket

    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        s.listen()
        assert nodehealth.main(["--port", str(s.getsockname()[1]), "--pid", "1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: health port")
