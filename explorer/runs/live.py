"""The Trainer callback that feeds a StatusBoard from the training side: steps, measured speed, smoothed
losses, per-epoch metrics and 2-D snapshots of encoded test points next to prior samples."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from aae_core.metrics import encode_all
from aae_core.training import Callback, Trainer, device_name
from explorer.runs.status import Snapshot, StatusBoard


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
