"""Generate the stand-in schema once per (package version, used types, this code); install the plugin once.

The plugin executable is the same for every schema (this venv's python + standin.serve);
which schema it serves is chosen per command by the SPOTSHIELD_TFSCHEMA environment
variable, which Terraform passes on to its plugins. So adding a resource type makes a new
schema but never a new plugin, and `terraform init` never has a stale copy to replace.

  <cache>/plugin-<hash>/terraform-provider-google   the executable
  <cache>/plugin-<hash>/mirror/                     a filesystem mirror holding it as hashicorp/google
  <cache>/plugin-<hash>/terraformrc                 the CLI config for TF_CLI_CONFIG_FILE
  <cache>/schema-<key>/schema.json                  the generated schema
  <cache>/schema-<key>/build.json                   what was built; written last = complete
Each entry is built in a temporary directory and renamed into place (atomic), so two
concurrent runs never see half an entry.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable

from tfschema import convert, jsii_package, used_types

HOST, NAMESPACE, TYPE = "registry.terraform.io", "hashicorp", "google"
SCHEMA_ENV = "SPOTSHIELD_TFSCHEMA"
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
# The schema to serve comes from ${env}; see tools/tfschema/build.py.
import sys
sys.path.insert(0, {tools!r})
from tfschema.standin import main
main()
"""


def source_digest() -> str:
    """Changing the generator or the stand-in must invalidate the cached schemas."""
    h = hashlib.sha256()
    for path in sorted(SOURCE_DIR.glob("*.py")):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()


def schema_key(package_version: str, resources: set[str], data: set[str]) -> str:
    payload = json.dumps([package_version, sorted(resources), sorted(data), source_digest()])
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _atomic_dir(final: Path, fill: Callable[[Path], None]) -> None:
    """Create `final` by filling a temporary sibling and renaming it; a lost race is fine."""
    if final.exists():
        return
    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=final.parent))
    try:
        fill(work)
        os.rename(work, final)
    except OSError:
        if not final.exists():
            raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def install_plugin(cache: Path, provider_version: str) -> Path:
    """The mirror + CLI config serving the plugin as hashicorp/google <provider_version>."""
    script = PLUGIN.format(python=sys.executable, tools=str(TOOLS_DIR), env=SCHEMA_ENV)
    final = cache / f"plugin-{hashlib.sha256((script + provider_version).encode()).hexdigest()[:16]}"

    def fill(work: Path) -> None:
        plugin = work / "terraform-provider-google"
        plugin.write_text(script)
        plugin.chmod(0o755)
        from tf.runner import install_provider  # needs protobuf<6: importable only in the tools venv

        install_provider(HOST, NAMESPACE, TYPE, provider_version, work / "mirror", plugin)
        (work / "terraformrc").write_text(
            CLI_CONFIG.format(mirror=final / "mirror", host=HOST, ns=NAMESPACE, type=TYPE))

    _atomic_dir(final, fill)
    return final / "terraformrc"


def build(roots: list[Path], cache: Path) -> dict:
    """build.json for the types under `roots`, generating the schema and plugin if needed."""
    tarball = jsii_package.package_tarball()
    resources, data = used_types.scan(roots)
    final = cache / f"schema-{schema_key(jsii_package.package_version(tarball), resources, data)}"
    if not (final / "build.json").exists():
        _atomic_dir(final, lambda work: _generate(tarball, resources, data, work, final))
    info = json.loads((final / "build.json").read_text())
    cli_config = install_plugin(cache, info["provider_version"])
    info["env"] = {"TF_CLI_CONFIG_FILE": str(cli_config), SCHEMA_ENV: str(final / "schema.json")}
    return info


def _generate(tarball: Path, resources: set[str], data: set[str], work: Path, final: Path) -> None:
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
    info = {
        "provider_version": assembly.provider_version,
        "package_version": assembly.version,
        "resources": sorted(schema["resources"]),
        "data_sources": sorted(schema["data_sources"]),
        "unknown_types": unknown,
    }
    (work / "build.json").write_text(json.dumps(info, indent=2))
