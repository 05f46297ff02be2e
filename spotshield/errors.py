"""The one error type that library code raises.

Only the CLI turns a SpotShieldError into a red one-line message and exit code 1;
everything below the CLI raises it (or a subclass) and never prints or exits.
"""


class SpotShieldError(Exception):
    """A problem the user can act on. The message is one line that says how to fix it."""


class StoreError(SpotShieldError):
    """The checkpoint store could not be read or written."""


class NotFoundError(StoreError):
    """The key does not exist in the store."""


class PreconditionFailedError(StoreError):
    """A create-only write found the key already present (GCS 412 / file exists)."""
