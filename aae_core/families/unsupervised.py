"""The unsupervised AAE (paper §2, Fig. 2-4): a deterministic encoder q(z|x), a decoder p(x|z) and a
discriminator D on z that pushes the codes toward a chosen prior (Gaussian, mixture, swiss roll, one-hot).

With label_conditioned (§2.3, Fig. 4) D also sees a one-hot of the label, with an extra slot for
unlabelled images, and each label's codes are pushed to that label's component of a mixture or
segment of a swiss roll.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .. import losses
from ..config import IMAGE_SIZE, ModelConfig
from ..networks import Discriminator, mlp
from ..priors import PRIOR_TYPES, SwissRollPrior
from .base import AAEModel, device_of, flatten_images, noisy
from .scoring import cluster_majority_labels, encode_all, roll_distance


def component_metrics(model: AAEModel, z: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """For priors with components: the share of codes in their own label's component (label-conditioned),
    or how purely the components hold one label each (unconditioned)."""
    c, y = model.config, y.cpu()
    comps = model.prior.assign(z)
    if c.label_conditioned:
        return {"own_component_fraction": float((comps == y).float().mean())}
    majority = cluster_majority_labels(comps, y, model.prior.n_components)
    return {"component_purity_error": float((majority[comps] != y).float().mean())}

ROLL_CURVE_POINTS = 4001   # the roll as a polyline: its chords stray from the arc by < 1e-3 at radius 12


class AdversarialAutoencoder(AAEModel):
    kind = "unsupervised"
    priors = ("gaussian", "mixture", "swiss_roll", "categorical")
    phases = ("reconstruction", "discriminator", "generator")

    @classmethod
    def check_config(cls, config: ModelConfig) -> None:
        if config.prior not in cls.priors:
            raise ValueError(f"prior must be one of {', '.join(cls.priors)}; got {config.prior!r}")
        prior = PRIOR_TYPES[config.prior]
        prior.check_shape(config.latent_dim, config.n_classes)
        if config.label_conditioned:
            if not prior.parts_per_label:
                raise ValueError("label_conditioned needs a 'mixture' or 'swiss_roll' prior (each label its own "
                                 f"part, §2.3); got prior {config.prior!r}")
            if config.n_labels == 0:
                raise ValueError("label_conditioned needs labelled images: n_labels must be > 0")
        elif config.n_labels:
            raise ValueError(f"kind {cls.kind!r} uses no labels: n_labels must be 0 (unless label_conditioned)")

    @classmethod
    def label_use(cls, label_conditioned=False):
        return "partial" if label_conditioned else "none"

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        c = config
        self.encoder = mlp(IMAGE_SIZE, c.hidden_dim, c.n_hidden_layers, c.latent_dim)
        self.decoder = mlp(self._decoder_in(), c.hidden_dim, c.n_hidden_layers, IMAGE_SIZE)
        cond_dim = c.n_classes + 1 if c.label_conditioned else 0
        self.discriminator = Discriminator(c.latent_dim, c.disc_hidden_dim, c.n_hidden_layers, cond_dim)

    def _decoder_in(self) -> int:
        return self.config.latent_dim

    def encode(self, x):
        return self.prior.constrain(self.encoder(flatten_images(x)))

    def _decode_logits(self, z, y=None):
        return self.decoder(self._check_z(z))

    def _reconstruct_logits(self, x, y=None):
        return self.decoder(self.encode(x))

    def phase_modules(self, phase):
        return {"reconstruction": [self.encoder, self.decoder],
                "discriminator": [self.discriminator],
                "generator": [self.encoder]}[phase]

    def _condition(self, y: torch.Tensor | None, n: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """(labels for the prior, one-hot condition for D); None when D is unconditioned."""
        if not self.config.label_conditioned:
            return None, None
        k = self.config.n_classes
        if y is None:
            y = torch.full((n,), -1, dtype=torch.long, device=device_of(self))
        slot = torch.where(y >= 0, y, torch.full_like(y, k))
        return y, F.one_hot(slot.long(), k + 1).float()

    def phase_loss(self, phase, batch, *, noise_std=0.0, generator=None, class_noise_std=None):
        x, x_in = batch.x, batch.inputs
        if phase == "reconstruction":
            return losses.reconstruction_bce(self._reconstruct_logits(x_in, batch.y), x)
        labels, cond = self._condition(batch.y, x.shape[0])
        if phase == "discriminator":
            with torch.no_grad():
                fake = self.encode(x_in)
            real = self.prior.sample(x.shape[0], labels=labels, generator=generator, device=x.device)
            return losses.discriminator_loss(
                self.discriminator(noisy(real, noise_std, generator), cond),
                self.discriminator(noisy(fake, noise_std, generator), cond))
        if phase == "generator":
            fake = self.encode(x_in)
            return losses.generator_loss(self.discriminator(noisy(fake, noise_std, generator), cond))
        raise ValueError(f"unknown phase {phase!r}; this model has {self.phases}")

    def latent_critic(self, z, labels=None):
        _, cond = self._condition(labels, z.shape[0])
        return self.discriminator(self._check_z(z), cond)

    def metrics(self, x, y, *, per_epoch=False, judge=None):
        out: dict[str, Any] = {}
        if per_epoch or not (self.prior.n_components or isinstance(self.prior, SwissRollPrior)):
            return out
        z = encode_all(self, x).cpu()
        if self.prior.n_components:
            out.update(component_metrics(self, z, y))
        if isinstance(self.prior, SwissRollPrior):
            # as many prior samples as codes, drawn the same way every time (seeded)
            samples = self.prior.sample(z.shape[0], generator=torch.Generator().manual_seed(0))
            curve = self.prior._point(torch.linspace(0, 1, ROLL_CURVE_POINTS))
            out["roll_distance"] = roll_distance(z, samples, curve)
        return out
