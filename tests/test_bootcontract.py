"""The boot contract is one constant (spotshield/bootcontract.py); the doc and the Terraform template agree with it."""
from __future__ import annotations

import re
from pathlib import Path

from spotshield.bootcontract import COORDINATOR_METADATA, METADATA, OPTIONAL, WITH_BUILD, boot_metadata

DOC = Path(__file__).resolve().parents[1] / "docs" / "boot-contract.md"
DISTRIBUTED_DOC = DOC.parent / "distributed.md"


def documented_keys() -> set[str]:
    """The key column of the doc's attribute table."""
    keys = set()
    for line in DOC.read_text().splitlines():
        cells = line.split("|")
        if line.lstrip().startswith("|") and len(cells) > 2:
            keys |= set(re.findall(r"`(spotshield-[a-z0-9-]+)`", cells[1]))
    return keys


def test_the_doc_documents_exactly_the_contracts_keys():
    assert DOC.is_file()
    assert documented_keys() == set(METADATA)


def test_boot_metadata_gives_every_required_key_and_only_contract_keys():
    items = boot_metadata(run_id="r1", store="gs://b/runs/r1", trainer_config={"epochs": 1}, mig="m", region="r")
    assert set(items) == set(METADATA) - set(WITH_BUILD) - set(OPTIONAL)
    full = boot_metadata(run_id="r1", store="gs://b/runs/r1", trainer_config={}, mig="m", region="r",
                         build_url="gs://b/builds/x.tar.gz", build_id="0.1+abc", build_sha256="ab" * 32,
                         preemption_notice_s=0, command="python train.py --epochs 2",
                         workdir_url="gs://b/workdirs/0123456789abcdef.tar.gz", workdir_sha256="cd" * 32,
                         distributed=("10.64.0.2:29400", 1, 2, 4))
    assert set(full) == set(METADATA) and full["spotshield-health-port"] == "8080"
    assert full["spotshield-command"] == "python train.py --epochs 2"
    assert [full[k] for k in ("spotshield-coordinator", "spotshield-min-nodes", "spotshield-max-nodes",
                              "spotshield-nproc")] == ["10.64.0.2:29400", "1", "2", "4"]


def test_the_terraform_template_sets_every_key():
    from spotshield.validate.hcl import load_stack

    repo = DOC.parents[1]
    fleet = load_stack(repo).module_dir("modules/spot-fleet")
    (_, tpl), = fleet.resources_of("google_compute_instance_template")
    assert set(METADATA) <= set(tpl["metadata"])


def test_the_coordinators_attributes_are_documented_exactly():
    text = DISTRIBUTED_DOC.read_text()
    table = text[text.index("The coordinator VM reads these instance attributes"):].split("\n\n")[1]
    keys = {k for line in table.splitlines() for k in re.findall(r"^\| `(spotshield-[a-z0-9-]+)`", line)}
    assert keys == set(COORDINATOR_METADATA)


def test_the_coordinator_template_sets_every_key():
    from spotshield.validate.hcl import load_stack

    mod = load_stack(DOC.parents[1]).module_dir("modules/coordinator")
    (_, vm), = mod.resources_of("google_compute_instance")
    assert set(COORDINATOR_METADATA) <= set(vm["metadata"])
