"""Reading safetensors files without trusting them: the header alone first (its size capped), then the
tensors; every failure is one CheckpointError naming the file. Never pickle."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load_bytes

from .errors import CheckpointNotFoundError, CorruptCheckpointError

# A model's safetensors header lists a few dozen tensors (an optimizer's a few hundred): a few KB.
MAX_HEADER_BYTES = 16 * 1024 * 1024


def read_header(file: Path) -> tuple[dict[str, tuple[str, list[int]]], dict[str, str]]:
    """({tensor name: (dtype, shape)}, metadata) from a safetensors file's header alone: its 8-byte
    length (capped at MAX_HEADER_BYTES) and the JSON after it. Reads no tensor data."""
    if not file.is_file():
        raise CheckpointNotFoundError(f"{file.parent} has no {file.name}")
    try:
        size = file.stat().st_size
        with open(file, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise ValueError("shorter than the 8-byte header length")
            n = int.from_bytes(head, "little")
            if n > size - 8:
                raise ValueError(f"header length {n} is past the end of the file")
            if n > MAX_HEADER_BYTES:
                raise CorruptCheckpointError(f"{file} has a header of {n} bytes, more than the "
                                             f"{MAX_HEADER_BYTES} a checkpoint's needs; it is not a checkpoint file")
            header = json.loads(fh.read(n))
        if not isinstance(header, dict):
            raise ValueError("its header is not a JSON object")
        metadata = header.pop("__metadata__", None) or {}
        entries = {}
        for name, info in header.items():
            shape = info.get("shape") if isinstance(info, dict) else None
            if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
                raise ValueError(f"tensor {name!r} has no valid shape")
            entries[name] = (info.get("dtype"), shape)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise CorruptCheckpointError(f"{file} is truncated or not a safetensors file ({exc})") from None
    return entries, metadata


def read_safetensors(file: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    _, metadata = read_header(file)
    try:
        tensors = st_load_bytes(file.read_bytes())
    except (SafetensorError, ValueError, OSError, RuntimeError) as exc:
        raise CorruptCheckpointError(f"{file} is truncated or not a safetensors file ({exc})") from None
    return tensors, metadata
