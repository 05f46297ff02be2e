"""Build id and build archive: which exact SpotShield a VM runs.

The build archive is a reproducible sdist (`spotshield-<version>-<hash>.tar.gz`): the package's
source and data files plus pyproject.toml and README.md, in sorted order, with zeroed
timestamps and owners, so the same source always gives the same bytes. The build id is
`<version>+<first 12 hex of the archive's sha256>`: startup.sh verifies a download against it
and skips the install when `python -m spotshield.buildinfo` prints the same id.

How the running code finds its own id:
  * installed from a published build: pip's direct_url.json names the archive, whose file
    name carries the id (so no file inside the archive has to know the archive's own hash);
  * a source checkout (editable install, the local emulator): rebuild the archive in memory
    and hash it.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import sys
import tarfile
from pathlib import Path

from spotshield import __version__
from spotshield.errors import SpotShieldError
from spotshield.layout import bucket_url, build_key

PACKAGE_DIR = Path(__file__).resolve().parent
SOURCE_ROOT = PACKAGE_DIR.parent
# What the wheel holds (pyproject: *.py + package-data globs); anything else would make the
# installed package hash differently from its source.
PACKAGE_SUFFIXES = (".py", ".yaml", ".csv", ".json", ".sh")
ROOT_FILES = ("pyproject.toml", "README.md")
HASH_CHARS = 12  # 48 bits: unique across any realistic number of builds, short enough to read
_ARCHIVE_RE = re.compile(r"spotshield-(?P<version>[^/]+?)-(?P<hash>[0-9a-f]{%d})\.tar\.gz$" % HASH_CHARS)


def source_files(root: Path = SOURCE_ROOT) -> list[tuple[str, Path]]:
    """(archive name, path) of every file that goes into the build, sorted."""
    pkg = root / "spotshield"
    files = []
    for p in pkg.rglob("*"):
        if p.is_file() and p.suffix in PACKAGE_SUFFIXES and "__pycache__" not in p.parts:
            files.append((p.relative_to(root).as_posix(), p))
    for name in ROOT_FILES:
        if (root / name).is_file():
            files.append((name, root / name))
    return sorted(files)


def build_archive(root: Path = SOURCE_ROOT) -> bytes:
    """The reproducible sdist bytes of the source tree at `root`."""
    prefix = f"spotshield-{__version__}"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, path in source_files(root):
            data = path.read_bytes()
            info = tarfile.TarInfo(f"{prefix}/{name}")
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    # mtime=0 and no file name in the gzip header: the bytes depend on the content only
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def archive_id(data: bytes) -> str:
    return f"{__version__}+{hashlib.sha256(data).hexdigest()[:HASH_CHARS]}"


def archive_name(build_id: str) -> str:
    version, digest = build_id.split("+", 1)
    return f"spotshield-{version}-{digest}.tar.gz"


def _installed_from_build() -> str | None:
    """The id of the published build this package was pip-installed from, if it was."""
    try:
        from importlib.metadata import distribution

        dist = distribution("spotshield")
        text = dist.read_text("direct_url.json")
    except Exception:  # not installed as a distribution, or no PEP 610 record
        return None
    if not text:
        return None
    try:
        rec = json.loads(text)
    except ValueError:
        return None
    if rec.get("dir_info", {}).get("editable"):
        return None  # an editable install runs the source tree: hash that
    m = _ARCHIVE_RE.search(rec.get("url", ""))
    if not m:
        return None
    # pip records the archive's sha256 when it has one; the file name is the fallback
    full = (rec.get("archive_info", {}).get("hashes") or {}).get("sha256", "")
    return f"{m['version']}+{full[:HASH_CHARS] if full else m['hash']}"


def build_id() -> str:
    """This code's build id."""
    found = _installed_from_build()
    if found:
        return found
    return archive_id(build_archive(SOURCE_ROOT))


def build_url(bucket: str, build_id_: str | None = None) -> str:
    """Where publish() puts this build: gs://<bucket>/builds/spotshield-<version>-<hash>.tar.gz."""
    return f"{bucket_url(bucket)}/{build_key(archive_name(build_id_ or build_id()))}"


def publish(bucket: str) -> tuple[str, str]:
    """Upload the build to gs://<bucket>/builds/ (once per id). `bucket` is a name or gs:// URL.
    Returns (gs:// url, build id)."""
    from spotshield.errors import PreconditionFailedError
    from spotshield.storage import open_store

    if not (SOURCE_ROOT / "pyproject.toml").is_file():
        raise SpotShieldError(f"cannot publish a build: no pyproject.toml in {SOURCE_ROOT}; run from a source checkout")
    data = build_archive(SOURCE_ROOT)
    bid = archive_id(data)
    store = open_store(bucket_url(bucket))
    key = build_key(archive_name(bid))
    try:
        store.write(key, data, create_only=True)
    except PreconditionFailedError:
        pass  # the same id means the same bytes: already published
    return f"{store.url}/{key}", bid


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "--archive":
        if len(args) != 2:
            print("usage: python -m spotshield.buildinfo [--archive OUT.tar.gz]", file=sys.stderr)
            return 1
        data = build_archive(SOURCE_ROOT)
        Path(args[1]).write_bytes(data)
        print(archive_id(data))
        return 0
    if args:
        print("usage: python -m spotshield.buildinfo [--archive OUT.tar.gz]", file=sys.stderr)
        return 1
    print(build_id())
    return 0


if __name__ == "__main__":
    sys.exit(main())
