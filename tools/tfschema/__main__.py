"""python -m tfschema (with tools/ on sys.path, in .venv-tools).

  build --cache DIR ROOT...   generate/install the stand-in for the types under ROOTs;
                              prints build.json on stdout
  env --cache DIR ROOT...     the same, printed as `export` lines for running terraform by hand
  version                     prints {"package_version", "provider_version"} of the installed package

Bad input or a missing package: one line on stderr, exit code 1.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from tfschema import build, jsii_package


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tfschema")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("--cache", type=Path, required=True)
    b.add_argument("roots", type=Path, nargs="+")
    e = sub.add_parser("env")
    e.add_argument("--cache", type=Path, required=True)
    e.add_argument("roots", type=Path, nargs="+")
    sub.add_parser("version")
    args = parser.parse_args(argv)
    try:
        if args.command in ("build", "env"):
            missing = [str(r) for r in args.roots if not r.is_dir()]
            if missing:
                raise jsii_package.PackageMissing(f"not a directory: {', '.join(missing)}")
            info = build.build([r.resolve() for r in args.roots], args.cache.resolve())
            if args.command == "build":
                print(json.dumps(info))
            else:
                for name, value in {**info["env"], "CHECKPOINT_DISABLE": "1"}.items():
                    print(f"export {name}={shlex.quote(value)}")
        else:
            tarball = jsii_package.package_tarball()
            print(json.dumps({"package_version": jsii_package.package_version(tarball),
                              "provider_version": jsii_package.provider_version(tarball)}))
    except (jsii_package.PackageMissing, OSError) as e:
        print(f"tfschema: {' '.join(str(e).split())}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
