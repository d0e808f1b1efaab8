"""What each prior fixes about a config, in plain Python: the app reads it without importing torch.

A prior's shape rules (its latent size, whether its spread or size is set by the config, whether each label owns a
part of it) are declared once here; the priors themselves (aae_core.priors, torch) inherit them, so the library, the
Train page and the torch-free picker all ask the same class instead of testing a prior's name.

    shape_of("mixture").latent_dim_for(10)    # 2
    shape_of("gaussian").has_std              # True
"""

from __future__ import annotations

from typing import ClassVar


class PriorShape:
    """The rules a config must follow to use a prior; subclassed once per prior."""

    name: ClassVar[str] = ""
    parts_per_label: ClassVar[bool] = False   # K labelled parts (components, segments): can be label-conditioned
    has_std: ClassVar[bool] = False           # ModelConfig.prior_std sets its spread (N(0, σ² I): its density)
    has_radius: ClassVar[bool] = False        # ModelConfig.prior_radius sets its size

    @classmethod
    def latent_dim_for(cls, n_classes: int) -> int | None:
        """The latent size this prior fixes (given the config's n_classes), or None when any size fits."""
        return None

    @classmethod
    def check_shape(cls, latent_dim: int, n_classes: int) -> None:
        """ValueError when a config's latent_dim does not fit this prior."""
        dim = cls.latent_dim_for(n_classes)
        if dim is not None and latent_dim != dim:
            raise ValueError(f"the {cls.name} prior is {dim}-D: latent_dim must be {dim}, got {latent_dim}")


class GaussianShape(PriorShape):
    name = "gaussian"
    has_std = True


class LabelledPlaneShape(PriorShape):
    """A 2-D prior whose K labelled parts sit on a circle of the config's radius (mixture, swiss roll)."""

    parts_per_label = has_radius = True

    @classmethod
    def latent_dim_for(cls, n_classes: int) -> int | None:
        return 2


class MixtureShape(LabelledPlaneShape):
    name = "mixture"


class SwissRollShape(LabelledPlaneShape):
    name = "swiss_roll"


class CategoricalShape(PriorShape):
    name = "categorical"

    @classmethod
    def latent_dim_for(cls, n_classes: int) -> int | None:
        return n_classes    # one dimension per category

    @classmethod
    def check_shape(cls, latent_dim: int, n_classes: int) -> None:
        if latent_dim != n_classes:
            raise ValueError("a categorical prior is one-hot over n_classes: latent_dim must equal n_classes, "
                             f"got latent_dim={latent_dim}, n_classes={n_classes}")


SHAPES: dict[str, type[PriorShape]] = {s.name: s for s in (GaussianShape, MixtureShape, SwissRollShape,
                                                           CategoricalShape)}


def shape_of(name: str | None) -> type[PriorShape]:
    """The shape rules of the prior called `name`; a name no prior has (a damaged config.json) gets the plain
    PriorShape, which fixes nothing and has no spread, so that a torch-free reader never raises."""
    return SHAPES.get(name, PriorShape) if isinstance(name, str) else PriorShape
