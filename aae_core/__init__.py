"""aae_core: Adversarial Autoencoders (Makhzani et al., 2015) and a VAE baseline, on MNIST.

    model = aae_core.load("checkpoints/semi_supervised_100")
    z = model.encode(x)            # x [N, 1, 28, 28] in [0, 1]
    images = model.decode(z, y)    # y only for models with a class code

The names below are imported on first use (PEP 562), so that `import aae_core.config` or the app's
cached latent map does not pay for importing torch (about 1.5 s on two cores).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "checkpoint": ("load", "load_files", "load_metrics", "load_zip", "save"),
    "config": ("ModelConfig", "TrainConfig"),
    "data": ("ImageSet", "label_split", "load_dataset"),
    "errors": ("AAEError", "CheckpointConfigError", "CheckpointError", "CheckpointNotFoundError",
               "CorruptCheckpointError", "DataError", "ShapeMismatchError", "TrainingDivergedError",
               "UnsupportedFormatError", "NonFiniteWeightsError", "OutputPathError", "CheckpointSaveError"),
    "models": ("AAEModel", "build_model"),
    "priors": ("PRIORS", "Prior", "build_prior"),
    "training": ("Callback", "Trainer", "device_name", "pick_device"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
        globals()[name] = value
        return value
    try:  # submodules: aae_core.checkpoint etc. after a bare `import aae_core`
        return importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # what static tools see
    from .checkpoint import load, load_files, load_metrics, load_zip, save  # noqa: F401
    from .config import ModelConfig, TrainConfig  # noqa: F401
    from .data import ImageSet, label_split, load_dataset  # noqa: F401
    from .errors import (  # noqa: F401
        AAEError,
        CheckpointConfigError,
        CheckpointError,
        CheckpointNotFoundError,
        CheckpointSaveError,
        CorruptCheckpointError,
        DataError,
        NonFiniteWeightsError,
        OutputPathError,
        ShapeMismatchError,
        TrainingDivergedError,
        UnsupportedFormatError,
    )
    from .models import AAEModel, build_model  # noqa: F401
    from .priors import PRIORS, Prior, build_prior  # noqa: F401
    from .training import Callback, Trainer, device_name, pick_device  # noqa: F401
