"""A user's working directory for command mode (`up --command`): packed, published, fetched.

    pack(dir)                     the deterministic tar.gz of the folder (sorted names, zeroed times and
                                  owners, no gzip name/mtime), honouring a .gitignore-like exclude, and
                                  its sha256: the same files always give the same bytes, so the key is
                                  content-addressed and a re-`up` of unchanged code uploads nothing new
    publish(dir, bucket)          pack, then write it once to gs://<bucket>/workdirs/<digest>.tar.gz
                                  (spotshield/layout.py: workdir_key), beside the build
    fetch(url, sha256, dest)      the VM side (startup.sh): download, refuse bytes whose sha256 differs,
                                  extract into dest (replacing it whole, so no file of an older workdir
                                  survives)

`python -m spotshield.workdir fetch <url> <sha256> <dest>` is what startup.sh runs.

Exclusion: always .git, .venv, venv, __pycache__, *.pyc, spotshield-run (the examples' default
file:// store: checkpoints are not code), .spotshield; then the folder's own .gitignore: blank lines
and `#` comments are skipped, a pattern with a `/` other than a trailing one matches the path relative
to the folder (a leading `/` anchors it), one without matches any name, a trailing `/` matches folders
only. Negations (`!pattern`) are not supported and are refused with a clear error rather than ignored.
"""
from __future__ import annotations

import fnmatch
import gzip
import hashlib
import io
import os
import shutil
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from spotshield.errors import NotFoundError, SpotShieldError
from spotshield.layout import WORKDIRS_PREFIX, bucket_url, workdir_key

ALWAYS_EXCLUDED = (".git", ".venv", "venv", "__pycache__", "*.pyc", "spotshield-run", ".spotshield")
# Code and small data: larger files belong in the bucket or a dataset, not in every boot's download.
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_TOTAL_BYTES = 100 * 1024 * 1024
DIGEST_CHARS = 16  # of the sha256 in the key: 64 bits, content-addressed and short; the metadata pins all 64
PREFIX = "workdir"  # the single top folder inside the archive


@dataclass(frozen=True)
class Packed:
    data: bytes
    sha256: str
    files: int  # regular files packed
    size: int  # their bytes before compression

    @property
    def key(self) -> str:
        return workdir_key(self.sha256[:DIGEST_CHARS])


def _ignore_patterns(root: Path) -> list[tuple[str, bool, bool]]:
    """(pattern, anchored to the relative path, folders only) of the defaults and root/.gitignore."""
    out = [(p, False, False) for p in ALWAYS_EXCLUDED]
    gi = root / ".gitignore"
    if not gi.is_file():
        return out
    for raw in gi.read_text(errors="replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("!"):
            raise SpotShieldError(f"{gi}: negated pattern {line!r} is not supported in a workdir's .gitignore; "
                                  "remove it or move the file out of the workdir")
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        anchored = "/" in line
        out.append((line.lstrip("/"), anchored, dir_only))
    return out


def _excluded(rel: str, is_dir: bool, patterns) -> bool:
    name = rel.rsplit("/", 1)[-1]
    for pat, anchored, dir_only in patterns:
        if dir_only and not is_dir:
            continue
        if fnmatch.fnmatchcase(rel if anchored else name, pat):
            return True
    return False


def workdir_files(root: str | Path) -> list[tuple[str, Path]]:
    """(relative posix name, path) of every file that is packed, sorted. Symlinked files are packed
    as their content; symlinked folders are not followed (a loop, or a tree outside the workdir)."""
    root = Path(root)
    if not root.is_dir():
        raise SpotShieldError(f"workdir {root} is not a folder; pass an existing folder to --workdir")
    patterns = _ignore_patterns(root)
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        rel_dir = here.relative_to(root).as_posix()
        keep = []
        for d in sorted(dirnames):
            rel = d if rel_dir == "." else f"{rel_dir}/{d}"
            if not (here / d).is_symlink() and not _excluded(rel, True, patterns):
                keep.append(d)
        dirnames[:] = keep
        for f in filenames:
            rel = f if rel_dir == "." else f"{rel_dir}/{f}"
            if (here / f).is_file() and not _excluded(rel, False, patterns):
                files.append((rel, here / f))
    return sorted(files)


def pack(root: str | Path, *, max_file_bytes: int = MAX_FILE_BYTES,
         max_total_bytes: int = MAX_TOTAL_BYTES) -> Packed:
    """The deterministic archive of the workdir; SpotShieldError names an empty or oversized one."""
    root = Path(root)
    files = workdir_files(root)
    if not files:
        raise SpotShieldError(f"workdir {root} has no files to ship (after .gitignore and the default excludes)")
    total = 0
    for rel, path in files:
        size = path.stat().st_size
        if size > max_file_bytes:
            raise SpotShieldError(f"workdir file {rel} is {size / 2**20:.1f} MiB, over the {max_file_bytes / 2**20:.0f} "
                                  "MiB limit; add it to the workdir's .gitignore and read it from the bucket")
        total += size
    if total > max_total_bytes:
        raise SpotShieldError(f"workdir {root} holds {total / 2**20:.1f} MiB, over the {max_total_bytes / 2**20:.0f} "
                              "MiB limit; add data and outputs to its .gitignore")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel, path in files:
            data = path.read_bytes()
            info = tarfile.TarInfo(f"{PREFIX}/{rel}")
            # the executable bit is the one mode that matters to a command (./run.sh)
            info.size, info.mtime = len(data), 0
            info.mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    # mtime=0 and no file name in the gzip header: the bytes depend on the content only
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    data = out.getvalue()
    return Packed(data=data, sha256=hashlib.sha256(data).hexdigest(), files=len(files), size=total)


def publish(root: str | Path, bucket: str) -> tuple[str, str]:
    """Pack and upload (once per content) to gs://<bucket>/workdirs/. Returns (url, sha256)."""
    return upload(pack(root), bucket)


def upload(packed: Packed, bucket: str) -> tuple[str, str]:
    """Write a packed workdir once (its key is its content) into the bucket (a name, gs:// or file://
    URL). Returns (url, sha256)."""
    from spotshield.errors import PreconditionFailedError
    from spotshield.storage import open_store

    store = open_store(bucket_url(bucket) if not bucket.startswith("file://") else bucket)
    try:
        store.write(packed.key, packed.data, create_only=True)
    except PreconditionFailedError:
        pass  # the same key means the same content: already published
    return f"{store.url}/{packed.key}", packed.sha256


def _split_url(url: str) -> tuple[str, str]:
    """(store url, key) of gs://<bucket>/workdirs/<x>.tar.gz or file:///<root>/workdirs/<x>.tar.gz."""
    parsed = urlparse(url)
    marker = f"/{WORKDIRS_PREFIX}/"
    if parsed.scheme not in ("gs", "file") or marker not in parsed.path:
        raise SpotShieldError(f"bad workdir url {url!r}: expected gs://<bucket>/{WORKDIRS_PREFIX}/<digest>.tar.gz")
    head, tail = url.rsplit(marker, 1)
    return head, f"{WORKDIRS_PREFIX}/{tail}"


def fetch(url: str, sha256: str, dest: str | Path) -> Path:
    """Download, verify and extract the workdir into dest (replaced whole). Returns dest."""
    from spotshield.storage import open_store

    base, key = _split_url(url)
    try:
        data = open_store(base, check=False).read(key)
    except NotFoundError:
        raise SpotShieldError(f"workdir {url} is not in the bucket; run 'spotshield up --command ...' again") from None
    got = hashlib.sha256(data).hexdigest()
    if got != sha256.strip().lower():
        raise SpotShieldError(f"workdir {url} has sha256 {got[:16]}..., not the {sha256[:16]}... it was published "
                              "with; refusing to run it")
    dest = Path(dest)
    tmp = dest.with_name(dest.name + ".new")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for m in tar.getmembers():  # our own archives hold only regular files under PREFIX/
            if not m.isfile() or not m.name.startswith(f"{PREFIX}/"):
                raise SpotShieldError(f"workdir {url}: unexpected member {m.name!r}; refusing to extract it")
        tar.extractall(tmp, filter="data")
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp / PREFIX, dest)
    tmp.rmdir()
    return dest


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 4 or args[0] != "fetch":
        print("usage: python -m spotshield.workdir fetch <url> <sha256> <dest>", file=sys.stderr)
        return 2
    try:
        print(fetch(args[1], args[2], args[3]))
    except SpotShieldError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
