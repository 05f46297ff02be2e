"""Which GPUs a Compute Engine machine type can carry, and check_gpus() that says so in one line.

Source: Google's "GPU machine types" page (https://cloud.google.com/compute/docs/gpus), as
read through the excerpts of that page and SkyPilot's GCP catalog, which cites it
(sky/catalog/gcp_catalog.py: _ACC_INSTANCE_TYPE_DICTS, _NUM_ACC_TO_MAX_CPU_AND_MEMORY).
  - A2, A3 and G2 machine types come with a fixed number of one GPU model attached.
  - N1 machine types (not the shared-core f1-micro/g1-small) take T4, V100, P100 or P4 in
    the counts below, with at most the listed vCPUs for that count.
  - Other families (E2, N2, C3, ...) take no GPUs.
Newer families (A4, A4X, G4) are not in the table: a machine type this module does not know
is reported as such rather than guessed.
"""
from __future__ import annotations

import re

from spotshield.errors import SpotShieldError

# machine type -> (GPU model, count) for the accelerator-optimized families
FIXED: dict[str, tuple[str, int]] = {
    **{f"a2-highgpu-{n}g": ("nvidia-tesla-a100", n) for n in (1, 2, 4, 8)},
    "a2-megagpu-16g": ("nvidia-tesla-a100", 16),
    **{f"a2-ultragpu-{n}g": ("nvidia-a100-80gb", n) for n in (1, 2, 4, 8)},
    **{f"a3-highgpu-{n}g": ("nvidia-h100-80gb", n) for n in (1, 2, 4, 8)},
    "a3-megagpu-8g": ("nvidia-h100-mega-80gb", 8),
    "a3-ultragpu-8g": ("nvidia-h200-141gb", 8),
    **{f"g2-standard-{v}": ("nvidia-l4", 1) for v in (4, 8, 12, 16, 32)},
    "g2-standard-24": ("nvidia-l4", 2),
    "g2-standard-48": ("nvidia-l4", 4),
    "g2-standard-96": ("nvidia-l4", 8),
}
FIXED_FAMILIES = ("a2", "a3", "g2")

# N1: GPU model -> {count: max vCPUs of the N1 machine type}
N1: dict[str, dict[int, int]] = {
    "nvidia-tesla-t4": {1: 48, 2: 48, 4: 96},
    "nvidia-tesla-v100": {1: 12, 2: 24, 4: 48, 8: 96},
    "nvidia-tesla-p100": {1: 16, 2: 32, 4: 96},
    "nvidia-tesla-p4": {1: 24, 2: 48, 4: 96},
}
_N1_RE = re.compile(r"^n1-(standard|highmem|highcpu)-(\d+)$")


def _counts(counts) -> str:
    return ", ".join(str(c) for c in sorted(counts))


def check_gpus(machine_type: str, gpu_type: str | None, gpu_count: int) -> None:
    """Raise SpotShieldError (one line) when `machine_type` cannot carry gpu_count x gpu_type."""
    if gpu_count < 0:
        raise SpotShieldError(f"gpu_count must be >= 0, not {gpu_count}")
    wants_gpu = bool(gpu_type) and gpu_count > 0
    family = machine_type.split("-", 1)[0]
    if family in FIXED_FAMILIES:
        if machine_type not in FIXED:
            raise SpotShieldError(f"unknown machine type {machine_type!r}; known {family} types: "
                                  f"{', '.join(sorted(m for m in FIXED if m.startswith(family + '-')))}")
        model, count = FIXED[machine_type]
        if not wants_gpu:
            raise SpotShieldError(f"{machine_type} comes with {count} x {model}; "
                                  f"set gpu_type {model} and gpu_count {count}")
        if gpu_type != model:
            raise SpotShieldError(f"{machine_type} carries {model}, not {gpu_type}")
        if gpu_count != count:
            fits = sorted(m for m, (g, c) in FIXED.items() if g == model and c == gpu_count)
            hint = f"; for {gpu_count} choose {', '.join(fits)}" if fits else ""
            raise SpotShieldError(f"{machine_type} carries exactly {count} x {model}, not {gpu_count}{hint}")
        return
    if not wants_gpu:
        return
    if family != "n1":
        raise SpotShieldError(f"{machine_type} cannot carry GPUs; set gpu_count 0 for a CPU-only VM, or use an "
                              "n1 type with T4/V100/P100/P4, or an a2, a3 or g2 type")
    m = _N1_RE.match(machine_type)
    if not m:
        raise SpotShieldError(f"{machine_type} cannot carry GPUs; use n1-standard-N, n1-highmem-N or n1-highcpu-N")
    if gpu_type not in N1:
        raise SpotShieldError(f"n1 machine types carry {', '.join(N1)}, not {gpu_type}")
    allowed = N1[gpu_type]
    if gpu_count not in allowed:
        raise SpotShieldError(f"n1 machine types carry {_counts(allowed)} x {gpu_type}, not {gpu_count}")
    vcpus = int(m.group(2))
    if vcpus > allowed[gpu_count]:
        raise SpotShieldError(f"{machine_type} has {vcpus} vCPUs; {gpu_count} x {gpu_type} allows at most "
                              f"{allowed[gpu_count]}")


# Machine families that take a compact placement policy (COLLOCATED; A3 left out, see the comment there), as
# terraform/machines.tf compact_families lists them; tests/terraform/test_machine_gpus.py holds
# the two equal through `terraform console`.
COMPACT_FAMILIES = ("a2", "c2", "c2d", "c3", "c3d", "c4", "g2", "h3", "n2", "n2d")


def check_compact(machine_type: str) -> None:
    """A compact placement policy needs a machine family that takes one (one line otherwise)."""
    family = machine_type.split("-")[0]
    if family not in COMPACT_FAMILIES:
        raise SpotShieldError(f"compact placement needs a machine family that takes a compact placement policy "
                              f"({', '.join(COMPACT_FAMILIES)}), not {machine_type}")

