"""The GitHub workflow is valid YAML, names every step and runs both tiers and the suite."""
from __future__ import annotations

import yaml


def _workflow(repo):
    return yaml.safe_load((repo / ".github" / "workflows" / "ci.yml").read_text())


def test_workflow_parses_and_every_step_is_named(repo):
    wf = _workflow(repo)
    triggers = wf.get("on", wf.get(True))  # PyYAML reads the bare key `on` as True
    assert "pull_request" in triggers and "push" in triggers
    assert wf["jobs"]
    for job_id, job in wf["jobs"].items():
        assert job.get("name") and job.get("runs-on"), job_id
        for step in job["steps"]:
            assert step.get("name", "").strip(), f"unnamed step in {job_id}: {step}"
            assert ("run" in step) != ("uses" in step), step["name"]


def test_workflow_runs_tier1_tier2_and_the_suite(repo):
    runs = {job_id: "\n".join(s.get("run", "") for s in job["steps"]) for job_id, job in _workflow(repo)["jobs"].items()}
    everything = "\n".join(runs.values())
    assert "make validate" in runs["validate-offline"]
    for command in ("init -backend=false", "validate", "terraform -chdir=terraform test"):
        assert command in runs["validate-provider"], command
    assert "make test" in everything
    assert "shellcheck startup-scripts/startup.sh startup-scripts/shutdown.sh" in everything
