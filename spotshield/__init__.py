"""SpotShield: safe, measurable training on Google Cloud Spot VMs.

The library for your own training code (docs/own-code.md):
    spotshield.Run              protect a training loop: resume, checkpoints, the emergency checkpoint
    spotshield.catch_notice     take over SIGTERM now, before slow imports (the Run acts on it later)
    spotshield.Preempted        raised after the emergency checkpoint (a SystemExit with code 75)
    spotshield.Finished         raised at start when the run is already DONE (a SystemExit with code 0)
    spotshield.protect_workers  DataLoader workers that outlive a preemption notice
    spotshield.SpotShieldError  bad input: one line, no traceback
They load on first use, so `import spotshield` stays cheap (no torch).
"""

__version__ = "0.1.0"

_LAZY = {
    "Run": "spotshield.library.run",
    "catch_notice": "spotshield.library.session",
    "Preempted": "spotshield.library.session",
    "Finished": "spotshield.library.session",
    "protect_workers": "spotshield.library.workers",
    "SpotShieldError": "spotshield.errors",
}
__all__ = ["Run", "catch_notice", "Preempted", "Finished", "protect_workers", "SpotShieldError", "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'spotshield' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
