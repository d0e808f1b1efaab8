"""What every model family is and offers.

A family is one class: an ``nn.Module`` that holds its networks and the math of its training phases,
and, as class attributes, what the rest of the project needs to know about it: its name in configs, its
priors, its class code (one ClassCode value) and how it uses labels. How it is shown (title, explanations,
diagrams, the number that heads its row) lives with the app (explorer/family_text.py); its default recipe
is the first of its kind in the recipe book. The Trainer owns optimizers, data and devices; the prior is
reached only through the Prior interface. Public members: at most 15 (a test holds the count).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..config import IMAGE_SHAPE, ModelConfig, TrainConfig
from ..data import flatten_images
from ..metric_schema import FamilyNumbers
from ..priors import Prior, build_prior

# How a family uses the labelled indices a run is given:
#   "none"     no labels at all;
#   "subset"   trains on the labelled images only, with their labels (supervised);
#   "batch"    every step also draws a separate labelled batch (semi-supervised);
#   "partial"  every image carries its label or -1 (label-conditioned priors).
LabelUse = Literal["none", "subset", "batch", "partial"]


@dataclass
class Batch:
    """One training step's data, on the model's device.

    x [B, 784] in [0, 1]; y [B] int labels with -1 for unlabelled images (None when no labels exist);
    x_labelled / y_labelled: a separate labelled batch for the supervised phase (semi-supervised).
    x_noisy: what the encoder sees when training with input noise (denoising); x stays the target.
    """

    x: torch.Tensor
    y: torch.Tensor | None = None
    x_labelled: torch.Tensor | None = None
    y_labelled: torch.Tensor | None = None
    x_noisy: torch.Tensor | None = None

    @property
    def inputs(self) -> torch.Tensor:
        """The encoder's input: x_noisy when set, else x."""
        return self.x if self.x_noisy is None else self.x_noisy


@dataclass(frozen=True)
class ClassCode:
    """A family's class code y beside its style z, in one value: what its classes are called and where y comes
    from. NO_CLASSES (falsy) for families whose decoder reads z alone."""

    noun: str | None = None       # "class" or "cluster"; None: no class code
    predicted: bool = False       # classify(x) gives y's logits (a class head); else y is the true label, given
    means_label: bool = False     # y stands for the dataset's label (a digit), not a cluster the model found

    def __bool__(self) -> bool:
        """True when decode(z, y) needs y."""
        return self.noun is not None


NO_CLASSES = ClassCode()


def device_of(module: nn.Module) -> torch.device:
    """The device a module's weights are on."""
    return next(module.parameters()).device


def noisy(code: torch.Tensor, std: float, generator: torch.Generator | None) -> torch.Tensor:
    """Gaussian instance noise on discriminator inputs (keeps D from winning outright)."""
    if std <= 0:
        return code
    return code + std * torch.randn(code.shape, generator=generator, device=code.device)


class AAEModel(nn.Module):
    """A model family. Subclasses set the class attributes below and implement the queries and phases.

    Queries: encode, decode, reconstruct, classify (where the family has a classifier).
    Training: `phases` in order, `phase_modules(phase)` (the weights a phase updates),
    `phase_loss(phase, batch, ...)`, `optimizer_settings(phase, train_config)`.
    """

    # --- what the family is (read by the config, trainer, metrics and the app) ------------------
    kind: ClassVar[str] = ""                 # the name in ModelConfig.kind and config.json
    priors: ClassVar[tuple[str, ...]] = ("gaussian",)   # the priors of z it can be pushed toward
    classes: ClassVar[ClassCode] = NO_CLASSES   # its class code y (noun, predicted or given, label or cluster)
    phases: tuple[str, ...] = ()
    _conditions_style: ClassVar[bool] = False   # label_conditioned has a meaning here (checked by check_config)

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.prior: Prior = build_prior(config)

    # --- family rules -----------------------------------------------------------------------------
    @classmethod
    def check_config(cls, config: ModelConfig) -> None:
        """Raise ValueError when config does not describe a model of this family."""
        if config.prior not in cls.priors:
            allowed = " or ".join(p.replace("gaussian", "Gaussian").replace("_", " ") for p in cls.priors)
            hint = ("; the categorical prior is for unsupervised models, which have no class code of their own"
                    if config.prior == "categorical" else "")
            raise ValueError(f"kind {cls.kind!r} uses a {allowed} prior on its code z; got prior "
                             f"{config.prior!r}{hint}")
        if config.label_conditioned and not cls._conditions_style:
            raise ValueError("label_conditioned needs kind 'unsupervised' with a 'mixture' or 'swiss_roll' prior, "
                             f"or kind 'supervised', 'semi_supervised' or 'clustering'; kind {cls.kind!r} has no "
                             "use for it")
        if cls.label_use(config.label_conditioned) == "none" and config.n_labels:
            raise ValueError(f"kind {cls.kind!r} uses no labels: n_labels must be 0")
        if cls.label_use(config.label_conditioned) in ("subset", "batch") and config.n_labels == 0:
            raise ValueError(f"kind {cls.kind!r} learns from labels: n_labels must be > 0")
        if cls.classes and config.n_classes < 2:
            raise ValueError(f"kind {cls.kind!r} needs n_classes >= 2; got {config.n_classes}")

    @classmethod
    def label_use(cls, label_conditioned: bool = False) -> LabelUse:
        """How a run of this family (with a label-conditioned prior or not) uses its labelled images."""
        return "none"

    # --- public queries ---------------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images [N, 1, 28, 28] or [N, 784] in [0, 1] -> codes z [N, latent_dim]."""
        raise NotImplementedError

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None, *, logits: bool = False) -> torch.Tensor:
        """Codes z [N, latent_dim] (and y: int labels [N] or one-hot [N, K]) -> images [N, 1, 28, 28] in [0, 1]
        (logits: the pixels' logits [N, 784] instead, for losses)."""
        out = self._decode_logits(z, y)
        return out if logits else torch.sigmoid(out).reshape(-1, *IMAGE_SHAPE)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Images -> class (or cluster) logits [N, n_classes]; families with a classifier only."""
        raise ValueError(f"a {self.kind!r} model has no classifier")

    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None, *, logits: bool = False) -> torch.Tensor:
        """Images (and, for families that decode from the true label, labels y) -> reconstructions
        [N, 1, 28, 28] (logits: their logits [N, 784]). Families with their own class head rebuild through their
        own prediction."""
        out = self._reconstruct_logits(flatten_images(x), y)
        return out if logits else torch.sigmoid(out).reshape(-1, *IMAGE_SHAPE)

    # --- what subclasses implement behind decode and reconstruct ------------------------------------
    def _decode_logits(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def _reconstruct_logits(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    # --- training ---------------------------------------------------------------------------------

    def phase_modules(self, phase: str) -> list[nn.Module]:
        """The modules whose weights `phase` updates."""
        raise NotImplementedError

    def phase_loss(self, phase: str, batch: Batch, *, noise_std: float = 0.0,
                   generator: torch.Generator | None = None, class_noise_std: float | None = None) -> torch.Tensor:
        """The loss of one phase on one batch. noise_std: std of the noise on D's inputs;
        class_noise_std: on the class discriminator's inputs, where there is one (None: noise_std)."""
        raise NotImplementedError

    def optimizer_settings(self, phase: str, tc: TrainConfig) -> tuple[float, tuple[float, float]]:
        """(learning rate, Adam betas) of `phase`. Adversarial phases take beta1_adversarial (a short
        momentum keeps the two players from overshooting each other)."""
        settings = {"reconstruction": (tc.lr_reconstruction, 0.9), "discriminator": (tc.lr_discriminator,
                                                                                     tc.beta1_adversarial),
                    "generator": (tc.lr_generator, tc.beta1_adversarial), "supervised": (tc.lr_supervised, 0.9),
                    "consistency": (tc.lr_supervised, 0.9)}
        if phase not in settings:
            raise ValueError(f"no optimizer settings for phase {phase!r}; {type(self).__name__} must define them")
        lr, beta1 = settings[phase]
        return lr, (beta1, 0.999)

    def latent_critic(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor | None:
        """The logits of the discriminator that judges codes z [N, latent_dim] ("drawn from the prior?"),
        without the noise training adds to its inputs; labels [N] (ints, -1 for unlabelled) are what a
        label-conditioned D is shown. None for families whose z no discriminator judges (the VAE's KL term,
        ALAE's D on images' w)."""
        return None

    def metrics(self, x: torch.Tensor, y: torch.Tensor, *, per_epoch: bool = False,
                judge: nn.Module | None = None) -> FamilyNumbers:
        """The family's own numbers on held-out images x [N, 784] with labels y (model in eval mode, no grad):
        per_epoch: the few cheap ones the per-epoch report follows (its eval_* columns); else what `evaluate`
        writes into metrics.json, with what the digit judge (aae_core.judge, when given) reads in this family's
        own images. The keys are metric_schema.FamilyNumbers'."""
        return {}

    # --- helpers for subclasses -------------------------------------------------------------------
    def _check_z(self, z: torch.Tensor) -> torch.Tensor:
        if not torch.is_tensor(z) or z.dim() != 2 or z.shape[1] != self.config.latent_dim:
            shape = list(z.shape) if torch.is_tensor(z) else type(z).__name__
            raise ValueError(f"z must be a float tensor [N, {self.config.latent_dim}]; got {shape}")
        return z.float()

    def _one_hot_code(self, y: torch.Tensor | None, n: int) -> torch.Tensor:
        """int labels [N] or one-hot / probabilities [N, K] -> [N, K] floats."""
        k = self.config.n_classes
        if y is None:
            raise ValueError(f"a {self.kind!r} model decodes from a style z and a {self.classes.noun} y: pass y "
                             f"(int labels [N] in 0..{k - 1} or one-hot [N, {k}])")
        y = torch.as_tensor(y, device=device_of(self))
        if y.dim() == 1 and not y.is_floating_point():
            if y.shape[0] != n or (y < 0).any() or (y >= k).any():
                raise ValueError(f"y must hold {n} labels in 0..{k - 1}")
            return F.one_hot(y.long(), k).float()
        if y.dim() == 2 and y.shape == (n, k):
            return y.float()
        raise ValueError(f"y must be int labels [{n}] or one-hot [{n}, {k}]; got {list(y.shape)}")
