# Plan-level tests of the root stack with a mocked google provider (no credentials, no API).
# Run: terraform init -backend=false && terraform test   (tier 2 of `spotshield validate`)

mock_provider "google" {}

run "root_stack_plan" {
  command = plan

  variables {
    project     = "demo-project-123"
    run_id      = "adaptive-20261127-1"
    strategy    = "milestone"
    health_port = 9090
  }

  assert {
    condition     = output.store_url == "gs://demo-project-123-spotshield-ckpt/runs/adaptive-20261127-1"
    error_message = "store URL must be gs://<default bucket>/runs/<run_id>"
  }

  assert {
    condition     = output.mig_name == "spotshield-mig"
    error_message = "the group must be called <name>-mig"
  }

  assert {
    condition     = jsondecode(module.spot_fleet.run_metadata["spotshield-config"]).strategy == "milestone"
    error_message = "var.strategy must reach the trainer config"
  }

  assert {
    condition     = module.spot_fleet.run_metadata["spotshield-health-port"] == "9090"
    error_message = "the health port must reach the VM metadata"
  }

  assert {
    condition     = !can(jsondecode(module.spot_fleet.run_metadata["spotshield-config"]).checkpoint)
    error_message = "without a longer notice the trainer keeps its own emergency deadline"
  }
}

run "longer_notice_sets_the_emergency_deadline" {
  command = plan

  variables {
    project             = "demo-project-123"
    run_id              = "r1"
    preemption_notice_s = 60
    trainer_config      = "{\"model\": \"resnet18\", \"checkpoint\": {\"keep\": 2}}"
  }

  assert {
    condition     = jsondecode(module.spot_fleet.run_metadata["spotshield-config"]).checkpoint.emergency_deadline_s == 85
    error_message = "60 s of notice + the 30 s ACPI window - 5 s to exit"
  }

  assert {
    condition     = jsondecode(module.spot_fleet.run_metadata["spotshield-config"]).checkpoint.keep == 2 && jsondecode(module.spot_fleet.run_metadata["spotshield-config"]).model == "resnet18"
    error_message = "the rest of the trainer config stays"
  }
}

run "a_fleet_of_two_of_the_built_in_trainer_is_one_job_under_torchrun" {
  command = plan

  variables {
    project    = "demo-project-123"
    run_id     = "r1"
    fleet_size = 2
    build_url  = "gs://demo-project-123-spotshield-ckpt/builds/spotshield-0.1.0.tar.gz"
    build_id   = "0.1.0+3f2a9c1d2e4b"
  }

  assert {
    condition     = output.coordinator_endpoint != null && module.spot_fleet.run_metadata["spotshield-coordinator"] == output.coordinator_endpoint && module.spot_fleet.run_metadata["spotshield-command"] == ""
    error_message = "without a command the VMs run spotshield train as one job under torchrun, through the coordinator"
  }

  assert {
    condition     = [for k in ["spotshield-min-nodes", "spotshield-max-nodes", "spotshield-nproc"] : module.spot_fleet.run_metadata[k]] == ["2", "2", "1"]
    error_message = "torchrun --nnodes=2:2 (min_nodes defaults to the fleet size) with one process per single-GPU VM"
  }
}

run "a_fleet_of_two_in_command_mode_is_one_job_under_torchrun" {
  command = plan

  variables {
    project        = "demo-project-123"
    run_id         = "r1"
    fleet_size     = 2
    min_nodes      = 1
    command        = "python train.py --epochs 3"
    workdir_url    = "gs://demo-project-123-spotshield-ckpt/workdirs/0123456789abcdef.tar.gz"
    workdir_sha256 = "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
    build_url      = "gs://demo-project-123-spotshield-ckpt/builds/spotshield-0.1.0.tar.gz"
    build_id       = "0.1.0+3f2a9c1d2e4b"
  }

  assert {
    condition     = output.coordinator_endpoint == "10.64.15.253:29400" && module.spot_fleet.run_metadata["spotshield-coordinator"] == output.coordinator_endpoint
    error_message = "the trainers rendezvous at the coordinator's reserved address, the subnet's highest usable one, known at plan time"
  }

  assert {
    condition     = [for k in ["spotshield-min-nodes", "spotshield-max-nodes", "spotshield-nproc"] : module.spot_fleet.run_metadata[k]] == ["1", "2", "1"]
    error_message = "torchrun --nnodes=1:2 with one process per single-GPU VM"
  }

  assert {
    condition     = module.coordinator[0].boot_metadata["spotshield-torch-requirement"] == "torch==2.7.*" && module.coordinator[0].boot_metadata["spotshield-coordinator-port"] == "29400" && module.coordinator[0].boot_metadata["spotshield-build-id"] == "0.1.0+3f2a9c1d2e4b"
    error_message = "the coordinator installs the trainers' torch (the image family's) and the published build, and listens on the port the trainers dial"
  }

  assert {
    condition     = module.coordinator[0].boot_metadata["spotshield-store"] == output.store_url && module.spot_fleet.run_metadata["spotshield-store"] == output.store_url
    error_message = "the coordinator watches the trainers' store for the run's DONE (then its VM powers off)"
  }

  assert {
    condition     = module.network.rendezvous_port == 29400
    error_message = "the network opens the job's internal rules for the coordinator's port"
  }
}

run "one_vm_with_two_gpus_in_command_mode_is_a_job_under_torchrun" {
  command = plan

  variables {
    project        = "demo-project-123"
    run_id         = "r1"
    machine_type   = "g2-standard-24"
    gpu_count      = 2
    command        = "python train.py"
    workdir_url    = "gs://demo-project-123-spotshield-ckpt/workdirs/0123456789abcdef.tar.gz"
    workdir_sha256 = "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
    build_url      = "gs://demo-project-123-spotshield-ckpt/builds/spotshield-0.1.0.tar.gz"
    build_id       = "0.1.0+3f2a9c1d2e4b"
  }

  assert {
    condition     = output.coordinator_endpoint != null && module.spot_fleet.run_metadata["spotshield-nproc"] == "2" && module.spot_fleet.run_metadata["spotshield-max-nodes"] == "1"
    error_message = "one node, two workers: torchrun through the coordinator"
  }
}

run "one_process_on_one_gpu_has_no_coordinator" {
  command = plan

  variables {
    project        = "demo-project-123"
    run_id         = "r1"
    command        = "python train.py"
    workdir_url    = "gs://demo-project-123-spotshield-ckpt/workdirs/0123456789abcdef.tar.gz"
    workdir_sha256 = "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
  }

  assert {
    condition     = output.coordinator_endpoint == null && module.spot_fleet.run_metadata["spotshield-coordinator"] == "" && module.network.rendezvous_port == null
    error_message = "no torchrun job: no coordinator, no internal rules, an empty spotshield-coordinator (one process, as before)"
  }
}

run "compact_placement_puts_the_policy_on_the_spot_template" {
  command = plan

  variables {
    project           = "demo-project-123"
    run_id            = "r1"
    machine_type      = "a2-highgpu-1g"
    gpu_type          = "nvidia-tesla-a100"
    compact_placement = true
  }

  assert {
    condition     = module.spot_fleet.placement_policy == "spotshield-compact"
    error_message = "compact_placement adds the spot fleet's placement policy"
  }
}

run "compact_placement_on_a_family_without_it_is_rejected" {
  command = plan

  variables {
    project           = "demo-project-123"
    run_id            = "r1"
    machine_type      = "n1-standard-8"
    gpu_type          = "nvidia-tesla-t4"
    compact_placement = true
  }

  expect_failures = [var.compact_placement]
}

run "compact_placement_across_zones_is_rejected" {
  command = plan

  variables {
    project           = "demo-project-123"
    run_id            = "r1"
    compact_placement = true
    target_shape      = "EVEN"
  }

  expect_failures = [var.compact_placement]
}

run "bad_crash_loop_boots_is_rejected" {
  command = plan

  variables {
    project          = "demo-project-123"
    run_id           = "r1"
    crash_loop_boots = 0
  }

  expect_failures = [var.crash_loop_boots]
}

run "bad_termination_action_is_rejected" {
  command = plan

  variables {
    project            = "demo-project-123"
    run_id             = "r1"
    termination_action = "HIBERNATE"
  }

  expect_failures = [var.termination_action]
}

run "bad_provisioning_model_is_rejected" {
  command = plan

  variables {
    project            = "demo-project-123"
    run_id             = "r1"
    provisioning_model = "PREEMPTIBLE"
  }

  expect_failures = [var.provisioning_model]
}

run "bad_strategy_is_rejected" {
  command = plan

  variables {
    project  = "demo-project-123"
    run_id   = "r1"
    strategy = "yolo"
  }

  expect_failures = [var.strategy]
}

run "without_a_deadline_there_is_no_on_demand_path" {
  command = plan

  variables {
    project = "demo-project-123"
    run_id  = "r1"
  }

  assert {
    condition     = output.on_demand_mig_name == null && output.deadline_controller_mig_name == null
    error_message = "no deadline: no on-demand group and no controller"
  }
}

run "a_deadline_adds_the_on_demand_group_and_the_controller" {
  command = plan

  variables {
    project         = "demo-project-123"
    run_id          = "r1"
    strategy        = "naive"
    deadline_config = "{\"policy\": \"uniform-progress\", \"run_id\": \"r1\"}"
  }

  assert {
    condition     = output.on_demand_mig_name == "spotshield-od-mig" && output.deadline_controller_mig_name == "spotshield-dl-mig"
    error_message = "the groups are <name>-od-mig and <name>-dl-mig"
  }

  assert {
    condition     = module.on_demand_fleet[0].run_metadata["spotshield-mig"] == "spotshield-od-mig"
    error_message = "on-demand VMs resize their own group when DONE"
  }

  assert {
    condition = alltrue([for k in ["spotshield-store", "spotshield-run-id", "spotshield-config", "spotshield-build-url", "spotshield-build-id", "spotshield-health-port"] :
    module.on_demand_fleet[0].run_metadata[k] == module.spot_fleet.run_metadata[k]])
    error_message = "the same store, run, trainer config, build and health port as the spot fleet: a job moves between the two and resumes"
  }

  assert {
    condition     = jsondecode(module.deadline_controller[0].service_config).self_mig == "spotshield-dl-mig" && jsondecode(module.deadline_controller[0].service_config).policy == "uniform-progress"
    error_message = "the controller gets the CLI's config plus its own group"
  }
}

run "a_gpu_count_the_machine_type_cannot_carry_is_rejected" {
  command = plan

  variables {
    project      = "demo-project-123"
    run_id       = "r1"
    machine_type = "g2-standard-4"
    gpu_count    = 2
  }

  expect_failures = [var.gpu_count]
}

run "a_gpu_model_the_machine_type_does_not_carry_is_rejected" {
  command = plan

  variables {
    project      = "demo-project-123"
    run_id       = "r1"
    machine_type = "a2-highgpu-1g"
    gpu_type     = "nvidia-l4"
    gpu_count    = 1
  }

  expect_failures = [var.gpu_count]
}

run "a_machine_type_with_the_gpus_it_carries_plans" {
  command = plan

  variables {
    project      = "demo-project-123"
    run_id       = "r1"
    machine_type = "g2-standard-24"
    gpu_count    = 2
  }
}

run "min_nodes_above_the_fleet_size_is_rejected" {
  command = plan

  variables {
    project    = "demo-project-123"
    run_id     = "r1"
    fleet_size = 1
    min_nodes  = 2
  }

  expect_failures = [var.min_nodes]
}
