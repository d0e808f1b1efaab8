"""What users take away from the app: images as PNG, the encoded test set as CSV / NPZ, and a checkpoint
folder as a .zip that the app's upload accepts back (aae_core.checkpoint.read_upload).

numpy, PIL (Streamlit's own dependency) and the standard library only: nothing here imports torch."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import numpy as np

from aae_core.checkpoint_meta import CONFIG_FILE, METRICS_FILE, WEIGHTS_FILE


def png_bytes(image: np.ndarray) -> bytes:
    """A uint8 greyscale image [H, W] as PNG bytes."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8), mode="L").save(buf, format="PNG")
    return buf.getvalue()


def encoded_columns(z: np.ndarray, labels: np.ndarray, probs: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The encoded test set as named columns: index [N], label [N], z1..zd [N] each, and where the model has
    a classifier, predicted [N] (argmax) and p0..p{K-1} [N] each (its class or cluster probabilities)."""
    z = np.asarray(z, dtype=np.float32)
    cols: dict[str, np.ndarray] = {"index": np.arange(z.shape[0]), "label": np.asarray(labels, dtype=np.int64)}
    cols.update({f"z{i + 1}": z[:, i] for i in range(z.shape[1])})
    if probs is not None:
        probs = np.asarray(probs, dtype=np.float32)
        cols["predicted"] = probs.argmax(1)
        cols.update({f"p{k}": probs[:, k] for k in range(probs.shape[1])})
    return cols


def encoded_csv(z: np.ndarray, labels: np.ndarray, probs: np.ndarray | None = None) -> bytes:
    """The encoded test set as CSV (one row per test image; columns of encoded_columns)."""
    cols = encoded_columns(z, labels, probs)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(cols)
    ints = {"index", "label", "predicted"}
    rows = zip(*(c.tolist() if name in ints else [f"{v:.6g}" for v in c] for name, c in cols.items()), strict=True)
    writer.writerows(rows)
    return buf.getvalue().encode()


def encoded_npz(z: np.ndarray, labels: np.ndarray, probs: np.ndarray | None = None) -> bytes:
    """The encoded test set as .npz: z [N, d] float32, labels [N] int64, and where the model has a
    classifier probs [N, K] float32 and predicted [N] int64 (np.load reads it without pickles)."""
    arrays = {"z": np.asarray(z, dtype=np.float32), "labels": np.asarray(labels, dtype=np.int64)}
    if probs is not None:
        arrays["probs"] = np.asarray(probs, dtype=np.float32)
        arrays["predicted"] = arrays["probs"].argmax(1).astype(np.int64)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def checkpoint_zip(folder: str | Path, name: str | None = None) -> bytes:
    """A checkpoint folder as a .zip the app's upload accepts: NAME/config.json, NAME/model.safetensors and,
    where there is one, NAME/metrics.json (no optimizer state, no cached maps)."""
    folder = Path(folder)
    name = safe_name(name or folder.name)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for file in (CONFIG_FILE, WEIGHTS_FILE, METRICS_FILE):
            if (folder / file).is_file():
                zf.write(folder / file, f"{name}/{file}")
    return buf.getvalue()


def safe_name(text: str) -> str:
    """A file-name-safe version of a model name ('runs/a b' -> 'runs_a_b')."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text).strip("_") or "model"
