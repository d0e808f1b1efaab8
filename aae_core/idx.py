"""The four IDX files of MNIST and Fashion-MNIST (torchvision's raw layout), read as they are, and written. numpy
only: the app reads the test set's size from a header (to check a cached map against it) without importing torch."""

from __future__ import annotations

import gzip
import math
import os
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np

from .errors import DataError

DATA_DIR_ENV = "AAE_DATA_DIR"
RAW_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def default_data_dir() -> Path:
    """$AAE_DATA_DIR if set, else ~/.cache/aae_explorer/data."""
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "aae_explorer" / "data"


FOLDERS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}   # torchvision's layout: <root>/<folder>/raw
N_CLASSES = 10              # MNIST's ten digits; Fashion-MNIST's ten kinds of clothing
_MAGIC = {3: 0x0803, 1: 0x0801}   # IDX: unsigned bytes (0x08), then the number of dimensions
_CHUNK = 1 << 20


def raw_file(raw: Path, name: str) -> Path | None:
    """raw/name, or else its .gz; None when neither is there."""
    for path in (raw / name, raw / f"{name}.gz"):
        if path.is_file():
            return path
    return None


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """An IDX file of unsigned bytes (or its .gz) -> uint8 [N, 28, 28] (ndim 3: images) or [N] (ndim 1: labels).
    Its magic number, its header's sizes and its length must agree exactly; anything else is a DataError naming
    the file. Reads at most what the header promises plus one byte, so a header claiming billions reads only
    what the file holds."""
    def damaged(what: str) -> DataError:
        return DataError(f"{path} is not a readable IDX file ({what}): replace it with a good copy, or remove it "
                         "to have it fetched")

    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
            header = f.read(4 + 4 * ndim)
            if len(header) < 4 + 4 * ndim:
                raise damaged(f"{len(header)} bytes, shorter than its header" if header else "an empty file")
            magic, *shape = struct.unpack(f">{1 + ndim}I", header)
            if magic != _MAGIC[ndim]:
                raise damaged(f"magic number {magic:#06x}, expected {_MAGIC[ndim]:#06x}")
            if ndim == 3 and shape[1:] != [28, 28]:
                raise damaged(f"images of {shape[1]}x{shape[2]} pixels, expected 28x28")
            expected = math.prod(shape)
            body = bytearray()
            while len(body) <= expected:
                chunk = f.read(min(_CHUNK, expected + 1 - len(body)))
                if not chunk:
                    break
                body += chunk
    except (OSError, EOFError, zlib.error) as exc:   # unreadable, or a damaged .gz
        raise damaged(f"{type(exc).__name__}: {exc}") from exc
    if len(body) != expected:
        more = "more" if len(body) > expected else f"only {len(body):,}"
        raise damaged(f"its header promises {expected:,} bytes of data, the file holds {more}")
    return np.frombuffer(body, dtype=np.uint8).reshape(shape)   # a bytearray: writable, no copy


def test_set_size(dataset: str, data_dir: str | Path | None = None) -> int | None:
    """The number of test images the data folder holds, from the images file's header alone; None when the file
    is not there or not readable (nothing is fetched)."""
    raw = Path(data_dir if data_dir is not None else default_data_dir()) / FOLDERS[dataset] / "raw"
    path = raw_file(raw, RAW_FILES[2])
    if path is None:
        return None
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
            magic, n = struct.unpack(">II", f.read(8))
    except (OSError, EOFError, zlib.error, struct.error):
        return None
    return n if magic == _MAGIC[3] else None


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array in the IDX format torchvision reads (magic 0x0800 | ndim)."""
    array = np.asarray(array)
    header = struct.pack(">I", 0x0800 | array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def write_idx_files(raw_dir: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Write each array (uint8 values; anything numpy can read, CPU tensors included) as raw_dir/<name> in IDX:
    all into a temporary folder first, then each renamed into place (atomic), so a partial set is never read."""
    raw_dir = Path(raw_dir)
    raw_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=raw_dir) as tmp:
        for name, array in arrays.items():
            write_idx(Path(tmp) / name, np.asarray(array).astype(np.uint8))
        for name in arrays:
            os.replace(Path(tmp) / name, raw_dir / name)
