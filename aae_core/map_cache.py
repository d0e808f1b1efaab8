"""The latent map's record (LatentMap) and its disk cache: one safetensors file per model and method, next to
the weights or under $AAE_CACHE_DIR, keyed by the weights' sha256 and the model's description, and trusted only
when its arrays are one map of the size expected. numpy and safetensors only: a fresh server reads a cached map
without torch.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from .fsutil import atomic_write

Method = Literal["latent", "pca", "umap"]
METHODS: tuple[str, ...] = ("latent", "pca", "umap")


def methods_for(latent_dim: int) -> tuple[str, ...]:
    """The methods that apply: a 2-D latent is its own map; larger ones need a projection."""
    return ("latent",) if latent_dim == 2 else ("umap", "pca")


def check_method(method: str, latent_dim: int) -> None:
    allowed = methods_for(latent_dim)
    if method not in allowed:
        raise ValueError(f"method must be one of {', '.join(allowed)} for a {latent_dim}-D latent; got {method!r}")


CACHE_VERSION = "1"
CACHE_ENV = "AAE_CACHE_DIR"


@dataclass(frozen=True)
class LatentMap:
    """Codes and their 2-D positions for one model and one method.

    z [N, d] codes of the N test images, labels [N], prior_z [M, d] prior samples;
    xy [N, 2] and prior_xy [M, 2] their places on the map. PCA maps keep their basis
    (pca_mean [d], pca_components [d, 2]) so that any other code can be placed too. prior_labels [M]
    is the label each prior sample was drawn for, where the prior is label-conditioned (paper §2.3,
    Fig. 4: label k owns the k-th component or segment); None otherwise and in caches written before.
    fit_points: how many of the N + M points a UMAP layout was fitted on, where it fitted a sample and placed
    the rest among their nearest fitted neighbours (aae_core.umap_fit); None where every point was fitted."""

    method: str
    fingerprint: str
    dataset: str
    z: np.ndarray
    labels: np.ndarray
    prior_z: np.ndarray
    xy: np.ndarray
    prior_xy: np.ndarray
    pca_mean: np.ndarray | None = None
    pca_components: np.ndarray | None = None
    prior_labels: np.ndarray | None = None
    fit_points: int | None = None

    @property
    def n_test(self) -> int:
        return int(self.z.shape[0])

    @property
    def latent_dim(self) -> int:
        return int(self.z.shape[1])

    def place(self, z: np.ndarray) -> np.ndarray | None:
        """2-D positions [K, 2] of codes z [K, d], where the method allows it (latent, PCA); else None."""
        z = np.asarray(z, dtype=np.float32).reshape(-1, self.latent_dim)
        if self.method == "latent":
            return z
        if self.method == "pca" and self.pca_mean is not None:
            return (z - self.pca_mean) @ self.pca_components
        return None



# --- the disk cache -------------------------------------------------------------------------------
def weights_fingerprint(path: str | Path) -> str:
    """sha256 hex digest of a checkpoint's model.safetensors (path: the folder or the file): the key of
    its cached maps, so that retrained weights never reuse a stale map."""
    file = Path(path)
    if file.is_dir():
        file = file / "model.safetensors"
    h = hashlib.sha256()
    with open(file, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def cache_file_name(method: str) -> str:
    return f"projection_{method}.safetensors"


def config_key(model: dict) -> str:
    """sha256 of a checkpoint's description of its model (config.json's "model"): with the weights' sha256, the
    key of a map in the shared user cache, since the same weights under another config (another prior, say)
    make another map."""
    return hashlib.sha256(json.dumps(model, sort_keys=True, default=str).encode()).hexdigest()


def user_cache_dir(fingerprint: str, config: str | None = None) -> Path:
    """$AAE_CACHE_DIR/projections/<sha256>/[<config key>/] (default ~/.cache/aae_explorer/projections/...)."""
    root = os.environ.get(CACHE_ENV)
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "aae_explorer"
    return base / "projections" / fingerprint / (config or "")


def cache_candidates(method: str, fingerprint: str, folder: str | Path | None, config: str | None = None) -> list[Path]:
    files = [Path(folder) / cache_file_name(method)] if folder is not None else []
    return files + [user_cache_dir(fingerprint, config) / cache_file_name(method)]


def _describes_a_map(a: dict[str, np.ndarray], n_test: int | None, latent_dim: int | None) -> bool:
    """Whether a cache's arrays are one map: N codes [N, d] with labels [N] and places [N, 2], M prior samples
    [M, d] with places [M, 2] (and labels [M]), a PCA basis [d] and [d, 2], every number finite; N and d those
    expected where known."""
    z, prior_z = a["z"], a["prior_z"]
    if z.ndim != 2 or prior_z.ndim != 2 or z.shape[0] == 0 or prior_z.shape[1] != z.shape[1]:
        return False
    (n, d), m = z.shape, prior_z.shape[0]
    shapes = {"labels": (n,), "xy": (n, 2), "prior_xy": (m, 2), "prior_labels": (m,), "pca_mean": (d,),
              "pca_components": (d, 2)}
    if any(k in a and a[k].shape != shape for k, shape in shapes.items()):
        return False
    if n_test is not None and n != n_test or latent_dim is not None and d != latent_dim:
        return False
    return all(np.isfinite(v).all() for v in a.values() if np.issubdtype(v.dtype, np.floating))


def read_cache(file: Path, method: str, fingerprint: str, config: str | None = None, n_test: int | None = None,
          latent_dim: int | None = None) -> LatentMap | None:
    if not file.is_file():
        return None
    try:
        with safe_open(str(file), framework="np") as fh:
            meta = fh.metadata() or {}
            if (meta.get("version"), meta.get("method"), meta.get("fingerprint")) != (CACHE_VERSION, method,
                                                                                     fingerprint):
                return None
            if config is not None and meta.get("config", config) != config:   # caches before the key: no "config"
                return None
            arrays = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 - safe_open has no __iter__
    except (SafetensorError, OSError, ValueError):
        return None  # a damaged cache is recomputed, never trusted
    need = {"z", "labels", "prior_z", "xy", "prior_xy"}
    if not need <= set(arrays) or not _describes_a_map(arrays, n_test, latent_dim):
        return None
    fitted = meta.get("fit_points", "")
    return LatentMap(method=method, fingerprint=fingerprint, dataset=meta.get("dataset", "mnist"),
                     z=arrays["z"], labels=arrays["labels"], prior_z=arrays["prior_z"], xy=arrays["xy"],
                     prior_xy=arrays["prior_xy"], pca_mean=arrays.get("pca_mean"),
                     pca_components=arrays.get("pca_components"), prior_labels=arrays.get("prior_labels"),
                     fit_points=int(fitted) if fitted.isdigit() else None)


def load_cached(method: str, fingerprint: str, folder: str | Path | None = None, *, config: str | None = None,
                n_test: int | None = None, latent_dim: int | None = None) -> LatentMap | None:
    """The cached map of this method for the weights with this sha256 (and the model description with this
    config_key, where given), or None (missing, stale, damaged, or not a map of n_test codes of latent_dim).

    Looks in the checkpoint folder first, then in the user cache."""
    for file in cache_candidates(method, fingerprint, folder, config):
        found = read_cache(file, method, fingerprint, config, n_test, latent_dim)
        if found is not None:
            return found
    return None


def _write_atomic(file: Path, lmap: LatentMap, config: str | None = None) -> None:
    arrays = {"z": lmap.z, "labels": lmap.labels, "prior_z": lmap.prior_z, "xy": lmap.xy, "prior_xy": lmap.prior_xy}
    if lmap.pca_mean is not None:
        arrays.update(pca_mean=lmap.pca_mean, pca_components=lmap.pca_components)
    if lmap.prior_labels is not None:  # optional: caches without it still load (prior_labels=None)
        arrays["prior_labels"] = lmap.prior_labels
    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    meta = {"version": CACHE_VERSION, "method": lmap.method, "fingerprint": lmap.fingerprint,
            "dataset": lmap.dataset, "n_test": str(lmap.n_test), "n_prior": str(lmap.prior_z.shape[0])}
    if config is not None:
        meta["config"] = config
    if lmap.fit_points is not None:
        meta["fit_points"] = str(lmap.fit_points)
    file.parent.mkdir(parents=True, exist_ok=True)
    # mode: mkstemp makes the file private; a cache shipped or shared with the server is read by others
    atomic_write(file, lambda tmp: save_file(arrays, str(tmp), metadata=meta), mode=0o644)


def save_cached(lmap: LatentMap, folder: str | Path | None = None, config: str | None = None) -> Path:
    """Write the map next to the weights (atomically); fall back to the user cache when that fails."""
    if folder is not None:
        file = Path(folder) / cache_file_name(lmap.method)
        try:
            _write_atomic(file, lmap, config)
            return file
        except OSError:
            pass  # read-only install: use the per-user cache instead
    file = user_cache_dir(lmap.fingerprint, config) / cache_file_name(lmap.method)
    _write_atomic(file, lmap, config)
    return file
