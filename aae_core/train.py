"""Command line: train a model on real MNIST and save it as a checkpoint folder.

    python -m aae_core.train --recipe semi_supervised_100 --out runs/ssl100
    python -m aae_core.train --kind semi_supervised --labels 100 --epochs 20 --out runs/ssl100
    python -m aae_core.train --recipe clustering_16 --class-noise 0.3:linear:0.05 --out runs/c16

Noises and learning rates take a number, or START:SHAPE:FINAL to follow a schedule over the whole run:
SHAPE is constant, linear or cosine (half a cosine: flat at both ends); e.g. --lr-gen 5e-4:cosine:5e-5.

--out must be new or empty; a folder holding a checkpoint is continued with --resume (its saved config;
--epochs may extend it) or replaced with --overwrite, and a folder holding anything else is never touched.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
from dataclasses import replace
from pathlib import Path

import torch
from tqdm import tqdm

from .checkpoint import OPTIMIZER_FILE, read_config
from .config import DATASETS, PRECISIONS, PRIOR_NAMES, ModelConfig, Schedule, TrainConfig, parse_scheduled
from .errors import AAEError, CheckpointSaveError, OutputPathError, TrainingDivergedError
from .families import FAMILIES
from .fsutil import check_replaceable, check_writable, is_checkpoint_folder, lock_folder
from .recipes import ALL_LABELS, N_TRAIN, RECIPES, Recipe, resolve, resolve_label_budget
from .run_setup import prepare_run
from .train_state import saved_training
from .training import Callback, Trainer, device_name, pick_threads


def _labels(text: str) -> int:
    if text == "all":
        return ALL_LABELS
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of labelled images or 'all'; got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("the label budget cannot be negative")
    return value


def _scheduled(text: str) -> tuple[float, Schedule | None]:
    try:
        return parse_scheduled(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _train_changes(given: dict) -> dict:
    """The TrainConfig changes the options ask for, with START:SHAPE:FINAL split into value and schedule."""
    changes = {field: given[flag] for flag, field in TRAIN_FLAGS.items() if flag in given}
    schedules = {}
    for field, value in list(changes.items()):
        if isinstance(value, tuple):
            changes[field], sched = value
            schedules[field] = sched or Schedule()
    return {**changes, "schedules": schedules} if schedules else changes


# Options that change a recipe: flag -> (config, field). Flags left out keep the recipe's value.
MODEL_FLAGS = {"kind": "kind", "prior": "prior", "latent_dim": "latent_dim", "n_classes": "n_classes",
               "label_conditioned": "label_conditioned", "consistency": "consistency_eps", "prior_std": "prior_std",
               "prior_radius": "prior_radius",
               "hidden": "hidden_dim", "disc_hidden": "disc_hidden_dim", "layers": "n_hidden_layers",
               "dataset": "dataset"}
TRAIN_FLAGS = {"epochs": "epochs", "batch_size": "batch_size", "labelled_batch_size": "labelled_batch_size",
               "lr_rec": "lr_reconstruction", "lr_disc": "lr_discriminator", "lr_gen": "lr_generator",
               "lr_sup": "lr_supervised", "beta1": "beta1_adversarial", "noise": "disc_input_noise",
               "grad_clip": "grad_clip", "lr_decay_epochs": "lr_decay_epochs", "augment_shift": "augment_shift",
               "input_noise": "input_noise", "class_noise": "class_code_noise", "eval_size": "eval_size",
               "validation_fraction": "validation_fraction", "seed": "seed",
               "precision": "precision"}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m aae_core.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                argument_default=argparse.SUPPRESS,
                                epilog="Options left out take the recipe's value: --recipe NAME, else the "
                                       "default recipe of --kind (python -m aae_core.train --list-recipes).")
    p.add_argument("--out", required=True,
                   help="checkpoint folder to write, new or empty (replaced atomically each save)")
    p.add_argument("--recipe", choices=list(RECIPES), help="a named recipe from aae_core/recipes.py")
    p.add_argument("--list-recipes", action=_ListRecipes, nargs=0, help="list the recipes and exit")
    p.add_argument("--kind", choices=list(FAMILIES), help="model family (default: the recipe's, else unsupervised)")
    p.add_argument("--prior", choices=PRIOR_NAMES)
    p.add_argument("--latent-dim", type=int)
    p.add_argument("--n-classes", type=int, help="classes, clusters or categories")
    p.add_argument("--labels", type=_labels,
                   help="labelled training images: a multiple of 10, or 'all' (default: the recipe's; 100 for "
                        "semi_supervised, all for supervised and label-conditioned priors)")
    p.add_argument("--label-conditioned", action=argparse.BooleanOptionalAction,
                   help="D also sees the label (mixture / swiss roll: one part per label; supervised: no class in "
                        "z; semi-supervised / clustering: the style's D sees each image's class as the encoder "
                        "gives it)")
    p.add_argument("--consistency", type=float, metavar="EPS",
                   help="semi-supervised / clustering: a consistency phase (virtual adversarial training) keeps "
                        "the class head's answer under perturbations of L2 norm EPS, at --lr-sup's rate (0: off)")
    p.add_argument("--prior-std", type=float, help="σ of the Gaussian prior")
    p.add_argument("--prior-radius", type=float, help="radius of mixture / swiss roll")
    p.add_argument("--hidden", type=int, help="units per hidden layer")
    p.add_argument("--disc-hidden", type=int)
    p.add_argument("--layers", type=int, help="hidden layers per network")
    p.add_argument("--dataset", choices=DATASETS)
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--labelled-batch-size", type=int)
    p.add_argument("--lr-rec", type=_scheduled, metavar="LR[:SHAPE:FINAL]")
    p.add_argument("--lr-disc", type=_scheduled, metavar="LR[:SHAPE:FINAL]")
    p.add_argument("--lr-gen", type=_scheduled, metavar="LR[:SHAPE:FINAL]")
    p.add_argument("--lr-sup", type=_scheduled, metavar="LR[:SHAPE:FINAL]")
    p.add_argument("--beta1", type=float, help="Adam β1 of the adversarial phases")
    p.add_argument("--noise", type=_scheduled, metavar="STD[:SHAPE:FINAL]", help="std of noise on D's inputs")
    p.add_argument("--grad-clip", type=float)
    p.add_argument("--lr-decay-epochs", type=int, help="x0.1 every N epochs (0: never)")
    p.add_argument("--augment-shift", type=int, help="shift training images by up to N pixels each step (0: off)")
    p.add_argument("--input-noise", type=_scheduled, metavar="STD[:SHAPE:FINAL]",
                   help="std of noise on the encoder's training inputs; the target stays clean (0: off)")
    p.add_argument("--class-noise", type=_scheduled, metavar="STD[:SHAPE:FINAL]",
                   help="std of noise on the class discriminator's inputs (default: --noise)")
    p.add_argument("--eval-size", type=int, help="validation images for per-epoch metrics")
    p.add_argument("--validation-fraction", type=float,
                   help="share of the training images held out for validation (default 1/12: 5,000 of 60,000)")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 or mps (default: auto)")
    p.add_argument("--precision", choices=PRECISIONS,
                   help="bf16 autocast or fp32 (default auto: bf16 where the device has bf16 matmuls)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch (default: free cores = cores minus the load average, at least 1; "
                        "on shared cores 2 threads fell to 1/7 of the speed of one)")
    p.add_argument("--data-dir", default=None,
                   help="dataset folder (default $AAE_DATA_DIR or ~/.cache/aae_explorer/data)")
    p.add_argument("--snapshots", action=argparse.BooleanOptionalAction, default=None,
                   help="record a training timeline (codes, D's view, losses) into --out "
                        "(default: on for 2-D latents)")
    p.add_argument("--save-every", type=int, default=1, help="epochs between checkpoint saves (default: 1)")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", default=False,
                       help="continue the run saved in --out with its saved config (--epochs may extend it)")
    again.add_argument("--overwrite", action="store_true", default=False,
                       help="start a new run over the checkpoint in --out")
    return p


class _ListRecipes(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        for r in RECIPES.values():
            print(f"{r.name:28s} {r.paper:22s} {r.summary}")
        parser.exit(0)


def configs_from_args(args: argparse.Namespace, n_train: int = N_TRAIN) -> tuple[Recipe | None, ModelConfig,
                                                                               TrainConfig]:
    """(the recipe, and its model and training configs with every option given on the command line applied)."""
    given = vars(args)
    changes = {field: given[flag] for flag, field in MODEL_FLAGS.items() if flag in given}
    run = resolve(given.get("recipe", given.get("kind")), labels=given.get("labels"), n_train=n_train,
                  **changes, **_train_changes(given))
    return run.recipe, run.model, run.train


def check_out_names_a_folder(out: str) -> None:
    """Refuse an --out that is the current folder or one above it (".", "", ".."): a run's folder is
    replaced at each save, and the folder the command runs in cannot be."""
    if Path(out).name in ("", ".", "..") or Path.cwd().is_relative_to(Path(out).resolve()):
        raise OutputPathError(f"--out {out!r} names no folder of its own (it is the current folder or one above "
                              "it); name a new folder for the run, e.g. --out runs/my_run")


def check_out(args: argparse.Namespace) -> None:
    """Refuse an --out that would lose data or cannot be written, before any data is loaded:
    only a missing or empty folder starts a run; a checkpoint needs --resume or --overwrite."""
    out = args.out
    check_out_names_a_folder(out)
    check_replaceable(out)          # a file, a link or a folder of other files: never replaced
    if args.resume:
        if not is_checkpoint_folder(out):
            raise OutputPathError(f"--resume: there is no checkpoint in {out} to resume; "
                                  "drop --resume to start a new run there")
        if not (Path(out) / OPTIMIZER_FILE).is_file():
            raise OutputPathError(f"--resume: {out} is an exported copy (no {OPTIMIZER_FILE}, no optimizer "
                                  "state) and cannot be resumed; resume the run folder it was exported from, "
                                  "or train into a new --out")
    elif is_checkpoint_folder(out) and not args.overwrite:
        raise OutputPathError(f"{out} already holds a checkpoint; pass --resume to continue it "
                              "or --overwrite to replace it with a new run")
    check_writable(out)


# How far a resumed run goes and in which precision it computes may change; what it learns from may not.
CHANGEABLE_ON_RESUME = ("epochs", "precision")


def resumed_configs(args: argparse.Namespace) -> tuple[str | None, ModelConfig, TrainConfig]:
    """For --resume: (recipe name, model and training config) of the run saved in --out, with --epochs
    extending it. ValueError naming every option given that differs from the saved run."""
    given, meta = vars(args), read_config(args.out)
    model: ModelConfig = meta["model"]
    training = saved_training(meta, Path(args.out) / "config.json")
    flag = {a.dest: a.option_strings[0] for a in build_parser()._actions if a.option_strings}
    differ = [f"{flag[dest]} {given[dest]} (saved: {getattr(model, field)})"
              for dest, field in MODEL_FLAGS.items() if dest in given and given[dest] != getattr(model, field)]
    for dest, field in TRAIN_FLAGS.items():
        if dest not in given or dest in CHANGEABLE_ON_RESUME:
            continue
        saved, wanted = getattr(training, field), given[dest]
        if isinstance(wanted, tuple):       # a schedulable value: compare value and schedule
            saved = (saved, training.schedules.get(field))
            wanted = (wanted[0], wanted[1] if wanted[1] and wanted[1].shape != "constant" else None)
        if wanted != saved:
            shown = (lambda v: v[1].text(v[0]) if isinstance(v, tuple) and v[1] else
                     v[0] if isinstance(v, tuple) else v)
            differ.append(f"{flag[dest]} {shown(wanted)} (saved: {shown(saved)})")
    if "labels" in given:
        wanted = resolve_label_budget(model.kind, given["labels"], model.label_conditioned, N_TRAIN)
        if wanted != model.n_labels:
            differ.append(f"--labels {given['labels']} (saved: {model.n_labels})")
    if "recipe" in given and given["recipe"] != meta.get("recipe"):
        differ.append(f"--recipe {given['recipe']} (saved: {meta.get('recipe')})")
    epochs = given.get("epochs", training.epochs)
    training = replace(training, precision=given.get("precision", training.precision))
    if epochs < training.epochs:
        differ.append(f"--epochs {epochs} (saved: {training.epochs}; --epochs can only extend a resumed run)")
    if differ:
        raise ValueError(f"--resume: these options differ from the run saved in {args.out}: {'; '.join(differ)}. "
                         "Drop them to continue the run as saved, or train into a new --out")
    return meta.get("recipe"), model, replace(training, epochs=epochs)


class TqdmCallback(Callback):
    """A progress bar over all steps, and one line of metrics per epoch."""

    def on_train_start(self, trainer: Trainer) -> None:
        total = trainer.config.epochs * trainer.steps_per_epoch
        # Redraw rarely when stderr is a log file rather than a terminal.
        interval = 0.1 if sys.stderr.isatty() else 30.0
        self.bar = tqdm(total=total, initial=trainer.state.step, unit="step", dynamic_ncols=True,
                        mininterval=interval)

    def on_step_end(self, trainer: Trainer) -> None:
        self.bar.update(1)

    def on_epoch_end(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        shown = {k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in metrics.items()}
        self.bar.write(" ".join(f"{k}={v}" for k, v in shown.items()))

    def on_train_end(self, trainer: Trainer, reason: str) -> None:
        self.bar.close()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    release = None
    try:
        check_out_names_a_folder(args.out)
        release = lock_folder(args.out)   # one run per folder, until this process ends
        return _train(parser, args, argv)
    except (ValueError, AAEError) as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    finally:
        if release is not None:
            release()


def _train(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str] | None) -> int:
    try:
        check_out(args)
        if args.resume:
            recipe_name, model_config, train_config = resumed_configs(args)
        else:
            recipe, model_config, train_config = configs_from_args(args)
            recipe_name = recipe.name if recipe else None
        if args.save_every < 1:
            raise ValueError("--save-every must be >= 1")
        if args.threads is not None and args.threads < 1:
            raise ValueError("--threads must be >= 1")
        torch.set_num_threads(args.threads or pick_threads())
        command = "python -m aae_core.train " + shlex.join(sys.argv[1:] if argv is None else argv)
        trainer = prepare_run(model_config, train_config, out=args.out, resume=args.resume,
                              data_dir=args.data_dir, device=args.device, callbacks=[TqdmCallback()],
                              save_every=args.save_every, snapshots=args.snapshots,
                              extra={"command": command, "recipe": recipe_name},
                              log=lambda s: print(s, file=sys.stderr))
    except (ValueError, AAEError) as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")

    print(f"training {trainer.model.config.kind} ({trainer.model.config.prior} prior, "
          f"latent {trainer.model.config.latent_dim}, {trainer.model.config.n_labels} labels) on "
          f"{device_name(trainer.device)}, {trainer.precision} -> {args.out}", file=sys.stderr)
    # Ctrl-C: finish the current mini-batch, save, and exit; a second Ctrl-C aborts at once.
    def on_sigint(signum, frame):
        print("\nstopping after this mini-batch and saving (Ctrl-C again to abort)", file=sys.stderr)
        trainer.request_stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGINT, on_sigint)
    try:
        reason = trainer.fit()
    except TrainingDivergedError as exc:
        print(f"{parser.prog}: training diverged: {exc}", file=sys.stderr)
        return 1
    except CheckpointSaveError as exc:  # disk full, I/O error: the last good checkpoint is kept
        print(f"\n{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    print(f"{reason}: saved {args.out} (epoch {trainer.state.epoch}, step {trainer.state.step})", file=sys.stderr)
    return 0 if reason == "finished" else 130


if __name__ == "__main__":
    sys.exit(main())
