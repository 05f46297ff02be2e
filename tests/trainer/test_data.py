import pickle

import numpy as np
import pytest
import torch

from spotshield.errors import SpotShieldError
from spotshield.trainer.data import augment_batch, epoch_order, load_cifar100, load_dataset
from spotshield.trainer.models import build_model


def write_fake_cifar100(root, n_train=20, n_test=10, classes=5):
    """A tiny dataset in CIFAR-100's on-disk python pickle format."""
    base = root / "cifar-100-python"
    base.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, n in (("train", n_train), ("test", n_test)):
        d = {"filenames": [f"img{i}.png" for i in range(n)], "batch_label": f"{name} batch",
             "fine_labels": [int(v) for v in rng.integers(0, classes, n)],
             "coarse_labels": [0] * n, "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8)}
        with open(base / name, "wb") as f:
            pickle.dump(d, f)
    with open(base / "meta", "wb") as f:
        pickle.dump({"fine_label_names": [f"c{i}" for i in range(classes)], "coarse_label_names": ["all"]}, f)
    return d


def test_cifar100_loader_reads_the_pickle_format_without_download(tmp_path):
    last = write_fake_cifar100(tmp_path)  # the test split
    ds = load_dataset("cifar100", str(tmp_path), download=False)
    assert ds.x_train.shape == (20, 3, 32, 32) and ds.x_train.dtype == torch.uint8
    assert ds.x_val.shape == (10, 3, 32, 32) and ds.num_classes == 5
    assert ds.y_val.tolist() == last["fine_labels"]
    # row-major CHW, as the format stores it: first 1024 bytes are the red plane
    assert torch.equal(ds.x_val[0, 0].flatten(), torch.from_numpy(last["data"][0, :1024]))
    model = build_model("resnet18", ds.channels, ds.num_classes)
    assert model(ds.x_train[:2].float() / 255).shape == (2, 5)


def test_cifar100_missing_without_download_is_a_clear_error(tmp_path):
    with pytest.raises(SpotShieldError, match="CIFAR-100 not found .* download is disabled"):
        load_cifar100(tmp_path, download=False)


def test_cifar100_unreadable_files_are_a_clear_error(tmp_path):
    write_fake_cifar100(tmp_path)
    (tmp_path / "cifar-100-python" / "train").write_bytes(b"not a pickle")
    with pytest.raises(SpotShieldError, match="unreadable"):
        load_cifar100(tmp_path, download=False)


def test_digits_are_scikit_learns_shipped_digits():
    from sklearn.datasets import load_digits

    from spotshield.trainer.data import _digits_arrays

    pixels, target = _digits_arrays()
    ref = load_digits()
    assert np.array_equal(pixels, ref.data) and np.array_equal(target, ref.target)


def test_digits_is_real_offline_data_with_fixed_split():
    ds = load_dataset("digits", limit_train=100)
    assert ds.x_train.shape == (100, 1, 8, 8) and ds.num_classes == 10
    assert len(ds.y_val) == 359 and ds.x_train.max() == 16
    assert torch.equal(load_dataset("digits").y_val, ds.y_val)


def test_synthetic_and_models_shapes():
    ds = load_dataset("synthetic", synthetic_size=64)
    assert ds.x_train.shape[1:] == (3, 32, 32) and ds.num_classes == 100
    assert build_model("tiny-cnn", 3, 100)(torch.zeros(2, 3, 32, 32)).shape == (2, 100)
    assert build_model("resnet50", 3, 100).fc.out_features == 100


def test_epoch_order_is_a_pure_function_of_seed_and_epoch():
    assert torch.equal(epoch_order(50, 3, 1), epoch_order(50, 3, 1))
    assert not torch.equal(epoch_order(50, 3, 1), epoch_order(50, 3, 2))
    assert sorted(epoch_order(50, 3, 1).tolist()) == list(range(50))


def test_augment_uses_global_rng():
    x = torch.arange(2 * 3 * 32 * 32, dtype=torch.float32).view(2, 3, 32, 32)
    torch.manual_seed(5)
    a = augment_batch(x)
    torch.manual_seed(5)
    assert torch.equal(a, augment_batch(x)) and a.shape == x.shape
