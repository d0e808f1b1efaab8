"""The app's worker processes (training runs, UMAP fits): their names, how they start, how they ended. Torch-free,
so that the UMAP worker's side (explorer.umap_worker) and the training worker's (explorer.runs.worker) share it.

Importing this module makes multiprocessing's `spawn` leave a worker's __main__ alone (see _without_main)."""

from __future__ import annotations

import signal
from collections.abc import Callable
from multiprocessing import spawn as mp_spawn

WORKER_NAME_PREFIX = "aae-"   # every worker process the app spawns is named so (see _without_main)


def _without_main(get_preparation_data: Callable[[str], dict]) -> Callable[[str], dict]:
    """Wrap multiprocessing's spawn preparation so that a worker process of the app (training, UMAP) never re-runs
    the parent's __main__. Spawn records the parent's __main__ (its file or module name) and the child runs it
    before the target; Streamlit makes each page script __main__, set again in every session's own thread at each
    rerun, so no lock held while starting a worker can keep a page out. The worker needs nothing from __main__ (its
    target and arguments live in importable modules), so its preparation drops those two
    keys; every other process is prepared as before."""
    if getattr(get_preparation_data, "_aae_without_main", False):
        return get_preparation_data

    def preparation_data(name: str) -> dict:
        data = get_preparation_data(name)
        if name.startswith(WORKER_NAME_PREFIX):
            data.pop("init_main_from_path", None)
            data.pop("init_main_from_name", None)
        return data

    preparation_data._aae_without_main = True  # type: ignore[attr-defined]
    return preparation_data


mp_spawn.get_preparation_data = _without_main(mp_spawn.get_preparation_data)


def how_it_died(exitcode: int | None) -> str:
    """How a worker process ended without its last word, for a one-line message: killed (which signal), or its
    exit code."""
    if exitcode is not None and exitcode < 0:
        try:
            return f"was killed ({signal.Signals(-exitcode).name})"
        except ValueError:
            return f"was killed (signal {-exitcode})"
    return f"ended without a result (exit code {exitcode})"
