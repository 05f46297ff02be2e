"""When the published build differs from the source, startup.sh installs it into the VMs' own
python (guest venv), never into the project's .venv. Slow: pip fetches setuptools from PyPI."""
from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from google.cloud import compute_v1

from spotshield import buildinfo
from spotshield.local.emulator import local_region
from spotshield.local.testing import compute_clients, wait_for
from spotshield.storage import open_store

pytestmark = pytest.mark.slow


def test_changed_build_installs_into_the_guest_only(tmp_path, monkeypatch):
    src = tmp_path / "src"
    shutil.copytree(buildinfo.SOURCE_ROOT / "spotshield", src / "spotshield", ignore=shutil.ignore_patterns("__pycache__"))
    for f in buildinfo.ROOT_FILES:
        shutil.copy(buildinfo.SOURCE_ROOT / f, src / f)
    (src / "spotshield" / "errors.py").write_text((src / "spotshield" / "errors.py").read_text() + "\n# other build\n")
    data = buildinfo.build_archive(src)
    other_id = buildinfo.archive_id(data)
    ours = buildinfo.build_id()
    assert other_id != ours
    with local_region(tmp_path / "r", time_scale=60, fleet={"notice_floor_s": 3.0}) as region:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", region.storage_url)
        region.gcs.create_bucket("build-bucket")
        open_store("gs://build-bucket").write(f"builds/{buildinfo.archive_name(other_id)}", data)
        c = compute_clients(region)
        items = {"spotshield-run-id": "r", "spotshield-store": "gs://build-bucket/runs/r",
                 "spotshield-build-url": f"gs://build-bucket/builds/{buildinfo.archive_name(other_id)}",
                 "spotshield-build-id": other_id, "spotshield-mig": "g", "spotshield-region": "us-central1",
                 "spotshield-config": '{"epochs": 0}'}
        c["templates"].insert_unary(project=region.project, instance_template_resource=compute_v1.InstanceTemplate(
            name="t", properties=compute_v1.InstanceProperties(machine_type="n1-standard-4", metadata=compute_v1.Metadata(
                items=[compute_v1.Items(key=k, value=v) for k, v in items.items()]))))
        c["migs"].insert_unary(project=region.project, region="us-central1",
                               instance_group_manager_resource=compute_v1.InstanceGroupManager(
                                   name="g", base_instance_name="g", target_size=1, instance_template="global/instanceTemplates/t"))
        log = lambda: "".join(p.read_text(errors="replace") for p in (tmp_path / "r" / "logs").glob("*.log"))
        wait_for(lambda: "installed build " + other_id in log() or "error" in log(), 240, interval_s=1,
                 what="startup.sh to install the build")
        assert "installed build " + other_id in log(), log()[-2000:]
        guest = region.fleet.cfg.python
    out = subprocess.run([guest, "-m", "spotshield.buildinfo"], capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout.strip() == other_id
    mine = subprocess.run([sys.executable, "-m", "spotshield.buildinfo"], capture_output=True, text=True, cwd=tmp_path)
    assert mine.stdout.strip() == ours  # the project's own environment still runs the source
