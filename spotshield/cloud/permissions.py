"""What the VMs' service account must be allowed to do: every API call the VM side makes.

One home for three facts, checked against terraform/modules/spot-fleet (and the deadline's
on-demand-fleet and deadline-controller modules: ON_DEMAND_CALLS, CONTROLLER_CALLS; the
rendezvous coordinator's module: COORDINATOR_CALLS) by
tests/terraform/test_permissions.py (the module's IAM grants every call; no grant is unused):
  VM_CALLS      each call a VM makes (boot scripts, trainer, guest agent), the permission it needs,
                where it is checked (the bucket, the group, the project) and the role granting it;
  ROLE_FACTS    which permissions each predefined role holds, with the page that says so;
  CUSTOM_ROLE   the custom role (its permissions are read from the Terraform itself).
No IAM is enforced by fake-gcs-server or the emulator, so this manifest and the test are what
stand between a missing grant and a VM that crash-loops on 403 (issue 12, defect 2).
"""
from __future__ import annotations

from dataclasses import dataclass

# The Terraform resource type that grants a role at each scope.
SCOPES = {
    "bucket": "google_storage_bucket_iam_member",  # on the checkpoint bucket only
    "project": "google_project_iam_member",  # project-wide (no condition)
    "mig": "google_project_iam_member",  # project binding with a condition on the group's resource.name
}
# The custom role of terraform/modules/spot-fleet (google_project_iam_custom_role.fleet_stop).
CUSTOM_ROLE = "fleet_stop"


@dataclass(frozen=True)
class Call:
    caller: str  # who makes it on the VM
    api: str  # the request, as sent
    permission: str
    scope: str  # a key of SCOPES
    role: str  # a predefined role, or "custom:<CUSTOM_ROLE>"


_OBJECTS = "roles/storage.objectUser"
VM_CALLS: tuple[Call, ...] = (
    # startup.sh (curl against the GCS JSON API)
    Call("startup.sh", "GET storage/v1/b/<bucket>/o/<obj> (DONE, STOPPED, crash counter, build metadata)",
         "storage.objects.get", "bucket", _OBJECTS),
    Call("startup.sh", "GET storage/v1/b/<bucket>/o/<obj>?alt=media (build archive, crash counter)",
         "storage.objects.get", "bucket", _OBJECTS),
    Call("startup.sh / shutdown.sh", "POST upload/storage/v1/b/<bucket>/o (vm events, crash counter, STOPPED)",
         "storage.objects.create", "bucket", _OBJECTS),
    # Overwriting an existing object (the events object after each event, the crash counter) also
    # needs delete (https://cloud.google.com/storage/docs/access-control/iam-permissions).
    Call("startup.sh / shutdown.sh", "POST upload/storage/v1/b/<bucket>/o over an existing object",
         "storage.objects.delete", "bucket", _OBJECTS),
    Call("startup.sh", "POST compute/v1/projects/<p>/regions/<r>/instanceGroupManagers/<mig>/resize?size=0",
         "compute.instanceGroupManagers.update", "mig", f"custom:{CUSTOM_ROLE}"),
    # spotshield train (google-cloud-storage, spotshield/storage.py GCSStore)
    Call("trainer", "list_blobs(max_results=1): the store probe at start-up, and every listing",
         "storage.objects.list", "bucket", _OBJECTS),
    Call("trainer", "download_as_bytes / download_to_filename / blob.exists", "storage.objects.get", "bucket",
         _OBJECTS),
    Call("trainer", "upload_from_string / upload_from_filename (if_generation_match=0 for checkpoints)",
         "storage.objects.create", "bucket", _OBJECTS),
    Call("trainer", "blob.delete (keep-k, quarantine) and event segments rewritten in place",
         "storage.objects.delete", "bucket", _OBJECTS),
    # The guest agent's metadata script runner sends each line the boot scripts print to Cloud
    # Logging (GoogleCloudPlatform/guest-agent google_metadata_script_runner/main.go: logger.Log).
    Call("google_metadata_script_runner", "entries:write (startup/shutdown script output)",
         "logging.logEntries.create", "project", "roles/logging.logWriter"),
)


# The deadline controller's VM (terraform/modules/deadline-controller), its own service account:
# the scope "groups" is a project binding conditioned on the stack's group names, "record" a bucket
# binding conditioned on the one object it writes.
CONTROLLER_SCOPES = {
    "bucket": "google_storage_bucket_iam_member",
    "record": "google_storage_bucket_iam_member",
    "groups": "google_project_iam_member",
    "project": "google_project_iam_member",
}
CONTROLLER_CUSTOM_ROLE = "deadline_groups"
_VIEW = "roles/storage.objectViewer"
CONTROLLER_CALLS: tuple[Call, ...] = (
    # spotshield/deadline/gce.py GroupActuator. The REST reference checks get on the group for the
    # list* methods (https://cloud.google.com/compute/docs/reference/rest/v1/instanceGroupManagers/listErrors);
    # gcloud's help for list-instances names compute.instanceGroupManagers.list: the role holds both,
    # under the condition on the groups' names. Verified against documentation only (no project here).
    Call("deadline controller", "regionInstanceGroupManagers.get (the target sizes)",
         "compute.instanceGroupManagers.get", "groups", f"custom:{CONTROLLER_CUSTOM_ROLE}"),
    Call("deadline controller", "regionInstanceGroupManagers.listManagedInstances (zones, status, lastAttempt)",
         "compute.instanceGroupManagers.get", "groups", f"custom:{CONTROLLER_CUSTOM_ROLE}"),
    Call("deadline controller", "regionInstanceGroupManagers.listManagedInstances (as gcloud documents it)",
         "compute.instanceGroupManagers.list", "groups", f"custom:{CONTROLLER_CUSTOM_ROLE}"),
    Call("deadline controller", "regionInstanceGroupManagers.resize (spot, on-demand; its own group to 0 at the end)",
         "compute.instanceGroupManagers.update", "groups", f"custom:{CONTROLLER_CUSTOM_ROLE}"),
    # controller.sh (curl) and spotshield/deadline/service.py (google-cloud-storage)
    Call("controller.sh", "GET storage/v1/b/<bucket>/o/<build>?alt=media (the build archive)",
         "storage.objects.get", "bucket", _VIEW),
    Call("deadline controller", "list_blobs: the store probe and the run's event segments",
         "storage.objects.list", "bucket", _VIEW),
    Call("deadline controller", "download_as_bytes: the run's events", "storage.objects.get", "bucket", _VIEW),
    Call("deadline controller", "upload_from_string runs/<run>/deadline.json (its last tick)",
         "storage.objects.create", "record", _OBJECTS),
    Call("deadline controller", "overwrite runs/<run>/deadline.json", "storage.objects.delete", "record", _OBJECTS),
    Call("google_metadata_script_runner", "entries:write (controller.sh output)",
         "logging.logEntries.create", "project", "roles/logging.logWriter"),
)
# The rendezvous coordinator's VM (terraform/modules/coordinator), its own service account: the scope
# "builds" is a bucket binding conditioned on the builds/ prefix, "done" one conditioned on the one
# object runs/<run>/DONE. Its coordinator serves the TCPStore to the trainers over the VPC; its only
# Google API call is the look for DONE (then it exits and the VM powers itself off, in the guest).
COORDINATOR_SCOPES = {
    "builds": "google_storage_bucket_iam_member",
    "done": "google_storage_bucket_iam_member",
    "project": "google_project_iam_member",
}
COORDINATOR_CALLS: tuple[Call, ...] = (
    Call("coordinator.sh (install-build.sh)", "GET storage/v1/b/<bucket>/o/builds/<archive>?alt=media (the build archive)",
         "storage.objects.get", "builds", _VIEW),
    # google-cloud-storage blob.exists(): GET storage/v1/b/<bucket>/o/runs%2F<run>%2FDONE?fields=name;
    # the store is opened with check=False, so no probe listing (storage.objects.list) is made.
    Call("spotshield.distributed.coordinator --store", "blob.exists runs/<run>/DONE, every 30 s",
         "storage.objects.get", "done", _VIEW),
    Call("google_metadata_script_runner", "entries:write (coordinator.sh output)",
         "logging.logEntries.create", "project", "roles/logging.logWriter"),
)
# The on-demand group's VMs (terraform/modules/on-demand-fleet) run as the spot fleet's account and
# make VM_CALLS; the one grant that module adds is the resize of their own group (stop_fleet when DONE).
ON_DEMAND_CALLS: tuple[Call, ...] = (
    Call("startup.sh", "POST compute/v1/projects/<p>/regions/<r>/instanceGroupManagers/<od-mig>/resize?size=0",
         "compute.instanceGroupManagers.update", "mig", f"custom:{CUSTOM_ROLE}"),
)


@dataclass(frozen=True)
class RoleFacts:
    permissions: frozenset[str]
    source: str


# Full permission lists of the predefined roles the module grants, as Google documents them.
# Sources: https://cloud.google.com/iam/docs/roles-permissions/storage#storage.objectUser and
# https://cloud.google.com/iam/docs/roles-permissions/logging#logging.logWriter, cross-checked
# against `gcloud iam roles describe` exports (github.com/darkbitio/gcp-iam-role-permissions,
# roles/<name> at 8ab2a6ff, 2026-08-22). Not checked against a live project (none is reachable here).
ROLE_FACTS: dict[str, RoleFacts] = {
    "roles/storage.objectUser": RoleFacts(frozenset({
        "monitoring.timeSeries.create", "orgpolicy.policy.get", "resourcemanager.projects.get",
        "resourcemanager.projects.list", "storage.folders.create", "storage.folders.delete",
        "storage.folders.get", "storage.folders.list", "storage.folders.rename", "storage.managedFolders.create",
        "storage.managedFolders.delete", "storage.managedFolders.get", "storage.managedFolders.list",
        "storage.multipartUploads.abort", "storage.multipartUploads.create", "storage.multipartUploads.list",
        "storage.multipartUploads.listParts", "storage.objects.create", "storage.objects.createContext",
        "storage.objects.delete", "storage.objects.deleteContext", "storage.objects.get", "storage.objects.list",
        "storage.objects.move", "storage.objects.restore", "storage.objects.update",
        "storage.objects.updateContext",
    }), "https://cloud.google.com/iam/docs/roles-permissions/storage#storage.objectUser"),
    # What the module granted before issue 12: objects only, and no storage.buckets.get either.
    "roles/storage.objectAdmin": RoleFacts(frozenset({
        "monitoring.timeSeries.create", "orgpolicy.policy.get", "resourcemanager.projects.get",
        "resourcemanager.projects.list", "storage.folders.create", "storage.folders.delete",
        "storage.folders.get", "storage.folders.list", "storage.folders.rename", "storage.managedFolders.create",
        "storage.managedFolders.delete", "storage.managedFolders.get", "storage.managedFolders.list",
        "storage.multipartUploads.abort", "storage.multipartUploads.create", "storage.multipartUploads.list",
        "storage.multipartUploads.listParts", "storage.objects.create", "storage.objects.createContext",
        "storage.objects.delete", "storage.objects.deleteContext", "storage.objects.get",
        "storage.objects.getIamPolicy", "storage.objects.list", "storage.objects.move",
        "storage.objects.overrideUnlockedRetention", "storage.objects.restore", "storage.objects.setIamPolicy",
        "storage.objects.setRetention", "storage.objects.update", "storage.objects.updateContext",
    }), "https://cloud.google.com/iam/docs/roles-permissions/storage#storage.objectAdmin"),
    "roles/storage.objectViewer": RoleFacts(frozenset({
        "resourcemanager.projects.get", "resourcemanager.projects.list", "storage.folders.get",
        "storage.folders.list", "storage.managedFolders.get", "storage.managedFolders.list",
        "storage.objects.get", "storage.objects.list",
    }), "https://cloud.google.com/iam/docs/roles-permissions/storage#storage.objectViewer"),
    "roles/logging.logWriter": RoleFacts(frozenset({
        "logging.logEntries.create", "logging.logEntries.route",
    }), "https://cloud.google.com/iam/docs/roles-permissions/logging#logging.logWriter"),
    "roles/monitoring.metricWriter": RoleFacts(frozenset({
        "monitoring.metricDescriptors.create", "monitoring.metricDescriptors.get",
        "monitoring.metricDescriptors.list", "monitoring.monitoredResourceDescriptors.get",
        "monitoring.monitoredResourceDescriptors.list", "monitoring.timeSeries.create",
    }), "https://cloud.google.com/iam/docs/roles-permissions/monitoring#monitoring.metricWriter"),
}


def needed(scope: str | None = None, calls: tuple[Call, ...] = VM_CALLS) -> set[str]:
    """The permissions the VM side needs (at one scope, or anywhere)."""
    return {c.permission for c in calls if scope in (None, c.scope)}
