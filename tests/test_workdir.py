"""spotshield/workdir.py: the command mode's shipped workdir (pack, publish, fetch)."""
import hashlib
import io
import os
import tarfile

import pytest

from spotshield import workdir
from spotshield.errors import SpotShieldError
from spotshield.layout import WORKDIRS_PREFIX


def _tree(root, files):
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data if isinstance(data, bytes) else data.encode())
    return root


def _names(packed):
    with tarfile.open(fileobj=io.BytesIO(packed.data), mode="r:gz") as tar:
        return sorted(m.name for m in tar.getmembers())


def test_pack_is_deterministic_and_content_addressed(tmp_path):
    a = _tree(tmp_path / "a", {"train.py": "print(1)\n", "lib/util.py": "X = 2\n"})
    b = _tree(tmp_path / "b", {"lib/util.py": "X = 2\n", "train.py": "print(1)\n"})
    os.utime(b / "train.py", (1, 1))  # times and creation order must not matter
    pa, pb = workdir.pack(a), workdir.pack(b)
    assert pa.data == pb.data and pa.sha256 == pb.sha256 == hashlib.sha256(pa.data).hexdigest()
    assert pa.key == f"{WORKDIRS_PREFIX}/{pa.sha256[:workdir.DIGEST_CHARS]}.tar.gz"
    (b / "train.py").write_text("print(2)\n")
    assert workdir.pack(b).sha256 != pa.sha256


def test_default_excludes_and_gitignore(tmp_path):
    root = _tree(tmp_path / "w", {
        "train.py": "x", ".git/HEAD": "ref", ".venv/bin/python": "x", "pkg/__pycache__/m.pyc": "x",
        "spotshield-run/ckpt/step-000001/state.pt": "x", "data/big.bin": "x", "logs/run.log": "x",
        "keep/logs.txt": "x", "sub/out/a.txt": "x", "out/b.txt": "x", "notes.tmp": "x",
        ".gitignore": "# comment\n\ndata/\n*.tmp\n/out\nlogs\n",
    })
    assert _names(workdir.pack(root)) == sorted(
        f"workdir/{n}" for n in (".gitignore", "keep/logs.txt", "sub/out/a.txt", "train.py"))


def test_a_negation_in_gitignore_is_refused_not_ignored(tmp_path):
    root = _tree(tmp_path / "w", {"train.py": "x", ".gitignore": "*.csv\n!small.csv\n"})
    with pytest.raises(SpotShieldError, match="negated pattern '!small.csv' is not supported"):
        workdir.pack(root)


def test_bad_workdirs_are_one_clear_error(tmp_path):
    with pytest.raises(SpotShieldError, match="is not a folder"):
        workdir.pack(tmp_path / "missing")
    empty = _tree(tmp_path / "e", {"__pycache__/x.pyc": "x"})
    with pytest.raises(SpotShieldError, match="has no files to ship"):
        workdir.pack(empty)
    big = _tree(tmp_path / "b", {"train.py": "x", "weights.bin": b"\0" * 2048})
    with pytest.raises(SpotShieldError, match=r"workdir file weights.bin is 0.0 MiB, over the .* \.gitignore"):
        workdir.pack(big, max_file_bytes=1024)
    with pytest.raises(SpotShieldError, match="over the 0 MiB limit; add data and outputs"):
        workdir.pack(big, max_total_bytes=1024)
    assert workdir.pack(big).files == 2


def test_publish_then_fetch_round_trip(tmp_path):
    root = _tree(tmp_path / "w", {"train.py": "print('hi')\n", "run.sh": "#!/bin/sh\n", "a/b.txt": "b"})
    (root / "run.sh").chmod(0o755)
    bucket = f"file://{tmp_path / 'bucket'}"
    url, digest = workdir.publish(root, bucket)
    assert url == f"{bucket}/{workdir.pack(root).key}"
    assert workdir.publish(root, bucket) == (url, digest)  # once per content: a second up is a no-op
    dest = tmp_path / "vm" / "workdir"
    _tree(dest, {"stale.py": "old"})  # an older workdir's file must not survive
    assert workdir.fetch(url, digest, dest) == dest
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()) == \
        ["a/b.txt", "run.sh", "train.py"]
    assert (dest / "train.py").read_text() == "print('hi')\n"
    assert os.access(dest / "run.sh", os.X_OK) and not os.access(dest / "train.py", os.X_OK)


def test_fetch_refuses_a_tampered_or_missing_archive(tmp_path):
    root = _tree(tmp_path / "w", {"train.py": "x"})
    bucket = tmp_path / "bucket"
    url, digest = workdir.publish(root, f"file://{bucket}")
    dest = tmp_path / "dest"
    with pytest.raises(SpotShieldError, match="refusing to run it"):
        workdir.fetch(url, "0" * 64, dest)
    assert not dest.exists()
    with pytest.raises(SpotShieldError, match="is not in the bucket"):
        workdir.fetch(f"file://{bucket}/{WORKDIRS_PREFIX}/nope.tar.gz", digest, dest)
    with pytest.raises(SpotShieldError, match="bad workdir url"):
        workdir.fetch("https://example.com/x.tar.gz", digest, dest)


def test_fetch_refuses_members_outside_the_workdir(tmp_path):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        info = tarfile.TarInfo("../evil.py")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    data = raw.getvalue()
    key = tmp_path / "bucket" / WORKDIRS_PREFIX / "evil.tar.gz"
    key.parent.mkdir(parents=True)
    key.write_bytes(data)
    with pytest.raises(SpotShieldError, match="unexpected member '../evil.py'"):
        workdir.fetch(f"file://{key}", hashlib.sha256(data).hexdigest(), tmp_path / "dest")
    assert not (tmp_path / "evil.py").exists()


def test_main_is_what_startup_runs(tmp_path, capsys):
    root = _tree(tmp_path / "w", {"train.py": "x"})
    url, digest = workdir.publish(root, f"file://{tmp_path / 'bucket'}")
    assert workdir.main(["fetch", url, digest, str(tmp_path / "d")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "d")
    assert workdir.main(["fetch", url, "f" * 64, str(tmp_path / "d")]) == 1
    assert capsys.readouterr().err.startswith("error: workdir ")
    assert workdir.main([]) == 2
