"""The emulated VMs' Python: a "guest image" venv layered over the current one.

startup.sh pip-installs the published build when `python -m spotshield.buildinfo` reports a
different id. Locally that happens whenever the source changes after `up` (several people
edit this tree). Installing into the project's own .venv would replace its editable install,
so the VMs get their own interpreter instead: a venv without packages of its own whose .pth
file adds the current environment's site-packages (editable hook included; spotshield/venvlayer.py).
A build installed there shadows the source for the VMs only, as on a real VM image.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from spotshield.errors import SpotShieldError
from spotshield.venvlayer import PTH_NAME, layer, pth_text, site_packages


def guest_python(state_dir: Path) -> str:
    """Create (once) and return the guest image's python under <state_dir>/guest-venv."""
    venv = Path(state_dir) / "guest-venv"
    py = venv / "bin" / "python"
    text = pth_text()
    pth = site_packages(venv) / PTH_NAME if py.exists() else None
    if pth is not None and pth.is_file() and pth.read_text() == text:
        return str(py)
    base = getattr(sys, "_base_executable", sys.executable)
    try:
        subprocess.run([base, "-m", "venv", "--without-pip", "--clear", str(venv)], check=True,
                       capture_output=True, timeout=120)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
        raise SpotShieldError(f"cannot create the VMs' python in {venv}: {e}") from None
    layer(venv)
    return str(py)
