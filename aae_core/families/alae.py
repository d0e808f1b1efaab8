"""Adversarial Latent Autoencoders (Pidhorskyi, Adjeroh & Doretto, CVPR 2020), the MNIST MLP variant.

Four networks: a mapping F: z -> w, a generator G: w -> x, an encoder E: x -> w and a discriminator D on
w. z ~ N(0, I) goes through F; D judges E(x) of real images against E(G(F(z))) of generated ones, so the
adversarial game is played in the latent space W, not on pixels (§3). Per mini-batch, three phases (§3,
Algorithm 1), each its own Adam step:
  1. discriminator: E and D, non-saturating loss softplus(D(E(G(F(z))))) + softplus(-D(E(x))) plus an R1
     penalty γ/2 E||∇_x D(E(x))||² on the real side (γ = R1_GAMMA);
  2. generator: F and G, softplus(-D(E(G(F(z)))));
  3. latent: E and G, ||F(z) - E(G(F(z)))||² (F(z) detached: only E and G learn it).
Pixels are never a training target: G(E(x)) reconstructs x only because E inverts G in W.

Sizes from ModelConfig (no extra fields): latent_dim is the size of z and of w; G and E are MLPs of
n_hidden_layers hidden layers of hidden_dim units; D has n_hidden_layers hidden layers of disc_hidden_dim
units (the paper's MNIST D: 3 layers in all); F has 3 * n_hidden_layers layers of disc_hidden_dim units
(6 for the default 2, the official MNIST config's MAPPING_LAYERS). Every layer is an equalised-learning-rate
linear layer (Karras et al. 2018, as the official code), leaky ReLU 0.2, the mapping networks F and D at a
tenth of the rate (lr multiplier 0.1); z is pixel-normalised before F.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..config import IMAGE_SIZE, ModelConfig
from ..priors import Prior
from .base import AAEModel, device_of, flatten_images, noisy

R1_GAMMA = 10.0          # weight of the R1 penalty (official code's discriminator_logistic_simple_gp default)
MAPPING_LR_MUL = 0.1     # F and D learn at a tenth of the rate (official lreq layers of the mapping networks)
G_OUTPUT_GAIN = 0.01     # G's output layer starts near zero: a clean grey image, not pixel noise (see below)
BETA2 = 0.99             # Adam β2 of every phase (official config); β1 is TrainConfig.beta1_adversarial (0)
SAMPLES_FOR_METRICS = 10000
SURE = 0.9               # the judge is "sure" of a generated digit at p >= SURE



class EqualLinear(nn.Module):
    """A linear layer with an equalised learning rate: weights drawn N(0, 1/lr_mul²), scaled at run time by
    lr_mul * sqrt(2 / fan_in), so Adam moves every layer at the same relative rate (StyleGAN, ALAE)."""

    def __init__(self, in_dim: int, out_dim: int, lr_mul: float = 1.0, init_gain: float = 1.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) * init_gain / lr_mul)
        self.bias = nn.Parameter(torch.zeros(out_dim))
        self.scale, self.lr_mul = lr_mul * math.sqrt(2.0 / in_dim), lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


def leaky_mlp(in_dim: int, hidden_dim: int, n_hidden: int, out_dim: int, *, lr_mul: float = 1.0,
              last_activation: bool = False, last_gain: float = 1.0) -> nn.Sequential:
    """in_dim -> n_hidden x (EqualLinear + leaky ReLU 0.2) -> EqualLinear(out_dim) [+ leaky ReLU]."""
    layers: list[nn.Module] = []
    width = in_dim
    for _ in range(n_hidden):
        layers += [EqualLinear(width, hidden_dim, lr_mul), nn.LeakyReLU(0.2)]
        width = hidden_dim
    layers.append(EqualLinear(width, out_dim, lr_mul, init_gain=last_gain))
    if last_activation:
        layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


def pixel_norm(z: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Each row scaled to unit root-mean-square (StyleGAN's input normalisation of z)."""
    return z * torch.rsqrt(z.pow(2).mean(dim=1, keepdim=True) + eps)


class MappedGaussianPrior(Prior):
    """The learned latent distribution of an ALAE: w = F(z), z ~ N(0, I) (z pixel-normalised, as ALAE.map
    does; `mapping` is F's layers). Sampling runs F without gradients
    on the model's device; z is drawn on the generator's device (so a CPU generator gives the same draws on
    any device) and the codes are returned where `device` says, else on the generator's device, else CPU."""

    name = "mapped_gaussian"

    def __init__(self, mapping: nn.Module, dim: int) -> None:
        self.mapping, self.dim = mapping, dim

    def sample(self, n, *, labels=None, generator=None, device=None):
        if labels is not None and (torch.as_tensor(labels) >= 0).any():
            raise ValueError("an ALAE's latent distribution has no per-label parts; sample it without labels")
        out = self._device(generator, device, None)
        z = torch.randn(n, self.dim, generator=generator, device=generator.device if generator is not None else out)
        model_device = next(self.mapping.parameters()).device
        with torch.no_grad():
            return self.mapping(pixel_norm(z.to(model_device))).to(out)


class ALAE(AAEModel):
    kind = "alae"
    priors = ("gaussian",)
    phases = ("discriminator", "generator", "latent")

    @classmethod
    def check_config(cls, config: ModelConfig) -> None:
        super().check_config(config)
        if config.prior_std != 1.0:
            raise ValueError(f"kind {cls.kind!r} pixel-normalises z ~ N(0, I) before its mapping network, so "
                             f"prior_std has no effect: leave it at 1.0; got {config.prior_std}")

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        c = config
        self.mapping = leaky_mlp(c.latent_dim, c.disc_hidden_dim, 3 * c.n_hidden_layers - 1, c.latent_dim,
                                 lr_mul=MAPPING_LR_MUL, last_activation=True)
        self.generator_net = leaky_mlp(c.latent_dim, c.hidden_dim, c.n_hidden_layers, IMAGE_SIZE,
                                       last_gain=G_OUTPUT_GAIN)
        self.encoder = leaky_mlp(IMAGE_SIZE, c.hidden_dim, c.n_hidden_layers, c.latent_dim, last_activation=True)
        self.discriminator = leaky_mlp(c.latent_dim, c.disc_hidden_dim, c.n_hidden_layers, 1,
                                       lr_mul=MAPPING_LR_MUL)
        self.prior = MappedGaussianPrior(self.mapping, c.latent_dim)

    # --- the four networks ------------------------------------------------------------------------
    def _map(self, z: torch.Tensor) -> torch.Tensor:
        """F: z [N, latent_dim] -> w [N, latent_dim]."""
        return self.mapping(pixel_norm(z))

    def _score(self, w: torch.Tensor) -> torch.Tensor:
        """D: codes w [N, latent_dim] -> one logit per row (real image's code or generated one's?)."""
        return self.discriminator(w).squeeze(1)

    # G draws in [-1, 1] with a linear output and E reads [-1, 1], as the official code: a sigmoid output
    # saturated into salt-and-pepper samples here (measured, see the recipe). The [0, 1] images the rest of
    # the project speaks are x = (G(w) + 1) / 2 clipped, and E(x) reads 2x - 1.
    def _generate(self, w: torch.Tensor) -> torch.Tensor:
        """G: w [N, latent_dim] -> images [N, 784] in about [-1, 1] (training's view)."""
        return self.generator_net(w)

    def _read(self, x: torch.Tensor) -> torch.Tensor:
        """E on images [N, 784] in [-1, 1]."""
        return self.encoder(x)

    def encode(self, x):
        return self._read(2.0 * flatten_images(x) - 1.0)

    def decode(self, z, y=None, *, logits=False):
        """G(z) as images in [0, 1]; logits: their logits [N, 784] (clipped away from 0 and 1), for code that
        asks for logits."""
        images = ((self._generate(self._check_z(z)) + 1.0) / 2.0).clamp(0.0, 1.0)
        return torch.logit(images, eps=1e-4) if logits else images.reshape(-1, 1, 28, 28)

    def reconstruct(self, x, y=None, *, logits=False):
        return self.decode(self.encode(x), logits=logits)

    # --- training ---------------------------------------------------------------------------------
    def phase_modules(self, phase):
        modules = {"discriminator": [self.encoder, self.discriminator],
                   "generator": [self.mapping, self.generator_net],
                   "latent": [self.encoder, self.generator_net]}
        if phase not in modules:
            raise ValueError(f"unknown phase {phase!r}; this model has {self.phases}")
        return modules[phase]

    def optimizer_settings(self, phase, tc):
        """discriminator: lr_discriminator; generator: lr_generator; latent: lr_reconstruction (the latent
        reconstruction is ALAE's only reconstruction). β = (beta1_adversarial, 0.99); the recipe sets β1 0."""
        lrs = {"discriminator": tc.lr_discriminator, "generator": tc.lr_generator, "latent": tc.lr_reconstruction}
        if phase not in lrs:
            raise ValueError(f"unknown phase {phase!r}; this model has {self.phases}")
        return lrs[phase], (tc.beta1_adversarial, BETA2)

    def _z(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        return torch.randn(n, self.config.latent_dim, generator=generator, device=device_of(self))

    def _r1_penalty(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(D(E(x)) [N], the R1 penalty E||∇_x D(E(x))||² (a scalar)) for real images x [N, 784] in [0, 1]
        (the gradient is taken in E's [-1, 1] pixel scale, as the official code).

        The penalty's graph is kept (create_graph), so its gradient reaches E and D only."""
        x = (2.0 * flatten_images(x) - 1.0).detach().requires_grad_(True)   # in E's [-1, 1]
        real = self._score(self._read(x))
        (grad,) = torch.autograd.grad(real.sum(), x, create_graph=True)
        return real, grad.pow(2).sum(dim=1).mean()

    def phase_loss(self, phase, batch, *, noise_std=0.0, generator=None, class_noise_std=None):
        n = batch.x.shape[0]
        if phase == "discriminator":
            with torch.no_grad():
                fake_x = self._generate(self._map(self._z(n, generator)))
            real, r1 = self._r1_penalty(batch.inputs)
            fake = self._score(noisy(self._read(fake_x), noise_std, generator))
            return F.softplus(fake).mean() + F.softplus(-real).mean() + 0.5 * R1_GAMMA * r1
        if phase == "generator":
            fake_x = self._generate(self._map(self._z(n, generator)))
            return F.softplus(-self._score(noisy(self._read(fake_x), noise_std, generator))).mean()
        if phase == "latent":
            with torch.no_grad():
                w = self._map(self._z(n, generator))
            return (self._read(self._generate(w)) - w).pow(2).mean()
        raise ValueError(f"unknown phase {phase!r}; this model has {self.phases}")

    # --- metrics ----------------------------------------------------------------------------------
    def _latent_reconstruction_error(self, n: int = 1000, seed: int = 0) -> float:
        """Mean ||F(z) - E(G(F(z)))||² per dimension over n fixed draws of z (what phase 3 minimises)."""
        g = torch.Generator(device=device_of(self)).manual_seed(seed)
        with torch.no_grad():
            w = self._map(self._z(n, g))
            return float((self._read(self._generate(w)) - w).pow(2).mean())

    def metrics(self, x, y, *, per_epoch=False, judge=None):
        if per_epoch:
            g = torch.Generator(device=device_of(self)).manual_seed(0)
            samples = self.decode(self._map(self._z(x.shape[0], g)))
            return {"eval_latent_mse": self._latent_reconstruction_error(),
                    "eval_sample_ink": float(samples.mean())}
        out = {"latent_reconstruction_mse": self._latent_reconstruction_error()}
        if judge is not None:
            out["alae_judge"] = self._judge_metrics(judge, x, y)
        return out

    def _judge_metrics(self, judge: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
                      n_samples: int = SAMPLES_FOR_METRICS, seed: int = 0) -> dict[str, Any]:
        """What a separate digit classifier (aae_core.judge) reads in this model's images:
        recon_same_digit: share of G(E(x)) read as x's label y; of n_samples generated digits G(F(z)):
        sample_sure_fraction (judge's top probability >= 0.9) and sample_digit_shares (argmax, per digit)."""
        dev = device_of(self)
        judge = judge.to(dev).eval()
        was_training = self.training
        self.eval()
        with torch.no_grad():
            hits = 0
            for i in range(0, x.shape[0], 2000):
                rec = self.reconstruct(x[i:i + 2000].to(dev)).reshape(-1, IMAGE_SIZE)
                hits += int((judge(rec).argmax(1).cpu() == y[i:i + 2000].cpu()).sum())
            g = torch.Generator().manual_seed(seed)
            w = self.prior.sample(n_samples, generator=g, device=dev)
            probs = torch.cat([torch.softmax(judge(self.decode(w[i:i + 2000]).reshape(-1, IMAGE_SIZE)), 1)
                               for i in range(0, n_samples, 2000)]).cpu()
        self.train(was_training)
        top, digit = probs.max(1)
        shares = torch.bincount(digit, minlength=probs.shape[1]).float() / n_samples
        return {"recon_same_digit": hits / x.shape[0], "sample_sure_fraction": float((top >= SURE).float().mean()),
                "sample_digit_shares": shares.tolist(), "sample_min_digit_share": float(shares.min()),
                "n_samples": n_samples, "sure_threshold": SURE}
