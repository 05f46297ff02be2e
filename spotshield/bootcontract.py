"""The boot contract in code: the instance metadata attributes every SpotShield VM is given.

One constant, METADATA, used by the local backend (spotshield/backends/local.py builds its
instance template's metadata with boot_metadata), by `spotshield validate` (the Terraform
template must set every key: spotshield/validate/contract.py) and by a test that
docs/boot-contract.md documents exactly these keys. startup-scripts/startup.sh reads them.
"""
from __future__ import annotations

import json

# key -> what the VM learns from it (the doc's table says the same, with examples)
METADATA: dict[str, str] = {
    "spotshield-run-id": "run id; events go to <store>/events/<run-id>/",
    "spotshield-store": "checkpoint store URL given to `spotshield train --store`",
    "spotshield-build-url": "the build that `up` published (gs://<bucket>/builds/...)",
    "spotshield-build-id": "its id; startup.sh skips the install when the installed build has it",
    "spotshield-build-sha256": "optional pin: the archive's full sha256; a download that differs is refused",
    "spotshield-config": "the merged trainer config as JSON, passed to the trainer as --config",
    "spotshield-health-port": "port of the trainer's /healthz",
    "spotshield-mig": "the group to resize to 0 when the store holds DONE",
    "spotshield-region": "the group's region",
    "spotshield-crash-loop-boots": "the crash-loop breaker's K: failed boots in a row before the group is stopped",
    "spotshield-preemption-notice-s": "seconds of notice before the ACPI shutdown (0: GCE's default 30 s)",
    "spotshield-command": "command mode: the user's command, run in the workdir instead of `spotshield train`",
    "spotshield-workdir-url": "command mode: the packed workdir (gs://<bucket>/workdirs/<digest>.tar.gz)",
    "spotshield-workdir-sha256": "command mode: its full sha256; startup.sh refuses a download that differs",
    "spotshield-coordinator": "a multi-node or multi-GPU job: host:port of the rendezvous coordinator; startup.sh runs torchrun",
    "spotshield-min-nodes": "with a coordinator: the fewest nodes the job trains on (torchrun --nnodes=MIN:MAX)",
    "spotshield-max-nodes": "with a coordinator: the most nodes, the fleet size",
    "spotshield-nproc": "with a coordinator: worker processes per node, its GPU count (1 on a CPU-only VM)",
}
# The deadline controller's VM (terraform/modules/deadline-controller) boots startup-scripts/controller.sh,
# which reads these instead (docs/deadline.md).
CONTROLLER_METADATA: dict[str, str] = {
    "spotshield-deadline-config": "the controller's configuration as JSON (spotshield.deadline.service.ServiceConfig)",
    "spotshield-build-url": "the build that `up` published, installed into the controller's virtualenv",
    "spotshield-build-id": "its id; checked after the install, and its sha256 prefix against the download",
    "spotshield-build-sha256": "optional pin: the archive's full sha256",
    "spotshield-health-port": "port of the controller's /healthz (the group's auto-healing)",
    "spotshield-mig": "the controller's own group, resized to 0 when the work is done",
    "spotshield-region": "the groups' region",
}
CONTROLLER_SCRIPT = "controller.sh"  # in startup-scripts/
# The rendezvous coordinator's VM (terraform/modules/coordinator, a job under torchrun) boots
# startup-scripts/coordinator.sh, which reads these (docs/distributed.md).
COORDINATOR_METADATA: dict[str, str] = {
    "spotshield-build-url": "the build that `up` published, installed into the coordinator's virtualenv",
    "spotshield-build-id": "its id; required (the coordinator runs spotshield.distributed.coordinator from it)",
    "spotshield-build-sha256": "optional pin: the archive's full sha256",
    "spotshield-coordinator-port": "TCP port of the rendezvous store (the port in the trainers' spotshield-coordinator)",
    "spotshield-torch-requirement": "pip requirement of the trainers' torch (e.g. torch==2.7.*), installed as CPU wheels",
    "spotshield-store": "the run's store (gs://<bucket>/runs/<run-id>): once it holds DONE, the coordinator exits and the VM powers off",
}
COORDINATOR_SCRIPT = "coordinator.sh"  # in startup-scripts/
# The half both service scripts share; Terraform puts it in front of each (one metadata value each).
SERVICE_LIB = "install-build.sh"  # in startup-scripts/
# Given only with a published build (the local backend always publishes one; sha256 is optional).
WITH_BUILD = ("spotshield-build-url", "spotshield-build-id")
# Given together, only in command mode (`up --command`); Terraform sets them to "" otherwise.
COMMAND_MODE = ("spotshield-command", "spotshield-workdir-url", "spotshield-workdir-sha256")
# Given together, only to a job under torchrun: fleet_size > 1 (the built-in trainer or a command),
# or gpu_count > 1 in command mode.
DISTRIBUTED = ("spotshield-coordinator", "spotshield-min-nodes", "spotshield-max-nodes", "spotshield-nproc")
OPTIONAL = ("spotshield-build-sha256", "spotshield-preemption-notice-s", *COMMAND_MODE, *DISTRIBUTED)
DEFAULT_HEALTH_PORT = 8080  # terraform's health_port default, the trainer's and startup.sh's fallback
DEFAULT_CRASH_LOOP_BOOTS = 3  # terraform's crash_loop_boots default, and startup.sh's when absent


def boot_metadata(*, run_id: str, store: str, trainer_config: dict, mig: str, region: str,
                  health_port: int = DEFAULT_HEALTH_PORT, build_url: str | None = None,
                  build_id: str | None = None, build_sha256: str | None = None,
                  crash_loop_boots: int = DEFAULT_CRASH_LOOP_BOOTS,
                  preemption_notice_s: int | None = None, command: str | None = None,
                  workdir_url: str | None = None, workdir_sha256: str | None = None,
                  distributed: "tuple[str, int, int, int] | None" = None) -> dict[str, str]:
    """The attributes for one fleet, keyed exactly as METADATA. A command comes with its workdir;
    `distributed` is (coordinator host:port, min_nodes, max_nodes, nproc) for a job under torchrun."""
    items = {
        "spotshield-run-id": run_id,
        "spotshield-store": store,
        "spotshield-config": json.dumps(trainer_config, sort_keys=True),
        "spotshield-health-port": str(health_port),
        "spotshield-mig": mig,
        "spotshield-region": region,
        "spotshield-crash-loop-boots": str(crash_loop_boots),
    }
    if build_url and build_id:
        items["spotshield-build-url"] = build_url
        items["spotshield-build-id"] = build_id
    if build_sha256:
        items["spotshield-build-sha256"] = build_sha256
    if preemption_notice_s is not None:
        items["spotshield-preemption-notice-s"] = str(preemption_notice_s)
    if command:
        assert workdir_url and workdir_sha256, "command mode ships a workdir"
        items.update({"spotshield-command": command, "spotshield-workdir-url": workdir_url,
                      "spotshield-workdir-sha256": workdir_sha256})
    if distributed:
        items.update(zip(DISTRIBUTED, (str(v) for v in distributed)))
    unknown = set(items) - set(METADATA)
    assert not unknown, unknown  # a key outside the contract is a bug here, not user input
    return items
