"""A trainer-shaped test workload. Behaviour comes from metadata attribute `test-mode`:
serve (default): /healthz 200 until SIGTERM -> exit 75; its phase is "starting" for
  `test-starting-s` seconds (default 0), then "training", as the trainer's /healthz says
unhealthy: no /healthz at all
finish: after `test-finish-s` seconds, resize the group to 0 via the Compute API and exit 0
"""
import json
import os
import signal
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

home = os.environ["SPOTSHIELD_HOME"]
md_root = f"http://{os.environ['GCE_METADATA_HOST']}/computeMetadata/v1/"


def md(path, default=None):
    req = urllib.request.Request(md_root + path, headers={"Metadata-Flavor": "Google"})
    for attempt in range(5):  # a loaded CI box can be slow to answer; the real startup.sh retries too
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.read().decode()
        except urllib.error.HTTPError:
            return default
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"workload: metadata {path} unreachable")


with open(os.path.join(home, "trainer.pid"), "w") as f:  # what shutdown.sh signals
    f.write(str(os.getpid()))
mode = md("instance/attributes/test-mode", "serve")
record = {k: v for k, v in os.environ.items() if k.startswith(("SPOTSHIELD_", "GCE_", "STORAGE_"))}
record.update(pid=os.getpid(), pgid=os.getpgid(0), name=md("instance/name"), run_id=md("instance/attributes/spotshield-run-id"),
              project=md("project/project-id"), preempted=md("instance/preempted"), mode=mode)
# Written to a temp file then renamed: tests poll for boot.json and must never read it half-written.
tmp = os.path.join(home, "boot.json.tmp")
with open(tmp, "w") as f:
    json.dump(record, f)
os.replace(tmp, os.path.join(home, "boot.json"))
print(f"workload up: {record['name']} mode {mode}", flush=True)


def on_term(signum, frame):
    with open(os.path.join(home, f"sigterm-{os.environ['SPOTSHIELD_BOOT']}"), "w") as f:
        f.write(md("instance/preempted", "?"))
    print("workload: SIGTERM, emergency checkpoint, exit 75", flush=True)
    os._exit(75)


signal.signal(signal.SIGTERM, on_term)


STARTED = time.monotonic()
STARTING_S = float(md("instance/attributes/test-starting-s", "0"))  # "starting" this long, then "training"


class Health(BaseHTTPRequestHandler):
    def do_GET(self):
        phase = "starting" if time.monotonic() - STARTED < STARTING_S else "training"
        body = json.dumps({"ok": True, "step": 0 if phase == "starting" else 1, "phase": phase}).encode()
        self.send_response(200 if self.path == "/healthz" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


if mode != "unhealthy":
    srv = HTTPServer(("127.0.0.1", int(os.environ["SPOTSHIELD_HEALTH_PORT"])), Health)
    threading.Thread(target=srv.serve_forever, daemon=True).start()

if mode == "finish":
    time.sleep(float(md("instance/attributes/test-finish-s", "1")))
    project, region, mig = md("project/project-id"), md("instance/attributes/spotshield-region"), md("instance/attributes/spotshield-mig")
    url = f"{os.environ['SPOTSHIELD_COMPUTE_ENDPOINT']}/compute/v1/projects/{project}/regions/{region}/instanceGroupManagers/{mig}/resize?size=0"
    urllib.request.urlopen(urllib.request.Request(url, data=b"", method="POST"), timeout=10).read()
    print("workload: DONE, resized the group to 0", flush=True)
    sys.exit(0)

while True:
    time.sleep(1)
