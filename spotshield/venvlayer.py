"""A venv layered over an interpreter's packages: the emulator's guest image (local/guest.py) and
command mode's requirements venv (startup.sh).

`python -m venv --system-site-packages` sees only the *base* interpreter's packages, so a venv
made from a venv's python (the emulator's guest image, a venv VM image) loses that venv's
packages: torch, spotshield. A .pth file in the new venv that adds the parent's site-packages
with site.addsitedir (so their own .pth files still run, an editable install's hook included)
keeps them, after the new venv's own packages.

    python -m spotshield.venvlayer VENV     layer VENV over the running interpreter's packages
"""
from __future__ import annotations

import site
import sys
from pathlib import Path

from spotshield.errors import SpotShieldError

PTH_NAME = "spotshield_parent_env.pth"


def pth_text() -> str:
    """The .pth lines that add the running interpreter's site-packages."""
    parents = [p for p in site.getsitepackages() if Path(p).is_dir()]
    return "".join(f"import site; site.addsitedir({p!r})\n" for p in parents)


def site_packages(venv: str | Path) -> Path:
    found = sorted(Path(venv).glob("lib/python*/site-packages"))
    if not found:
        raise SpotShieldError(f"{venv} has no lib/python*/site-packages; delete it and start again")
    return found[0]


def layer(venv: str | Path) -> Path:
    """Write VENV's .pth (replacing an older one); returns its path."""
    pth = site_packages(venv) / PTH_NAME
    pth.write_text(pth_text())
    return pth


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m spotshield.venvlayer VENV", file=sys.stderr)
        return 2
    try:
        layer(args[0])
    except (SpotShieldError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
