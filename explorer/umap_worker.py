"""UMAP fits in a worker process, so that a fit never holds the server's interpreter lock.

One process (multiprocessing `spawn`, named aae-umap-<n> so that its preparation never re-runs a page as
__main__: explorer.processes) at a lower priority, on one thread, fits the points the server sends it
(aae_core.umap_fit) and sends back progress and the places. It is started when a map is asked for (its imports
then overlap the server's encoding) and kept for the next fit, so that only its first fit pays for importing
umap, scikit-learn and numba's cached code; after `IDLE_S` without work it ends itself. One fit at a time (the
server's task registry asks for one at once; the lock makes sure). A worker that dies (killed, crashed) fails
its fit with one line, and the next fit starts a new one.

The child imports this module: it must stay light (numpy and aae_core.umap_fit; no torch, no Streamlit)."""

from __future__ import annotations

import itertools
import logging
import multiprocessing as mp
import os
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection

import numpy as np
from threadpoolctl import threadpool_limits

from aae_core import umap_fit
from explorer.processes import WORKER_NAME_PREFIX, how_it_died
from explorer.tasks import TaskError

log = logging.getLogger(__name__)

UMAP_NICE = 10           # the pages win on shared cores
IDLE_S = 1800.0          # a worker without work this long ends itself (its 330-490 MB go back)
CHILD_SETUP: Callable[[], None] | None = None
"""A function (of an importable module: it is pickled by name, so a lambda fails when the worker starts) the child
calls before its first fit (tests install a stand-in umap there); None in use."""
STARTING = ("neighbour graph: waiting for the UMAP worker process to import UMAP (seconds; the first time on a "
            "machine about a minute, compiling)")
_CTX = mp.get_context("spawn")
_NUMBERS = itertools.count(1)


class WorkerDied(TaskError):
    """The worker process ended without finishing its fit; the message is the page's one line."""


class UmapWorker:
    """The server's side of one kept worker process: start() (early, to overlap its imports) and fit()."""

    def __init__(self, idle_s: float = IDLE_S) -> None:
        self.idle_s = idle_s
        self.process: mp.process.BaseProcess | None = None
        self._conn: Connection | None = None
        self._last_used = 0.0
        self._busy = False
        self._ready = False      # whether the worker said it has imported UMAP
        self._lock = threading.Lock()      # one fit at a time
        self._start_lock = threading.Lock()

    def start(self) -> UmapWorker:
        """Make sure a worker runs (a new one when there is none, it died, or it is about to end idle)."""
        with self._start_lock:
            alive = self.process is not None and self.process.is_alive()
            if alive and (self._busy or time.monotonic() - self._last_used < self.idle_s - 30):
                return self
            if alive:  # ending idle: the next request could cross its exit
                self.process.terminate()
            mine, theirs = _CTX.Pipe(duplex=True)
            self.process = _CTX.Process(target=serve, args=(theirs, CHILD_SETUP, self.idle_s), daemon=True,
                                        name=f"{WORKER_NAME_PREFIX}umap-{next(_NUMBERS)}")
            self.process.start()
            theirs.close()
            self._conn, self._last_used, self._ready = mine, time.monotonic(), False
            return self

    def fit(self, points: np.ndarray, *, progress: Callable[[float, str], None] = umap_fit._no_progress,
            **options) -> tuple[np.ndarray, int]:
        """aae_core.umap_fit.fit_umap(points [N, d], **options) run by the worker: ([N, 2], how many were fitted)."""
        with self._lock:
            self.start()
            process, conn = self.process, self._conn
            self._busy = True
            try:
                conn.send(("fit", np.ascontiguousarray(points, dtype=np.float32), options))
                if not self._ready:
                    progress(options.get("lo", 0.0), STARTING)
                while True:
                    message, *payload = conn.recv()
                    if message == "ready":
                        self._ready = True
                    elif message == "progress":
                        progress(*payload)
                    elif message == "done":
                        xy, fitted = payload
                        return xy, fitted
                    else:
                        raise WorkerDied(f"{payload[0]} (in the UMAP worker; the server's log has the details). "
                                         "Press Try again.")
            except (EOFError, OSError) as exc:
                process.join(5)
                raise WorkerDied(f"its worker process {how_it_died(process.exitcode)} before the map was done. "
                                 "Press Try again.") from exc
            finally:
                self._busy, self._last_used = False, time.monotonic()

    def stop(self) -> None:
        """End the worker (it has nothing to save)."""
        with self._start_lock:
            if self.process is not None and self.process.is_alive():
                self.process.terminate()
                self.process.join(5)


def serve(conn: Connection, setup: Callable[[], None] | None, idle_s: float) -> None:
    """The worker process: lower priority, one thread, its imports first, then fits until idle for idle_s."""
    os.nice(UMAP_NICE)
    threadpool_limits(1)               # one BLAS / OpenMP thread
    if setup is not None:
        setup()
    umap_fit.import_umap()             # while the server encodes: the fit then finds umap imported
    conn.send(("ready",))
    while conn.poll(idle_s):
        try:
            _, points, options = conn.recv()
        except EOFError:
            return                     # the server went away

        def progress(fraction: float, message: str) -> None:
            conn.send(("progress", fraction, message))

        try:
            xy, fitted = umap_fit.fit_umap(points, progress=progress, **options)
        except Exception as exc:  # noqa: BLE001 - reported to the server in one line; the worker stays
            log.exception("UMAP fit failed")
            conn.send(("error", f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"))   # one line
            continue
        conn.send(("done", xy, fitted))


WORKER = UmapWorker()


def head_start(latent_dim: int, why: str) -> None:
    """A model whose map will need UMAP (latent_dim > 2) has just appeared (a run ended, an upload loaded): start
    the worker now, so that its imports (most of a first map's 14-20 s with a fresh worker; 5-11 s with a running
    one, docs/serving.md) overlap the user's way to the map. Never fails: the map starts its own worker anyway."""
    if latent_dim <= 2:
        return
    try:
        WORKER.start()
    except Exception:  # noqa: BLE001 - a head start only
        log.exception("could not start the UMAP worker after %s", why)
