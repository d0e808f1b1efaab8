"""What a run looks like from outside: its state, progress, measured speed, history and latest 2-D snapshot
(JobStatus, a frozen copy), and the lock-protected StatusBoard the training side writes and pages read."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from aae_core.checkpoint_meta import CONFIG_FILE

JobState = Literal["queued", "starting", "running", "finished", "stopped", "diverged", "failed", "left"]
FINAL_STATES = frozenset({"finished", "stopped", "diverged", "failed", "left"})


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
    server_evicted: tuple[str, ...] = ()                  # anyone's oldest runs removed for the server's caps
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

    def add_evicted(self, names: Sequence[str], *, server: bool = False) -> None:
        if names:
            field = "server_evicted" if server else "evicted"
            with self._lock:
                self._status = replace(self._status, **{field: getattr(self._status, field) + tuple(names)})

    def thin(self) -> None:
        """Keep an ended run's loss curve to KEPT_LOSS_POINTS evenly spaced points (the last one kept)."""
        with self._lock:
            n = len(self._losses)
            if n > self.KEPT_LOSS_POINTS:
                idx = np.linspace(0, n - 1, self.KEPT_LOSS_POINTS).round().astype(int)
                self._losses = [self._losses[i] for i in sorted(set(idx.tolist()))]

    def finish(self, state: JobState, message: str) -> None:
        self.update(state=state, message=message, ended=time.time(), queue_position=None)


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
