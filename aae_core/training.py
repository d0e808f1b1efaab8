"""The Trainer: the paper's phases per mini-batch, each with its own optimizer step; callbacks out.

Per batch (paper §2): reconstruction (encoder + decoder), regularization as discriminator then
generator (encoder), and with labels a supervised phase (§5). The whole dataset sits on the device
as uint8; batches are index lookups, not a per-sample DataLoader (this is the hot path).
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from . import metrics as M
from .config import TrainConfig
from .data import ImageSet, random_shift
from .errors import TrainingDivergedError
from .families import AAEModel, Batch
from .families.base import noisy

try:  # a private function (torch 2.x), which a torch version may lack: then no fused Adam
    from torch.optim.optimizer import _get_fused_kernels_supported_devices as _fused_devices
except ImportError:
    _fused_devices = None

NAN_CHECK_EVERY = 50  # steps between finite-loss checks (each check is one device sync)


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """The device to use: the caller's choice, else CUDA, then Apple MPS, then CPU."""
    if device is not None and str(device) != "auto":
        try:
            dev = torch.device(device)
        except RuntimeError:
            raise ValueError(f"device must be auto, cpu, cuda, cuda:N or mps; got {str(device)!r}") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("device 'cuda' was asked for but no CUDA GPU is available")
        if dev.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError("device 'mps' was asked for but Apple MPS is not available")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_threads() -> int:
    """Intra-op threads for a training process: the cores this process may run on minus the load
    already on them (1-minute load average), at least 1.

    On shared cores more threads are slower, not faster: measured on a 2-core machine, 2 threads give
    about 1.6x one thread when the cores are idle, but fell to 1/7 of one thread while another process
    (a server, a browser, a second training) kept a core busy."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = 0.0
    return max(1, cores - int(load + 0.5))


def cpu_has_bf16() -> bool:
    """True when this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX); read from /proc/cpuinfo.

    torch.backends.cpu.get_cpu_capability() says "AVX512" whether or not the bf16 extension exists,
    so the flags are what decides; elsewhere than Linux this says False (fp32)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return bool({"avx512_bf16", "amx_bf16"} & set(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """TrainConfig.precision on `device` -> the arithmetic used: "fp32" or "bf16"."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        try:
            native = torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:   # torch < 2.4 has no including_emulation (and counted no emulation)
            native = torch.cuda.is_bf16_supported()
        return "bf16" if native else "fp32"
    if device.type == "cpu":
        return "bf16" if cpu_has_bf16() else "fp32"
    return "fp32"


def _fused_adam_supported(params: list[torch.nn.Parameter]) -> bool:
    """Whether Adam's fused kernel takes these parameters (torch checks only at the first step(); asked up front).
    False on a torch without the private function that says so."""
    if _fused_devices is None:
        return False
    devices = _fused_devices()
    return all(p.device.type in devices and p.is_floating_point() for p in params)


def _adam(params: list[torch.nn.Parameter], lr: float, betas: tuple[float, float]) -> torch.optim.Optimizer:
    """Adam with the fastest implementation the device offers: fused (one kernel for all parameters;
    1.14x on a whole CPU step, where the default loops over parameters), else torch's default
    (foreach on GPUs)."""
    fused = True if _fused_adam_supported(params) else None
    return torch.optim.Adam(params, lr=lr, betas=betas, fused=fused)


def device_name(device: torch.device) -> str:
    """A human name for a device: the GPU's name, or 'CPU (N threads)'."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple MPS"
    n = torch.get_num_threads()
    return f"CPU ({n} thread{'' if n == 1 else 's'})"


class Callback:
    """Hooks the Trainer calls; override what you need. They run on the training thread."""

    def on_train_start(self, trainer: Trainer) -> None: ...

    def on_step_end(self, trainer: Trainer) -> None: ...

    def on_epoch_end(self, trainer: Trainer, metrics: dict[str, float]) -> None: ...

    def on_train_end(self, trainer: Trainer, reason: str) -> None:
        """reason: 'finished' or 'stopped' (a diverged run raises instead and does not call this)."""


@dataclass
class TrainState:
    epoch: int = 0                # completed epochs
    step: int = 0                 # completed optimizer rounds (one per mini-batch)
    history: list[dict[str, float]] = field(default_factory=list)
    # The latest mini-batch's loss per phase, still on the device (callbacks read it without a sync per step).
    last_losses: dict[str, torch.Tensor] = field(default_factory=dict)


class Trainer:
    """Trains `model` on `train` (uint8 images moved to `device` once).

    labelled: indices into `train` whose labels the model may use (None: no labels). Supervised models
    train on those images only; semi-supervised models draw a labelled batch from them every step;
    label-conditioned priors condition on them and treat the rest as unlabelled.
    eval_set: a few test images for per-epoch metrics (reconstruction, classification error).
    """

    def __init__(self, model: AAEModel, config: TrainConfig, train: ImageSet, *,
                 labelled: torch.Tensor | None = None, eval_set: ImageSet | None = None,
                 device: str | torch.device | None = None, callbacks: Sequence[Callback] = ()) -> None:
        self.config = config
        self.now = config          # config with every scheduled value where training is now (config.at)
        self.device = pick_device(device)
        self.model = model.to(self.device)
        self.callbacks = list(callbacks)
        self.state = TrainState()
        self._stop = threading.Event()
        use = model.label_use(model.config.label_conditioned)
        if use != "none" and labelled is None:
            what = "a label-conditioned prior" if use == "partial" else f"a {model.kind!r} model"
            raise ValueError(f"{what} needs labelled indices")

        images, labels = train.images.to(self.device), train.labels.to(self.device)
        self.images = images.reshape(images.shape[0], -1)
        self.labels: torch.Tensor | None = None
        self.labelled_idx: torch.Tensor | None = None
        if labelled is not None and use != "none":
            labelled = labelled.to(self.device).long()
            if use == "subset":      # train on the labelled images only
                self.images, self.labels = self.images[labelled], labels[labelled]
            elif use == "batch":     # a separate labelled batch every step
                self.labelled_idx = labelled
                self.labels = labels
            else:                    # "partial": each image its label, or -1 when unlabelled
                self.labels = torch.full_like(labels, -1)
                self.labels[labelled] = labels[labelled]
        self.eval_set = eval_set.to(self.device) if eval_set is not None and len(eval_set) else None

        self.generator = torch.Generator(device=self.device).manual_seed(config.seed)
        # Every weight keeps requires_grad; each phase's backward reaches only the weights it owns.
        self.model.requires_grad_(True)
        self._owned = {phase: self._owned_params(phase) for phase in model.phases}
        self.optimizers = {phase: self._optimizer(phase) for phase in model.phases}
        self.precision = resolve_precision(config.precision, self.device)
        if self.device.type == "cuda" and config.precision != "fp32":
            torch.backends.cuda.matmul.allow_tf32 = True   # what autocast leaves in float32
            torch.backends.cudnn.allow_tf32 = True

    # --- set-up -------------------------------------------------------------------------------
    def _owned_params(self, phase: str) -> list[torch.nn.Parameter]:
        seen: set[int] = set()
        params = []
        for m in self.model.phase_modules(phase):
            for p in m.parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    params.append(p)
        return params

    def _optimizer(self, phase: str) -> torch.optim.Optimizer:
        lr, betas = self.model.optimizer_settings(phase, self.config)
        return _adam(self._owned[phase], lr, betas)

    def autocast(self) -> contextlib.AbstractContextManager:
        """The context the phases' forward passes run in: bf16 autocast, or nothing for fp32.
        Losses come out float32 either way (autocast keeps BCE-with-logits and cross-entropy in fp32)."""
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def request_stop(self) -> None:
        """Ask the run to stop after the current mini-batch (safe from any thread)."""
        self._stop.set()

    @property
    def steps_per_epoch(self) -> int:
        return max(1, self.images.shape[0] // self.config.batch_size)

    # --- one mini-batch -----------------------------------------------------------------------
    def _images(self, idx: torch.Tensor) -> torch.Tensor:
        """Training images idx as [B, 784] floats in [0, 1], shifted when config.augment_shift > 0."""
        return random_shift(self.images[idx], self.config.augment_shift, self.generator).float().div_(255.0)

    def _batch(self, idx: torch.Tensor) -> Batch:
        x = self._images(idx)
        y = None
        if self.labels is not None and self.labelled_idx is None:
            y = self.labels[idx]
        std = self.now.input_noise   # denoising: the encoder sees x + N(0, std²), the target stays x
        batch = Batch(x=x, y=y, x_noisy=noisy(x, std, self.generator) if std else None)
        if self.labelled_idx is not None:
            pick = torch.randint(self.labelled_idx.shape[0], (self.config.labelled_batch_size,),
                                 generator=self.generator, device=self.device)
            lab = self.labelled_idx[pick]
            batch.x_labelled = self._images(lab)
            if self.now.input_noise:
                batch.x_labelled = noisy(batch.x_labelled, self.now.input_noise, self.generator)
            batch.y_labelled = self.labels[lab]
        return batch

    def run_phase(self, phase: str, batch: Batch) -> torch.Tensor:
        """One optimizer step of `phase`: only the weights that phase owns receive gradients.

        backward(inputs=owned) accumulates into the owned weights only, and autograd skips computing
        the other weights' gradients (the discriminator's, in the generator phase): the same work as
        switching requires_grad off for them, without a requires_grad_ call per weight per phase."""
        params = self._owned[phase]
        opt = self.optimizers[phase]
        opt.zero_grad(set_to_none=True)
        with self.autocast():
            loss = self.model.phase_loss(phase, batch, noise_std=self.now.disc_input_noise,
                                         generator=self.generator, class_noise_std=self.now.class_code_noise)
        loss.backward(inputs=params)
        if self.config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, self.config.grad_clip)
        opt.step()
        return loss.detach()

    def train_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        """All phases on one mini-batch; losses stay on the device (no sync)."""
        return {phase: self.run_phase(phase, batch) for phase in self.model.phases}

    # --- the loop -----------------------------------------------------------------------------
    def _set_lr(self, epoch: int) -> None:
        decay = 0.1 ** (epoch // self.config.lr_decay_epochs) if self.config.lr_decay_epochs else 1.0
        for phase, opt in self.optimizers.items():
            lr = self.model.optimizer_settings(phase, self.now)[0] * decay
            for group in opt.param_groups:
                group["lr"] = lr

    def _follow_schedules(self) -> None:
        """Move every scheduled value (config.schedules) to where this step is: step 0 has the configured
        values, the run's last step the schedules' final ones."""
        total = self.config.epochs * self.steps_per_epoch
        self.now = self.config.at(self.state.step / max(total - 1, 1))
        self._set_lr(self.state.epoch)

    def _check_finite(self, sums: dict[str, torch.Tensor]) -> None:
        values = torch.stack(list(sums.values()))
        if not bool(torch.isfinite(values).all()):
            bad = [k for k, v in sums.items() if not math.isfinite(float(v))]
            raise TrainingDivergedError(
                f"the {', '.join(bad)} loss became NaN/inf at epoch {self.state.epoch + 1}, step {self.state.step}; "
                "training stopped and nothing was saved from this epoch (the last checkpoint is intact). "
                "Try lower learning rates or a smaller grad clip.")

    def fit(self) -> str:
        """Train up to config.epochs. Returns 'finished' or 'stopped'; raises TrainingDivergedError on NaN."""
        self.model.train()
        for cb in self.callbacks:
            cb.on_train_start(self)
        reason = "finished"
        while self.state.epoch < self.config.epochs:
            self._set_lr(self.state.epoch)
            t0 = time.perf_counter()
            n = self.images.shape[0]
            perm = torch.randperm(n, generator=self.generator, device=self.device)
            bs = self.config.batch_size
            sums = {phase: torch.zeros((), device=self.device) for phase in self.model.phases}
            done = 0
            for i in range(self.steps_per_epoch):
                if self._stop.is_set():
                    reason = "stopped"
                    break
                if self.config.schedules:
                    self._follow_schedules()
                losses = self.train_step(self._batch(perm[i * bs:(i + 1) * bs]))
                self.state.last_losses = losses
                for k, v in losses.items():
                    sums[k] += v
                done += 1
                self.state.step += 1
                if done % NAN_CHECK_EVERY == 0:
                    self._check_finite(sums)
                for cb in self.callbacks:
                    cb.on_step_end(self)
            if done:
                self._check_finite(sums)
            if reason == "stopped":
                break
            self.state.epoch += 1
            metrics: dict[str, float] = {"epoch": self.state.epoch, "step": self.state.step,
                                         "seconds": time.perf_counter() - t0}
            metrics.update({f"loss_{k}": float(v) / max(done, 1) for k, v in sums.items()})
            metrics.update(self.evaluate())
            self.state.history.append(metrics)
            for cb in self.callbacks:
                cb.on_epoch_end(self, metrics)
        self.model.requires_grad_(True)
        self._stop.clear()  # a stop asked before or during this fit is used up; a later fit() runs
        for cb in self.callbacks:
            cb.on_train_end(self, reason)
        return reason

    def evaluate(self) -> dict[str, float]:
        """Quick metrics on eval_set: reconstruction error, and classification / clustering error."""
        if self.eval_set is None:
            return {}
        x, y = self.eval_set.to_float(), self.eval_set.labels
        out = {"eval_mse": M.reconstruction_error(self.model, x, y)["mse"]}
        out.update(M.family_numbers(self.model, x, y, per_epoch=True))
        return out

    # --- resuming -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.state.epoch, "step": self.state.step, "history": list(self.state.history),
                "optimizers": {k: opt.state_dict() for k, opt in self.optimizers.items()},
                "generator": self.generator.get_state(), "precision": self.precision}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.state = TrainState(int(state["epoch"]), int(state["step"]), list(state.get("history", [])))
        for k, opt in self.optimizers.items():
            impl = [{key: g.get(key) for key in ("fused", "foreach")} for g in opt.param_groups]
            opt.load_state_dict(state["optimizers"][k])
            # The saved groups carry the implementation of the run that saved them (fused or not, maybe
            # on another device); this device's choice stands.
            for g, keep in zip(opt.param_groups, impl, strict=True):
                g.update(keep)
        if state.get("generator") is not None:
            self.generator.set_state(state["generator"].cpu())
