"""The adversarial game made visible: what the discriminator thinks of every point of a 2-D latent space,
which way the generator phase pushes each code, and one mini-batch stepped through its phases.

Each family says through `latent_critic` which discriminator judges its codes (None: no discriminator,
e.g. the VAE); the phase-by-phase stepper runs the family's own phases with the Trainer's own step.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from . import losses
from .config import TrainConfig
from .data import ImageSet
from .explore import decode
from .families import AAEModel, Batch, device_of
from .training import Trainer

GRID_STEPS = 48   # D's grid: 48 x 48 points are enough for a smooth heatmap and cost one small forward pass


def has_latent_critic(model: AAEModel) -> bool:
    """True when a discriminator judges this model's codes z (so D(z) has a picture)."""
    z = torch.zeros(1, model.config.latent_dim, device=device_of(model))
    with torch.no_grad():
        return model.latent_critic(z) is not None


def grid_axes(extent: tuple[float, float, float, float], steps: int = GRID_STEPS) -> tuple[np.ndarray, np.ndarray]:
    """The x and y coordinates of a steps x steps grid over extent (x0, x1, y0, y1)."""
    x0, x1, y0, y1 = (float(v) for v in extent)
    if not (x1 > x0 and y1 > y0) or steps < 2:
        raise ValueError(f"extent must be (x0, x1, y0, y1) with x1 > x0 and y1 > y0, steps >= 2; got {extent}, {steps}")
    return np.linspace(x0, x1, steps), np.linspace(y0, y1, steps)


def _labels(model: AAEModel, label: int | None, n: int) -> torch.Tensor | None:
    if label is None:
        return None
    if not 0 <= int(label) < model.config.n_classes:
        raise ValueError(f"label must be in 0..{model.config.n_classes - 1}; got {label}")
    return torch.full((n,), int(label), dtype=torch.long, device=device_of(model))


@torch.no_grad()
def critic_labels(model: AAEModel, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor | None:
    """The labels a label-conditioned D is shown for these images, as training shows them: the model's own class
    (argmax of its class head) where the family predicts its classes (semi-supervised, clustering), else the
    images' labels. None when D is not label-conditioned."""
    if not model.config.label_conditioned:
        return None
    if model.classes.predicted:
        was = model.training
        model.eval()
        try:
            return model.classify(torch.as_tensor(images, device=device_of(model)).float()).argmax(dim=1)
        finally:
            model.train(was)
    return labels


@torch.no_grad()
def critic_scores(model: AAEModel, z: torch.Tensor | np.ndarray, labels=None) -> np.ndarray | None:
    """D(z) for codes z [N, latent_dim]: the probability D gives each of being drawn from the prior
    (None when no discriminator judges this model's codes)."""
    was = model.training
    model.eval()
    try:
        z = torch.as_tensor(np.asarray(z), dtype=torch.float32, device=device_of(model))
        if labels is not None:
            labels = torch.as_tensor(np.asarray(labels), dtype=torch.long, device=device_of(model))
        logits = model.latent_critic(z, labels)
    finally:
        model.train(was)
    return None if logits is None else torch.sigmoid(logits.float()).cpu().numpy()


def discriminator_grid(model: AAEModel, extent: tuple[float, float, float, float], steps: int = GRID_STEPS,
                       label: int | None = None) -> np.ndarray | None:
    """D(z) on a steps x steps grid over extent (x0, x1, y0, y1) of a 2-D latent space: [steps (y), steps (x)]
    probabilities "drawn from the prior", row i at the i-th y. For a label-conditioned D, `label` is the
    label D is shown (None: the unlabelled slot). None when no discriminator judges this model's codes."""
    if model.config.latent_dim != 2:
        raise ValueError(f"D's grid is drawn for 2-D latents; this model's is {model.config.latent_dim}-D")
    xs, ys = grid_axes(extent, steps)
    gx, gy = np.meshgrid(xs, ys)
    z = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
    labels = _labels(model, label, z.shape[0])
    scores = critic_scores(model, z, labels)
    return None if scores is None else scores.reshape(steps, steps)


def generator_push(model: AAEModel, codes: torch.Tensor | np.ndarray, labels=None) -> np.ndarray | None:
    """The direction the generator phase moves each code: −∂(generator loss)/∂z per code, scaled to unit
    length ([N, latent_dim]; a zero gradient stays zero). None when no discriminator judges the codes."""
    was = model.training
    model.eval()
    try:
        dev = device_of(model)
        z = torch.as_tensor(np.asarray(codes), dtype=torch.float32, device=dev).clone().requires_grad_(True)
        if labels is not None:
            labels = torch.as_tensor(np.asarray(labels), dtype=torch.long, device=device_of(model))
        logits = model.latent_critic(z, labels)
        if logits is None:
            return None
        # the mean over codes: each code's gradient is its own term's (scaled by 1/N, undone by the norm)
        (grad,) = torch.autograd.grad(losses.generator_loss(logits), z)
    finally:
        model.train(was)
    push = -grad
    norm = push.norm(dim=1, keepdim=True)
    return torch.where(norm > 0, push / norm.clamp_min(1e-12), push).detach().cpu().numpy()


def module_names(model: AAEModel, modules: list[torch.nn.Module]) -> list[str]:
    """The attribute names of `modules` within model ("encoder", "discriminator", ...)."""
    names = {id(m): name for name, m in model.named_children()}
    return [names.get(id(m), type(m).__name__) for m in modules]


@dataclass
class PhaseView:
    """What one phase did: its name and loss, the networks it updated, and the picture after it."""

    phase: str
    loss: float
    updated: list[str]
    codes: np.ndarray            # the batch's codes after the phase [B, latent_dim]
    prior: np.ndarray            # prior draws shown beside them [B, latent_dim]
    code_scores: np.ndarray | None = None    # D(codes) after the phase (None: no discriminator)
    prior_scores: np.ndarray | None = None   # D(prior draws)
    shown: np.ndarray | None = None          # the labels a label-conditioned D was shown (None: unconditioned)
    extra: dict = field(default_factory=dict)


class GameStepper:
    """One mini-batch of a model, one phase at a time, on a private copy of the model.

    The phases are the family's own (`model.phases`) and each step is the Trainer's own `run_phase`
    (the family's phase_loss, its optimizer settings, grad clipping), so what is shown is what training does."""

    def __init__(self, model: AAEModel, images: torch.Tensor, labels: torch.Tensor | None = None, *,
                 train_config: TrainConfig | None = None, seed: int = 0) -> None:
        self.model = copy.deepcopy(model).float()
        config = replace(train_config or TrainConfig(), precision="fp32", seed=seed, augment_shift=0,
                         batch_size=int(images.shape[0]), labelled_batch_size=int(images.shape[0]))
        images = torch.as_tensor(images)
        if images.dtype != torch.uint8:
            images = (images.float().clamp(0, 1) * 255).round().to(torch.uint8)
        images = images.reshape(-1, 28, 28).cpu()
        n = images.shape[0]
        self.labels = (torch.as_tensor(labels).long().cpu() if labels is not None
                       else torch.full((n,), -1, dtype=torch.long))
        use = self.model.label_use(self.model.config.label_conditioned)
        labelled = torch.arange(n) if use != "none" else None
        self.trainer = Trainer(self.model, config, ImageSet(images, self.labels.clamp_min(0)),
                               labelled=labelled, device="cpu")
        self.batch: Batch = self.trainer._batch(torch.arange(n))
        self.phases = tuple(self.model.phases)
        self.done: list[PhaseView] = []
        shown = self.labels if self.model.config.label_conditioned else None
        self.prior = self.model.prior.sample(n, labels=shown, generator=torch.Generator().manual_seed(seed + 1),
                                             device=device_of(self.model)).detach()
        self.start = self.view("start", float("nan"), [])

    @property
    def next_phase(self) -> str | None:
        """The phase the next step() runs (the phases cycle: after the last, the first again)."""
        return self.phases[len(self.done) % len(self.phases)] if self.phases else None

    def view(self, phase: str, loss: float, updated: list[str]) -> PhaseView:
        """The batch's codes, the prior draws and D's scores of both, as the model stands now."""
        self.model.eval()
        with torch.no_grad():
            codes = self.model.encode(self.batch.x).float()
        self.model.train()
        labels = critic_labels(self.model, self.batch.x, self.labels)
        return PhaseView(phase, loss, updated, codes.cpu().numpy(), self.prior.cpu().numpy(),
                         critic_scores(self.model, codes, labels), critic_scores(self.model, self.prior, labels),
                         shown=None if labels is None else labels.cpu().numpy())

    def step(self) -> PhaseView:
        """Run the next phase (one optimizer step of the networks it owns) and return the picture after it."""
        phase = self.next_phase
        if phase is None:
            raise ValueError("this model has no training phases")
        loss = float(self.trainer.run_phase(phase, self.batch))
        out = self.view(phase, loss, module_names(self.model, self.model.phase_modules(phase)))
        self.done.append(out)
        return out


def lattice_codes(extent: tuple[float, float, float, float], n: int) -> np.ndarray:
    """The centres of an n x n lattice of cells tiling extent (x0, x1, y0, y1): [n * n, 2], row by row from
    the top (largest y) down, each row left to right, as the decoded images are laid out on the map."""
    x0, x1, y0, y1 = (float(v) for v in extent)
    if not (x1 > x0 and y1 > y0) or n < 1:
        raise ValueError(f"extent must be (x0, x1, y0, y1) with x1 > x0 and y1 > y0, n >= 1; got {extent}, {n}")
    xs = x0 + (np.arange(n) + 0.5) * (x1 - x0) / n
    ys = y1 - (np.arange(n) + 0.5) * (y1 - y0) / n
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)


def decoded_lattice(model: AAEModel, extent: tuple[float, float, float, float], n: int,
                    label: int | None = None) -> np.ndarray:
    """The decoder's image at every cell of an n x n lattice over extent of a 2-D latent (the paper's Fig. 2 and
    4, right): uint8 [n, n, 28, 28], row 0 at the top. Models that decode from a class code take `label`."""
    if model.config.latent_dim != 2:
        raise ValueError(f"the decoded manifold is drawn for 2-D latents; this model's is {model.config.latent_dim}-D")
    z = lattice_codes(extent, n)
    y = None
    if model.classes:
        y = np.full(n * n, 0 if label is None else int(label))
    return decode(model, z, y).reshape(n, n, 28, 28)
