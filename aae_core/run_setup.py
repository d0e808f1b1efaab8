"""Setting up a training run end to end: data, label split, model, trainer, checkpointing.

The command line and the app both start runs through `prepare_run`, so a run rebuilt from a
checkpoint's config.json sees the same data split and initial weights."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from .callbacks import CheckpointCallback
from .checkpoint import OPTIMIZER_FILE, load, read_config
from .config import ModelConfig, TrainConfig
from .data import label_split, load_dataset, validation_split
from .errors import CheckpointNotFoundError
from .families import build_model
from .recipes import ALL_LABELS, resolve_label_budget  # noqa: F401  (re-exported: the run's label budget)
from .snapshots import SnapshotCallback, snapshot_images
from .train_state import load_trainer_state, saved_progress, saved_training
from .training import Callback, Trainer


def prepare_run(model_config: ModelConfig, train_config: TrainConfig, *, out: str | Path | None = None,
                resume: bool = False, data_dir: str | Path | None = None, device=None,
                callbacks: Sequence[Callback] = (), save_every: int = 1, extra: dict | None = None,
                snapshots: bool | None = None, log: Callable[[str], None] = lambda s: None) -> Trainer:
    """A Trainer ready to fit(): real data loaded, labels split from the seed, model initialised from
    the seed (or restored from `out` when resume and a checkpoint is there), checkpoints saved to `out`
    (extra is merged into their config.json, e.g. the command that made the run). snapshots: record a
    training timeline into `out` (aae_core.snapshots); None means on for 2-D latents."""
    resumed = resume and out is not None and (Path(out) / "config.json").is_file()
    if resumed and not (Path(out) / OPTIMIZER_FILE).is_file():
        # Resuming without optimizer state would restart at epoch 0 and overwrite the folder.
        raise CheckpointNotFoundError(f"{out} has no {OPTIMIZER_FILE}: it is an exported copy (or saved without "
                                      "a trainer) and cannot be resumed; resume the run folder it was exported "
                                      "from, or train into a new folder")
    if resumed:
        meta = read_config(out)
        model_config = meta["model"]
        saved = saved_training(meta, Path(out) / "config.json")
        epoch, _, _ = saved_progress(meta, Path(out) / "config.json")
        train_config = replace(saved, epochs=max(train_config.epochs, saved.epochs))
        model = load(out).train()
        log(f"resuming {out} at epoch {epoch}")
    else:
        model = None
    train, test = load_dataset(model_config.dataset, data_dir=data_dir, log=log)
    train_idx, val_idx = validation_split(train.labels, train_config.validation_fraction)
    train, validation = train.take(train_idx), train.take(val_idx)
    labelled = None
    if model_config.n_labels:
        labelled = label_split(train.labels, model_config.n_labels, n_classes=10, seed=train_config.seed)
    if model is None:
        model = build_model(model_config, seed=train_config.seed)
    # per-epoch metrics on validation images (on test images only for runs from before the split)
    held_out = validation if len(validation) else test
    eval_set = held_out.subset(train_config.eval_size) if train_config.eval_size else None
    cbs = list(callbacks)
    if out is not None:
        cbs.append(CheckpointCallback(out, every=save_every, extra=extra))
        if snapshots is None:
            snapshots = model_config.latent_dim == 2
        if snapshots:   # after the checkpoint's save, which replaces the folder
            images, idx = snapshot_images(held_out)
            cbs.append(SnapshotCallback(out, images, idx, source="validation" if len(validation) else "test"))
    trainer = Trainer(model, train_config, train, labelled=labelled, eval_set=eval_set, device=device,
                      callbacks=cbs)
    if resumed and (Path(out) / "optimizer.safetensors").is_file():
        load_trainer_state(out, trainer)
    return trainer
