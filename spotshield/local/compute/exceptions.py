"""One class per Compute API error, rendered as Google's error JSON.

Shape (https://cloud.google.com/compute/docs/reference/rest/v1 error responses):
  {"error": {"code": 404, "message": "...", "errors": [{"message": "...", "domain": "global",
             "reason": "notFound"}]}}
google-api-core maps the HTTP code to NotFound / Conflict / BadRequest for the client.
"""
from __future__ import annotations


class ComputeError(Exception):
    code = 500
    reason = "backendError"
    domain = "global"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def to_json(self) -> dict:
        return {"error": {"code": self.code, "message": self.message,
                          "errors": [{"message": self.message, "domain": self.domain, "reason": self.reason}]}}


class NotFound(ComputeError):
    code = 404
    reason = "notFound"

    def __init__(self, resource: str):
        super().__init__(f"The resource '{resource}' was not found")


class AlreadyExists(ComputeError):
    code = 409
    reason = "alreadyExists"

    def __init__(self, resource: str):
        super().__init__(f"The resource '{resource}' already exists")


class Invalid(ComputeError):
    code = 400
    reason = "invalid"


class ResourceInUse(ComputeError):
    """Deleting a template that a group still uses (GCP: 400 resourceInUseByAnotherResource)."""

    code = 400
    reason = "resourceInUseByAnotherResource"

    def __init__(self, resource: str, user: str):
        super().__init__(f"The instance_template resource '{resource}' is already being used by '{user}'")
