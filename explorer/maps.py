"""Latent maps as the app uses them: from the memory or disk cache (numpy only: no torch, no data), computed
at once for 'latent' and 'pca', or for 'umap' in the background (explorer.tasks.TASKS, shared by every user who
asks: a thread of the server encodes, the kept UMAP worker process fits). The maps are aae_core.projection's;
reading them needs only aae_core.map_cache (no torch)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

import aae_core
from aae_core import map_cache, umap_fit
from aae_core.idx import default_data_dir, test_set_size
from explorer.models import test_set
from explorer.tasks import TASKS, BackgroundTask
from explorer.umap_worker import WORKER

if TYPE_CHECKING:
    from explorer.picker import Current, Pick


@st.cache_resource(max_entries=32, show_spinner=False)
def _map_from_disk(fingerprint: str, method: str, folder: str | None, config: str | None, n_test: int | None,
                   latent_dim: int) -> map_cache.LatentMap:
    found = map_cache.load_cached(method, fingerprint, folder, config=config, n_test=n_test, latent_dim=latent_dim)
    if found is None:
        raise LookupError("no cached map")  # exceptions are not cached: the next call looks again
    return found


def _config_key(cur: Pick) -> str | None:
    """The key of the pick's config.json for the map cache; None for uploads, whose identity covers it."""
    return map_cache.config_key(cur.stored_model) if cur.folder is not None else None


def cached_map(cur: Pick, method: str) -> map_cache.LatentMap | None:
    """The map if it is cached (memory or disk) and is a map of this model's codes of the test set (its size read
    from the data's header), else None. Never loads data, the model or torch."""
    n_test = test_set_size(cur.stored_model.get("dataset", "mnist"), default_data_dir())
    try:
        return _map_from_disk(cur.fingerprint, method, str(cur.folder) if cur.folder else None, _config_key(cur),
                              n_test, cur.latent_dim)
    except LookupError:
        return None


def _task_key(cur: Pick, method: str) -> str:
    return f"map:{cur.fingerprint}:{method}"


def latent_map(cur: Current, method: str) -> map_cache.LatentMap | BackgroundTask | None:
    """The map of `method`: from the cache; computed here for 'latent' and 'pca' (instant); for 'umap'
    the background task that is fitting it (the page shows its progress). None when data is missing."""
    found = cached_map(cur, method)
    if found is not None:
        return found
    task = TASKS.get(_task_key(cur, method))
    if task is not None and task.status().state == "done":
        return task.status().result
    test = test_set(cur.config.dataset)
    if test is None:
        return None
    folder = str(cur.folder) if cur.folder else None
    model, fingerprint, config = cur.model, cur.fingerprint, _config_key(cur)

    def compute(progress=umap_fit._no_progress) -> map_cache.LatentMap:
        # cached_map has just looked in the memory and disk caches: compute and store, without a second look
        if method == "umap":
            WORKER.start()       # its imports run while this thread encodes
        lmap = aae_core.projection.compute_map(model, test, method, fingerprint=fingerprint, progress=progress,
                                               fit=WORKER.fit)   # torch: only where a map is computed
        map_cache.save_cached(lmap, folder, config)
        return lmap

    if method != "umap":
        with st.spinner(f"Encoding {len(test):,} test images..."):
            return compute()
    return TASKS.get_or_start(_task_key(cur, method), compute,
                              message=f"UMAP stage 1 of 3, encoding the test images: 0 of {len(test):,}")


def retry_map(cur: Pick, method: str) -> None:
    """Forget a failed background fit, so that the next latent_map call starts it again."""
    TASKS.discard(_task_key(cur, method))
