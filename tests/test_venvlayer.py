"""A venv layered over the running interpreter (spotshield/venvlayer.py) sees that interpreter's
packages, after its own; a folder that is not a venv is one error line."""
from __future__ import annotations

import subprocess
import sys

from spotshield import venvlayer


def test_a_layered_venv_sees_the_parent_packages_after_its_own(tmp_path):
    venv = tmp_path / "v"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    probe = "import importlib.util as u, sys; print(u.find_spec('pytest') is not None, sys.prefix)"
    before = subprocess.run([venv / "bin" / "python", "-c", probe], capture_output=True, text=True, check=True)
    assert before.stdout.split()[0] == "False"  # a bare venv: none of this environment's packages
    assert venvlayer.main([str(venv)]) == 0
    after = subprocess.run([venv / "bin" / "python", "-c", probe], capture_output=True, text=True, check=True)
    assert after.stdout.split() == ["True", str(venv)]  # the parent's packages, still the venv's prefix
    own = subprocess.run([venv / "bin" / "python", "-c", "import sys; print(sys.path.index("
                          f"{str(venvlayer.site_packages(venv))!r}))"], capture_output=True, text=True, check=True)
    parents = [p for p in sys.path if p.endswith("site-packages")]
    layered = subprocess.run([venv / "bin" / "python", "-c", f"import sys; print(sys.path.index({parents[0]!r}))"],
                             capture_output=True, text=True, check=True)
    assert int(own.stdout) < int(layered.stdout)  # the venv's own packages win


def test_not_a_venv_is_one_error_line(tmp_path, capsys):
    assert venvlayer.main([str(tmp_path)]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: {tmp_path} has no lib/python*/site-packages; delete it and start again"]
    assert venvlayer.main([]) == 2
