"""What users take away from the app: image grids and strips as PNG, tables as CSV, the encoded test set as
CSV / NPZ, and a checkpoint folder as a .zip that the app's upload accepts back
(aae_core.uploads.read_upload). Bytes are built here, buttons drawn by the pages (or by the two helpers
at the end). numpy, PIL (Streamlit's own dependency) and the standard library: nothing here imports torch."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st
from PIL import Image

from aae_core.checkpoint_meta import CONFIG_FILE, METRICS_FILE, WEIGHTS_FILE
from aae_core.images import tile, upscale


def png_bytes(image: np.ndarray) -> bytes:
    """PNG of a uint8 image [H, W] (grey) or [H, W, 3] (RGB)."""
    a = np.asarray(image)
    if a.dtype != np.uint8 or a.ndim not in (2, 3):
        raise ValueError(f"a PNG needs uint8 [H, W] or [H, W, 3]; got {a.dtype} {list(a.shape)}")
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def strip(images: np.ndarray, *, scale: int = 3, pad: int = 2) -> np.ndarray:
    """A row of uint8 images [N, 28, 28] (or a grid [R, C, 28, 28]) as one uint8 picture, upscaled."""
    a = np.asarray(images, dtype=np.uint8)
    grid = a[None] if a.ndim == 3 else a
    return upscale(tile(grid, pad=pad, fill=128), scale)


def csv_bytes(rows: Sequence[dict[str, Any]]) -> bytes:
    """CSV (UTF-8, a header row of the first row's keys) of a list of dicts."""
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


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


def download_png(label: str, images: np.ndarray, file_name: str, key: str, *, scale: int = 3) -> None:
    """A download button for a strip or grid of images (see strip)."""
    st.download_button(label, png_bytes(strip(images, scale=scale)), file_name=file_name, mime="image/png",
                       key=key, icon=":material/download:")


def download_csv(label: str, rows: Sequence[dict[str, Any]], file_name: str, key: str) -> None:
    """A download button for a table."""
    st.download_button(label, csv_bytes(rows), file_name=file_name, mime="text/csv", key=key,
                       icon=":material/download:")
