"""Training throughput: images/s of each phase and of a whole semi-supervised step, with the dataset
held on the device as tensors (aae_core's Trainer), against a plain per-sample DataLoader loop over
torchvision's MNIST dataset doing the same step; and, on CPU, images per CPU-second of one unsupervised
AAE step side by side with pythae's Adversarial_AE (benchmarks/requirements.txt) on the same MLP sizes.
Writes results/training_throughput_<device>.json.

    python -m benchmarks.training_throughput [--device cpu|cuda] [--hidden 1000] [--steps 50] [--precision auto]
    python -m benchmarks.training_throughput --only-peer        # just the side-by-side (CPU, synthetic data)

The side-by-side runs each contender in its own subprocess with one torch thread, alternating between
them for --rounds rounds, and times CPU seconds (time.process_time) of --peer-steps steps after a
warm-up: on shared cores the ratios within one run are what count, not the absolute figures.
Contenders (all batch 100; encoder 784-H-H-latent, decoder latent-H-H-784, discriminator latent-H-H-1):
  ours_old_path    the Trainer's step as it was: fp32, per-phase requires_grad_ toggles, for-loop Adam,
                   gradient clipping (5.0) in every phase
  ours_fp32        the current Trainer, precision "fp32" (fused Adam, no toggles), clipping 5.0
  ours_fast        the current Trainer, precision "bf16" (what "auto" picks on a CPU with avx512_bf16/AMX)
  ours_fast_noclip ours_fast with grad_clip 0
  pythae           pythae 0.1.2 Adversarial_AE with custom nets of the same sizes, BCE reconstruction,
                   deterministic posterior, stepped exactly as its AdversarialTrainer does
                   (one forward; autoencoder and discriminator losses backward; both Adams step)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch

import aae_core as A
from aae_core.families import Batch
from benchmarks._common import write_result

CONTENDERS = ("ours_old_path", "ours_fp32", "ours_fast", "ours_fast_noclip", "pythae")
PEER = dict(hidden=512, latent=8, batch_size=100, n_images=5000)


# --- the side-by-side with pythae (each contender in a subprocess) ---------------------------------

def _synthetic_images(n: int) -> A.ImageSet:
    g = torch.Generator().manual_seed(0)
    return A.ImageSet(torch.randint(0, 256, (n, 28, 28), generator=g, dtype=torch.uint8), torch.arange(n) % 10)


def _ours_step(contender: str, hidden: int, latent: int, bs: int, n: int):
    config = A.ModelConfig(kind="unsupervised", latent_dim=latent, hidden_dim=hidden, disc_hidden_dim=hidden)
    tc = A.TrainConfig(batch_size=bs, eval_size=0, lr_generator=5e-4,
                       precision="fp32" if contender in ("ours_old_path", "ours_fp32") else "bf16",
                       grad_clip=0.0 if contender == "ours_fast_noclip" else 5.0)
    trainer = A.Trainer(A.build_model(config, seed=0), tc, _synthetic_images(n), device="cpu")
    if contender == "ours_old_path":
        _install_old_path(trainer)

    def step() -> None:
        idx = torch.randint(n, (bs,), generator=trainer.generator)
        trainer.train_step(trainer._batch(idx))

    return step, trainer.precision


def _install_old_path(trainer: A.Trainer) -> None:
    """The Trainer's run_phase and optimizers as they were before the fast path (commit 5330e19)."""
    model = trainer.model
    for phase in trainer.optimizers:
        lr, betas = model.optimizer_settings(phase, trainer.config)
        params = [p for m in model.phase_modules(phase) for p in m.parameters()]
        trainer.optimizers[phase] = torch.optim.Adam(params, lr=lr, betas=betas)

    def run_phase(phase: str, batch: Batch) -> torch.Tensor:
        owned = {id(p) for m in model.phase_modules(phase) for p in m.parameters()}
        for p in model.parameters():
            p.requires_grad_(id(p) in owned)
        opt = trainer.optimizers[phase]
        opt.zero_grad(set_to_none=True)
        loss = model.phase_loss(phase, batch, noise_std=trainer.config.disc_input_noise,
                                generator=trainer.generator, class_noise_std=trainer.config.class_code_noise)
        loss.backward()
        if trainer.config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]],
                                           trainer.config.grad_clip)
        opt.step()
        return loss.detach()

    trainer.run_phase = run_phase


def _pythae_step(hidden: int, latent: int, bs: int, n: int):
    from pythae.models import Adversarial_AE, Adversarial_AE_Config
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseDiscriminator, BaseEncoder
    from torch import nn

    def mlp(i: int, o: int) -> nn.Sequential:
        return nn.Sequential(nn.Linear(i, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                             nn.Linear(hidden, o))

    class Encoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.net = mlp(784, latent)

        def forward(self, x):
            z = self.net(x.reshape(x.shape[0], -1))
            return ModelOutput(embedding=z, log_covariance=torch.zeros_like(z))

    class Decoder(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.net = mlp(latent, 784)

        def forward(self, z):
            return ModelOutput(reconstruction=torch.sigmoid(self.net(z)).reshape(-1, 1, 28, 28))

    class Discriminator(BaseDiscriminator):
        def __init__(self):
            super().__init__()
            self.net = mlp(latent, 1)

        def forward(self, z):
            return ModelOutput(embedding=torch.sigmoid(self.net(z)))

    torch.manual_seed(0)
    cfg = Adversarial_AE_Config(input_dim=(1, 28, 28), latent_dim=latent, reconstruction_loss="bce",
                                deterministic_posterior=True)
    model = Adversarial_AE(cfg, encoder=Encoder(), decoder=Decoder(), discriminator=Discriminator())
    model.train()
    # AdversarialTrainer's defaults: Adam on encoder + decoder, Adam on the discriminator.
    ae_opt = torch.optim.Adam(list(model.encoder.parameters()) + list(model.decoder.parameters()), lr=1e-4)
    d_opt = torch.optim.Adam(model.discriminator.parameters(), lr=1e-4)
    images = _synthetic_images(n).images
    g = torch.Generator().manual_seed(0)

    def step() -> None:
        idx = torch.randint(n, (bs,), generator=g)
        x = images[idx].float().div_(255.0).unsqueeze(1)
        out = model({"data": x})
        # AdversarialTrainer._optimizers_step, then the loss bookkeeping of its train_step
        ae_opt.zero_grad()
        out.autoencoder_loss.backward(retain_graph=True)
        d_opt.zero_grad()
        out.discriminator_loss.backward()
        ae_opt.step()
        d_opt.step()
        out.autoencoder_loss.item(), out.discriminator_loss.item()

    return step, "fp32"


def peer_worker(contender: str, steps: int, warmup: int) -> None:
    """Runs in a subprocess: prints one JSON line with images per CPU-second."""
    torch.set_num_threads(1)
    hidden, latent, bs, n = PEER["hidden"], PEER["latent"], PEER["batch_size"], PEER["n_images"]
    if contender == "pythae":
        step, precision = _pythae_step(hidden, latent, bs, n)
    else:
        step, precision = _ours_step(contender, hidden, latent, bs, n)
    for _ in range(warmup):
        step()
    c0, w0 = time.process_time(), time.perf_counter()
    for _ in range(steps):
        step()
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    print(json.dumps({"contender": contender, "precision": precision, "cpu_s": cpu, "wall_s": wall,
                      "images_per_cpu_s": steps * bs / cpu}))


def side_by_side(rounds: int, steps: int, warmup: int, contenders=CONTENDERS) -> dict:
    runs: dict[str, list[float]] = {c: [] for c in contenders}
    precision: dict[str, str] = {}
    for r in range(rounds):
        order = contenders if r % 2 == 0 else tuple(reversed(contenders))
        for c in order:
            out = subprocess.run([sys.executable, "-m", "benchmarks.training_throughput", "--peer-worker", c,
                                  "--peer-steps", str(steps), "--warmup", str(warmup)],
                                 capture_output=True, text=True, check=True)
            res = json.loads(out.stdout.strip().splitlines()[-1])
            runs[c].append(round(res["images_per_cpu_s"], 1))
            precision[c] = res["precision"]
            print(f"round {r + 1}: {c:17s} {res['images_per_cpu_s']:8.1f} images/CPU-s "
                  f"(wall {res['wall_s']:.1f} s for {res['cpu_s']:.1f} CPU-s)", file=sys.stderr)
    median = {c: statistics.median(v) for c, v in runs.items()}
    ratios: dict[str, float] = {}
    if "pythae" in median:
        ratios.update({f"{c}_vs_pythae": round(median[c] / median["pythae"], 2) for c in median if c != "pythae"})
    if "ours_old_path" in median:
        ratios.update({f"{c}_vs_ours_old_path": round(median[c] / median["ours_old_path"], 2)
                       for c in median if c.startswith("ours_") and c != "ours_old_path"})
    # Per-round ratios against pythae (each round's runs are neighbours in time): their spread shows the noise.
    per_round = {}
    if "pythae" in runs:
        per_round = {c: [round(a / b, 2) for a, b in zip(runs[c], runs["pythae"], strict=True)]
                     for c in runs if c != "pythae"}
    return {"setup": {**PEER, "n_hidden_layers": 2, "torch_threads": 1, "rounds": rounds, "steps": steps,
                      "warmup": warmup, "kind": "unsupervised (gaussian prior)", "precision": precision},
            "images_per_cpu_s": runs, "median_images_per_cpu_s": median, "ratios": ratios,
            "per_round_vs_pythae": per_round}


# --- the semi-supervised step on MNIST (phases, whole step, against a DataLoader) ------------------

def mnist_step(args, device: torch.device) -> dict:
    from torch.utils.data import DataLoader

    from aae_core.data import default_data_dir

    bs = args.batch_size
    train, _ = A.load_dataset("mnist", data_dir=args.data_dir)
    config = A.ModelConfig(kind="semi_supervised", latent_dim=10, n_labels=100, hidden_dim=args.hidden,
                           disc_hidden_dim=args.hidden)
    model = A.build_model(config, seed=0)
    labelled = A.label_split(train.labels, 100, seed=0)
    trainer = A.Trainer(model, A.TrainConfig(batch_size=bs, eval_size=0, precision=args.precision), train,
                        labelled=labelled, device=device)
    sync = (lambda: torch.cuda.synchronize()) if device.type == "cuda" else (lambda: None)

    def tensor_batch() -> Batch:
        idx = torch.randint(train.images.shape[0], (bs,), generator=trainer.generator, device=device)
        return trainer._batch(idx)

    # Per phase, on batches already on the device.
    per_phase = {}
    for phase in model.phases:
        batch = tensor_batch()
        for _ in range(5):
            trainer.run_phase(phase, batch)
        sync()
        t0 = time.perf_counter()
        for _ in range(args.steps):
            trainer.run_phase(phase, batch)
        sync()
        per_phase[phase] = round(args.steps * bs / (time.perf_counter() - t0), 1)

    # Whole step, batches drawn from the on-device tensors (the Trainer's hot path).
    for _ in range(5):
        trainer.train_step(tensor_batch())
    sync()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        trainer.train_step(tensor_batch())
    sync()
    tensor_ips = args.steps * bs / (time.perf_counter() - t0)

    # The same step fed by a per-sample DataLoader over torchvision's MNIST (PIL -> ToTensor per image).
    from torchvision import datasets, transforms

    root = args.data_dir or str(default_data_dir())
    ds = datasets.MNIST(root, train=True, download=False, transform=transforms.ToTensor())
    loader = DataLoader(ds, batch_size=bs, shuffle=True, num_workers=0)
    lab_x = train.images[labelled].reshape(-1, 784).float().div(255).to(device)
    lab_y = train.labels[labelled].to(device)

    def loader_steps(n: int) -> float:
        it = iter(loader)
        t0 = time.perf_counter()
        for _ in range(n):
            x, _ = next(it)
            pick = torch.randint(lab_x.shape[0], (bs,), device=device)
            batch = Batch(x=x.reshape(bs, -1).to(device), x_labelled=lab_x[pick], y_labelled=lab_y[pick])
            trainer.train_step(batch)
        sync()
        return n * bs / (time.perf_counter() - t0)

    loader_steps(5)
    loader_ips = loader_steps(args.steps)
    return {
        "device": A.device_name(device), "hidden": args.hidden, "batch_size": bs, "steps": args.steps,
        "precision": trainer.precision,
        "phase_images_per_s": per_phase,
        "semi_supervised_step_images_per_s": round(tensor_ips, 1),
        "dataloader_step_images_per_s": round(loader_ips, 1),
        "speedup_vs_dataloader": round(tensor_ips / loader_ips, 2),
        "seconds_per_60k_epoch": round(60000 / tensor_ips, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto")
    p.add_argument("--hidden", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"))
    p.add_argument("--data-dir", default=None)
    p.add_argument("--threads", type=int, default=1, help="torch threads of the semi-supervised step (shared cores: 1)")
    p.add_argument("--rounds", type=int, default=3, help="side-by-side rounds (each runs every contender once)")
    p.add_argument("--peer-steps", type=int, default=100, help="timed steps per contender per round")
    p.add_argument("--warmup", type=int, default=15)
    p.add_argument("--only-peer", action="store_true", help="run the side-by-side only (keeps the file's other keys)")
    p.add_argument("--no-peer", action="store_true", help="skip the side-by-side with pythae")
    p.add_argument("--peer-worker", choices=CONTENDERS, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.peer_worker:
        peer_worker(args.peer_worker, args.peer_steps, args.warmup)
        return
    torch.set_num_threads(args.threads)
    device = A.pick_device(args.device)
    name = f"training_throughput_{device.type}"
    result: dict = {}
    if args.only_peer:
        from benchmarks._common import RESULTS
        try:
            old = json.loads((RESULTS / f"{name}.json").read_text())
            result = {k: v for k, v in old.items() if k not in ("benchmark", "date", "machine")}
        except (OSError, json.JSONDecodeError):
            result = {}
    else:
        result.update(mnist_step(args, device))
    if device.type == "cpu" and not args.no_peer:
        result["vs_pythae"] = side_by_side(args.rounds, args.peer_steps, args.warmup)
        # the headline ratios at the top level, where the README's table (benchmarks/report.py) shows them
        result.update({k: v for k, v in result["vs_pythae"]["ratios"].items() if k.endswith("_vs_pythae")})
    write_result(name, result)


if __name__ == "__main__":
    main()
