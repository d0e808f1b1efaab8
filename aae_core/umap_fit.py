"""One UMAP fit of points [N, d] -> [N, 2], made fast for a first map (numpy, scikit-learn and umap; no torch).

Where the time of a first fit went (12,000 8-D codes, 2 shared cores, benchmarks/first_umap_map.py):
- the neighbour graph: pynndescent's NN-descent, compiled by numba in every new process (85 s), and numba
  cannot cache it ("uses dynamic globals"). The graph here is exact instead, from scikit-learn's tree search
  (about 1 s, no compiling): for a few thousand low-dimensional points exact is cheap, and is what UMAP itself
  does below 4,096 points.
- UMAP's own numba functions (the fuzzy set, the layout epochs) compile again in every process (about 30 s);
  they are not marked cache=True, so `import_umap` imports umap with numba's caching on, into a folder this
  program owns ($AAE_CACHE_DIR/numba, default ~/.cache/aae_explorer/numba): compiled once per machine.
- the layout: UMAP gives 10,000+ points 200 epochs; 100 (`LAYOUT_EPOCHS`) halve that stage and measured nearly
  the same map (trustworthiness 0.912 against 0.918, the same label among the 10 nearest for 80.8 % of test points
  against 81.4 %), where fitting a 5,000 sample and placing the rest (1.1-1.9x faster) measured 0.855 and 68.7 %.
  Above `fit_points` points a seeded random sample of that many is fitted and every other point placed among its
  nearest fitted neighbours (a weighted mean of their places, the start UMAP's own transform uses).
"""

from __future__ import annotations

import io
import os
import re
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

Progress = Callable[[float, str], None]
UMAP_NEIGHBOURS = 15
LAYOUT_EPOCHS = 100
PLACE_NEIGHBOURS = 10
NUMBA_CACHE = "numba"


def _no_progress(fraction: float, message: str) -> None:
    pass


def numba_cache_dir() -> Path:
    """$AAE_CACHE_DIR/numba (default ~/.cache/aae_explorer/numba): where UMAP's compiled functions are kept."""
    root = os.environ.get("AAE_CACHE_DIR")
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "aae_explorer") / NUMBA_CACHE


def import_umap():
    """The umap module, imported with numba's on-disk cache on for its functions (compiled once per machine,
    not once per process). Only the first import in a process can do that; later calls return the module."""
    if "umap" in sys.modules:
        return sys.modules["umap"]
    folder = numba_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("NUMBA_CACHE_DIR", str(folder))
    import numba  # noqa: PLC0415 - lazy: numba and umap take seconds to import

    numba.config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]   # numba read the variable when it was imported
    njit, jit = numba.njit, numba.jit

    def caching(decorate):
        def decorator(*args, **kwargs):
            kwargs.setdefault("cache", True)
            return decorate(*args, **kwargs)
        return decorator

    numba.njit, numba.jit = caching(njit), caching(jit)   # while umap's modules define their functions
    try:
        import umap  # noqa: PLC0415
    finally:
        numba.njit, numba.jit = njit, jit
    return umap


def exact_neighbours(points: np.ndarray, k: int, among: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest of `among` [M, d] (default: points itself, each point first) to each of points [N, d]:
    indices [N, k] int64 and Euclidean distances [N, k] float32, nearest first."""
    from sklearn.neighbors import NearestNeighbors  # noqa: PLC0415 - lazy: scikit-learn imports in seconds

    reference = points if among is None else among
    dist, idx = NearestNeighbors(n_neighbors=min(k, len(reference))).fit(reference).kneighbors(points)
    return idx.astype(np.int64), dist.astype(np.float32)


def place_among(points: np.ndarray, fitted: np.ndarray, fitted_xy: np.ndarray,
                k: int = PLACE_NEIGHBOURS) -> np.ndarray:
    """Places [N, 2] of points [N, d] among fitted points [M, d] already placed at fitted_xy [M, 2]: the mean of
    the places of each point's k nearest fitted points, weighted by 1 / distance (a point equal to a fitted one
    lands on it)."""
    idx, dist = exact_neighbours(points, k, among=fitted)
    weights = 1.0 / np.maximum(dist.astype(np.float64), 1e-9)
    weights /= weights.sum(1, keepdims=True)
    return np.einsum("nk,nkc->nc", weights, fitted_xy[idx].astype(np.float64)).astype(np.float32)


class _TqdmProgress(io.TextIOBase):
    """A file for UMAP's tqdm bar that turns 'k/n' epochs into progress calls."""

    def __init__(self, progress: Progress, lo: float, hi: float) -> None:
        self.progress, self.lo, self.hi = progress, lo, hi

    def write(self, s: str) -> int:
        found = re.findall(r"(\d+)/(\d+)", s)
        if found:
            done, total = (int(v) for v in found[-1])
            if total:
                self.progress(self.lo + (self.hi - self.lo) * done / total, f"layout: epoch {done} of {total}")
        return len(s)

    def isatty(self) -> bool:
        return False


def fit_umap(points: np.ndarray, *, seed: int | None = 0, fit_points: int | None = None,
             epochs: int = LAYOUT_EPOCHS, progress: Progress = _no_progress, lo: float = 0.0, hi: float = 1.0,
             graph_share: float = 0.1) -> tuple[np.ndarray, int]:
    """UMAP of points [N, d] -> ([N, 2] float32, how many points UMAP fitted). With fit_points < N, a seeded random
    sample of fit_points is fitted and the rest placed among their nearest fitted neighbours (`place_among`).
    Reported in two stages whose messages start with 'neighbour graph' and 'layout' (per epoch)."""
    n = points.shape[0]
    sample = None
    if fit_points is not None and n > fit_points:
        sample = np.sort(np.random.default_rng(seed).choice(n, fit_points, replace=False))
    fitted = points if sample is None else points[sample]
    m = fitted.shape[0]
    mid = lo + graph_share * (hi - lo)
    progress(lo, f"neighbour graph: the {UMAP_NEIGHBOURS} nearest neighbours of each of {m:,} points, exact "
                 "(the first UMAP fit on a machine also compiles UMAP, about a minute on 2 cores; then it is kept)")
    umap = import_umap()
    idx, dist = exact_neighbours(fitted, UMAP_NEIGHBOURS)
    progress(mid, "layout: the fuzzy graph and its spectral start, then the layout epochs")
    n_jobs = 1 if seed is not None else -1  # a seeded UMAP runs on one thread (it says so, and would warn)
    reducer = umap.UMAP(n_components=2, n_neighbors=UMAP_NEIGHBOURS, min_dist=0.1, random_state=seed, n_jobs=n_jobs,
                        n_epochs=epochs, precomputed_knn=(idx, dist),
                        tqdm_kwds={"disable": False, "file": _TqdmProgress(progress, mid, hi),
                                   "mininterval": 0.25, "ascii": True})
    with warnings.catch_warnings():  # that a graph given without its search index cannot transform: not needed
        warnings.filterwarnings("ignore", message=r"precomputed_knn\[2\]")
        fitted_xy = np.asarray(reducer.fit_transform(fitted), dtype=np.float32)
    if sample is None:
        return fitted_xy, m
    xy = np.empty((n, 2), np.float32)
    rest = np.setdiff1d(np.arange(n), sample)
    xy[sample] = fitted_xy
    xy[rest] = place_among(points[rest], fitted, fitted_xy)
    progress(hi, f"placed the other {len(rest):,} points among their nearest fitted neighbours")
    return xy, m
