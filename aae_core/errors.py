"""The project's error classes: one base, so callers can catch everything the library raises on purpose."""


class AAEError(Exception):
    """Base class of every error aae_core raises deliberately (bad input, bad files, diverged training)."""


class CheckpointError(AAEError):
    """A checkpoint folder could not be loaded."""


class CheckpointNotFoundError(CheckpointError):
    """The checkpoint folder, or a file it must contain, does not exist."""


class CorruptCheckpointError(CheckpointError):
    """The weights file is truncated, corrupt, or not a safetensors file."""


class CheckpointConfigError(CheckpointError):
    """config.json is malformed JSON or describes an invalid model."""


class UnsupportedFormatError(CheckpointError):
    """config.json declares a format version this library cannot read."""


class ShapeMismatchError(CheckpointError):
    """The weights do not fit the model that config.json describes."""


class NonFiniteWeightsError(CheckpointError):
    """The weights hold NaN or infinite values."""


class OutputPathError(AAEError):
    """An output path cannot be used: it holds files that are not a checkpoint (which are never replaced),
    it already holds a checkpoint that was not asked to be replaced, or nothing can be written there."""


class CheckpointSaveError(AAEError, OSError):
    """Writing a checkpoint failed (disk full, I/O error); the previous checkpoint, if any, is intact."""


class DataError(AAEError):
    """A dataset could not be found, fetched or verified."""


class TrainingDivergedError(AAEError):
    """A loss became NaN or infinite; training stopped before saving anything bad."""
