"""The torchrun command line of one node."""
from __future__ import annotations

import subprocess
import sys

from dist_helpers import start_coordinator, stop
from spotshield.distributed.checks import LaunchTarget
from spotshield.distributed.launch import TORCHRUN_ENV, Rendezvous, torchrun_argv


def test_torchrun_argv_is_elastic_c10d_on_the_coordinator():
    rdzv = Rendezvous(endpoint="10.0.0.2:29400", run_id="run-1", min_nodes=1, max_nodes=3, nproc_per_node=4)
    argv = torchrun_argv(rdzv, LaunchTarget("pkg.train", module=True, args=["--lr", "1"]), python="python3")
    assert argv[:3] == ["python3", "-m", "torch.distributed.run"]
    assert {"--nnodes=1:3", "--nproc-per-node=4", "--rdzv-backend=c10d", "--rdzv-endpoint=10.0.0.2:29400",
            "--rdzv-id=run-1", "--max-restarts=100", "--shutdown-timeout=28"} <= set(argv)
    conf = next(a for a in argv if a.startswith("--rdzv-conf=")).split("=", 1)[1].split(",")
    assert "is_host=false" in conf  # no Spot node hosts the rendezvous store
    assert argv[-4:] == ["-m", "pkg.train", "--lr", "1"]
    assert TORCHRUN_ENV == {"TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1"}


def test_torchrun_accepts_every_flag_we_pass():
    """torchrun's own parser reads the whole line (no rendezvous is attempted by --help ... so parse it)."""
    rdzv = Rendezvous(endpoint="127.0.0.1:1", run_id="r", min_nodes=1, max_nodes=2)
    argv = torchrun_argv(rdzv, LaunchTarget("train.py", args=["--x"]))
    code = ("import sys; from torch.distributed.run import get_args_parser; "
            "a = get_args_parser().parse_args(sys.argv[1:]); "
            "print(a.nnodes, a.rdzv_backend, a.rdzv_conf, a.max_restarts, a.shutdown_timeout, a.training_script, a.training_script_args)")
    p = subprocess.run([sys.executable, "-c", code, *argv[3:]], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-1500:]
    assert p.stdout.split()[:5] == ["1:2", "c10d", rdzv.conf(), "100", "28"]
    assert "train.py" in p.stdout and "--x" in p.stdout


def test_the_launch_cli_checks_then_prints_the_node_command():
    base = [sys.executable, "-m", "spotshield.distributed.launch", "--endpoint", "10.0.0.2:29400", "--run-id", "r1",
            "--max-nodes", "2"]
    p = subprocess.run([*base, "--min-nodes", "1", "--nproc", "2", "--print", "--", "python", "train.py", "--lr", "1"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 ")
    assert "--nnodes=1:2 --nproc-per-node=2" in p.stdout and p.stdout.strip().endswith("train.py --lr 1")
    for bad, msg in ((["--min-nodes", "3", "--", "python", "train.py"], "min_nodes 3 is greater than fleet_size 2"),
                     (["--min-nodes", "1", "--", "torchrun", "train.py"], "launches torchrun itself")):
        p = subprocess.run([*base, *bad], capture_output=True, text=True, timeout=60)
        assert p.returncode == 1 and msg in p.stderr and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr


def test_the_launch_cli_execs_torchrun(tmp_path):
    """Exec, not a child: a script torchrun runs reports the pid it was started under and its env."""
    script = tmp_path / "probe.py"
    script.write_text("import os\nprint('probe', os.getppid(), os.environ['WORLD_SIZE'], "
                      "os.environ['TORCH_DISABLE_SHARE_RDZV_TCP_STORE'])\n")
    coordinator, ready = start_coordinator(tmp_path, "--port", "0")
    try:
        endpoint = ready.read_text().split()[1]
        p = subprocess.Popen([sys.executable, "-m", "spotshield.distributed.launch", "--endpoint", endpoint,
                              "--run-id", "x", "--min-nodes", "1", "--max-nodes", "1", "--", "python", str(script)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
        out, err = p.communicate(timeout=120)
    finally:
        stop(coordinator)
    # the worker's parent is the torchrun agent, and the agent is the very process we started
    assert p.returncode == 0 and f"probe {p.pid} 1 1" in out, out[-1500:] + err[-1500:]
