"""aae_core: Adversarial Autoencoders (Makhzani et al., 2015) and a VAE baseline, on MNIST.

    model = aae_core.load("checkpoints/semi_supervised_100")
    z = model.encode(x)            # x [N, 1, 28, 28] in [0, 1]
    images = model.decode(z, y)    # y only for models with a class code

The names below, and every submodule (`aae_core.explore`, ...), are imported on first use (PEP 562). This is
the cold start's one door: the app's torch-free modules (explorer.TORCH_FREE) import `aae_core` and reach a torch
module as `aae_core.<module>` only where they compute, so a fresh server draws a shipped model's first map
without paying for torch (1.2-2 s on two cores); aae_core.data reaches torchvision's download (aae_core.fetch)
the same way, only when a file is missing.
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
    """The one lazy import of the package: a public name or a submodule, imported on first use."""
    module_name = _WHERE.get(name, name)
    try:
        module = importlib.import_module(f".{module_name}", __name__)
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{module_name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    if name not in _WHERE:      # a submodule: aae_core.explore after a bare `import aae_core`
        return module
    value = globals()[name] = getattr(module, name)
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

