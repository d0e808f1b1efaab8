"""A separate digit classifier (the "judge") that reads decoded images, and the class-sweep check.

The supervised AAE (paper §4, Fig. 6) keeps style z apart from the class y: decoding one style with
each of the ten class codes should draw ten digits of that style, each readable as its class. The
check encodes test images to their styles, decodes every style with every class, and asks a
classifier trained on real MNIST (nothing to do with the AAE) which digit it sees.

    python -m aae_core.judge --out checkpoints/judge_mnist     # train the judge (about 2 min on 2 CPU cores)

The judge is saved like a model checkpoint (judge.json + judge.safetensors, atomically), without pickle.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from .data import ImageSet, load_dataset, random_shift
from .errors import AAEError, CheckpointConfigError, CheckpointNotFoundError, CorruptCheckpointError
from .families import AAEModel
from .fsutil import check_replaceable, check_writable, remove_leftovers, replace_folder, sibling_path
from .training import device_name, pick_device

JUDGE_CONFIG = "judge.json"
JUDGE_WEIGHTS = "judge.safetensors"
JUDGE_FORMAT = "aae-explorer-judge/1"
REPO_ROOT = Path(__file__).resolve().parents[1]


def default_judge_path() -> Path:
    """Where the shipped digit judge lives: $AAE_CHECKPOINTS_DIR/judge_mnist, else <repo>/checkpoints/judge_mnist."""
    env = os.environ.get("AAE_CHECKPOINTS_DIR")
    return (Path(env).expanduser() if env else REPO_ROOT / "checkpoints") / "judge_mnist"


class DigitJudge(nn.Module):
    """A small CNN: [N, 784] images in [0, 1] -> [N, 10] logits."""

    def __init__(self, n_classes: int = 10) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),   # 26 -> 13
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),  # 11 -> 5
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(), nn.Dropout(0.3),
                                  nn.Linear(128, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x.reshape(-1, 1, 28, 28)))

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
        """Predicted class of each image [N, 784] (eval mode, batched)."""
        was = self.training
        self.eval()
        out = torch.cat([self(x[i:i + batch_size]).argmax(1) for i in range(0, x.shape[0], batch_size)])
        self.train(was)
        return out


def train_judge(train: ImageSet, test: ImageSet, *, epochs: int = 2, batch_size: int = 128, lr: float = 1e-3,
                shift: int = 1, seed: int = 0, device=None, log=None) -> tuple[DigitJudge, float]:
    """Train a DigitJudge on `train`; returns it (on CPU, eval mode) and its accuracy on `test`.

    Everything random (weights, order, shifts, dropout) follows `seed`; torch's global RNG is left as it was."""
    dev = pick_device(device)
    forked = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=forked):
        torch.manual_seed(seed)
        judge = DigitJudge().to(dev)
        g = torch.Generator(device=dev).manual_seed(seed)
        x, y = train.to_float().to(dev), train.labels.to(dev)
        x_test, y_test = test.to_float().to(dev), test.labels.to(dev)
        opt = torch.optim.Adam(judge.parameters(), lr=lr)
        steps = x.shape[0] // batch_size
        for epoch in range(epochs):
            perm = torch.randperm(x.shape[0], generator=g, device=dev)
            for i in range(steps):
                idx = perm[i * batch_size:(i + 1) * batch_size]
                xb = random_shift(x[idx], shift, g)
                loss = nn.functional.cross_entropy(judge(xb), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            acc = judge_accuracy(judge, x_test, y_test)
            if log:
                log(f"judge epoch {epoch + 1}/{epochs}: test accuracy {acc:.4f}")
    judge = judge.cpu().eval()
    return judge, judge_accuracy(judge, test.to_float(), test.labels)


def judge_accuracy(judge: DigitJudge, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((judge.predict(x) == y.to(x.device)).float().mean())


JUDGE_FILE_PATTERNS = (JUDGE_CONFIG, JUDGE_WEIGHTS)


def is_judge_folder(path: str | Path) -> bool:
    """True when `path` is a folder holding a judge (judge.json of this format) and nothing else."""
    path = Path(path)
    try:
        names = {p.name for p in path.iterdir()} if path.is_dir() and not path.is_symlink() else None
        return bool(names) and names <= set(JUDGE_FILE_PATTERNS) and \
            json.loads((path / JUDGE_CONFIG).read_text()).get("format") == JUDGE_FORMAT
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return False


def save_judge(judge: DigitJudge, path: str | Path, info: dict[str, Any]) -> Path:
    """Write judge.json + judge.safetensors into the folder `path`, replacing it atomically.

    Only an earlier judge or an empty folder is replaced; anything else raises OutputPathError."""
    path = Path(path)
    check_replaceable(path, is_ours=is_judge_folder, what="judge")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = sibling_path(path, "tmp")
    tmp.mkdir()
    try:
        save_file({k: v.detach().cpu().contiguous() for k, v in judge.state_dict().items()}, str(tmp / JUDGE_WEIGHTS))
        (tmp / JUDGE_CONFIG).write_text(json.dumps({**info, "format": JUDGE_FORMAT, "n_classes": judge.n_classes},
                                                   indent=2) + "\n")
        replace_folder(tmp, path, is_ours=is_judge_folder, what="judge")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    remove_leftovers(path, JUDGE_FILE_PATTERNS)
    return path


def load_judge(path: str | Path) -> tuple[DigitJudge, dict[str, Any]]:
    """(judge in eval mode on CPU, its judge.json). CheckpointError subclasses say what is wrong."""
    path = Path(path)
    if not (path / JUDGE_CONFIG).is_file() or not (path / JUDGE_WEIGHTS).is_file():
        raise CheckpointNotFoundError(f"no judge at {path}: it needs {JUDGE_CONFIG} and {JUDGE_WEIGHTS}; "
                                      "train one with `python -m aae_core.judge --out PATH`")
    try:
        info = json.loads((path / JUDGE_CONFIG).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointConfigError(f"{path / JUDGE_CONFIG} is not valid JSON: {exc}") from None
    if not isinstance(info, dict) or info.get("format") != JUDGE_FORMAT:
        raise CheckpointConfigError(f"{path / JUDGE_CONFIG} is not a judge of format {JUDGE_FORMAT}")
    n_classes = info.get("n_classes", 10)
    if not isinstance(n_classes, int) or isinstance(n_classes, bool) or not 2 <= n_classes <= 1000:
        raise CheckpointConfigError(f"{path / JUDGE_CONFIG}: n_classes must be a whole number >= 2; got {n_classes!r}")
    judge = DigitJudge(n_classes)
    try:
        weights = load_file(str(path / JUDGE_WEIGHTS))
        judge.load_state_dict(weights)
    except (SafetensorError, RuntimeError, OSError, ValueError) as exc:
        raise CorruptCheckpointError(f"{path / JUDGE_WEIGHTS} does not hold the judge's weights: {exc}") from None
    return judge.eval(), info


def _sweep(model: AAEModel, judge: DigitJudge, z: torch.Tensor) -> dict[str, Any]:
    """Decode styles z [N, latent_dim] with every class and let the judge read each image (no_grad)."""
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    judge_dev = next(judge.parameters()).device
    z = z.to(dev)
    n, k = z.shape[0], model.config.n_classes
    per_class = []
    try:
        for c in range(k):
            images = model.decode(z, torch.full((n,), c, dtype=torch.long, device=dev)).reshape(n, -1)
            per_class.append(float((judge.predict(images.to(judge_dev)).cpu() == c).float().mean()))
    finally:
        model.train(was_training)
    return {"accuracy": sum(per_class) / k, "per_class": per_class, "n_styles": n, "n_images": n * k}


@torch.no_grad()
def class_sweep_accuracy(model: AAEModel, judge: DigitJudge, x: torch.Tensor) -> dict[str, Any]:
    """Encode images x [N, 784] to styles, decode each style with every class, let the judge read them.

    Returns the fraction read as the intended class, overall and per class, and how many were read."""
    if not has_class_sweep(model):
        raise ValueError("the class sweep needs a model that decodes a style and a digit class (supervised or "
                         f"semi-supervised); got a {model.kind!r} model")
    was_training = model.training
    model.eval()
    try:
        z = model.encode(x.to(next(model.parameters()).device))
    finally:
        model.train(was_training)
    return _sweep(model, judge, z)


def has_class_sweep(model: AAEModel) -> bool:
    """True for models that decode a style z and a class code that means the digit (supervised and
    semi-supervised): their styles (a test image's, or drawn from the prior) can be decoded as every digit."""
    return bool(model.classes) and model.classes.means_label


@torch.no_grad()
def prior_class_sweep(model: AAEModel, judge: DigitJudge, n_styles: int = 100, *, seed: int = 0) -> dict[str, Any]:
    """The paper's style/class figures (Fig. 6 supervised, Fig. 8 semi-supervised): draw n_styles styles
    from the style prior (seeded), decode each with every class, let the judge read the images.

    Unlike class_sweep_accuracy, no test image picks the styles: a style the encoder never produces
    must still draw every digit. Returns accuracy (read as the intended class), per_class, n_styles,
    n_images."""
    if not has_class_sweep(model):
        raise ValueError("the prior class sweep needs a model that decodes a style and a digit class "
                         f"(supervised or semi-supervised); got a {model.kind!r} model")
    if n_styles < 1:
        raise ValueError(f"n_styles must be >= 1; got {n_styles}")
    z = model.prior.sample(n_styles, generator=torch.Generator().manual_seed(seed))
    return _sweep(model, judge, z)


SURE = 0.9                # the judge is "sure" of a decoded digit when its top probability is at least this
QUALITY_SAMPLES = 10_000


@torch.no_grad()
def sample_quality(model: AAEModel, judge: DigitJudge, n_samples: int = QUALITY_SAMPLES, *,
                   seed: int = 0) -> dict[str, Any]:
    """One sample-quality number measured the same way for every family: draw n_samples codes from the
    model's prior (an ALAE's learned F(z); a class code drawn uniformly where the decoder takes one; seeded),
    decode them, and let the digit judge read each image.

    Returns sure_fraction (the share the judge is sure of, top probability >= SURE), digit_shares [10]
    (the share read as each digit: a model that draws only some digits shows it here), min_digit_share,
    n_samples, sure_threshold."""
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1; got {n_samples}")
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    judge_dev = next((w.device for w in judge.parameters()), dev)
    g = torch.Generator().manual_seed(seed)
    try:
        z = model.prior.sample(n_samples, generator=g).to(dev)
        y = (torch.randint(0, model.config.n_classes, (n_samples,), generator=g).to(dev)
             if model.classes else None)
        probs = torch.cat([
            torch.softmax(judge(model.decode(z[i:i + 2000], None if y is None else y[i:i + 2000])
                                .reshape(-1, 784).to(judge_dev)), 1).cpu()
            for i in range(0, n_samples, 2000)])
    finally:
        model.train(was_training)
    top, digit = probs.max(1)
    shares = torch.bincount(digit, minlength=probs.shape[1]).float() / n_samples
    return {"sure_fraction": float((top >= SURE).float().mean()), "digit_shares": shares.tolist(),
            "min_digit_share": float(shares.min()), "n_samples": n_samples, "sure_threshold": SURE}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m aae_core.judge", description="Train the digit judge (a CNN).")
    p.add_argument("--out", required=True, help="folder to write (judge.json + judge.safetensors)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--device", default="auto")
    args = p.parse_args(argv)
    try:
        if args.epochs < 1:
            raise ValueError("--epochs must be >= 1")
        check_replaceable(args.out, is_ours=is_judge_folder, what="judge")  # before minutes of training
        check_writable(args.out)
        train, test = load_dataset("mnist", data_dir=args.data_dir)
        t0 = time.perf_counter()
        judge, acc = train_judge(train, test, epochs=args.epochs, seed=args.seed, device=args.device,
                                 log=lambda s: print(s, file=sys.stderr))
        info = {"dataset": "mnist", "test_accuracy": acc, "epochs": args.epochs, "seed": args.seed,
                "seconds": round(time.perf_counter() - t0, 1), "device": device_name(pick_device(args.device)),
                "command": "python -m aae_core.judge " + " ".join(sys.argv[1:] if argv is None else argv)}
        save_judge(judge, args.out, info)
    except (ValueError, AAEError) as exc:
        p.exit(2, f"{p.prog}: error: {exc}\n")
    print(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
