"""The Compare page's services: which two models it opens on, and the same test images and prior draws for
both (so that any difference on screen is the models', not the inputs')."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from aae_core import explore
from aae_core.errors import CheckpointError
from explorer import catalog, family_text

if TYPE_CHECKING:
    from aae_core.data import ImageSet
    from explorer.picker import Current

# The paper's Fig. 2 comparison: the AAE and the VAE with the same 2-D latent.
DEFAULT_PAIR = ("unsupervised_gaussian_2d", "vae_2d")


def default_pair(refs: list[str], current: str | None) -> tuple[str, str] | None:
    """Model A and model B the page opens on: the shipped AAE and VAE of DEFAULT_PAIR when both exist; else
    the sidebar's pick and a model of another family with the same latent size (a VAE first), else any other
    model. None when there are fewer than one model."""
    if not refs:
        return None
    infos = {i.ref: i for i in catalog.list_checkpoints()}
    shipped = {infos[r].name: r for r in refs if r in infos and infos[r].source == "shipped"}
    if all(name in shipped for name in DEFAULT_PAIR):
        return shipped[DEFAULT_PAIR[0]], shipped[DEFAULT_PAIR[1]]
    a = current if current in refs else refs[0]
    others = [r for r in refs if r != a]
    if not others:
        return a, a
    info_a = infos.get(a)

    def rank(r: str) -> tuple[int, int]:
        info = infos.get(r)
        if info is None or info_a is None:
            return (2, 0)
        same_size = info.latent_dim == info_a.latent_dim
        other_kind = info.model.get("kind") != info_a.model.get("kind")
        try:
            baseline = family_text.of(info.config.kind).pulled_by == "kl"     # the AAE's natural partner: a VAE
        except CheckpointError:      # unreadable
            baseline = False
        return (0 if same_size and other_kind else 1 if same_size else 2, 0 if baseline else 1)

    return a, min(others, key=rank)


def class_codes(cur: Current, n: int) -> np.ndarray | None:
    """Class codes 0, 1, 2, ... (cycling) for n prior samples of a model whose decoder needs one; else None."""
    return np.arange(n) % cur.config.n_classes if cur.family.classes else None


def reconstructions(cur: Current, test: ImageSet, start: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(test images uint8 [n, 28, 28] from index `start`, their labels [n], the model's reconstructions)."""
    stop = min(start + n, len(test))
    images = test.images[start:stop].cpu().numpy()
    labels = test.labels[start:stop].cpu().numpy()
    return images, labels, explore.reconstruct(cur.model, images, labels=labels)


def prior_decodings(cur: Current, n: int, seed: int) -> np.ndarray:
    """n prior samples drawn with `seed`, decoded (with class codes 0, 1, 2, ... where needed): uint8 [n, 28, 28]."""
    return explore.decode(cur.model, explore.prior_samples(cur.model, n, seed), class_codes(cur, n))
