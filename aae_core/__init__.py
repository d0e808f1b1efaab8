"""aae_core: Adversarial Autoencoders (Makhzani et al., 2015) and a VAE baseline, on MNIST.

    model = aae_core.load("checkpoints/semi_supervised_100")
    z = model.encode(x)            # x [N, 1, 28, 28] in [0, 1]
    images = model.decode(z, y)    # y only for models with a class code
"""

__version__ = "0.1.0"

from .checkpoint import load, load_files, load_metrics, load_zip, save  # noqa: E402
from .config import ModelConfig, TrainConfig  # noqa: E402
from .data import ImageSet, label_split, load_dataset  # noqa: E402
from .errors import (  # noqa: E402
                     AAEError,
                     CheckpointConfigError,
                     CheckpointError,
                     CheckpointNotFoundError,
                     CorruptCheckpointError,
                     DataError,
                     ShapeMismatchError,
                     TrainingDivergedError,
                     UnsupportedFormatError,
)
from .models import AAEModel, build_model  # noqa: E402
from .priors import PRIORS, Prior, build_prior  # noqa: E402
from .training import Callback, Trainer, device_name, pick_device  # noqa: E402

__all__ = [
    "AAEError", "AAEModel", "Callback", "CheckpointConfigError", "CheckpointError", "CheckpointNotFoundError",
    "CorruptCheckpointError", "DataError", "ImageSet", "ModelConfig", "PRIORS", "Prior", "ShapeMismatchError",
    "TrainConfig", "Trainer", "TrainingDivergedError", "UnsupportedFormatError", "build_model", "build_prior",
    "device_name", "label_split", "load", "load_dataset", "load_files", "load_metrics", "load_zip",
    "pick_device", "save",
]
