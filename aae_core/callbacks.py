"""The Trainer callback that saves a run as it goes (the checkpoint format itself knows nothing of training)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .checkpoint import read_config, save
from .checkpoint_meta import CONFIG_FILE
from .training import Callback, Trainer


class CheckpointCallback(Callback):
    """Saves model + optimizer state to `path` every `every` epochs and when a run ends or stops.

    A diverged run raises before any of these hooks, so the last good checkpoint stays."""

    def __init__(self, path: str | Path, every: int = 1, extra: dict[str, Any] | None = None) -> None:
        self.path, self.every, self.extra = Path(path), max(1, every), extra
        self._start_step: int | None = None
        self._saved_step: int | None = None

    def on_train_start(self, trainer: Trainer) -> None:
        self._start_step, self._saved_step = trainer.state.step, None

    def on_epoch_end(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        if trainer.state.epoch % self.every == 0:
            save(trainer.model, self.path, trainer=trainer, extra=self.extra)
            self._saved_step = trainer.state.step

    def on_train_end(self, trainer: Trainer, reason: str) -> None:
        # Saved already: by this run at this step, or (a resumed run that trained no step) the folder it
        # resumed from. A checkpoint of another run at the same step (--overwrite) is not this run's.
        step = trainer.state.step
        saved = self._saved_step == step or (
            self._start_step == step and (self.path / CONFIG_FILE).is_file()
            and (read_config(self.path).get("progress") or {}).get("step") == step)
        if not saved:
            save(trainer.model, self.path, trainer=trainer, extra=self.extra)
