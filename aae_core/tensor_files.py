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


# Bytes per element of the dtypes safetensors writes.
DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "U16": 2, "I16": 2, "F16": 2, "BF16": 2,
               "U32": 4, "I32": 4, "F32": 4, "U64": 8, "I64": 8, "F64": 8}


def _check_layout(header: dict, data_bytes: int) -> None:
    """Raise ValueError unless every tensor's data_offsets span exactly its dtype x shape and the tensors
    tile the data section, which is exactly `data_bytes` long: so a file's size is known to fit its
    header before any of its data is read."""
    spans = []
    for name, info in header.items():
        dtype, offsets = info.get("dtype"), info.get("data_offsets")
        if dtype not in DTYPE_BYTES:
            raise ValueError(f"tensor {name!r} has an unknown dtype {dtype!r}")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)
                and 0 <= offsets[0] <= offsets[1]):
            raise ValueError(f"tensor {name!r} has no valid data_offsets")
        numel = 1
        for d in info["shape"]:
            numel *= d
        if offsets[1] - offsets[0] != numel * DTYPE_BYTES[dtype]:
            raise ValueError(f"tensor {name!r}: its data_offsets span {offsets[1] - offsets[0]} bytes, "
                             f"its shape {info['shape']} of {dtype} {numel * DTYPE_BYTES[dtype]}")
        spans.append((offsets[0], offsets[1]))
    end = 0
    for begin, stop in sorted(spans):
        if begin != end:
            raise ValueError("its tensors' data_offsets overlap or leave gaps")
        end = stop
    if end != data_bytes:
        raise _SizeMismatch(end)


class _SizeMismatch(ValueError):
    def __init__(self, described: int) -> None:
        super().__init__(described)
        self.described = described


def read_header(file: Path) -> tuple[dict[str, tuple[str, list[int]]], dict[str, str]]:
    """({tensor name: (dtype, shape)}, metadata) from a safetensors file's header alone: its 8-byte
    length (capped at MAX_HEADER_BYTES) and the JSON after it, with every tensor's offsets checked
    against its dtype and shape and the file's size against the header. Reads no tensor data."""
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
            if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
                raise ValueError(f"tensor {name!r} has no valid shape")
            entries[name] = (info.get("dtype"), shape)
        _check_layout(header, size - 8 - n)
    except _SizeMismatch as exc:
        raise CorruptCheckpointError(
            f"{file} is truncated or not a safetensors file (it is {size / 2**20:.1f} MB; its header describes "
            f"{(8 + n + exc.described) / 2**20:.1f} MB)") from None
    except (OSError, ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise CorruptCheckpointError(f"{file} is truncated or not a safetensors file ({exc})") from None
    return entries, metadata


def read_safetensors(file: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    _, metadata = read_header(file)
    try:
        tensors = st_load_bytes(file.read_bytes())
    except (SafetensorError, ValueError, OSError, RuntimeError) as exc:
        raise CorruptCheckpointError(f"{file} is truncated or not a safetensors file ({exc})") from None
    return tensors, metadata
