"""aae_core: Adversarial Autoencoders (Makhzani et al., 2015) and a VAE baseline, on MNIST.

    model = aae_core.load("checkpoints/semi_supervised_100")
    z = model.encode(x)            # x [N, 1, 28, 28] in [0, 1]
    images = model.decode(z, y)    # y only for models with a class code

The names below are imported on first use (PEP 562): importing any submodule runs this file, and the
app's model picker and cached latent maps need only the torch-free ones (config, checkpoint_meta,
map_cache), so a fresh server draws its first map without paying for torch (1.2-2 s on two cores).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "checkpoint": ("load", "load_metrics", "save"),
    "config": ("ModelConfig", "Schedule", "TrainConfig"),
    "data": ("ImageSet", "label_split", "load_dataset"),
    "errors": ("AAEError", "CheckpointConfigError", "CheckpointError", "CheckpointNotFoundError",
               "CorruptCheckpointError", "DataError", "ShapeMismatchError", "TrainingDivergedError",
               "UnsupportedFormatError", "NonFiniteWeightsError", "OutputPathError", "CheckpointSaveError"),
    "families": ("AAEModel", "FAMILIES", "build_model", "get_family", "register"),
    "recipes": ("RECIPES", "Recipe", "get_recipe", "resolve"),
    "priors": ("PRIORS", "Prior", "build_prior"),
    "training": ("Callback", "Trainer", "device_name", "pick_device"),
    "uploads": ("load_files", "load_zip"),
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

