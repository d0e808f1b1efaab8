"""A run in its own worker process, so that training never holds the server's interpreter lock.

WorkerJob (the registry's default job) spawns one process per run (the `spawn` start method: forking a
threaded server is unsafe) that runs a TrainingJob at low priority with one torch thread. What crosses
the boundary is small and plain: the configs as dicts going in; going out, the StatusBoard's changes as
messages on a pipe, which a light reader thread in the server applies to the job's own board. Stop is an
Event the worker watches. A worker that dies without its last word (kill -9, a crash) is reported as
failed in one line; the checkpoints it saved stay, as every save is atomic."""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import torch

from aae_core.config import ModelConfig, TrainConfig
from explorer.processes import WORKER_NAME_PREFIX, how_it_died
from explorer.runs.jobs import TrainingJob, kept_checkpoint, run_after_hook
from explorer.runs.status import JobStatus, StatusBoard

log = logging.getLogger(__name__)

WORKER_NICE = 10               # the pages win on shared cores
_CTX = mp.get_context("spawn")


class WorkerJob:
    """One run executed by a worker process; the same face as TrainingJob (start, stop, done, status,
    board, out, extra, join, model_config, train_config). before/after run in the server, on the job's
    reader thread; callbacks run in the worker (so they must pickle: module-level classes; what they change
    stays in the worker)."""

    def __init__(self, model_config: ModelConfig, train_config: TrainConfig, out: str | Path, *,
                 data_dir: str | Path | None = None, device: Any = None, extra: dict[str, Any] | None = None,
                 callbacks: Sequence[Any] = (), snapshot_every_s: float = 2.0, threads: int | None = None,
                 time_limit_s: float | None = None,
                 before: Callable[[WorkerJob], Sequence[str] | None] | None = None,
                 after: Callable[[WorkerJob], Sequence[str] | None] | None = None) -> None:
        self.model_config, self.train_config = model_config, train_config
        self.out, self.extra = Path(out), extra
        self.board = StatusBoard(self.out)
        self._spec = dict(model=model_config.to_dict(), train=train_config.to_dict(), out=str(self.out),
                          data_dir=None if data_dir is None else str(data_dir),
                          device=None if device is None else str(device), extra=extra,
                          snapshot_every_s=snapshot_every_s, threads=threads or 1, time_limit_s=time_limit_s,
                          callbacks=list(callbacks))
        self._before, self._after = before, after
        self._stop = _CTX.Event()
        self.process: mp.process.BaseProcess | None = None
        self._thread = threading.Thread(target=self._run, name=f"aae-worker-{self.out.name}", daemon=True)

    def start(self) -> WorkerJob:
        self._thread.start()
        return self

    def status(self) -> JobStatus:
        return self.board.read()

    @property
    def done(self) -> bool:
        return self.status().done

    def stop(self) -> None:
        """Ask the run to stop after its current mini-batch; the worker then saves and ends as 'stopped'."""
        self._stop.set()
        if not self.status().done:
            self.board.update(message="stopping after this mini-batch...")

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the run to end (its worker, then the server's bookkeeping)."""
        if self._thread.ident is None:
            return self.done
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        board = self.board
        board.update(state="starting", started=time.time(), queue_position=None, message="starting a worker")
        try:
            if self._before is not None:
                board.add_evicted(self._before(self) or ())
            receive, send = _CTX.Pipe(duplex=False)
            self.process = _CTX.Process(target=worker_main, args=(self._spec, send, self._stop),
                                        name=f"{WORKER_NAME_PREFIX}train-{self.out.name}")
            self.process.start()
            send.close()                       # the worker holds the only sending end: EOF when it dies
            ended = self._drain(receive)
            self.process.join()
            if not ended:
                board.finish("failed", f"The training worker {how_it_died(self.process.exitcode)}. "
                                       f"{kept_checkpoint(self.out)}")
        except Exception as exc:  # the page must say what happened
            log.exception("worker for %s", self.out)
            board.finish("failed", f"training failed: could not run a worker ({type(exc).__name__}: {exc})")
        finally:
            board.thin()
            run_after_hook(self._after, self, board)

    def _drain(self, receive: Connection) -> bool:
        """Apply the worker's messages to the board until it ends; True when its final status came."""
        board = self.board
        while True:
            try:
                message, payload = receive.recv()
            except (EOFError, OSError):
                return board.read().done
            apply = {"update": lambda p: board.update(**p), "epoch": board.add_epoch, "loss": board.add_loss_point}
            if message in apply:
                apply[message](payload)


STOP_POLL_S = 0.2   # how often a worker looks at its stop flag
class _PipeBoard(StatusBoard):
    """The worker's board: keeps its own copy (the run reads it back) and sends every change to the server.
    Step counts, which change every mini-batch, go at most every `every_s`."""

    _FREQUENT = frozenset({"step", "steps_per_s"})

    def __init__(self, out: Path, send: Connection, every_s: float = 0.1) -> None:
        super().__init__(out)
        self._send, self._every_s = send, every_s
        self._send_lock = threading.Lock()
        self._pending: dict[str, Any] = {}
        self._last = 0.0

    def _put(self, message: str, payload: Any) -> None:
        with self._send_lock:
            if message != "update" and self._pending:
                self._send.send(("update", self._pending))
                self._pending = {}
            self._send.send((message, payload))

    def update(self, **changes: Any) -> None:
        super().update(**changes)
        with self._send_lock:
            self._pending.update(changes)
            now = time.monotonic()
            if not self._FREQUENT.issuperset(changes) or now - self._last >= self._every_s:
                self._last = now
                self._send.send(("update", self._pending))
                self._pending = {}

    def add_epoch(self, metrics: dict[str, float]) -> None:
        super().add_epoch(metrics)
        self._put("epoch", dict(metrics))

    def add_loss_point(self, point: dict[str, float]) -> None:
        super().add_loss_point(point)
        self._put("loss", point)


def worker_main(spec: dict[str, Any], send: Connection, stop: Any) -> None:
    """The worker process: lower priority, one torch thread, the run, its status sent on `send`. SIGTERM
    or SIGINT to the worker (a terminal's Ctrl-C reaches the whole group) stops the run, which then saves."""
    os.nice(WORKER_NICE)
    torch.set_num_threads(spec["threads"])
    job = TrainingJob(ModelConfig.from_dict(spec["model"]), TrainConfig.from_dict(spec["train"]), spec["out"],
                      data_dir=spec["data_dir"], device=spec["device"], extra=spec["extra"],
                      snapshot_every_s=spec["snapshot_every_s"], time_limit_s=spec["time_limit_s"],
                      callbacks=spec["callbacks"], board=_PipeBoard(Path(spec["out"]), send))
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    def watch() -> None:
        # poll, never stop.wait(): a waiter of a multiprocessing Event that dies (this process, at its end)
        # leaves the Event's condition waiting for its wake-up, and the server's next stop.set() blocks forever
        while not stop.is_set():
            time.sleep(STOP_POLL_S)
        job.stop()

    threading.Thread(target=watch, name="aae-stop-watch", daemon=True).start()
    job.run_here()
    send.close()
