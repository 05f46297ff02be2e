"""Read the jsii assembly and generated JavaScript out of the installed cdktn-provider-google.

The package is read as files, never imported: importing it starts a Node.js runtime.
"""
from __future__ import annotations

import importlib.util
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "cdktn_provider_google"
DIST = "cdktn-provider-google"


class PackageMissing(Exception):
    """cdktn-provider-google is not installed where we looked."""


@dataclass
class Assembly:
    version: str  # cdktn-provider-google version, e.g. 21.1.0
    provider_version: str  # hashicorp/google version its schema was generated from, e.g. 8.7.0
    types: dict  # the jsii "types" table: fqn -> type description
    js: dict[str, str]  # "compute-instance-template" -> lib/compute-instance-template/index.js text


def package_tarball() -> Path:
    """Path of the .jsii.tgz inside the installed package (found without importing it)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise PackageMissing(
            f"{DIST} is not installed in {Path(__import__('sys').prefix)}: "
            f"run pip install --no-deps -r tools/requirements-nodeps.txt"
        )
    jsii_dir = Path(list(spec.submodule_search_locations)[0]) / "_jsii"
    tarballs = sorted(jsii_dir.glob("provider-google@*.jsii.tgz"))
    if len(tarballs) != 1:
        raise PackageMissing(f"expected one provider-google@*.jsii.tgz in {jsii_dir}, found {len(tarballs)}")
    return tarballs[0]


def package_version(tarball: Path | None = None) -> str:
    """The cdktn-provider-google version, read from the tarball's name (cheap: no unpacking)."""
    tarball = tarball or package_tarball()
    return tarball.name.split("@", 1)[1].removesuffix(".jsii.tgz")


def provider_version(tarball: Path | None = None) -> str:
    """The hashicorp/google version the package was generated from (reads package.json only)."""
    tarball = tarball or package_tarball()
    with tarfile.open(tarball, "r:gz") as tar:
        for member in tar:
            if member.name == "package/package.json":
                return _provider_of(json.loads(tar.extractfile(member).read()), tarball)["version"]
    raise PackageMissing(f"{tarball} holds no package.json: not a jsii provider package")


def _provider_of(package_json: dict, tarball: Path) -> dict:
    provider = package_json.get("cdktn", package_json.get("cdktf", {})).get("provider", {})
    if provider.get("name") != "registry.terraform.io/hashicorp/google":
        raise PackageMissing(f"{tarball} is not built from hashicorp/google (says {provider.get('name')!r})")
    return provider


def load(module_dirs: set[str], tarball: Path | None = None) -> Assembly:
    """Stream the tarball once, keeping .jsii, package.json and the index.js of `module_dirs`."""
    tarball = tarball or package_tarball()
    assembly_json = package_json = None
    js: dict[str, str] = {}
    with tarfile.open(tarball, "r:gz") as tar:
        for member in tar:
            name = member.name.removeprefix("package/")
            if name == ".jsii":
                assembly_json = tar.extractfile(member).read()
            elif name == "package.json":
                package_json = json.loads(tar.extractfile(member).read())
            elif name.startswith("lib/") and name.endswith("/index.js"):
                module = name[len("lib/"):-len("/index.js")]
                if module in module_dirs:
                    js[module] = tar.extractfile(member).read().decode()
    if assembly_json is None or package_json is None:
        raise PackageMissing(f"{tarball} holds no .jsii or package.json: not a jsii provider package")
    provider = _provider_of(package_json, tarball)
    return Assembly(
        version=package_json["version"],
        provider_version=provider["version"],
        types=json.loads(assembly_json)["types"],
        js=js,
    )
