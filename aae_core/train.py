"""Command line: train a model on real MNIST and save it as a checkpoint folder.

    python -m aae_core.train --kind semi_supervised --labels 100 --epochs 20 --out runs/ssl100

--out must be new or empty; a folder holding a checkpoint is continued with --resume (its saved config;
--epochs may extend it) or replaced with --overwrite, and a folder holding anything else is never touched.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
from pathlib import Path

from tqdm import tqdm

from .checkpoint import (
    CONFIG_FILE,
    OPTIMIZER_FILE,
    check_replaceable,
    check_writable,
    is_checkpoint_folder,
    read_config,
)
from .config import DATASETS, KINDS, PRIOR_NAMES, ModelConfig, TrainConfig
from .errors import AAEError, CheckpointSaveError, OutputPathError, TrainingDivergedError
from .runs import ALL_LABELS, prepare_run, resolve_label_budget
from .training import Callback, Trainer, device_name


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


def build_parser() -> argparse.ArgumentParser:
    m, t = ModelConfig(), TrainConfig()
    p = argparse.ArgumentParser(prog="python -m aae_core.train", description=__doc__,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", required=True,
                   help="checkpoint folder to write, new or empty (replaced atomically each save)")
    p.add_argument("--kind", choices=KINDS, default=m.kind)
    p.add_argument("--prior", choices=PRIOR_NAMES, default=m.prior)
    p.add_argument("--latent-dim", type=int, default=m.latent_dim)
    p.add_argument("--n-classes", type=int, default=m.n_classes, help="classes, clusters or categories")
    p.add_argument("--labels", type=_labels, default=None,
                   help="labelled training images: a multiple of 10, or 'all' (default: 100 for "
                        "semi_supervised, all for supervised and label-conditioned priors)")
    p.add_argument("--label-conditioned", action="store_true",
                   help="D also sees the label (mixture / swiss roll: one part per label; supervised: no class in z)")
    p.add_argument("--prior-std", type=float, default=m.prior_std, help="σ of the Gaussian prior")
    p.add_argument("--prior-radius", type=float, default=m.prior_radius, help="radius of mixture / swiss roll")
    p.add_argument("--hidden", type=int, default=m.hidden_dim, help="units per hidden layer")
    p.add_argument("--disc-hidden", type=int, default=m.disc_hidden_dim)
    p.add_argument("--layers", type=int, default=m.n_hidden_layers, help="hidden layers per network")
    p.add_argument("--dataset", choices=DATASETS, default=m.dataset)
    p.add_argument("--epochs", type=int, default=t.epochs)
    p.add_argument("--batch-size", type=int, default=t.batch_size)
    p.add_argument("--labelled-batch-size", type=int, default=t.labelled_batch_size)
    p.add_argument("--lr-rec", type=float, default=t.lr_reconstruction)
    p.add_argument("--lr-disc", type=float, default=t.lr_discriminator)
    p.add_argument("--lr-gen", type=float, default=t.lr_generator)
    p.add_argument("--lr-sup", type=float, default=t.lr_supervised)
    p.add_argument("--beta1", type=float, default=t.beta1_adversarial, help="Adam β1 of the adversarial phases")
    p.add_argument("--noise", type=float, default=t.disc_input_noise, help="std of noise on D's inputs")
    p.add_argument("--grad-clip", type=float, default=t.grad_clip)
    p.add_argument("--lr-decay-epochs", type=int, default=t.lr_decay_epochs, help="x0.1 every N epochs (0: never)")
    p.add_argument("--augment-shift", type=int, default=t.augment_shift,
                   help="shift training images by up to N pixels each step (0: off)")
    p.add_argument("--input-noise", type=float, default=t.input_noise,
                   help="std of noise on the encoder's training inputs; the target stays clean (0: off)")
    p.add_argument("--class-noise", type=float, default=None,
                   help="std of noise on the class discriminator's inputs (default: --noise)")
    p.add_argument("--eval-size", type=int, default=t.eval_size, help="test images for per-epoch metrics")
    p.add_argument("--seed", type=int, default=t.seed)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 or mps")
    p.add_argument("--data-dir", default=None,
                   help="dataset folder (default $AAE_DATA_DIR or ~/.cache/aae_explorer/data)")
    p.add_argument("--save-every", type=int, default=1, help="epochs between checkpoint saves")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="continue the run saved in --out with its saved config (--epochs may extend it)")
    again.add_argument("--overwrite", action="store_true", help="start a new run over the checkpoint in --out")
    return p


N_TRAIN = 60000  # training images of MNIST and of Fashion-MNIST

# The flags that set a field of the saved run's ModelConfig / TrainConfig, to compare on --resume.
MODEL_FLAGS = {"kind": "kind", "prior": "prior", "latent_dim": "latent_dim", "n_classes": "n_classes",
               "label_conditioned": "label_conditioned", "prior_std": "prior_std", "prior_radius": "prior_radius",
               "hidden": "hidden_dim", "layers": "n_hidden_layers", "disc_hidden": "disc_hidden_dim",
               "dataset": "dataset"}
TRAIN_FLAGS = {"batch_size": "batch_size", "labelled_batch_size": "labelled_batch_size",
               "lr_rec": "lr_reconstruction", "lr_disc": "lr_discriminator", "lr_gen": "lr_generator",
               "lr_sup": "lr_supervised", "beta1": "beta1_adversarial", "noise": "disc_input_noise",
               "grad_clip": "grad_clip", "lr_decay_epochs": "lr_decay_epochs", "augment_shift": "augment_shift",
               "input_noise": "input_noise", "class_noise": "class_code_noise", "eval_size": "eval_size",
               "seed": "seed"}


def _given(argv: list[str] | None) -> set[str]:
    """The dests of the options named on the command line (rather than left at their defaults)."""
    probe = build_parser()
    for action in probe._actions:
        action.default = argparse.SUPPRESS
    return set(vars(probe.parse_args(argv)))


def check_out(args: argparse.Namespace) -> None:
    """Refuse an --out that would lose data or cannot be written, before any data is loaded:
    only a missing or empty folder starts a run; a checkpoint needs --resume or --overwrite."""
    out = args.out
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


def apply_saved_run(args: argparse.Namespace, given: set[str]) -> None:
    """For --resume: raise ValueError naming every flag given that differs from the run saved in --out,
    then set every flag not given to the saved value, so the run continues exactly as it was configured."""
    meta = read_config(args.out)
    model: ModelConfig = meta["model"]
    if not isinstance(meta.get("training"), dict):
        raise ValueError(f"--resume: {Path(args.out) / CONFIG_FILE} has no training config to resume")
    training = TrainConfig.from_dict(meta["training"])
    saved = {dest: getattr(model, field) for dest, field in MODEL_FLAGS.items()}
    saved.update({dest: getattr(training, field) for dest, field in TRAIN_FLAGS.items()})
    saved["labels"] = model.n_labels or None
    if args.labels == ALL_LABELS:
        args.labels = N_TRAIN
    flag = {a.dest: a.option_strings[0] for a in build_parser()._actions if a.option_strings}
    differ = [f"{flag[dest]} {getattr(args, dest)} (saved: {value})"
              for dest, value in saved.items() if dest in given and getattr(args, dest) != value]
    if "epochs" in given and args.epochs < training.epochs:
        differ.append(f"--epochs {args.epochs} (saved: {training.epochs}; --epochs can only extend a resumed run)")
    if differ:
        raise ValueError(f"--resume: these flags differ from the run saved in {args.out}: {'; '.join(differ)}. "
                         "Drop them to continue the run as saved, or train into a new --out")
    for dest, value in saved.items():
        if dest not in given:
            setattr(args, dest, value)
    if "epochs" not in given:
        args.epochs = training.epochs


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
    try:
        check_out(args)
        if args.resume:
            apply_saved_run(args, _given(argv))
        if args.labels is None and args.kind == "semi_supervised":
            args.labels = 100
        n_train = N_TRAIN
        n_labels = resolve_label_budget(args.kind, args.labels, args.label_conditioned, n_train)
        latent_dim = args.n_classes if args.prior == "categorical" and args.latent_dim == 2 else args.latent_dim
        model_config = ModelConfig(
            kind=args.kind, prior=args.prior, latent_dim=latent_dim, n_classes=args.n_classes,
            n_labels=n_labels, label_conditioned=args.label_conditioned, prior_std=args.prior_std,
            prior_radius=args.prior_radius, hidden_dim=args.hidden, n_hidden_layers=args.layers,
            disc_hidden_dim=args.disc_hidden, dataset=args.dataset)
        train_config = TrainConfig(
            epochs=args.epochs, batch_size=args.batch_size, labelled_batch_size=args.labelled_batch_size,
            lr_reconstruction=args.lr_rec, lr_discriminator=args.lr_disc, lr_generator=args.lr_gen,
            lr_supervised=args.lr_sup, beta1_adversarial=args.beta1, disc_input_noise=args.noise,
            grad_clip=args.grad_clip, lr_decay_epochs=args.lr_decay_epochs, seed=args.seed,
            augment_shift=args.augment_shift, input_noise=args.input_noise,
            class_code_noise=args.class_noise,
            eval_size=args.eval_size)
        if args.save_every < 1:
            raise ValueError("--save-every must be >= 1")
        command = "python -m aae_core.train " + shlex.join(sys.argv[1:] if argv is None else argv)
        trainer = prepare_run(model_config, train_config, out=args.out, resume=args.resume,
                              data_dir=args.data_dir, device=args.device, callbacks=[TqdmCallback()],
                              save_every=args.save_every,
                              extra={"command": command},
                              log=lambda s: print(s, file=sys.stderr))
    except (ValueError, AAEError) as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")

    print(f"training {trainer.model.config.kind} ({trainer.model.config.prior} prior, "
          f"latent {trainer.model.config.latent_dim}, {trainer.model.config.n_labels} labels) on "
          f"{device_name(trainer.device)} -> {args.out}", file=sys.stderr)
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
