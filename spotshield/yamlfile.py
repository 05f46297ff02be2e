"""Read a YAML file that must hold a mapping, with one error wording for every SpotShield config file.

The trainer's config layers, `spotshield.yaml` and the study grids all go through `read_mapping`, so a
typo reads the same wherever it is made: what the file is, where, and which line.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from spotshield.errors import SpotShieldError


def read_mapping(path: str | Path, what: str) -> dict:
    """The mapping in `path` ({} for an empty file). `what` names the file in errors ("grid file")."""
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise SpotShieldError(f"{what} {p} not found") from None
    except IsADirectoryError:
        raise SpotShieldError(f"{what} {p} is a folder, not a YAML file") from None
    except OSError as e:
        raise SpotShieldError(f"cannot read {what} {p}: {e.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or "invalid YAML"
        raise SpotShieldError(f"{what} {p} is not valid YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SpotShieldError(f"{what} {p} must hold a mapping of keys (e.g. 'epochs: 3'), "
                              f"not a {type(data).__name__}")
    return data
