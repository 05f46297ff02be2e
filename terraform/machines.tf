locals {
  # The accelerator-optimized machine types come with a fixed number of one GPU model attached; GCE
  # refuses an instance template that asks for another count. The same table as
  # spotshield/distributed/machines.py FIXED (tests/terraform/test_machine_gpus.py holds them equal), so a
  # hand-written tfvars gets the CLI's check. N1 types (T4/V100/P100/P4 in 1-8) are left to GCE's own error.
  gpu_machines = merge(
    { for n in [1, 2, 4, 8] : "a2-highgpu-${n}g" => { gpu = "nvidia-tesla-a100", count = n } },
    { "a2-megagpu-16g" = { gpu = "nvidia-tesla-a100", count = 16 } },
    { for n in [1, 2, 4, 8] : "a2-ultragpu-${n}g" => { gpu = "nvidia-a100-80gb", count = n } },
    { for n in [1, 2, 4, 8] : "a3-highgpu-${n}g" => { gpu = "nvidia-h100-80gb", count = n } },
    { "a3-megagpu-8g" = { gpu = "nvidia-h100-mega-80gb", count = 8 } },
    { "a3-ultragpu-8g" = { gpu = "nvidia-h200-141gb", count = 8 } },
    { for v in [4, 8, 12, 16, 32] : "g2-standard-${v}" => { gpu = "nvidia-l4", count = 1 } },
    { "g2-standard-24" = { gpu = "nvidia-l4", count = 2 } },
    { "g2-standard-48" = { gpu = "nvidia-l4", count = 4 } },
    { "g2-standard-96" = { gpu = "nvidia-l4", count = 8 } },
  )
  # What the chosen machine type carries, or null for a type outside the table.
  fixed_gpus = lookup(local.gpu_machines, var.machine_type, null)
  # Machine families a compact placement policy takes (no maximum distance): Google's "Placement
  # policies overview" lists A2, A3, C2, C2D, C3, C3D, C4, G2, H3, N2, N2D; A3 is left out because
  # Google asks groups of A3 High and later for a workload policy instead. Documentation only.
  compact_families = ["a2", "c2", "c2d", "c3", "c3d", "c4", "g2", "h3", "n2", "n2d"]
  machine_family   = split("-", var.machine_type)[0]
}
