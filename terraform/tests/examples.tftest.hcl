# The examples are complete root modules; plan each with a mocked provider.

mock_provider "google" {}

run "example_single_l4" {
  command = plan

  module {
    source = "./examples/single-l4"
  }

  variables {
    project = "demo-project-123"
  }

  assert {
    condition     = output.mig_name == "ss-l4-mig"
    error_message = "single-l4 must create the ss-l4 group"
  }

  assert {
    condition     = output.store_url == "gs://demo-project-123-ss-l4-ckpt/runs/adaptive-l4-demo"
    error_message = "single-l4 store URL"
  }
}

run "example_multi_zone_a100" {
  command = plan

  module {
    source = "./examples/multi-zone-a100"
  }

  variables {
    project = "demo-project-123"
  }

  assert {
    condition     = output.mig_name == "ss-a100-mig"
    error_message = "multi-zone-a100 must create the ss-a100 group"
  }
}

run "example_multi_node_l4" {
  command = plan

  module {
    source = "./examples/multi-node-l4"
  }

  variables {
    project        = "demo-project-123"
    workdir_url    = "gs://demo-project-123-ss-l4x4-ckpt/workdirs/0123456789abcdef.tar.gz"
    workdir_sha256 = "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
    build_url      = "gs://demo-project-123-ss-l4x4-ckpt/builds/spotshield-0.1.0.tar.gz"
    build_id       = "0.1.0+3f2a9c1d2e4b"
  }

  assert {
    condition     = output.mig_name == "ss-l4x4-mig" && output.coordinator_endpoint == "10.64.15.253:29400"
    error_message = "multi-node-l4 must create the ss-l4x4 group and its coordinator"
  }
}
