"""The semi-supervised AAE (paper §5, Fig. 8, Table 2), and the categorical AAE it shares with clustering.

The encoder outputs a softmax class code y and a style code z. Two discriminators push y to a categorical
and z to a Gaussian; the decoder rebuilds x from (z, y). With labels, a supervised phase trains the y head
with cross-entropy on a separate labelled batch every step.

With label_conditioned, the style's discriminator also sees the class the encoder gives each image (the one-hot
of its class head's argmax; the prior's draws are shown with the same classes), so z must match the prior within
every class, not only overall. A style drawn from the prior is then one the decoder has met for every class,
which is what decoding prior styles x classes asks (paper Fig. 8).

With consistency_eps > 0 a consistency phase follows: virtual adversarial training (Miyato et al. 2018) on the class
head, which asks it to give each training image (labelled or not) the same class under the small perturbation
that changes its answer most. It needs no labels, so clustering models can use it too.
"""

from __future__ import annotations

import torch

from .. import losses
from ..config import IMAGE_SIZE, ModelConfig
from ..networks import Discriminator, mlp
from ..priors import CategoricalPrior
from .base import AAEModel, ClassCode, flatten_images, noisy
from .scoring import classification_error


class CategoricalAAE(AAEModel):
    """Style z + categorical y, each with its own discriminator (paper §5-§6)."""

    priors = ("gaussian",)
    classes = ClassCode("class", predicted=True)
    _conditions_style = True    # label_conditioned: the style's D also sees each image's class (module docstring)

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        c = config
        self.class_prior = CategoricalPrior(c.n_classes)
        self.encoder = mlp(IMAGE_SIZE, c.hidden_dim, c.n_hidden_layers, c.n_classes + c.latent_dim)
        self.decoder = mlp(c.latent_dim + c.n_classes, c.hidden_dim, c.n_hidden_layers, IMAGE_SIZE)
        self.discriminator_z = Discriminator(c.latent_dim, c.disc_hidden_dim, c.n_hidden_layers,
                                             cond_dim=c.n_classes if c.label_conditioned else 0)
        self.discriminator_y = Discriminator(c.n_classes, c.disc_hidden_dim, c.n_hidden_layers)
        if c.consistency_eps:
            self.phases = (*type(self).phases, "consistency")

    def _heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.encoder(flatten_images(x))
        return out[:, : self.config.n_classes], out[:, self.config.n_classes:]

    def encode(self, x):
        return self._heads(x)[1]

    def classify(self, x):
        return self._heads(x)[0]

    def _decode_logits(self, z, y=None):
        z = self._check_z(z)
        return self.decoder(torch.cat([z, self._one_hot_code(y, z.shape[0])], dim=1))

    def _reconstruct_logits(self, x, y=None):
        logits, z = self._heads(x)
        return self.decoder(torch.cat([z, torch.softmax(logits, dim=1)], dim=1))

    def _given_classes(self, logits: torch.Tensor) -> torch.Tensor | None:
        """The class each image is given, one-hot and out of the graph (what a conditioned D is shown; None, which
        an unconditioned D ignores, otherwise)."""
        if not self.config.label_conditioned:
            return None
        return torch.nn.functional.one_hot(logits.detach().argmax(dim=1), self.config.n_classes).to(logits.dtype)

    def latent_critic(self, z, labels=None):
        """The style's D (y has its own). Label-conditioned: D's verdict for each code's label; where a label is
        unknown (None or -1), the mean of its verdicts (logits) over the classes."""
        z = self._check_z(z)
        if not self.config.label_conditioned:
            return self.discriminator_z(z)
        k, n = self.config.n_classes, z.shape[0]
        labels = torch.full((n,), -1) if labels is None else torch.as_tensor(labels)
        if labels.shape != (n,) or labels.is_floating_point() or (labels < -1).any() or (labels >= k).any():
            raise ValueError(f"labels must be {n} ints in 0..{k - 1} (or -1 for unknown)")
        labels = labels.to(z.device).long()
        one_hot = torch.nn.functional.one_hot
        out = self.discriminator_z(z, one_hot(labels.clamp_min(0), k).float())
        unknown = (labels < 0).nonzero().squeeze(1)
        if unknown.numel():
            zu = z[unknown]
            every = [self.discriminator_z(zu, one_hot(torch.full_like(unknown, c), k).float()) for c in range(k)]
            out = out.index_put((unknown,), torch.stack(every, dim=1).mean(dim=1))
        return out

    def phase_modules(self, phase):
        return {"reconstruction": [self.encoder, self.decoder],
                "discriminator": [self.discriminator_z, self.discriminator_y],
                "generator": [self.encoder],
                "supervised": [self.encoder],
                "consistency": [self.encoder]}[phase]

    def phase_loss(self, phase, batch, *, noise_std=0.0, generator=None, class_noise_std=None):
        x, x_in, n = batch.x, batch.inputs, batch.x.shape[0]
        y_noise = noise_std if class_noise_std is None else class_noise_std
        if phase == "reconstruction":
            return losses.reconstruction_bce(self._reconstruct_logits(x_in), x)
        if phase == "supervised":
            if batch.x_labelled is None:
                raise ValueError("the supervised phase needs a labelled batch")
            return losses.cross_entropy(self.classify(batch.x_labelled), batch.y_labelled)
        if phase == "consistency" and self.config.consistency_eps:
            return losses.virtual_adversarial(self.classify, x, self.config.consistency_eps, generator=generator)
        if phase == "discriminator":
            with torch.no_grad():
                logits, z = self._heads(x_in)
                y = torch.softmax(logits, dim=1)
            given = self._given_classes(logits)
            real_z = self.prior.sample(n, generator=generator, device=x.device)
            real_y = self.class_prior.sample(n, generator=generator, device=x.device)
            dz = losses.discriminator_loss(self.discriminator_z(noisy(real_z, noise_std, generator), given),
                                           self.discriminator_z(noisy(z, noise_std, generator), given))
            dy = losses.discriminator_loss(self.discriminator_y(noisy(real_y, y_noise, generator)),
                                           self.discriminator_y(noisy(y, y_noise, generator)))
            return dz + dy
        if phase == "generator":
            logits, z = self._heads(x_in)
            y = torch.softmax(logits, dim=1)
            given = self._given_classes(logits)
            return (losses.generator_loss(self.discriminator_z(noisy(z, noise_std, generator), given))
                    + losses.generator_loss(self.discriminator_y(noisy(y, y_noise, generator))))
        raise ValueError(f"unknown phase {phase!r}; this model has {self.phases}")


class SemiSupervisedAAE(CategoricalAAE):
    kind = "semi_supervised"
    classes = ClassCode("class", predicted=True, means_label=True)
    phases = ("reconstruction", "discriminator", "generator", "supervised")

    @classmethod
    def label_use(cls, label_conditioned=False):
        return "batch"

    def metrics(self, x, y, *, per_epoch=False, judge=None):
        error = classification_error(self, x, y)
        return {"eval_error": error} if per_epoch else {"classification_error": error}
