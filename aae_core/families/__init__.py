"""The model families, by the name a config gives them (ModelConfig.kind).

Each family is one module holding one class (see base.AAEModel): its networks, its training phases and
what the rest of the project needs to know about it. A new family is a new module and one `register` call;
the config, the Trainer, `evaluate` and the app ask the family instead of testing its name.
"""

from __future__ import annotations

import torch

from ..config import FAMILY_REGISTRY
from .alae import ALAE
from .base import NO_CLASSES, AAEModel, Batch, ClassCode, LabelUse, device_of, flatten_images
from .clustering import ClusteringAAE
from .semi_supervised import CategoricalAAE, SemiSupervisedAAE
from .supervised import SupervisedAAE
from .unsupervised import AdversarialAutoencoder
from .vae import VAE

FAMILIES: dict[str, type[AAEModel]] = FAMILY_REGISTRY   # the one registry; config reads it, never imports us


def register(family: type[AAEModel]) -> type[AAEModel]:
    """Make `family` available under family.kind (usable as a class decorator)."""
    if not (isinstance(family, type) and issubclass(family, AAEModel)) or not family.kind:
        raise TypeError("a family is an AAEModel subclass with a non-empty `kind`")
    FAMILIES[family.kind] = family
    return family


for _family in (AdversarialAutoencoder, SupervisedAAE, SemiSupervisedAAE, ClusteringAAE, VAE, ALAE):
    register(_family)


def get_family(kind: str) -> type[AAEModel]:
    """The family class registered as `kind`; ValueError naming the known ones otherwise."""
    try:
        return FAMILIES[kind]
    except (KeyError, TypeError):
        raise ValueError(f"kind must be one of {', '.join(FAMILIES)}; got {kind!r}") from None


def build_model(config, *, seed: int | None = None) -> AAEModel:
    """A freshly initialised model of config.kind (weights drawn from `seed` when given), on CPU."""
    cls = get_family(config.kind)
    cls.check_config(config)   # again: the config may have been made before the families were loaded
    if seed is None:
        return cls(config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return cls(config)


__all__ = ["ALAE", "FAMILIES", "NO_CLASSES", "AAEModel", "AdversarialAutoencoder", "Batch", "CategoricalAAE",
           "ClassCode", "ClusteringAAE", "LabelUse", "SemiSupervisedAAE", "SupervisedAAE", "VAE", "build_model",
           "device_of", "flatten_images", "get_family", "register"]
