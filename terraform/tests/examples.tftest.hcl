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
