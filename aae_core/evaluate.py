"""Command line: evaluate a checkpoint on the test set, print the metrics as JSON, write metrics.json.

    python -m aae_core.evaluate runs/ssl100
    python -m aae_core.evaluate runs/ssl100 --split validation     # choose on these; printed, never written
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from . import metric_schema as S
from .checkpoint import METRICS_FILE, load, load_metrics, read_config, save_metrics
from .config import TrainConfig
from .data import ImageSet, load_dataset, validation_split
from .errors import AAEError
from .judge import (
    JUDGE_CONFIG,
    QUALITY_SAMPLES,
    class_sweep_accuracy,
    default_judge_path,
    has_class_sweep,
    load_judge,
    prior_class_sweep,
    sample_quality,
)
from .latent_probe import latent_probe
from .metrics import evaluate_model
from .training import device_name, pick_device


def _shown_path(path: Path) -> str:
    """path relative to the working directory when it lies under it (metrics.json travels with the repo)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path.resolve())


def _judge(judge: str | Path | None, dataset: str, dev) -> tuple[torch.nn.Module, dict[str, Any]] | None:
    """The digit judge on `dev` and what metrics.json says about it, for an MNIST model: the one at `judge`
    (an error when missing), else the shipped one when it exists; None otherwise."""
    if dataset != "mnist":
        return None
    judge_path = Path(judge) if judge is not None else default_judge_path()
    if judge is None and not (judge_path / JUDGE_CONFIG).is_file():
        return None
    digit_judge, info = load_judge(judge_path)        # once, for every reading
    return digit_judge.to(dev), {"judge": _shown_path(judge_path), "judge_test_accuracy": info.get("test_accuracy")}


def add_sample_quality(path: str | Path, *, device=None, judge: str | Path | None = None) -> dict[str, Any]:
    """Add the sample_quality reading to the checkpoint's existing metrics.json, leaving every other number as
    it is (no test-set pass); the updated metrics. Raises ValueError without a metrics.json or a judge."""
    metrics = load_metrics(path)
    if metrics is None:
        raise ValueError(f"{Path(path) / METRICS_FILE} does not exist: evaluate the checkpoint first")
    dev = pick_device(device)
    model = load(path, dev)
    found = _judge(judge, model.config.dataset, dev)
    if found is None:
        raise ValueError("sample quality needs the digit judge (an MNIST model and checkpoints/judge_mnist, "
                         "or --judge)")
    digit_judge, about = found
    metrics[S.SAMPLE_QUALITY.key] = {**sample_quality(model, digit_judge), **about}
    save_metrics(path, metrics)
    return metrics


def add_latent_probe(path: str | Path, *, data_dir: str | Path | None = None, device=None) -> dict[str, Any]:
    """Add the latent probe (aae_core.latent_probe: 1-NN and linear-SVM accuracy of the labels from the codes,
    fitted on the images the run trained on, scored on the test set) to the checkpoint's existing
    metrics.json, every other number kept; the updated metrics. ValueError without a metrics.json."""
    metrics = load_metrics(path)
    if metrics is None:
        raise ValueError(f"{Path(path) / METRICS_FILE} does not exist: evaluate the checkpoint first")
    model = load(path, pick_device(device))
    train, test = load_dataset(model.config.dataset, data_dir=data_dir)
    fitted = train.take(_run_split(path, train)[0])
    metrics[S.LATENT_PROBE.key] = latent_probe(model, fitted.to_float(), fitted.labels, test.to_float(), test.labels)
    save_metrics(path, metrics)
    return metrics


def evaluate_checkpoint(path: str | Path, *, data_dir: str | Path | None = None, device=None,
                        n_test: int | None = None, write: bool = True, split: str = "test",
                        judge: str | Path | None = None, sweep_styles: int = 1000,
                        prior_styles: int = 100, quality_samples: int = QUALITY_SAMPLES) -> dict[str, Any]:
    """Metrics of the checkpoint at `path` on its dataset's test set; written to metrics.json when write.

    Every MNIST model is also read by the digit judge at `judge` (default: default_judge_path()): its
    sample_quality (of `quality_samples` decoded prior samples, the share the judge is sure of: the same measure
    for every family); where the class code is the digit (supervised, semi-supervised), the class sweep of the
    first `sweep_styles` test images' styles and of `prior_styles` prior styles; and what the family's metrics
    hook reads with the judge (ALAE). A missing default judge skips them, a missing judge that was asked for is an
    error.

    split "validation": the same numbers on the checkpoint's validation images instead (the split its run held
    out; the default split for a run that held none out, with a warning, since it trained on them); for
    choosing epochs and recipes, so never written to metrics.json, which reports the test set."""
    if split not in ("test", "validation"):
        raise ValueError(f"split must be 'test' or 'validation'; got {split!r}")
    dev = pick_device(device)
    model = load(path, dev)
    train, test = load_dataset(model.config.dataset, data_dir=data_dir)
    if split == "validation":
        test, write = _validation_images(path, train), False
    if n_test:
        test = test.subset(n_test)
    t0 = time.perf_counter()
    digit_judge, about = _judge(judge, model.config.dataset, dev) or (None, {})
    metrics = evaluate_model(model, test.to_float(), test.labels, judge=digit_judge)
    if digit_judge is not None:
        metrics[S.SAMPLE_QUALITY.key] = sample_quality(model, digit_judge, quality_samples)
        if has_class_sweep(model):
            metrics[S.CLASS_SWEEP_RECORD.key] = class_sweep_accuracy(model, digit_judge,
                                                                     test.to_float()[:sweep_styles])
            metrics[S.PRIOR_CLASS_SWEEP.key] = prior_class_sweep(model, digit_judge, prior_styles)
        for record in S.JUDGED:                   # every reading names the judge that made it
            if record.key in metrics:
                metrics[record.key] = {**metrics[record.key], **about}
    metrics.update({"kind": model.config.kind, "prior": model.config.prior,
                    "latent_dim": model.config.latent_dim, "n_labels": model.config.n_labels,
                    "dataset": model.config.dataset, "device": device_name(dev),
                    "seconds": round(time.perf_counter() - t0, 3),
                    "evaluated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    if split == "validation":
        metrics["split"] = "validation"        # n_test counts the validation images
    if write:
        save_metrics(path, metrics)
    return metrics


def _run_split(path: str | Path, train: ImageSet) -> tuple[torch.Tensor, torch.Tensor]:
    """(the training images' indices, the validation images' indices) of the run that made the checkpoint at
    `path`: its own split; a run that held none out trained on every image and has no validation images."""
    fraction = read_config(path).get("training", {}).get("validation_fraction") or 0.0
    return validation_split(train.labels, fraction)


def _validation_images(path: str | Path, train: ImageSet) -> ImageSet:
    """The validation images of the run that made the checkpoint at `path` (for a run that held none out, the
    default split's, with a warning: it trained on them)."""
    val_idx = _run_split(path, train)[1]
    if len(val_idx) == 0:
        print(f"warning: {_shown_path(Path(path))} trained on every training image (no validation split): its "
              "validation numbers are not held out", file=sys.stderr)
        val_idx = validation_split(train.labels, TrainConfig.validation_fraction)[1]
    return train.take(val_idx)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m aae_core.evaluate", description=__doc__)
    p.add_argument("checkpoint", help="checkpoint folder (config.json + model.safetensors)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--n-test", type=int, default=None, help="evaluate on the first N test images only")
    p.add_argument("--judge", default=None,
                   help="digit judge for the class-sweep check of supervised models (default: the shipped one)")
    p.add_argument("--no-write", action="store_true", help="print only; leave metrics.json alone")
    p.add_argument("--add-latent-probe", action="store_true",
                   help="only add the 1-NN / linear-SVM accuracy of labels from the codes (ALAE's MNIST protocol) "
                        "to the existing metrics.json")
    p.add_argument("--split", choices=("test", "validation"), default="test",
                   help="validation: the images the run held out, for choosing (printed, never written)")
    p.add_argument("--add-sample-quality", action="store_true",
                   help="only add the sample-quality reading to the existing metrics.json (other numbers kept)")
    args = p.parse_args(argv)
    if args.add_latent_probe:
        try:
            metrics = add_latent_probe(args.checkpoint, data_dir=args.data_dir, device=args.device)
        except (ValueError, AAEError) as exc:
            p.exit(2, f"{p.prog}: error: {exc}\n")
        print(json.dumps(metrics[S.LATENT_PROBE.key], indent=2))
        return 0
    if args.add_sample_quality:
        try:
            with torch.no_grad():
                metrics = add_sample_quality(args.checkpoint, device=args.device, judge=args.judge)
        except (ValueError, AAEError) as exc:
            p.exit(2, f"{p.prog}: error: {exc}\n")
        print(json.dumps(metrics[S.SAMPLE_QUALITY.key], indent=2))
        return 0
    try:
        with torch.no_grad():
            metrics = evaluate_checkpoint(args.checkpoint, data_dir=args.data_dir, device=args.device,
                                          n_test=args.n_test, write=False, judge=args.judge, split=args.split)
    except (ValueError, AAEError) as exc:
        p.exit(2, f"{p.prog}: error: {exc}\n")
    json.dump(metrics, sys.stdout, indent=2)
    print()
    if not args.no_write and args.split == "test":
        try:
            save_metrics(args.checkpoint, metrics)
        except OSError as exc:  # a full disk or a read-only install: the metrics are printed above
            sys.stdout.flush()
            print(f"{p.prog}: error: could not write {Path(args.checkpoint) / METRICS_FILE} "
                  f"({exc.strerror or exc}); the metrics printed above were not saved "
                  "(--no-write only prints them)", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
