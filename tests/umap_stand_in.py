"""A stand-in umap module for UMAP worker processes in tests (explorer.umap_worker.CHILD_SETUP =
umap_stand_in.install): the real one compiles for half a minute. Its fit reports epochs through tqdm as the
real one does, returns the first two coordinates + 100, and, where the test's environment names them, writes
the pid of the process it ran in ($AAE_TEST_UMAP_PID, appended) and waits for a file to exist first
($AAE_TEST_UMAP_RELEASE, at most 30 s)."""

from __future__ import annotations

import os
import sys
import time
import types
from pathlib import Path

import numpy as np


class UMAP:
    def __init__(self, **kwargs):
        self.kwargs = kwargs

    def fit_transform(self, x):
        pid_file, release = os.environ.get("AAE_TEST_UMAP_PID"), os.environ.get("AAE_TEST_UMAP_RELEASE")
        if pid_file:
            with open(pid_file, "a") as fh:
                fh.write(f"{os.getpid()} {len(x)}\n")
        if release:
            end = time.monotonic() + 30
            while not Path(release).exists() and time.monotonic() < end:
                time.sleep(0.05)
        for k in (0, 100, 200):
            self.kwargs["tqdm_kwds"]["file"].write(f"\r{k}/200 epochs")
        return np.asarray(x)[:, :2] + 100.0


def install() -> None:
    sys.modules["umap"] = types.SimpleNamespace(UMAP=UMAP)



def use_in_workers(monkeypatch, tmp_path: Path, *, hold: bool = False) -> Path:
    """Make the app's UMAP worker run this stand-in: the running one is stopped, so that the next fit starts a
    fresh one with this test's environment. With hold, its fits wait for the returned file to exist."""
    from explorer import umap_worker

    umap_worker.WORKER.stop()
    monkeypatch.setattr(umap_worker, "CHILD_SETUP", install)
    release = tmp_path / "umap_release.txt"
    if hold:
        monkeypatch.setenv("AAE_TEST_UMAP_RELEASE", str(release))
    return release
