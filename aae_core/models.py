"""The model families of the paper, each with encode / decode / classify and its training phases.

A model holds its networks and the math of each phase's loss; the Trainer owns optimizers, data
and devices. The prior is reached only through the Prior interface (sample / constrain).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from . import losses
from .config import IMAGE_SHAPE, IMAGE_SIZE, ModelConfig
from .networks import Discriminator, mlp
from .priors import CategoricalPrior, Prior, build_prior


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


def flatten_images(x: torch.Tensor) -> torch.Tensor:
    """[N, 1, 28, 28] or [N, 784] floats in [0, 1] -> [N, 784]; anything else is a ValueError."""
    if not torch.is_tensor(x):
        raise TypeError(f"expected a torch.Tensor of images; got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"images must be floats in [0, 1]; got dtype {x.dtype}")
    if x.dim() == 4 and tuple(x.shape[1:]) == IMAGE_SHAPE:
        return x.reshape(x.shape[0], IMAGE_SIZE)
    if x.dim() == 2 and x.shape[1] == IMAGE_SIZE:
        return x
    raise ValueError(f"images must be [N, 1, 28, 28] or [N, 784]; got {list(x.shape)}")


class AAEModel(nn.Module):
    """What every model offers: encode, decode, reconstruct, classify (where it has a classifier)."""

    phases: tuple[str, ...] = ()

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.prior: Prior = build_prior(config)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # --- public queries -------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images [N, 1, 28, 28] or [N, 784] in [0, 1] -> codes z [N, latent_dim]."""
        raise NotImplementedError

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Codes z [N, latent_dim] (and y: int labels [N] or one-hot [N, K]) -> images [N, 1, 28, 28] in [0, 1]."""
        return torch.sigmoid(self.decode_logits(z, y)).reshape(-1, *IMAGE_SHAPE)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Images -> class (or cluster) logits [N, n_classes]; semi-supervised and clustering models only."""
        raise ValueError(f"a {self.config.kind!r} model has no classifier; "
                         "classify() needs kind 'semi_supervised' or 'clustering'")

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Images -> their reconstructions [N, 1, 28, 28] (through the model's own class code, if any)."""
        return torch.sigmoid(self.reconstruct_logits(flatten_images(x))).reshape(-1, *IMAGE_SHAPE)

    # --- internals used by the phases ------------------------------------------------------
    def decode_logits(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def reconstruct_logits(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def phase_modules(self, phase: str) -> list[nn.Module]:
        """The modules whose weights `phase` updates."""
        raise NotImplementedError

    def phase_loss(self, phase: str, batch: Batch, *, noise_std: float = 0.0,
                   generator: torch.Generator | None = None, class_noise_std: float | None = None) -> torch.Tensor:
        """The loss of one phase on one batch. noise_std: std of the noise on D's inputs;
        class_noise_std: on the class discriminator's inputs, where there is one (None: noise_std)."""
        raise NotImplementedError

    def _check_z(self, z: torch.Tensor) -> torch.Tensor:
        if not torch.is_tensor(z) or z.dim() != 2 or z.shape[1] != self.config.latent_dim:
            shape = list(z.shape) if torch.is_tensor(z) else type(z).__name__
            raise ValueError(f"z must be a float tensor [N, {self.config.latent_dim}]; got {shape}")
        return z.float()

    def _class_code(self, y: torch.Tensor | None, n: int) -> torch.Tensor:
        """int labels [N] or one-hot / probabilities [N, K] -> [N, K] floats."""
        k = self.config.n_classes
        if y is None:
            raise ValueError(f"a {self.config.kind!r} model decodes from a style z and a class y: pass y "
                             f"(int labels [N] in 0..{k - 1} or one-hot [N, {k}])")
        y = torch.as_tensor(y, device=self.device)
        if y.dim() == 1 and not y.is_floating_point():
            if y.shape[0] != n or (y < 0).any() or (y >= k).any():
                raise ValueError(f"y must hold {n} labels in 0..{k - 1}")
            return F.one_hot(y.long(), k).float()
        if y.dim() == 2 and y.shape == (n, k):
            return y.float()
        raise ValueError(f"y must be int labels [{n}] or one-hot [{n}, {k}]; got {list(y.shape)}")


def _noisy(code: torch.Tensor, std: float, generator: torch.Generator | None) -> torch.Tensor:
    """Gaussian instance noise on discriminator inputs (keeps D from winning outright)."""
    if std <= 0:
        return code
    return code + std * torch.randn(code.shape, generator=generator, device=code.device)


class AdversarialAutoencoder(AAEModel):
    """Unsupervised AAE (paper §2): q(z|x) deterministic, p(x|z), and D on z.

    With label_conditioned (§2.3, Fig. 4) D also sees a one-hot of the label, with an extra slot
    for unlabelled images, and each label's codes are pushed to that label's component.
    """

    phases = ("reconstruction", "discriminator", "generator")

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

    def decode_logits(self, z, y=None):
        return self.decoder(self._check_z(z))

    def reconstruct_logits(self, x, y=None):
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
            y = torch.full((n,), -1, dtype=torch.long, device=self.device)
        slot = torch.where(y >= 0, y, torch.full_like(y, k))
        return y, F.one_hot(slot.long(), k + 1).float()

    def phase_loss(self, phase, batch, *, noise_std=0.0, generator=None, class_noise_std=None):
        x, x_in = batch.x, batch.inputs
        if phase == "reconstruction":
            return losses.reconstruction_bce(self.reconstruct_logits(x_in, batch.y), x)
        labels, cond = self._condition(batch.y, x.shape[0])
        if phase == "discriminator":
            with torch.no_grad():
                fake = self.encode(x_in)
            real = self.prior.sample(x.shape[0], labels=labels, generator=generator, device=x.device)
            return losses.discriminator_loss(
                self.discriminator(_noisy(real, noise_std, generator), cond),
                self.discriminator(_noisy(fake, noise_std, generator), cond))
        if phase == "generator":
            fake = self.encode(x_in)
            return losses.generator_loss(self.discriminator(_noisy(fake, noise_std, generator), cond))
        raise ValueError(f"unknown phase {phase!r}; this model has {self.phases}")


class SupervisedAAE(AdversarialAutoencoder):
    """Supervised AAE (paper §4, Fig. 6): the decoder gets the one-hot label and the style z; the
    encoder gives z only, so z is pushed to hold the style and not the class.

    That push is weak when z has room: a 15-D z can match N(0, I) overall and still say which digit
    it came from, and the decoder then ignores y (measured: a separate classifier read class-swept
    decodings as the intended class 13.5 % of the time). With label_conditioned, D sees (z, y) and
    z must match the prior within each class, which leaves no class in z."""

    def _decoder_in(self) -> int:
        return self.config.latent_dim + self.config.n_classes

    def decode_logits(self, z, y=None):
        z = self._check_z(z)
        return self.decoder(torch.cat([z, self._class_code(y, z.shape[0])], dim=1))

    def reconstruct(self, x, y=None):
        """Images and their labels -> reconstructions [N, 1, 28, 28]."""
        return torch.sigmoid(self.reconstruct_logits(flatten_images(x), y)).reshape(-1, *IMAGE_SHAPE)

    def reconstruct_logits(self, x, y=None):
        return self.decode_logits(self.encode(x), y)


class CategoricalAAE(AAEModel):
    """Semi-supervised AAE (paper §5) and unsupervised clustering (§6).

    The encoder outputs a softmax class code y and a style code z. Two discriminators push y to a
    categorical and z to a Gaussian; the decoder rebuilds x from (z, y). With labels, a supervised
    phase trains the y head with cross-entropy on a labelled batch.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        c = config
        self.phases = ("reconstruction", "discriminator", "generator") + (
            ("supervised",) if c.kind == "semi_supervised" else ())
        self.class_prior = CategoricalPrior(c.n_classes)
        self.encoder = mlp(IMAGE_SIZE, c.hidden_dim, c.n_hidden_layers, c.n_classes + c.latent_dim)
        self.decoder = mlp(c.latent_dim + c.n_classes, c.hidden_dim, c.n_hidden_layers, IMAGE_SIZE)
        self.discriminator_z = Discriminator(c.latent_dim, c.disc_hidden_dim, c.n_hidden_layers)
        self.discriminator_y = Discriminator(c.n_classes, c.disc_hidden_dim, c.n_hidden_layers)

    def _heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.encoder(flatten_images(x))
        return out[:, : self.config.n_classes], out[:, self.config.n_classes:]

    def encode(self, x):
        return self._heads(x)[1]

    def classify(self, x):
        return self._heads(x)[0]

    def decode_logits(self, z, y=None):
        z = self._check_z(z)
        return self.decoder(torch.cat([z, self._class_code(y, z.shape[0])], dim=1))

    def reconstruct_logits(self, x, y=None):
        logits, z = self._heads(x)
        return self.decoder(torch.cat([z, torch.softmax(logits, dim=1)], dim=1))

    def phase_modules(self, phase):
        return {"reconstruction": [self.encoder, self.decoder],
                "discriminator": [self.discriminator_z, self.discriminator_y],
                "generator": [self.encoder],
                "supervised": [self.encoder]}[phase]

    def phase_loss(self, phase, batch, *, noise_std=0.0, generator=None, class_noise_std=None):
        x, x_in, n = batch.x, batch.inputs, batch.x.shape[0]
        y_noise = noise_std if class_noise_std is None else class_noise_std
        if phase == "reconstruction":
            return losses.reconstruction_bce(self.reconstruct_logits(x_in), x)
        if phase == "supervised":
            if batch.x_labelled is None:
                raise ValueError("the supervised phase needs a labelled batch")
            return losses.cross_entropy(self.classify(batch.x_labelled), batch.y_labelled)
        if phase == "discriminator":
            with torch.no_grad():
                logits, z = self._heads(x_in)
                y = torch.softmax(logits, dim=1)
            real_z = self.prior.sample(n, generator=generator, device=x.device)
            real_y = self.class_prior.sample(n, generator=generator, device=x.device)
            dz = losses.discriminator_loss(self.discriminator_z(_noisy(real_z, noise_std, generator)),
                                           self.discriminator_z(_noisy(z, noise_std, generator)))
            dy = losses.discriminator_loss(self.discriminator_y(_noisy(real_y, y_noise, generator)),
                                           self.discriminator_y(_noisy(y, y_noise, generator)))
            return dz + dy
        if phase == "generator":
            logits, z = self._heads(x_in)
            y = torch.softmax(logits, dim=1)
            return (losses.generator_loss(self.discriminator_z(_noisy(z, noise_std, generator)))
                    + losses.generator_loss(self.discriminator_y(_noisy(y, y_noise, generator))))
        raise ValueError(f"unknown phase {phase!r}; this model has {self.phases}")


class VAE(AAEModel):
    """Variational autoencoder baseline (Kingma & Welling) with the AAE's encoder/decoder sizes.

    encode() returns the posterior mean; the KL term pulls q(z|x) to N(0, prior_std² I)."""

    phases = ("elbo",)

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        c = config
        self.encoder = mlp(IMAGE_SIZE, c.hidden_dim, c.n_hidden_layers, 2 * c.latent_dim)
        self.decoder = mlp(c.latent_dim, c.hidden_dim, c.n_hidden_layers, IMAGE_SIZE)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images -> (mean, log-variance), each [N, latent_dim]."""
        mu, logvar = self.encoder(flatten_images(x)).chunk(2, dim=1)
        return mu, logvar.clamp(-20.0, 10.0)

    def encode(self, x):
        return self.posterior(x)[0]

    def decode_logits(self, z, y=None):
        return self.decoder(self._check_z(z))

    def reconstruct_logits(self, x, y=None):
        return self.decoder(self.encode(x))

    def phase_modules(self, phase):
        return {"elbo": [self.encoder, self.decoder]}[phase]

    def phase_loss(self, phase, batch, *, noise_std=0.0, generator=None, class_noise_std=None):
        if phase != "elbo":
            raise ValueError(f"unknown phase {phase!r}; this model has {self.phases}")
        mu, logvar = self.posterior(batch.inputs)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device)
        z = mu + eps * torch.exp(0.5 * logvar)
        return (losses.reconstruction_bce(self.decoder(z), batch.x)
                + losses.gaussian_kl(mu, logvar, self.config.prior_std))


MODELS: dict[str, type[AAEModel]] = {
    "unsupervised": AdversarialAutoencoder,
    "supervised": SupervisedAAE,
    "semi_supervised": CategoricalAAE,
    "clustering": CategoricalAAE,
    "vae": VAE,
}


def build_model(config: ModelConfig, *, seed: int | None = None) -> AAEModel:
    """A freshly initialised model of config.kind (weights drawn from `seed` when given), on CPU."""
    cls = MODELS[config.kind]
    if seed is None:
        return cls(config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return cls(config)
