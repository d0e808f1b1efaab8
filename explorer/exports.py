"""Downloads on the teaching pages: image grids and strips as PNG, tables as CSV (bytes built here, the
button drawn by the page)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import streamlit as st


def png_bytes(image: np.ndarray) -> bytes:
    """PNG of a uint8 image [H, W] (grey) or [H, W, 3] (RGB)."""
    from PIL import Image

    a = np.asarray(image)
    if a.dtype != np.uint8 or a.ndim not in (2, 3):
        raise ValueError(f"a PNG needs uint8 [H, W] or [H, W, 3]; got {a.dtype} {list(a.shape)}")
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def strip(images: np.ndarray, *, scale: int = 3, pad: int = 2) -> np.ndarray:
    """A row of uint8 images [N, 28, 28] (or a grid [R, C, 28, 28]) as one uint8 picture, upscaled."""
    from aae_core import explore

    a = np.asarray(images, dtype=np.uint8)
    grid = a[None] if a.ndim == 3 else a
    return explore.upscale(explore.tile(grid, pad=pad, fill=128), scale)


def csv_bytes(rows: Sequence[dict[str, Any]]) -> bytes:
    """CSV (UTF-8, a header row of the first row's keys) of a list of dicts."""
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def download_png(label: str, images: np.ndarray, file_name: str, key: str, *, scale: int = 3) -> None:
    """A download button for a strip or grid of images (see strip)."""
    st.download_button(label, png_bytes(strip(images, scale=scale)), file_name=file_name, mime="image/png",
                       key=key, icon=":material/download:")


def download_csv(label: str, rows: Sequence[dict[str, Any]], file_name: str, key: str) -> None:
    """A download button for a table."""
    st.download_button(label, csv_bytes(rows), file_name=file_name, mime="text/csv", key=key,
                       icon=":material/download:")
