"""Generate the stand-in once per (package version, used types, this code) and install it in a mirror.

Layout of one cache entry, <cache>/<key>/:
  schema.json                 the generated schema (provider, resources, data sources)
  terraform-provider-google   the plugin executable: this venv's python + standin.serve
  mirror/                     a Terraform filesystem mirror holding it as hashicorp/google
  terraformrc                 the CLI config to pass as TF_CLI_CONFIG_FILE
  build.json                  what was built; written last, so its presence means complete
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from tfschema import convert, jsii_package, used_types

HOST, NAMESPACE, TYPE = "registry.terraform.io", "hashicorp", "google"
TOOLS_DIR = Path(__file__).resolve().parents[1]
SOURCE_DIR = Path(__file__).resolve().parent

CLI_CONFIG = """\
# Written by tools/tfschema: hashicorp/google comes from the local stand-in, nothing else changes.
provider_installation {{
  filesystem_mirror {{
    path    = "{mirror}"
    include = ["{host}/{ns}/{type}"]
  }}
  direct {{
    exclude = ["{host}/{ns}/{type}"]
  }}
}}
"""

PLUGIN = """\
#!{python}
# hashicorp/google schema-only stand-in (tools/tfschema). Generated; do not edit.
import sys
sys.path.insert(0, {tools!r})
from tfschema.standin import serve
serve({schema!r})
"""


def source_digest() -> str:
    """Changing the generator or the stand-in must invalidate the cache."""
    h = hashlib.sha256()
    for path in sorted(SOURCE_DIR.glob("*.py")):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()


def cache_key(package_version: str, resources: set[str], data: set[str]) -> str:
    payload = json.dumps([package_version, sorted(resources), sorted(data), source_digest(), sys.executable])
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def build(roots: list[Path], cache: Path) -> dict:
    """Return build.json of the stand-in for the types under `roots`, generating it if needed."""
    tarball = jsii_package.package_tarball()
    resources, data = used_types.scan(roots)
    entry = cache / cache_key(jsii_package.package_version(tarball), resources, data)
    if (entry / "build.json").exists():
        return json.loads((entry / "build.json").read_text())

    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=cache))
    try:
        info = _generate(tarball, resources, data, work, entry)
        try:
            os.rename(work, entry)  # atomic: a concurrent build of the same key just loses the race
        except OSError:
            shutil.rmtree(work, ignore_errors=True)
        return info
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _generate(tarball: Path, resources: set[str], data: set[str], work: Path, final: Path) -> dict:
    dirs = {convert.module_names(t, False)[0] for t in resources}
    dirs |= {convert.module_names(t, True)[0] for t in data} | {"provider"}
    assembly = jsii_package.load(dirs, tarball)
    converter = convert.Converter(assembly)
    schema = {"provider_version": assembly.provider_version, "package_version": assembly.version,
              "provider": converter.provider(), "resources": {}, "data_sources": {}}
    unknown = []
    for kind, types, data_flag in (("resources", resources, False), ("data_sources", data, True)):
        for type_name in sorted(types):
            try:
                schema[kind][type_name] = converter.resource(type_name, data_flag)
            except convert.UnknownType:
                unknown.append(type_name)  # terraform validate reports it, with file and line
    (work / "schema.json").write_text(json.dumps(schema, sort_keys=True))

    plugin = work / "terraform-provider-google"
    plugin.write_text(PLUGIN.format(python=sys.executable, tools=str(TOOLS_DIR), schema=str(final / "schema.json")))
    plugin.chmod(0o755)
    from tf.runner import install_provider  # needs protobuf<6: only importable in the tools venv

    install_provider(HOST, NAMESPACE, TYPE, assembly.provider_version, work / "mirror", plugin)
    (work / "terraformrc").write_text(
        CLI_CONFIG.format(mirror=final / "mirror", host=HOST, ns=NAMESPACE, type=TYPE))
    info = {
        "cli_config": str(final / "terraformrc"),
        "provider_version": assembly.provider_version,
        "package_version": assembly.version,
        "resources": sorted(schema["resources"]),
        "data_sources": sorted(schema["data_sources"]),
        "unknown_types": unknown,
    }
    (work / "build.json").write_text(json.dumps(info, indent=2))
    return info
