"""Typed configuration of models and training runs; every check happens in __post_init__."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal, get_args

PriorName = Literal["gaussian", "mixture", "swiss_roll", "categorical"]
DatasetName = Literal["mnist", "fashion_mnist"]
Precision = Literal["auto", "fp32", "bf16"]
ScheduleShape = Literal["constant", "linear", "cosine"]

PRIOR_NAMES: tuple[str, ...] = get_args(PriorName)
DATASETS: tuple[str, ...] = get_args(DatasetName)
PRECISIONS: tuple[str, ...] = get_args(Precision)
SCHEDULE_SHAPES: tuple[str, ...] = get_args(ScheduleShape)
# The TrainConfig fields that may follow a Schedule over training (the noises and the learning rates).
SCHEDULABLE = ("lr_reconstruction", "lr_discriminator", "lr_generator", "lr_supervised", "disc_input_noise",
               "input_noise", "class_code_noise")

# Upper bounds on sizes, far above any model of the paper, so that a config.json cannot make a loader
# allocate gigabytes before the weights are even compared with it.
MAX_SIZES = {"latent_dim": 1024, "n_classes": 1000, "hidden_dim": 8192, "n_hidden_layers": 16,
             "disc_hidden_dim": 8192}
MAX_BATCH_SIZE = 60000

# The model families by kind (ModelConfig.kind -> an aae_core.families.AAEModel subclass). This module imports
# no family (it is the standard library only, and every family imports it): aae_core.families.register fills
# this, so a config checks its family's rules once the families are loaded, as they are wherever a model is
# built, loaded or trained (build_model checks again). A torch-free process reading config.json (the app's
# picker) gets the field checks only.
FAMILY_REGISTRY: dict[str, Any] = {}

IMAGE_SHAPE = (1, 28, 28)
IMAGE_SIZE = 28 * 28


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def _check_positive(name: str, value: float, *, allow_zero: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number; got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}; got {value!r}")


@dataclass(frozen=True)
class Schedule:
    """How one TrainConfig value moves over training: from its configured value at step 0 to `final` at
    the last step, along `shape` ("constant" stays put; "linear"; "cosine": half a cosine, flat at both ends).

    Written in config.json as {"shape": ..., "final": ...} under TrainConfig.schedules[field]."""

    shape: ScheduleShape = "constant"
    final: float = 0.0

    def __post_init__(self) -> None:
        _check_choice("schedule shape", self.shape, SCHEDULE_SHAPES)
        _check_positive("schedule final value", self.final, allow_zero=True)

    def at(self, start: float, progress: float) -> float:
        """The value at `progress` in [0, 1] of training (step / total steps) for a schedule starting at `start`."""
        p = min(max(progress, 0.0), 1.0)
        if self.shape == "linear":
            return start + (self.final - start) * p
        if self.shape == "cosine":
            return self.final + (start - self.final) * 0.5 * (1.0 + math.cos(math.pi * p))
        return start

    def text(self, start: float) -> str:
        """'0.3:linear:0' — the command line's START:SHAPE:FINAL spelling."""
        return f"{start:g}" if self.shape == "constant" else f"{start:g}:{self.shape}:{self.final:g}"


def parse_scheduled(text: str) -> tuple[float, Schedule | None]:
    """'0.3' -> (0.3, None); '0.3:linear:0' -> (0.3, Schedule('linear', 0.0)). ValueError says the spelling."""
    parts = str(text).split(":")
    try:
        if len(parts) == 1:
            return float(parts[0]), None
        if len(parts) == 3:
            return float(parts[0]), Schedule(parts[1], float(parts[2]))  # type: ignore[arg-type]
    except ValueError as exc:
        if "schedule" in str(exc):
            raise
    raise ValueError(f"expected a number or START:SHAPE:FINAL with SHAPE one of {', '.join(SCHEDULE_SHAPES)} "
                     f"(e.g. 0.3:linear:0); got {text!r}")


@dataclass(frozen=True)
class ModelConfig:
    """What a model is: its family, prior and sizes.

    n_classes is the number of classes (supervised, semi-supervised, label-conditioned priors)
    or of clusters (clustering) or of categories (categorical prior, where it equals latent_dim).
    n_labels is the number of labelled training images the model was trained with (0 when none).
    label_conditioned: the discriminator also sees each image's label. With a mixture or swiss-roll
    prior it pushes each label's codes to that label's part of the prior (§2.3); in a supervised model
    it asks z to match the prior within every class, so the style code cannot carry the class. In a
    semi-supervised or clustering model the style's discriminator sees the class the encoder gives each image
    (there is no label for most images), to the same end.
    consistency_eps: semi-supervised and clustering models only; above 0 a consistency phase trains the class
    head to give the same class under the perturbation of this L2 norm that changes its answer most (virtual
    adversarial training, Miyato et al. 2018), on every training image, labelled or not. 0: off.
    """

    kind: str = "unsupervised"
    prior: PriorName = "gaussian"
    latent_dim: int = 2
    n_classes: int = 10
    n_labels: int = 0
    label_conditioned: bool = False
    consistency_eps: float = 0.0
    prior_std: float = 1.0
    prior_radius: float = 4.0
    hidden_dim: int = 1000
    n_hidden_layers: int = 2
    disc_hidden_dim: int = 1000
    dataset: DatasetName = "mnist"

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str):
            raise ValueError(f"kind must be a family name; got {self.kind!r}")
        _check_choice("prior", self.prior, PRIOR_NAMES)
        _check_choice("dataset", self.dataset, DATASETS)
        for name in ("latent_dim", "n_classes", "hidden_dim", "n_hidden_layers", "disc_hidden_dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
            if value > MAX_SIZES[name]:
                raise ValueError(f"{name} must be <= {MAX_SIZES[name]}; got {value!r}")
        if not isinstance(self.label_conditioned, bool):
            raise ValueError(f"label_conditioned must be true or false; got {self.label_conditioned!r}")
        if not isinstance(self.n_labels, int) or self.n_labels < 0:
            raise ValueError(f"n_labels must be an integer >= 0; got {self.n_labels!r}")
        _check_positive("prior_std", self.prior_std)
        _check_positive("prior_radius", self.prior_radius)
        _check_positive("consistency_eps", self.consistency_eps, allow_zero=True)

        if FAMILY_REGISTRY:
            self.family.check_config(self)  # what the family needs: its priors, labels, classes
            if self.consistency_eps and not self.classes.predicted:   # a class head of its own to keep steady
                raise ValueError("consistency_eps needs kind 'semi_supervised' or 'clustering' (a class head to "
                                 f"keep steady); kind {self.kind!r} has none: leave it at 0")

    @property
    def family(self) -> Any:
        """The model family this config describes (an aae_core.families.AAEModel subclass), by its kind. The
        families register themselves when their package is imported (aae_core.families; aae_core.load and
        build_model import it); this module, standard library only, never imports them."""
        if not FAMILY_REGISTRY:
            raise RuntimeError("the model families are not loaded: import aae_core.families first, or ask "
                               "aae_core.families.get_family(kind)")
        try:
            return FAMILY_REGISTRY[self.kind]
        except (KeyError, TypeError):
            raise ValueError(f"kind must be one of {', '.join(FAMILY_REGISTRY)}; got {self.kind!r}") from None

    @property
    def classes(self):
        """The family's class code (a ClassCode: truthy when decode() needs y next to z; .predicted when
        classify() gives its logits; .noun, .means_label)."""
        return self.family.classes

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        return _from_dict(cls, data)


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained (paper §2-§6 with the recipe leads of public reproductions).

    Each phase has its own Adam optimizer. Measured on real MNIST, hidden 512, 2026-11-21:
    - reconstruction 1e-3 and discriminator 2e-4 with β1 0.5 are stable; at 5e-4 for both adversarial
      phases, or with β1 0.1, the reconstruction loss climbs again after 4-5 epochs;
    - the generator (the encoder fooling D) needs a rate close to the reconstruction's: at 2e-4 the
      discriminator won on every unit-variance Gaussian prior (2-D supervised style: codes with std 4.2,
      MMD 0.14; 8-D: MMD 0.12; semi-supervised, 100 labels: 21 % test error after 20 epochs), at 5e-4
      the codes fit (MMD 0.0002 / 0.0007; 13 % after 10 epochs). The 2-D σ=5 model fits at 2e-4.
    labelled_batch_size is the size of the labelled batch drawn every step for the supervised phase.
    augment_shift: translate every training image (labelled and unlabelled) by a random whole number of
    pixels in [-augment_shift, augment_shift] along each axis, fresh each step (0: off). Not in the
    paper; public semi-supervised reproductions augment the few labelled images (elastic distortions).
    input_noise: std of Gaussian noise added to what the encoder sees in training (every phase,
    labelled batch included); the decoder still rebuilds the clean image (a denoising AAE; 0: off).
    class_code_noise: std of the noise on the class discriminator's inputs (semi-supervised and
    clustering models); None: disc_input_noise.
    grad_clip: max gradient norm per phase (0: off). The default stays 5.0, as every shipped model was
    trained (the recipe book, aae_core/recipes.py, also pins it), because it is not idle: semi-supervised,
    100 labels, hidden 512, input noise 0.3, first 600 steps, it clipped every reconstruction step (median
    norm 160: the BCE is summed over 784 pixels), 38 % of generator steps, under 1 % of the others; and after
    3 epochs without it (bf16, seeds 0 / 1) the test error was 11.8 / 14.0 % against 10.8 / 11.0 % with it
    (benchmarks/results/precision_check_cpu.json). It costs about 12 % of a bf16 CPU step; pass 0 to skip it.
    precision: the arithmetic of the phases' forward and backward passes. "bf16" runs them under
    bfloat16 autocast (weights, optimizer state and every loss stay float32); "fp32" is plain float32;
    "auto" picks bf16 where the device has bf16 matmuls (CUDA GPUs that support it; CPUs with
    AVX512-BF16 or AMX) and fp32 elsewhere (Apple MPS, older CPUs). The Trainer's `precision` says
    which it used. Measured on a 2-core Zen 4 (avx512_bf16): bf16 autocast 1.41x on a semi-supervised step.
    validation_fraction: the share of the training images held out as a fixed, class-balanced validation
    split (aae_core.data.validation_split; 5,000 of MNIST's 60,000): never trained on, never labelled;
    per-epoch metrics (eval_size of them) are measured there. A config.json written before the split
    existed reads as 0 (those runs trained on every training image, per-epoch metrics on test images).
    schedules: field name -> Schedule for any of SCHEDULABLE (e.g. {"class_code_noise": Schedule("linear",
    0.0)}): that value starts at its field's value and follows the schedule step by step over the whole run
    (the Trainer reads `at(progress)`); a learning rate's schedule multiplies with lr_decay_epochs. A field
    without one stays constant, as in every config.json written before schedules existed.
    """

    epochs: int = 10
    batch_size: int = 100
    labelled_batch_size: int = 100
    lr_reconstruction: float = 1e-3
    lr_discriminator: float = 2e-4
    lr_generator: float = 5e-4
    lr_supervised: float = 1e-3
    beta1_adversarial: float = 0.5
    disc_input_noise: float = 0.3
    grad_clip: float = 5.0
    lr_decay_epochs: int = 0
    augment_shift: int = 0
    input_noise: float = 0.0
    class_code_noise: float | None = None
    seed: int = 0
    eval_size: int = 1000
    precision: Precision = "auto"
    validation_fraction: float = 5000 / 60000
    schedules: Mapping[str, Schedule] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_choice("precision", self.precision, PRECISIONS)
        if not isinstance(self.schedules, Mapping):
            raise ValueError(f"schedules must map field names to schedules; got {self.schedules!r}")
        unknown = sorted(set(self.schedules) - set(SCHEDULABLE))
        if unknown:
            raise ValueError(f"schedules: {', '.join(map(str, unknown))} cannot follow a schedule; "
                             f"these can: {', '.join(SCHEDULABLE)}")
        schedules = {}
        for name, sched in sorted(self.schedules.items()):
            if isinstance(sched, Mapping):
                sched = _from_dict(Schedule, dict(sched))
            if not isinstance(sched, Schedule):
                raise ValueError(f"schedules[{name!r}] must be a schedule (shape, final); got {sched!r}")
            if sched.shape == "constant":
                continue                  # a constant schedule is no schedule (it may cancel a recipe's)
            schedules[name] = sched
            if name.startswith("lr_") and sched.final <= 0:
                raise ValueError(f"a learning rate's schedule must end above 0; got {name} -> {sched.final!r}")
        object.__setattr__(self, "schedules", schedules)   # a copy: the caller's dict may change, this may not
        for name in ("epochs", "batch_size", "labelled_batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        for name in ("batch_size", "labelled_batch_size"):
            if getattr(self, name) > MAX_BATCH_SIZE:
                raise ValueError(f"{name} must be <= {MAX_BATCH_SIZE} (the training set size); "
                                 f"got {getattr(self, name)!r}")
        for name in ("lr_reconstruction", "lr_discriminator", "lr_generator", "lr_supervised"):
            _check_positive(name, getattr(self, name))
        if not 0.0 <= self.beta1_adversarial < 1.0:
            raise ValueError(f"beta1_adversarial must be in [0, 1); got {self.beta1_adversarial!r}")
        _check_positive("disc_input_noise", self.disc_input_noise, allow_zero=True)
        _check_positive("grad_clip", self.grad_clip, allow_zero=True)
        _check_positive("lr_decay_epochs", self.lr_decay_epochs, allow_zero=True)
        _check_positive("input_noise", self.input_noise, allow_zero=True)
        if self.class_code_noise is not None:
            _check_positive("class_code_noise", self.class_code_noise, allow_zero=True)
        if not isinstance(self.augment_shift, int) or isinstance(self.augment_shift, bool) \
                or not 0 <= self.augment_shift <= 8:
            raise ValueError(f"augment_shift must be a whole number of pixels in [0, 8]; got {self.augment_shift!r}")
        _check_positive("eval_size", self.eval_size, allow_zero=True)
        _check_positive("validation_fraction", self.validation_fraction, allow_zero=True)
        if self.validation_fraction >= 0.5:
            raise ValueError(f"validation_fraction must be below 0.5; got {self.validation_fraction!r}")

    def __hash__(self) -> int:
        return hash(tuple((f.name, getattr(self, f.name)) for f in fields(self) if f.name != "schedules")
                    + tuple(self.schedules.items()))

    def start_value(self, name: str) -> float:
        """The value a schedulable field starts from (class_code_noise None: disc_input_noise's)."""
        value = getattr(self, name)
        return self.disc_input_noise if value is None and name == "class_code_noise" else value

    def at(self, progress: float) -> TrainConfig:
        """This config with every scheduled value at `progress` in [0, 1] of training (self when none is)."""
        if not self.schedules:
            return self
        now = {name: sched.at(self.start_value(name), progress) for name, sched in self.schedules.items()}
        return dataclasses.replace(self, schedules={}, **now)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["schedules"] = {name: dataclasses.asdict(s) for name, s in self.schedules.items()}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        if isinstance(data, dict) and "validation_fraction" not in data:
            data = {**data, "validation_fraction": 0.0}   # written before the validation split existed
        return _from_dict(cls, data)


def _from_dict(cls: type, data: dict[str, Any]) -> Any:
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__} must be a JSON object; got {type(data).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields: {', '.join(unknown)}")
    return cls(**data)
