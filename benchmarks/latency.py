"""Query latency of a model: encode and decode of 1 and 10,000 images, and the UMAP projection of
the 10k test set cold (first fit in a fresh process, numba compiling) and warm (a second fit).
Writes results/latency_<device>.json.

    python -m benchmarks.latency [--checkpoint checkpoints/unsupervised_gaussian_8d] [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import aae_core as A
from aae_core.projection import encode_for_map, fit_umap
from benchmarks._common import timeit, write_result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--checkpoint", default="checkpoints/unsupervised_gaussian_8d")
    p.add_argument("--device", default="cpu")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--no-umap", action="store_true")
    args = p.parse_args()
    device = A.pick_device(args.device)
    model = A.load(args.checkpoint, device)
    _, test = A.load_dataset(model.config.dataset, data_dir=args.data_dir)
    x = test.to_float().to(device)
    sync = device.type == "cuda"
    y = torch.zeros(x.shape[0], dtype=torch.long, device=device)
    y_arg = y if model.classes else None

    out: dict = {"checkpoint": args.checkpoint, "device": A.device_name(device),
                 "latent_dim": model.config.latent_dim, "hidden": model.config.hidden_dim}
    with torch.no_grad():
        z = model.encode(x)
        for n in (1, 10000):
            out[f"encode_{n}_ms"] = round(1000 * timeit(lambda n=n: model.encode(x[:n]), repeat=7, sync=sync), 3)
            out[f"decode_{n}_ms"] = round(1000 * timeit(
                lambda n=n: model.decode(z[:n], None if y_arg is None else y_arg[:n]), repeat=7, sync=sync), 3)

    if not args.no_umap and model.config.latent_dim > 2:
        zs, prior_z, _ = encode_for_map(model.cpu(), test)
        points = np.concatenate([zs, prior_z])
        t0 = time.perf_counter()
        fit_umap(points)
        out["umap_points"] = int(points.shape[0])
        out["umap_cold_s"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        fit_umap(points)
        out["umap_warm_s"] = round(time.perf_counter() - t0, 2)
    write_result(f"latency_{device.type}", out)


if __name__ == "__main__":
    main()
