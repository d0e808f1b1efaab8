"""The latent map: codes of the test set and samples of the prior, placed in 2-D, cached on disk.

2-D latents are shown as they are ("latent"); larger ones are projected with PCA (instant) or UMAP
(one fit of encoded and prior points together, then cached). A cache file lives next to the weights,
`<checkpoint>/projection_<method>.safetensors`, and records the sha256 of model.safetensors, so a
retrained model never reuses a stale map. When that folder is not writable (or the model was
uploaded) the file goes to $AAE_CACHE_DIR/projections/<sha256>/ (default ~/.cache/aae_explorer).

This module imports torch (it encodes). Reading a cached map needs only aae_core.map_cache (numpy and
safetensors), which is what the app's torch-free modules import; umap is imported only when a fit runs.

    python -m aae_core.projection checkpoints/semi_supervised_100        # precompute its caches
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from .checkpoint import load
from .checkpoint_meta import read_meta
from .data import load_dataset
from .errors import AAEError
from .map_cache import (  # noqa: F401 - the cache's names, as callers know them
    CACHE_ENV,
    METHODS,
    LatentMap,
    Method,
    cache_candidates,
    cache_file_name,
    check_method,
    config_key,
    load_cached,
    methods_for,
    read_cache,
    save_cached,
    user_cache_dir,
    weights_fingerprint,
)
from .metrics import encode_all
from .training import pick_device
from .umap_fit import UMAP_NEIGHBOURS, _no_progress, fit_umap  # noqa: F401 - the fit's names, as callers know them

if TYPE_CHECKING:
    from .data import ImageSet
    from .families import AAEModel

DEFAULT_N_PRIOR = 2000
Progress = Callable[[float, str], None]


# --- codes ----------------------------------------------------------------------------------------
ENCODE_CHUNK = 1000


def prior_labels_for(model: AAEModel, n: int) -> np.ndarray | None:
    """Labels [n] to draw prior samples with (0, 1, ..., K-1, 0, ...) when the model's prior is
    label-conditioned (each label its own component or segment, paper §2.3); None otherwise."""
    if not (model.config.label_conditioned and model.prior.n_components):
        return None
    return (np.arange(n) % model.prior.n_components).astype(np.int64)


def encode_for_map(model: AAEModel, test: ImageSet, *, n_prior: int = DEFAULT_N_PRIOR, seed: int = 0,
                   progress: Progress = _no_progress, lo: float = 0.0,
                   hi: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(codes of every test image [N, d], prior samples [n_prior, d], their labels [n_prior] or None) as
    numpy arrays. Label-conditioned priors are sampled label by label, so the map can colour each prior
    sample by the label it belongs to. progress moves from lo to hi, one call per chunk of images."""
    n = len(test)
    chunks = []
    for start in range(0, n, ENCODE_CHUNK):
        progress(lo + (hi - lo) * start / max(n, 1), f"encoding the test images: {start:,} of {n:,}")
        stop = min(start + ENCODE_CHUNK, n)
        part = test.images[start:stop].reshape(stop - start, -1).float().div_(255.0)   # [B, 784] in [0, 1]
        chunks.append(encode_all(model, part).cpu().numpy().astype(np.float32))
    z = np.concatenate(chunks) if chunks else np.zeros((0, model.config.latent_dim), np.float32)
    progress(hi, f"encoded {n:,} test images")
    g = torch.Generator().manual_seed(seed)
    labels = prior_labels_for(model, n_prior)
    prior_z = model.prior.sample(n_prior, labels=None if labels is None else torch.as_tensor(labels),
                                 generator=g).cpu().numpy().astype(np.float32)
    return z, prior_z, labels


# --- projections ----------------------------------------------------------------------------------
def pca_basis(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean [d] and top-2 principal directions [d, 2] of points [N, d], signs fixed so that each
    direction's largest entry is positive (the same data always gives the same picture)."""
    x = torch.as_tensor(points, dtype=torch.float64)
    mean = x.mean(0)
    _, _, vh = torch.linalg.svd(x - mean, full_matrices=False)
    comps = vh[:2].T.clone()                                    # [d, 2]
    if comps.shape[1] < 2:                                      # a 1-D latent: pad with a zero axis
        comps = torch.cat([comps, torch.zeros(comps.shape[0], 2 - comps.shape[1], dtype=comps.dtype)], 1)
    idx = comps.abs().argmax(0)
    signs = torch.sign(comps[idx, torch.arange(2)])
    comps = comps * torch.where(signs == 0, torch.ones_like(signs), signs)
    return mean.numpy().astype(np.float32), comps.numpy().astype(np.float32)


# The share of a UMAP map's progress bar for the encoding (in the server), before the fit's two stages.
ENCODING_SHARE = 0.15
FIT_POINTS = 20000
"""A UMAP map of more points than this fits a random sample of this many and places the rest (aae_core.umap_fit).
MNIST's maps (12,000 points) are fitted whole: fitting 5,000 (the Embedding Projector's sample) and placing the rest
was 1.1-1.9x faster but a clearly worse map (benchmarks/first_umap_map.py)."""
Fit = Callable[..., tuple[np.ndarray, int]]


def compute_map(model: AAEModel, test: ImageSet, method: str, *, fingerprint: str, dataset: str | None = None,
                n_prior: int = DEFAULT_N_PRIOR, seed: int = 0, progress: Progress = _no_progress,
                fit_points: int | None = FIT_POINTS, fit: Fit = fit_umap) -> LatentMap:
    """Encode the test set, draw prior samples and place both in 2-D with `method` (encoded and prior
    points are fitted together, so the map shows how well the codes cover the prior). A UMAP fit is
    fit(points, seed=, fit_points=, progress=, lo=, hi=) -> (places, how many were fitted): here by default, or
    in a worker process (explorer.umap_worker)."""
    check_method(method, model.config.latent_dim)
    umap_fit = method == "umap"
    enc_hi = ENCODING_SHARE if umap_fit else 0.95

    def staged(fraction: float, message: str) -> None:  # a UMAP map has three stages: say which one runs
        number = 1 if message.startswith("encod") else 2 if message.startswith("neighbour") else 3
        progress(fraction, f"UMAP stage {number} of 3, {message}" if umap_fit else message)

    z, prior_z, prior_labels = encode_for_map(model, test, n_prior=n_prior, seed=seed, lo=0.0, hi=enc_hi,
                                              progress=staged)
    both = np.concatenate([z, prior_z])
    mean = comps = fitted = None
    if method == "latent":
        placed = both
    elif method == "pca":
        mean, comps = pca_basis(both)
        placed = (both - mean) @ comps
    else:
        placed, fitted = fit(both, seed=seed, fit_points=fit_points, lo=enc_hi, hi=0.99, progress=staged)
    progress(1.0, "done")
    n = z.shape[0]
    return LatentMap(method=method, fingerprint=fingerprint, dataset=dataset or model.config.dataset,
                     z=z, labels=test.labels.cpu().numpy().astype(np.int64), prior_z=prior_z,
                     xy=np.ascontiguousarray(placed[:n], dtype=np.float32),
                     prior_xy=np.ascontiguousarray(placed[n:], dtype=np.float32),
                     pca_mean=mean, pca_components=comps, prior_labels=prior_labels,
                     fit_points=None if fitted is None or fitted >= both.shape[0] else int(fitted))


def get_map(model: AAEModel, method: str, *, fingerprint: str, load_test: Callable[[], ImageSet],
            folder: str | Path | None = None, config: str | None = None, n_test: int | None = None,
            n_prior: int = DEFAULT_N_PRIOR, seed: int = 0, progress: Progress = _no_progress) -> LatentMap:
    """The cached map if there is one (of n_test codes, where given); else compute it (load_test is called only
    then) and cache it."""
    check_method(method, model.config.latent_dim)
    cached = load_cached(method, fingerprint, folder, config=config, n_test=n_test, latent_dim=model.config.latent_dim)
    if cached is not None:
        return cached
    lmap = compute_map(model, load_test(), method, fingerprint=fingerprint, n_prior=n_prior, seed=seed,
                       progress=progress)
    save_cached(lmap, folder, config)
    return lmap


def precompute(folder: str | Path, methods: tuple[str, ...] | None = None, *, data_dir: str | Path | None = None,
               device=None, log: Callable[[str], None] = lambda s: None) -> list[Path]:
    """Compute and cache every map of the checkpoint in `folder` (for shipping it with its maps)."""
    model = load(folder, pick_device(device))
    fingerprint, config = weights_fingerprint(folder), config_key(read_meta(folder)["model"])
    methods = methods or methods_for(model.config.latent_dim)
    test: list[ImageSet] = []

    def load_test() -> ImageSet:
        if not test:
            test.append(load_dataset(model.config.dataset, data_dir=data_dir, log=log)[1])
        return test[0]

    written = []
    for method in methods:
        t0 = time.perf_counter()
        get_map(model, method, fingerprint=fingerprint, load_test=load_test, folder=folder, config=config)
        for file in cache_candidates(method, fingerprint, folder):
            if read_cache(file, method, fingerprint, config) is not None:
                written.append(file)
                log(f"{method}: {file} ({time.perf_counter() - t0:.1f} s)")
                break
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m aae_core.projection", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+", help="checkpoint folders")
    p.add_argument("--method", action="append", choices=METHODS,
                   help="repeatable; default: 'latent' for 2-D latents, else 'umap' and 'pca'")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--device", default="auto")
    args = p.parse_args(argv)
    try:
        for folder in args.checkpoints:
            precompute(folder, tuple(args.method) if args.method else None, data_dir=args.data_dir,
                       device=args.device, log=lambda s, f=folder: print(f"{f}: {s}", file=sys.stderr))
    except (ValueError, AAEError) as exc:
        p.exit(2, f"{p.prog}: error: {exc}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
