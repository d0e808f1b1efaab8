"""Does the fast path change what a shipped recipe reaches? Trains the semi-supervised recipe (100 labels,
hidden 512, input noise 0.3, generator lr 5e-4) for a few epochs in fp32 and in bf16 with two seeds each,
one torch thread per run, and evaluates each on the full MNIST test set. Writes
results/precision_check_cpu.json.

    python -m benchmarks.precision_check [--epochs 3] [--seeds 0 1] [--jobs 2] [--no-clip-too]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from aae_core import metric_schema as S
from benchmarks._common import write_result

RECIPE = ["--kind", "semi_supervised", "--latent-dim", "10", "--labels", "100", "--hidden", "512",
          "--disc-hidden", "512", "--lr-gen", "5e-4", "--input-noise", "0.3"]
ROOT = Path(__file__).resolve().parents[1]


def one_run(out: Path, epochs: int, seed: int, precision: str, grad_clip: float | None) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    args = [*RECIPE, "--epochs", str(epochs), "--seed", str(seed), "--precision", precision, "--threads", "1",
            "--device", "cpu", "--eval-size", "0", "--out", str(out)]
    if grad_clip is not None:
        args += ["--grad-clip", str(grad_clip)]
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "aae_core.train", *args], cwd=ROOT, env=env, check=True,
                   capture_output=True, text=True)
    wall = time.perf_counter() - t0
    ev = subprocess.run([sys.executable, "-m", "aae_core.evaluate", str(out), "--no-write"], cwd=ROOT, env=env,
                        check=True, capture_output=True, text=True)
    metrics = json.loads(ev.stdout)
    meta = json.loads((out / "config.json").read_text())
    return {"precision": meta.get("precision", precision), "seed": seed,
            "grad_clip": meta["training"]["grad_clip"], "epochs": epochs,
            "test_error": S.CLASSIFICATION_ERROR.read(metrics),
            "reconstruction_mse": S.MSE.read(metrics),
            "train_seconds_per_epoch": [round(h["seconds"], 1) for h in meta["history"]],
            "wall_s": round(wall, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--jobs", type=int, default=2, help="runs at once (one thread each)")
    p.add_argument("--no-clip-too", action="store_true", help="also bf16 runs with --grad-clip 0")
    p.add_argument("--out", default=str(ROOT / "runs" / "precision_check"))
    args = p.parse_args()
    variants = [("fp32", None), ("bf16", None)] + ([("bf16", 0.0)] if args.no_clip_too else [])
    todo = [(prec, clip, seed) for seed in args.seeds for prec, clip in variants]
    out = Path(args.out)

    def go(item):
        prec, clip, seed = item
        name = f"{prec}{'_noclip' if clip == 0 else ''}_seed{seed}"
        res = one_run(out / name, args.epochs, seed, prec, clip)
        print(f"{name}: test error {100 * res['test_error']:.2f} %, {res['train_seconds_per_epoch']} s/epoch",
              file=sys.stderr)
        return {"name": name, **res}

    with ThreadPoolExecutor(args.jobs) as pool:
        runs = list(pool.map(go, todo))
    summary = {}
    for prec, clip in variants:
        name = f"{prec}{'_noclip' if clip == 0 else ''}"
        mine = [r for r in runs if r["name"].startswith(name + "_seed")]
        summary[name] = {"test_error_mean": round(statistics.mean(r["test_error"] for r in mine), 4),
                         "test_errors": [round(r["test_error"], 4) for r in mine],
                         "seconds_per_epoch_mean": round(statistics.mean(
                             s for r in mine for s in r["train_seconds_per_epoch"]), 1)}
    write_result("precision_check_cpu", {
        "recipe": "python -m aae_core.train " + " ".join(RECIPE) + f" --epochs {args.epochs} --threads 1",
        "note": f"{args.jobs} runs at once on the machine's cores; test error on all 10,000 MNIST test images",
        "summary": summary, "trainings": runs})


if __name__ == "__main__":
    main()
