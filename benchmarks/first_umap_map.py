"""How long a new model's first UMAP map takes, from asking to a cached map, the way the app makes it: this process
encodes the test set (as the server's task thread does) while explorer.umap_worker's process starts, then the worker
fits (aae_core.umap_fit) and the map is written to the cache. Writes benchmarks/results/first_umap_map.json.

Cases, each a model whose map is not cached (two 8-D checkpoints, so that "warm" is a new model too):
- cold_machine: a fresh worker and an empty numba cache (the first UMAP map ever drawn on a machine);
- cold_worker: a fresh worker, numba's cache filled (a new model's first map in a freshly started server);
- warm_worker: the kept worker's next fit (a new model's first map once the server has drawn any UMAP map);
for the app's choice ("default": every point, aae_core.umap_fit.LAYOUT_EPOCHS epochs) and two others: every point
with UMAP's own 200 epochs, and a 5,000 sample fitted (200 epochs) with the rest placed among their nearest fitted
neighbours. The quality of each map: trustworthiness (scikit-learn, 15 neighbours, 2,000 test points) and the share
of test points whose 10 nearest on the map carry their label. --before adds the old way (a fresh process,
pynndescent's graph, no numba cache, every point fitted): slow, minutes on loaded cores.

    python -m benchmarks.first_umap_map [--before]
"""

from __future__ import annotations

import argparse
import functools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import aae_core as A
from aae_core import projection, umap_fit
from benchmarks._common import write_result
from explorer.umap_worker import UmapWorker

MODELS = ("checkpoints/unsupervised_gaussian_8d", "checkpoints/vae_8d")
VARIANTS = {"default": {"fit_points": projection.FIT_POINTS, "epochs": umap_fit.LAYOUT_EPOCHS},
            "umap_epochs": {"fit_points": None, "epochs": 200},          # UMAP's own choice for 10,000+ points
            "sample_5000": {"fit_points": 5000, "epochs": 200},          # the Embedding Projector's sample
            "default_again": {"fit_points": projection.FIT_POINTS, "epochs": umap_fit.LAYOUT_EPOCHS}}
# default_again: the app's choice once more, later in the run (the shared cores' load moves every number)
BEFORE = """
import time, numpy as np
t0 = time.perf_counter()
import umap
x = np.load({file!r})
knn = umap.umap_.nearest_neighbors(x, 15, "euclidean", {{}}, False, np.random.RandomState(0), n_jobs=1)
umap.UMAP(n_neighbors=15, min_dist=0.1, random_state=0, n_jobs=1, precomputed_knn=tuple(knn)).fit_transform(x)
print(time.perf_counter() - t0)
"""


def load() -> float:
    return round(os.getloadavg()[0], 2)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def first_map(worker: UmapWorker, model, test, options: dict, out: Path) -> tuple[float, dict, object]:
    """Seconds from asking to the cached map, with the stages' times; the map."""
    stages: dict[str, float] = {}
    t0 = time.perf_counter()

    def progress(fraction: float, message: str) -> None:
        stage = message.split(",")[0]
        stages.setdefault(stage, round(time.perf_counter() - t0, 2))

    worker.start()
    lmap = projection.compute_map(model, test, "umap", fingerprint="bench", fit_points=options.get("fit_points"),
                                  fit=functools.partial(worker.fit, epochs=options["epochs"]), progress=progress)
    projection.save_cached(lmap, out)
    return round(time.perf_counter() - t0, 2), stages, lmap


def quality(lmap) -> dict:
    from sklearn.manifold import trustworthiness
    from sklearn.neighbors import NearestNeighbors

    pick = np.random.default_rng(0).choice(lmap.n_test, 2000, replace=False)
    same = NearestNeighbors(n_neighbors=11).fit(lmap.xy).kneighbors(lmap.xy[pick], return_distance=False)[:, 1:]
    out = {"trustworthiness": round(float(trustworthiness(lmap.z[pick], lmap.xy[pick], n_neighbors=15)), 4),
           "label_agreement_10nn": round(float((lmap.labels[same] == lmap.labels[pick, None]).mean()), 4)}
    return out


def tabulate(rows: list[dict]) -> dict:
    """The rows as the report draws them: one table of the cases (by "case / variant"), the stages' start times
    in a list beside it."""
    table = {f"{r['case']} / {r['variant']}": {k: v for k, v in r.items() if k not in ("case", "variant", "model",
                                                                                    "stages_started_at_s")}
             for r in rows}
    stages = [{"case": f"{r['case']} / {r['variant']}", **r["stages_started_at_s"]} for r in rows]
    return {"cases": table, "stages_started_at_s": stages}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--before", action="store_true", help="also time the old way (minutes)")
    p.add_argument("--data-dir", default=None)
    args = p.parse_args()
    torch.set_num_threads(1)
    models = [A.load(m, A.pick_device("cpu")) for m in MODELS]
    test = A.load_dataset(models[0].config.dataset, data_dir=args.data_dir)[1]
    result: dict = {"models": ", ".join(MODELS), "points": len(test) + projection.DEFAULT_N_PRIOR}
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = os.environ.get("AAE_CACHE_DIR")
        os.environ["AAE_CACHE_DIR"] = str(tmp / "cache")   # numba's cache: empty until the first case fills it
        for variant, options in VARIANTS.items():
            for case in ("cold_machine", "cold_worker", "warm_worker"):
                if case == "cold_machine" and variant != "default":
                    continue
                if case != "warm_worker":
                    worker = UmapWorker()
                model = models[1] if case == "warm_worker" else models[0]
                before_load = load()
                seconds, stages, lmap = first_map(worker, model, test, options, tmp / f"{case}_{variant}")
                row = {"case": case, "variant": variant, **options, "model": MODELS[model is models[1]],
                       "seconds": seconds, "stages_started_at_s": stages,
                       "fitted": lmap.fit_points or lmap.n_test + lmap.prior_z.shape[0], "load_before": before_load,
                       "load_after": load(), "worker_rss_mb": rss_mb(worker.process.pid), **quality(lmap)}
                print(row, flush=True)
                rows.append(row)
                if case == "warm_worker":
                    worker.stop()
        if env is None:
            os.environ.pop("AAE_CACHE_DIR")
        else:
            os.environ["AAE_CACHE_DIR"] = env
        if args.before:
            z, prior_z, _ = projection.encode_for_map(models[0], test)
            np.save(tmp / "points.npy", np.concatenate([z, prior_z]))
            env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}   # numba's own caches, as before
            before_load = load()
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", BEFORE.format(file=str(tmp / "points.npy"))], check=True, env=env)
            result["before"] = {"seconds_fit_only": round(time.perf_counter() - t0, 2), "load_before": before_load,
                                "load_after": load()}
            print(result["before"], flush=True)
    write_result("first_umap_map", {**result, **tabulate(rows)})


if __name__ == "__main__":
    main()
