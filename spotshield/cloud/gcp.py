"""The gcp backend: terraform/ for the fleet, the bucket for the build, Compute to wait.

up:   preflight -> tfvars -> publish build -> init -> apply -> wait for a stable group.
      On the first up the bucket does not exist yet (Terraform creates it), so we apply
      once with fleet_size=0, publish the build, and apply again with the real size:
      no VM ever boots before its build is in the bucket. The sized apply itself waits for the
      group's members (the module's wait_for_instances), so the stack is recorded before it.
down: terraform destroy of everything but the checkpoint bucket, unless
      delete_checkpoints, which empties the bucket and destroys all.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from spotshield.cloud import preflight, tfvars
from spotshield.cloud.compute import STABLE_TIMEOUT_S, Compute
from spotshield.cloud.terraform import TerraformRunner
from spotshield.project import project_root
from spotshield.errors import SpotShieldError
from spotshield.settings import StackSettings

BUCKET_TYPE = "google_storage_bucket"
# `down` keeps this module's resources: the bucket and whatever the module grows beside it.
BUCKET_MODULE = "module.checkpoint_bucket."


def terraform_dir(root: Path | None = None) -> Path:
    return (root or project_root()) / "terraform"


def _bucket_exists(settings: StackSettings) -> bool:
    from spotshield.storage import gcs_client

    try:
        return bool(gcs_client(settings.project).bucket(settings.bucket_name).exists(timeout=10, retry=None))
    except SpotShieldError:
        raise
    except Exception as e:
        raise SpotShieldError(f"cannot check bucket gs://{settings.bucket_name} ({type(e).__name__})") from None


def build_location(settings: StackSettings) -> tuple[str, str, str]:
    """(build URL, build id, archive sha256) the VMs will install; known before the bucket exists
    because the archive is reproducible (the same source gives the same bytes)."""
    import hashlib

    from spotshield import buildinfo

    data = buildinfo.build_archive()
    bid = buildinfo.archive_id(data)
    return buildinfo.build_url(settings.bucket_name, bid), bid, hashlib.sha256(data).hexdigest()


def workdir_location(settings: StackSettings):
    """Command mode: (url, sha256, packed) of the workdir as it will be published; None otherwise."""
    if not settings.command:
        return None
    from spotshield import workdir
    from spotshield.layout import bucket_url

    packed = workdir.pack(settings.workdir)
    return f"{bucket_url(settings.bucket_name)}/{packed.key}", packed.sha256, packed


def publish_workdir(settings: StackSettings, location) -> None:
    """Upload the packed workdir once (its key is its content) beside the build."""
    from spotshield import workdir

    workdir.upload(location[2], settings.bucket_name)


def publish_build(settings: StackSettings, expected_url: str) -> None:
    from spotshield import buildinfo

    url, _ = buildinfo.publish(settings.bucket_name)
    if url != expected_url:  # the source changed between rendering tfvars and publishing
        raise SpotShieldError(f"the build changed while 'up' ran ({url} != {expected_url}); run 'spotshield up' again")


def up(settings: StackSettings, trainer_config: dict, echo: Callable[[str], None],
       wait_timeout_s: float = STABLE_TIMEOUT_S, root: Path | None = None,
       on_applied: Callable[[], None] | None = None, deadline_config: dict | None = None) -> None:
    """Apply, then wait. on_applied runs before the apply that creates VMs (it waits for them, up
    to the module's apply_wait_minutes), so that the caller records the stack first: a failure,
    a timeout or Ctrl-C must still leave `down` able to find it."""
    settings.check_up()
    preflight.check_gcp(settings.project)
    tf = TerraformRunner(terraform_dir(root), echo=echo)
    build_url, build_id, sha = build_location(settings)
    packed = workdir_location(settings)  # a bad workdir fails before anything is created
    values = tfvars.render(settings, build_url=build_url, build_id=build_id, build_sha256=sha,
                           trainer_config=trainer_config, deadline_config=deadline_config,
                           workdir=packed[:2] if packed else None)
    tf.init()
    if not _bucket_exists(settings):
        echo(f"-- first up: creating gs://{settings.bucket_name} with an empty group, then publishing the build")
        # no deadline controller yet either: its VM installs the build, which is not published yet
        tfvars.write({**values, "fleet_size": 0, "deadline_config": ""}, tf.working_dir)
        tf.apply()
    publish_build(settings, build_url)
    if packed:
        publish_workdir(settings, packed)
    tfvars.write(values, tf.working_dir)
    if on_applied:
        on_applied()
    tf.apply()
    echo(f"-- waiting for {settings.mig_name} to be stable (up to {wait_timeout_s:.0f}s)")
    Compute(settings.project, settings.region, settings.mig_name).wait_stable(wait_timeout_s)


def plan(settings: StackSettings, trainer_config: dict, echo: Callable[[str], None],
         root: Path | None = None) -> None:
    preflight.check_gcp(settings.project)
    tf = TerraformRunner(terraform_dir(root), echo=echo)
    build_url, build_id, sha = build_location(settings)
    packed = workdir_location(settings)
    tfvars.write(tfvars.render(settings, build_url=build_url, build_id=build_id, build_sha256=sha,
                               trainer_config=trainer_config, workdir=packed[:2] if packed else None),
                 tf.working_dir)
    tf.init()
    tf.plan()


def _empty_bucket(bucket: str, project: str | None) -> int:
    from spotshield.storage import gcs_client

    client = gcs_client(project)
    n = 0
    # The bucket keeps noncurrent versions (terraform/modules/checkpoint-bucket): every generation
    # must go, or destroy finds the bucket not empty. Blob.delete() passes its own generation.
    for blob in client.list_blobs(bucket, versions=True):
        try:
            blob.delete(timeout=30)
        except Exception as e:
            raise SpotShieldError(f"cannot delete gs://{bucket}/{blob.name}: {type(e).__name__}; nothing else "
                                  "was destroyed, run 'spotshield down --delete-checkpoints' again") from None
        n += 1
    return n


def kept_by_down(address: str) -> bool:
    """True for the resources `down` keeps: the checkpoint bucket (its module, or any bucket)."""
    rtype = address.split(".")[-2] if address.count(".") else ""
    return address.startswith(BUCKET_MODULE) or rtype.split("[")[0] == BUCKET_TYPE


def down(project: str, bucket: str, echo: Callable[[str], None], delete_checkpoints: bool = False,
         root: Path | None = None) -> None:
    preflight.check_gcp(project)
    tf = TerraformRunner(terraform_dir(root), echo=echo)
    tf.init()
    resources = tf.state_list()
    if not resources:
        echo("-- terraform state is empty: nothing to destroy")
        return
    if delete_checkpoints:
        echo(f"-- deleting every object in gs://{bucket}")
        echo(f"-- deleted {_empty_bucket(bucket, project)} objects")
        tf.destroy()
        return
    # Target everything but the bucket: it stays (in GCP and in the state) with its checkpoints.
    # Nothing in checkpoint-bucket depends on another module, so no target drags it along.
    keep = [r for r in resources if kept_by_down(r)]
    targets = [r for r in resources if r not in keep]
    if keep:
        echo(f"-- keeping {', '.join(keep)} (checkpoints); pass --delete-checkpoints to remove it")
    if targets:
        tf.destroy(targets)
