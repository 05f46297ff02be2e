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

run "a_fleet_of_two_is_rejected" {
  command = plan

  variables {
    project    = "demo-project-123"
    run_id     = "r1"
    fleet_size = 2
  }

  expect_failures = [var.fleet_size]
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
