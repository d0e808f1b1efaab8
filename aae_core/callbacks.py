"""The Trainer callback that saves a run as it goes (the checkpoint format itself knows nothing of training)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .checkpoint import read_config, save
from .checkpoint_meta import CHECKPOINT_FILE_PATTERNS, CONFIG_FILE
from .errors import CheckpointSaveError, OutputPathError
from .fsutil import others_in
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
            self._save(trainer)
            self._saved_step = trainer.state.step

    def on_train_end(self, trainer: Trainer, reason: str) -> None:
        # Saved already: by this run at this step, or (a resumed run that trained no step) the folder it
        # resumed from. A checkpoint of another run at the same step (--overwrite) is not this run's.
        step = trainer.state.step
        saved = self._saved_step == step or (
            self._start_step == step and (self.path / CONFIG_FILE).is_file()
            and (read_config(self.path).get("progress") or {}).get("step") == step)
        if not saved:
            self._save(trainer)

    def _save(self, trainer: Trainer) -> None:
        try:
            save(trainer.model, self.path, trainer=trainer, extra=self.extra)
        except OutputPathError:
            added = others_in(self.path, CHECKPOINT_FILE_PATTERNS)
            if not added or not (self.path / CONFIG_FILE).is_file():
                raise
            # Someone put files into the run's folder while it trained: they are never replaced or deleted,
            # so the run cannot save there; it stops with the last checkpoint intact.
            raise CheckpointSaveError(
                f"could not save the checkpoint to {self.path}: files were put into it while the run trained "
                f"({', '.join(added[:3])}{' and more' if len(added) > 3 else ''}); a run's folder holds only its "
                "checkpoint, and other files are never replaced or deleted. The last saved checkpoint there is "
                "intact: move those files out and continue with --resume") from None
