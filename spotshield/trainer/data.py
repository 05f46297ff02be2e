"""Datasets as in-memory tensors, and the resumable order in which the trainer visits them.

All three datasets are small enough to hold in memory (CIFAR-100: 150 MB of uint8), which
keeps the data path free of worker processes and hidden RNG: the batch order of epoch e is
a permutation drawn from its own generator seeded by (seed, e), so resuming mid-epoch needs
only (epoch, position), and augmentation draws from the global torch RNG that checkpoints
capture.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from spotshield.errors import SpotShieldError

# digits: a fixed 80/20 split, independent of the run seed so runs are comparable.
_DIGITS_SPLIT_SEED = 0
_DIGITS_VAL_SHARE = 0.2
# CIFAR per-channel statistics (of the CIFAR-100 training set), the usual normalisation.
_CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
_CIFAR100_STD = (0.2673, 0.2564, 0.2762)
_SYNTHETIC_CLASSES = 100
_SYNTHETIC_SEED = 1234  # fixed: synthetic data is for throughput benchmarks, not learning


@dataclass
class Dataset:
    """Train/val tensors. Images are uint8 (N,C,H,W) or float; `scale` maps them to [0,1]."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    scale: float  # divide raw values by this to get [0, 1]

    @property
    def channels(self) -> int:
        return self.x_train.shape[1]

    @property
    def size(self) -> int:
        return self.x_train.shape[2]


def load_dataset(name: str, data_dir: str = "~/.cache/spotshield/data", *, download: bool = True,
                 limit_train: int = 0, limit_val: int = 0, synthetic_size: int = 2048) -> Dataset:
    if name == "digits":
        ds = _digits()
    elif name == "cifar100":
        ds = load_cifar100(Path(data_dir).expanduser(), download=download)
    elif name == "synthetic":
        ds = _synthetic(synthetic_size)
    else:
        raise SpotShieldError(f"unknown data {name!r}; choose one of digits, cifar100, synthetic")
    if limit_train:
        ds.x_train, ds.y_train = ds.x_train[:limit_train], ds.y_train[:limit_train]
    if limit_val:
        ds.x_val, ds.y_val = ds.x_val[:limit_val], ds.y_val[:limit_val]
    return ds


def _digits_arrays():
    """scikit-learn's shipped digits (1797 8x8 images). Read straight from the package data:
    `import sklearn` costs seconds of start-up, which every restart after a preemption pays."""
    import gzip
    import importlib.util

    import numpy as np

    spec = importlib.util.find_spec("sklearn")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise SpotShieldError("data digits needs scikit-learn; pip install scikit-learn")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
    if not path.is_file():  # a future layout: fall back to the public API
        from sklearn.datasets import load_digits

        d = load_digits()
        return d.images.reshape(-1, 64), d.target
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float32)
    return table[:, :-1], table[:, -1].astype(np.int64)


def _digits() -> Dataset:
    pixels, target = _digits_arrays()
    x = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32)).view(-1, 1, 8, 8)  # values 0..16
    y = torch.from_numpy(np.asarray(target, dtype=np.int64))
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(_DIGITS_SPLIT_SEED))
    n_val = int(len(y) * _DIGITS_VAL_SHARE)
    val, train = order[:n_val], order[n_val:]
    return Dataset("digits", x[train], y[train], x[val], y[val], 10, (0.3,), (0.4,), 16.0)


def _synthetic(n: int) -> Dataset:
    g = torch.Generator().manual_seed(_SYNTHETIC_SEED)
    x = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.randint(0, _SYNTHETIC_CLASSES, (n,), generator=g)
    n_val = max(1, n // 10)
    return Dataset("synthetic", x[n_val:], y[n_val:], x[:n_val], y[:n_val], _SYNTHETIC_CLASSES,
                   _CIFAR100_MEAN, _CIFAR100_STD, 255.0)


def _read_cifar_pickle(path: Path) -> dict:
    with open(path, "rb") as f:
        return pickle.load(f, encoding="latin1")


def _cifar100_files(root: Path) -> list[Path]:
    base = root / "cifar-100-python"
    return [base / "train", base / "test", base / "meta"]


def has_cifar100(root: str | Path) -> bool:
    """Whether CIFAR-100's python format is in `root` (so loading it needs no download)."""
    return all(f.is_file() for f in _cifar100_files(Path(root).expanduser()))


def load_cifar100(root: Path, *, download: bool = True) -> Dataset:
    """CIFAR-100 from its on-disk python format (root/cifar-100-python/{train,test,meta}).

    torchvision fetches and md5-checks the archive when it is missing; reading the pickles
    ourselves keeps the loader usable on any copy in that format.
    """
    base = root / "cifar-100-python"
    files = _cifar100_files(root)
    if not has_cifar100(root):
        if not download:
            raise SpotShieldError(f"CIFAR-100 not found in {base} and download is disabled; set download: true")
        try:
            from torchvision.datasets import CIFAR100

            CIFAR100(str(root), train=True, download=True)
        except Exception as e:  # network errors come in many types; all mean "could not fetch"
            raise SpotShieldError(f"cannot download CIFAR-100 to {root}: {type(e).__name__}: {e}") from None
    try:
        train, test, meta = (_read_cifar_pickle(f) for f in files)
        classes = len(meta["fine_label_names"])

        def images(d: dict) -> torch.Tensor:
            return torch.from_numpy(d["data"].reshape(-1, 3, 32, 32).copy())

        return Dataset(
            "cifar100",
            images(train), torch.tensor(train["fine_labels"], dtype=torch.long),
            images(test), torch.tensor(test["fine_labels"], dtype=torch.long),
            classes, _CIFAR100_MEAN, _CIFAR100_STD, 255.0,
        )
    except (OSError, KeyError, ValueError, pickle.UnpicklingError, EOFError) as e:
        raise SpotShieldError(f"CIFAR-100 files in {base} are unreadable ({type(e).__name__}); delete them to re-download") from None


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The visiting order of epoch `epoch`: a pure function of (seed, epoch), so resumable."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)


def augment_batch(x: torch.Tensor, pad: int = 4) -> torch.Tensor:
    """Random crop with zero padding + horizontal flip, drawn from the global torch RNG."""
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    dx = torch.randint(0, 2 * pad + 1, (n,))
    dy = torch.randint(0, 2 * pad + 1, (n,))
    flip = torch.rand(n) < 0.5
    out = torch.empty_like(x)
    for i in range(n):
        crop = padded[i, :, dy[i]: dy[i] + h, dx[i]: dx[i] + w]
        out[i] = crop.flip(-1) if flip[i] else crop
    return out
