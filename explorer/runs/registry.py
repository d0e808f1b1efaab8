"""The process's training runs and their queue.

REGISTRY holds the jobs of this process keyed by an owner (the app derives it from an unguessable per-browser
token, see explorer.state), so a run outlives page switches and reloads; each owner has one run at a time. The
server trains at most `max_trainings()` runs at once; the others wait in one FIFO queue (a waiting run can leave
it). While runs wait, a thread of the registry looks every second for runs whose owner has left (no browser session
the server still knows, explorer.presence): a waiting one leaves the queue, and running ones are stopped and saved
for as many runs as still wait (`tend`), so that a lecture's machine trains for the students still in the room.
Each run executes in a worker process (explorer.runs.worker) and stops itself after $AAE_RUN_TIME_LIMIT_MIN. Each
owner keeps at most MAX_RUNS_PER_USER run folders and $AAE_RUNS_QUOTA_MB of them on disk, and all owners together
$AAE_SERVER_MAX_RUNS and $AAE_SERVER_QUOTA_MB: the oldest app-made folders go first (the owner's own for the
owner's caps). When the server exits (SIGTERM included) the running runs are stopped and saved first.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from aae_core.config import ModelConfig, TrainConfig
from aae_core.errors import AAEError
from aae_core.training import Callback
from explorer import presence, umap_worker
from explorer.catalog import runs_dir
from explorer.runs.jobs import TrainingJob, minutes
from explorer.runs.storage import evict_runs
from explorer.runs.worker import WorkerJob
from explorer.settings import (
    MB,
    max_trainings,
    run_time_limit_s,
    runs_quota_bytes,
    server_max_runs,
    server_quota_bytes,
    training_threads,
)

log = logging.getLogger(__name__)

MAX_RUNS_PER_USER = 5          # run folders one owner keeps; the oldest goes when a new run starts
MAX_QUEUED = 50                # waiting runs, all owners together
TEND_EVERY_S = 1.0             # how often, while runs wait, the registry looks for runs whose owner has left
LEFT_NOTE = "this browser had left (tab closed or offline for over {ttl}), so its place went to the students still here"


class JobBusyError(AAEError):
    """The user already has a run in progress."""


class QueueFullError(AAEError):
    """The server's queue of waiting runs is full."""


class JobRegistry:
    """The process's training jobs, one per owner; at most `max_running` train at once (default
    max_trainings()), the rest wait in a FIFO queue of at most `max_queued`. Each owner keeps at most
    `max_runs` run folders, within `quota_mb` (default $AAE_RUNS_QUOTA_MB, else 500 MB); all owners together
    server_max_runs() folders within server_quota_bytes().

    How a run executes is the job's (make_job, TrainingJob's signature: WorkerJob, a worker process, by
    default); the registry asks of a job only start(), stop(), join(), done, status(), its board, out, extra."""

    def __init__(self, root: Callable[[], Path] = runs_dir, *, max_running: int | None = None,
                 max_queued: int = MAX_QUEUED, max_runs: int = MAX_RUNS_PER_USER,
                 quota_mb: float | None = None,
                 make_job: Callable[..., TrainingJob | WorkerJob] = WorkerJob,
                 present: Callable[[str], bool] = presence.here) -> None:
        self._root, self._make_job, self._present = root, make_job, present
        self._max_running, self.max_queued, self.max_runs, self._quota_mb = max_running, max_queued, max_runs, quota_mb
        self._lock = threading.Lock()
        self._jobs: dict[str, TrainingJob] = {}
        self._queue: deque[TrainingJob] = deque()
        self._running: set[TrainingJob] = set()
        self._closing = False
        self._left: set[TrainingJob] = set()      # running runs stopped because their owner had left
        self._tender: threading.Thread | None = None

    @property
    def max_running(self) -> int:
        return self._max_running or max_trainings()

    @property
    def quota_bytes(self) -> int:
        return int(self._quota_mb * MB) if self._quota_mb is not None else runs_quota_bytes()

    def get(self, user: str) -> TrainingJob | None:
        with self._lock:
            return self._jobs.get(user)

    def start(self, user: str, model_config: ModelConfig, train_config: TrainConfig, *, name: str | None = None,
              data_dir: str | Path | None = None, device: str | torch.device | None = None,
              callbacks: Sequence[Callback] = (), snapshot_every_s: float = 2.0,
              recipe: str | None = None) -> TrainingJob:
        """Queue a run for `user` into <runs dir>/<name>; it starts at once when fewer than max_running
        train. JobBusyError if their previous run is still going or waiting; QueueFullError when max_queued
        runs wait already."""
        max_running = self.max_running
        # every setting read now, so that a bad one is said to the user here, not on the run's thread
        quota, time_limit_s = self.quota_bytes, run_time_limit_s()
        server_max_runs(), server_quota_bytes()
        with self._lock:
            current = self._jobs.get(user)
            if current is not None and not current.done:
                raise JobBusyError(f"you already have a run in progress ({current.out.name}); stop it or wait "
                                   "for it to end before starting another")
            if self._closing:
                raise QueueFullError("the server is shutting down; try again once it is back")
            if len(self._queue) >= self.max_queued:
                raise QueueFullError(f"the queue is full ({len(self._queue)} runs waiting for "
                                     f"{max_running} trainer{'s' if max_running > 1 else ''}); try again later")
            stamp = time.strftime("%Y%m%d-%H%M%S")
            base = name or f"{model_config.kind}_{model_config.latent_dim}d_{stamp}"
            out = self._root() / base
            while out.exists() or any(j.out == out for j in self._jobs.values()):
                out = self._root() / f"{base}_{uuid.uuid4().hex[:4]}"
            job = self._make_job(model_config, train_config, out, data_dir=data_dir, device=device,
                                 extra={"app_user": user, "recipe": recipe}, callbacks=callbacks,
                                 snapshot_every_s=snapshot_every_s, threads=training_threads(max_running),
                                 time_limit_s=time_limit_s,
                                 before=lambda j: self._make_room(user, j, keep=self.max_runs - 1, quota=quota),
                                 after=self._ended)
            self._jobs[user] = job
            self._queue.append(job)
            ready = self._dispatch_locked()
            if self._queue and self._tender is None:
                self._tender = threading.Thread(target=self._tend_while_waiting, name="aae-queue-tender",
                                                daemon=True)
                self._tender.start()
        for ready_job in ready:
            ready_job.start()
        self.tend()
        return job

    def tend(self) -> list[TrainingJob]:
        """While runs wait: runs whose owner has left (explorer.presence) give way to those whose owner is here.
        Waiting ones leave the queue; running ones are stopped (and save), as many as there are runs still waiting
        behind them. Returns the running runs it stopped. Called every TEND_EVERY_S by a thread of the registry's
        own while anything waits, and by `start`."""
        with self._lock:
            waiting = list(self._queue)
            running = [j for j in self._running if j not in self._left]
        if not waiting:
            return []
        gone_waiting = [j for j in waiting if not self._present(_owner(j))]
        gone_running = [j for j in running if not self._present(_owner(j))]
        with self._lock:
            for job in gone_waiting:
                if job in self._queue:
                    self._queue.remove(job)
                    _owner_left(job, "Left the queue")
            if gone_waiting:
                self._renumber_locked()
            stopping = [j for j in gone_running if j in self._running][:len(self._queue)]
            self._left.update(stopping)
            waiting_now = len(self._queue)
        for job in stopping:
            log.info("stopping %s: its owner has left and %d runs wait", job.out, waiting_now)
            job.stop()
        return stopping

    def _tend_while_waiting(self) -> None:
        """The registry's tending thread: runs while anything waits (started by `start`, ends with the queue)."""
        while True:
            time.sleep(TEND_EVERY_S)
            with self._lock:
                if not self._queue or self._closing:
                    self._tender = None
                    return
            try:
                self.tend()
            except Exception:  # noqa: BLE001  (a thread with nobody to tell: log, and look again)
                log.exception("tending the queue")

    def stop(self, user: str) -> bool:
        """Stop the user's run, or take it out of the queue; False when they have none in progress."""
        job = self.get(user)
        if job is None or job.done:
            return False
        if not self.leave_queue(user):
            job.stop()
        return True

    def leave_queue(self, user: str) -> bool:
        """Take the user's waiting run out of the queue (it ends as 'left', with nothing on disk); False
        when they have no run waiting."""
        with self._lock:
            job = self._jobs.get(user)
            if job is None or job not in self._queue:
                return False
            self._queue.remove(job)
            del self._jobs[user]
            job.board.finish("left", "left the queue")
            self._renumber_locked()
        return True

    def forget(self, user: str) -> None:
        """Drop the user's ended run from the registry (its checkpoint stays on disk)."""
        with self._lock:
            job = self._jobs.get(user)
            if job is not None and job.done:
                del self._jobs[user]

    def queued(self) -> list[TrainingJob]:
        """The waiting runs, next first."""
        with self._lock:
            return list(self._queue)

    def running(self) -> int:
        with self._lock:
            return len(self._running)

    def protected(self) -> set[Path]:
        """Run folders no eviction may touch: those of every run this registry holds."""
        with self._lock:
            return {j.out for j in self._jobs.values()} | {j.out for j in self._running}

    def shutdown(self, timeout: float = 60.0) -> None:
        """Before the process exits: waiting runs leave the queue, running ones stop and save; waits up to
        `timeout` s for them. Registered with atexit for REGISTRY (Streamlit's SIGTERM handler returns)."""
        with self._lock:
            self._closing = True
            waiting, self._queue = list(self._queue), deque()
            running = list(self._running)
        for job in waiting:
            job.board.finish("left", "the server shut down before this run started")
        for job in running:
            job.stop()
        end = time.monotonic() + timeout
        for job in running:
            job.join(max(0.0, end - time.monotonic()))

    def _dispatch_locked(self) -> list[TrainingJob]:
        """Move waiting runs to running while there is room (lock held); the caller starts them."""
        ready = []
        while not self._closing and self._queue and len(self._running) < self.max_running:
            job = self._queue.popleft()
            if not self._present(_owner(job)):         # nobody would see it: its place goes to the next
                _owner_left(job, "Left the queue when its turn came")
                continue
            self._running.add(job)
            job.board.update(queue_position=None, message="starting")
            ready.append(job)
        self._renumber_locked()
        return ready

    def _renumber_locked(self) -> None:
        n, running = len(self._queue), len(self._running)
        for i, job in enumerate(self._queue):
            job.board.update(state="queued", queue_position=i + 1, queue_length=n,
                             message=f"waiting: {running} run{'s' if running != 1 else ''} training, "
                                     f"{i} ahead of this one")

    def _make_room(self, user: str, job: TrainingJob, *, keep: int, quota: int, new: bool = True) -> list[str]:
        """Keep the owner, then the server, within their caps (`new`: leave room for the run starting now).
        Returns the owner's runs removed; anyone's removed for the server go on the job's board apart."""
        protect = self.protected()
        mine = evict_runs(self._root(), user, keep=keep, quota_bytes=quota, protect=protect)
        theirs = evict_runs(self._root(), None, keep=server_max_runs() - new, quota_bytes=server_quota_bytes(),
                            protect=protect)
        job.board.add_evicted(theirs, server=True)
        return mine

    def _ended(self, job: TrainingJob) -> list[str]:
        """On the ended run's thread: keep its owner within the caps, then start the next waiting run."""
        user = _owner(job)
        try:
            removed = self._make_room(user, job, keep=self.max_runs, quota=self.quota_bytes, new=False)
        except (OSError, ValueError):
            log.exception("could not enforce the run caps after %s", job.out)
            removed = []
        with self._lock:
            self._running.discard(job)
            made_room = job in self._left
            self._left.discard(job)
            s = job.status()
            if made_room and s.state == "stopped":
                job.board.update(message=f"Stopped to make room: {_left_note()}. {s.message[:1].upper()}"
                                         f"{s.message[1:]}")
            ready = self._dispatch_locked()
        for ready_job in ready:
            ready_job.start()
        if job.status().has_checkpoint:
            umap_worker.head_start(job.model_config.latent_dim, str(job.out))   # its map will need UMAP
        return removed


def _owner(job: TrainingJob) -> str:
    return (job.extra or {}).get("app_user", "")


def _left_note() -> str:
    return LEFT_NOTE.format(ttl=minutes(presence.kept_for_s()))


def _owner_left(job: TrainingJob, what: str) -> None:
    """A waiting run whose owner has left ends here, with nothing on disk; `what` opens its message."""
    job.board.finish("left", f"{what}: {_left_note()}. Start a new run below.")
    log.info("%s left the queue: its owner has left", job.out)


def time_limit_note() -> str:
    """The server's per-run time limit in a sentence for the page ('' when there is none)."""
    limit = run_time_limit_s()
    return "" if limit is None else (f"Each run trains for at most {minutes(limit)} on this server, then saves and "
                                     "ends as if stopped, so that the runs waiting get their turn.")


REGISTRY = JobRegistry()
atexit.register(REGISTRY.shutdown)
