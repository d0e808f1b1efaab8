"""A training timeline: snapshots of a run, recorded while it trains and kept in its checkpoint folder.

Each snapshot holds the codes of a fixed set of held-out images (the same images every time), and for 2-D
latents judged by a discriminator, D's grid (what it thinks of every point of the map, per label for a
label-conditioned D) and the generator's push on the first codes; with them the step, the epoch and the
losses so far. Snapshots are taken at a few steps of the first epoch (when the picture changes fastest) and
at every epoch's end. They live in one file, snapshots.safetensors, whose metadata is the JSON index, so a
reader sees a whole timeline or the previous one, never a mix; it is rewritten atomically after every save.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save as st_save_bytes

from .checkpoint_meta import CONFIG_FILE, SNAPSHOTS_FILE
from .data import ImageSet
from .errors import CorruptCheckpointError
from .fsutil import atomic_write
from .game import GRID_STEPS, critic_labels, discriminator_grid, generator_push, has_latent_critic
from .metrics import encode_all
from .tensor_files import read_header, read_safetensors
from .training import Callback, Trainer

log = logging.getLogger(__name__)

FORMAT = 1
N_CODES = 1000                 # held-out images whose codes every snapshot records
N_PUSH = 200                   # of them, the first N_PUSH get the generator's push
EARLY_STEPS = (0, 50, 200)     # steps of the first epoch recorded besides every epoch's end
MAX_SNAPSHOTS = 64             # a longer run keeps an evenly thinned timeline (the first and last kept)
MAX_FILE_BYTES = 32 * 2**20    # 64 snapshots of 1,000 2-D codes and ten 48x48 grids are about 3.5 MB
PRIOR_SAMPLES = 5000


def snapshot_images(held_out: ImageSet, n: int = N_CODES, seed: int = 0) -> tuple[ImageSet, torch.Tensor]:
    """A fixed, seeded choice of n held-out images and their indices in `held_out`."""
    idx = torch.randperm(len(held_out), generator=torch.Generator().manual_seed(seed))[:n].sort().values
    return held_out.take(idx), idx


def grid_extent(model, pad: float = 0.3) -> tuple[float, float, float, float]:
    """The square of the map D's grid covers: the prior's central 99 % (per axis), widened by `pad` each way."""
    s = model.prior.sample(PRIOR_SAMPLES, generator=torch.Generator().manual_seed(0)).float().cpu()
    lo, hi = torch.quantile(s, 0.005, dim=0), torch.quantile(s, 0.995, dim=0)
    half = float(((hi - lo) / 2).max()) * (1 + pad)
    cx, cy = float((hi[0] + lo[0]) / 2), float((hi[1] + lo[1]) / 2)
    return (cx - half, cx + half, cy - half, cy + half)


@dataclass
class Timeline:
    """A run's snapshots. entries[i]: {"epoch", "step", "losses"} (losses: the latest mini-batch's per
    phase, and at an epoch's end that epoch's means and validation numbers as in the history)."""

    labels: np.ndarray                       # [N] labels of the recorded images
    indices: np.ndarray                      # [N] their indices in the held-out set (`source`)
    source: str                              # "validation" or "test"
    extent: tuple[float, float, float, float] | None    # what the grids cover (None: no grids)
    grid_labels: list[int | None]            # the label each grid is for (None: D is unconditioned)
    entries: list[dict[str, Any]] = field(default_factory=list)
    codes: list[np.ndarray] = field(default_factory=list)          # [N, latent_dim] each
    grids: list[np.ndarray | None] = field(default_factory=list)   # [len(grid_labels), S, S] each
    push: list[np.ndarray | None] = field(default_factory=list)    # [N_PUSH, latent_dim] each

    def __len__(self) -> int:
        return len(self.entries)

    def index(self) -> dict[str, Any]:
        return {"format": FORMAT, "source": self.source, "extent": self.extent, "grid_labels": self.grid_labels,
                "entries": self.entries}

    def keep(self, max_snapshots: int) -> None:
        """Thin the timeline evenly to at most max_snapshots, keeping the first and the last."""
        if len(self) <= max_snapshots:
            return
        keep = sorted(set(np.linspace(0, len(self) - 1, max_snapshots).round().astype(int).tolist()))
        for name in ("entries", "codes", "grids", "push"):
            items = getattr(self, name)
            setattr(self, name, [items[i] for i in keep])

    def to_bytes(self) -> bytes:
        tensors = {"labels": torch.as_tensor(self.labels).long(), "indices": torch.as_tensor(self.indices).long()}
        for i, (codes, grid, push) in enumerate(zip(self.codes, self.grids, self.push, strict=True)):
            tensors[f"codes.{i}"] = torch.as_tensor(codes).half()
            if grid is not None:
                tensors[f"grid.{i}"] = torch.as_tensor(grid).half()
            if push is not None:
                tensors[f"push.{i}"] = torch.as_tensor(push).half()
        return st_save_bytes(tensors, metadata={"index": json.dumps(self.index())})


def _bad(file: Path, what: str) -> CorruptCheckpointError:
    return CorruptCheckpointError(f"{file} is not a training timeline this program wrote ({what}); "
                                  "delete it or retrain the model with snapshots")


def load_timeline(path: str | Path, latent_dim: int) -> Timeline | None:
    """The timeline in checkpoint folder `path` (None when it has none). Safetensors only; every tensor's
    shape is checked against the index and the model's latent_dim before anything is returned."""
    file = Path(path) / SNAPSHOTS_FILE
    if not file.is_file():
        return None
    if file.stat().st_size > MAX_FILE_BYTES:
        raise _bad(file, f"larger than {MAX_FILE_BYTES // 2**20} MB")
    entries, metadata = read_header(file)
    try:
        index = json.loads(metadata.get("index", ""))
        steps = index["entries"]
        grid_labels = list(index["grid_labels"])
        extent = tuple(float(v) for v in index["extent"]) if index["extent"] is not None else None
        if index.get("format") != FORMAT or not isinstance(steps, list) or len(steps) > MAX_SNAPSHOTS:
            raise ValueError("unknown format or too many snapshots")
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise _bad(file, f"its index: {exc}") from None
    n = (entries.get("labels") or (None, [None]))[1][0]
    if n is None or entries.get("indices", (None, None))[1] != [n]:
        raise _bad(file, "no labels / indices")
    for i in range(len(steps)):
        if entries.get(f"codes.{i}", (None, None))[1] != [n, latent_dim]:
            raise _bad(file, f"codes of snapshot {i} are not [{n}, {latent_dim}]")
        grid = entries.get(f"grid.{i}")
        if grid is not None and (len(grid[1]) != 3 or grid[1][0] != len(grid_labels) or grid[1][1] != grid[1][2]):
            raise _bad(file, f"grid of snapshot {i} has shape {grid[1]}")
        push = entries.get(f"push.{i}")
        if push is not None and (len(push[1]) != 2 or push[1][1] != latent_dim or push[1][0] > n):
            raise _bad(file, f"push of snapshot {i} has shape {push[1]}")
    tensors, _ = read_safetensors(file)
    t = Timeline(tensors["labels"].numpy(), tensors["indices"].numpy(), str(index.get("source", "validation")),
                 extent, grid_labels, list(steps))
    for i in range(len(steps)):
        t.codes.append(tensors[f"codes.{i}"].float().numpy())
        t.grids.append(tensors[f"grid.{i}"].float().numpy() if f"grid.{i}" in tensors else None)
        t.push.append(tensors[f"push.{i}"].float().numpy() if f"push.{i}" in tensors else None)
    return t


def take_snapshot(model, images: torch.Tensor, timeline: Timeline, *, epoch: int, step: int,
                  losses: dict[str, float], n_push: int = N_PUSH, grid_steps: int = GRID_STEPS) -> None:
    """Append the model's picture now to `timeline` (images: the recorded ones as [N, 784] floats)."""
    codes = encode_all(model, images).float()
    grid = push = None
    if timeline.extent is not None:
        grid = np.stack([discriminator_grid(model, timeline.extent, grid_steps, label)
                         for label in timeline.grid_labels])
        labels = critic_labels(model, images[:n_push], torch.as_tensor(timeline.labels[:n_push]))
        push = generator_push(model, codes[:n_push], labels)
    timeline.entries.append({"epoch": int(epoch), "step": int(step),
                             "losses": {k: float(v) for k, v in losses.items()}})
    timeline.codes.append(codes.cpu().numpy())
    timeline.grids.append(grid)
    timeline.push.append(push)


class SnapshotCallback(Callback):
    """Records a Timeline of the run into checkpoint folder `path` (see the module's docstring).

    Put it after the CheckpointCallback: a checkpoint save replaces the folder, and this callback rewrites
    the timeline after each one. Until the run's first checkpoint exists the snapshots wait in memory.
    `latest` is the newest snapshot's index, for a live view of the run."""

    def __init__(self, path: str | Path, images: ImageSet, indices: torch.Tensor, *, source: str = "validation",
                 early_steps: Sequence[int] = EARLY_STEPS, max_snapshots: int = MAX_SNAPSHOTS) -> None:
        self.path, self.images, self.indices, self.source = Path(path), images, indices, source
        self.early_steps, self.max_snapshots = set(early_steps), max_snapshots
        self.timeline: Timeline | None = None

    def _fresh(self, model) -> Timeline:
        grids = model.config.latent_dim == 2 and has_latent_critic(model)
        grid_labels: list[int | None] = [None]
        if grids and model.config.label_conditioned:
            grid_labels = list(range(model.config.n_classes))
        return Timeline(self.images.labels.cpu().numpy(), self.indices.cpu().numpy(), self.source,
                        grid_extent(model) if grids else None, grid_labels)

    def on_train_start(self, trainer: Trainer) -> None:
        self._x = self.images.to(trainer.device).to_float()
        step = trainer.state.step
        try:
            old = load_timeline(self.path, trainer.model.config.latent_dim) if step else None
        except CorruptCheckpointError as exc:
            log.warning("starting a new timeline: %s", exc)
            old = None
        if old is not None and len(old.labels) == len(self.images):
            # a resumed run: keep what was recorded up to the checkpoint it resumed from
            kept = [i for i, e in enumerate(old.entries) if e["step"] <= step]
            for name in ("entries", "codes", "grids", "push"):
                setattr(old, name, [getattr(old, name)[i] for i in kept])
            self.timeline = old
        else:
            self.timeline = self._fresh(trainer.model)
        if step == 0:
            self._take(trainer, {})

    def _take(self, trainer: Trainer, losses: dict[str, float]) -> None:
        take_snapshot(trainer.model, self._x, self.timeline, epoch=trainer.state.epoch, step=trainer.state.step,
                      losses=losses)
        self.timeline.keep(self.max_snapshots)

    @property
    def latest(self) -> dict[str, Any] | None:
        return self.timeline.entries[-1] if self.timeline is not None and len(self.timeline) else None

    def on_step_end(self, trainer: Trainer) -> None:
        if trainer.state.epoch == 0 and trainer.state.step in self.early_steps:
            self._take(trainer, {k: float(v) for k, v in trainer.state.last_losses.items()})

    def on_epoch_end(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        self._take(trainer, {k: v for k, v in metrics.items() if isinstance(v, float) and k != "seconds"})
        self.write()

    def on_train_end(self, trainer: Trainer, reason: str) -> None:
        if self.timeline is not None and (not len(self.timeline)
                                          or self.timeline.entries[-1]["step"] != trainer.state.step):
            self._take(trainer, {k: float(v) for k, v in trainer.state.last_losses.items()})
        self.write()

    def write(self) -> None:
        """Write the timeline into the checkpoint folder (atomically; only once the checkpoint exists)."""
        if self.timeline is None or not (self.path / CONFIG_FILE).is_file():
            return
        data = self.timeline.to_bytes()
        atomic_write(self.path / SNAPSHOTS_FILE, lambda tmp: tmp.write_bytes(data), mode=0o644)


def copy_timeline(src: str | Path, dst: str | Path, latent_dim: int) -> bool:
    """Copy the timeline of checkpoint folder src into dst (re-written after loading it safely); False if none."""
    timeline = load_timeline(src, latent_dim)
    if timeline is None:
        return False
    data = timeline.to_bytes()
    atomic_write(Path(dst) / SNAPSHOTS_FILE, lambda tmp: tmp.write_bytes(data), mode=0o644)
    return True
