"""The JSON side of a checkpoint folder: its file names, its format version and the one reader of config.json.

It imports no torch, so that listing the checkpoints on disk (the app's model picker) stays light; turning
the model's description into a validated ModelConfig (which asks the model family) is checkpoint.read_config.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import CheckpointConfigError, CheckpointNotFoundError, UnsupportedFormatError

FORMAT_VERSION = 1
CONFIG_FILE, WEIGHTS_FILE, OPTIMIZER_FILE, METRICS_FILE = (
    "config.json", "model.safetensors", "optimizer.safetensors", "metrics.json")
SNAPSHOTS_FILE = "snapshots.safetensors"   # the training timeline (aae_core.snapshots), where a run recorded one
# What a checkpoint folder may hold: the files this package writes into one (metrics.json from evaluate,
# cached latent-map projections) and the hidden temporary files of their atomic writes. A folder holding
# anything else is not a checkpoint, and is never replaced.
CHECKPOINT_FILE_PATTERNS = (CONFIG_FILE, WEIGHTS_FILE, OPTIMIZER_FILE, METRICS_FILE, "projection_*.safetensors",
                            SNAPSHOTS_FILE, f".{METRICS_FILE}.*", ".projection_*.safetensors.*",
                            f".{SNAPSHOTS_FILE}.*")
# The largest upload the app takes (the server's limit too: .streamlit/config.toml's server.maxUploadSize,
# in MB, must equal this; a test checks). A float32 checkpoint of the paper's size (1000-unit layers) is about 22 MB.
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
MAX_CONFIG_BYTES = 4 * 2**20   # a config.json with its history is a few hundred KB at most
MAX_JSON_DEPTH = 32           # a checkpoint's config.json nests 5 deep; json.loads recurses once per level

_CONTAINERS = (dict, list)   # what json.loads makes of arrays and objects


def json_depth(value: Any) -> int:
    """How deeply the arrays and objects of a parsed JSON value nest (a number or string: 0), walked with a
    stack of its own, so that no depth can exhaust Python's."""
    depth, stack = 0, [(value, 1)] if type(value) in _CONTAINERS else []
    while stack:
        node, level = stack.pop()
        depth = max(depth, level)
        children = node.values() if isinstance(node, dict) else node
        stack += [(child, level + 1) for child in children if type(child) in _CONTAINERS]
    return depth


def is_checkpoint(path: str | Path) -> bool:
    """True when the folder holds a config.json and a model.safetensors."""
    path = Path(path)
    return (path / CONFIG_FILE).is_file() and (path / WEIGHTS_FILE).is_file()


def parse_meta(text: bytes | str, where: str) -> dict[str, Any]:
    """config.json's content -> its JSON object, with the format version checked and "model" an object.

    `where` names the file in error messages."""
    if len(text) > MAX_CONFIG_BYTES:
        raise CheckpointConfigError(f"{where} is larger than {MAX_CONFIG_BYTES // 2**20} MB; it is not a "
                                    "checkpoint's config.json")
    nested_too_deeply = CheckpointConfigError(f"{where} is nested too deeply (more than {MAX_JSON_DEPTH} levels of "
                                              "arrays and objects); it is not a checkpoint's config.json")
    try:
        meta = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointConfigError(f"{where} is not valid JSON ({exc})") from None
    except RecursionError:   # json.loads recurses once per level: Python's limit ends a deeper text
        raise nested_too_deeply from None
    if json_depth(meta) > MAX_JSON_DEPTH:   # nothing downstream (repr, dumps, the app's thread) meets a deep one
        raise nested_too_deeply
    if not isinstance(meta, dict):
        raise CheckpointConfigError(f"{where} must hold a JSON object")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise UnsupportedFormatError(f"{where} has format_version {version!r}; this aae_core reads "
                                     f"version {FORMAT_VERSION}. Re-save it with a matching aae_core.")
    if not isinstance(meta.get("model"), dict):
        raise CheckpointConfigError(f"{where}: \"model\" must be a JSON object describing the model")
    return meta


def read_meta(path: str | Path) -> dict[str, Any]:
    """The checked config.json of the checkpoint folder `path` (the model's description still a dict)."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointNotFoundError(f"no checkpoint folder at {path}")
    cfg = path / CONFIG_FILE
    if not cfg.is_file():
        raise CheckpointNotFoundError(f"{path} has no {CONFIG_FILE}; a checkpoint folder holds "
                                      f"{CONFIG_FILE} and {WEIGHTS_FILE}")
    if cfg.stat().st_size > MAX_CONFIG_BYTES:
        raise CheckpointConfigError(f"{cfg} is larger than {MAX_CONFIG_BYTES // 2**20} MB; it is not a "
                                    "checkpoint's config.json")
    return parse_meta(cfg.read_bytes(), str(cfg))
