"""Training throughput: images/s of each phase and of a whole semi-supervised step, with the dataset
held on the device as tensors (aae_core's Trainer), against a plain per-sample DataLoader loop over
torchvision's MNIST dataset doing the same step. Writes results/training_throughput_<device>.json.

    python -m benchmarks.training_throughput [--device cpu|cuda] [--hidden 1000] [--steps 50]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import DataLoader

import aae_core as A
from aae_core.data import default_data_dir
from aae_core.families import Batch
from benchmarks._common import write_result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--device", default="auto")
    p.add_argument("--hidden", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--data-dir", default=None)
    args = p.parse_args()
    device = A.pick_device(args.device)
    bs = args.batch_size

    train, _ = A.load_dataset("mnist", data_dir=args.data_dir)
    config = A.ModelConfig(kind="semi_supervised", latent_dim=10, n_labels=100, hidden_dim=args.hidden,
                           disc_hidden_dim=args.hidden)
    model = A.build_model(config, seed=0)
    labelled = A.label_split(train.labels, 100, seed=0)
    trainer = A.Trainer(model, A.TrainConfig(batch_size=bs, eval_size=0), train, labelled=labelled, device=device)
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

    write_result(f"training_throughput_{device.type}", {
        "device": A.device_name(device), "hidden": args.hidden, "batch_size": bs, "steps": args.steps,
        "phase_images_per_s": per_phase,
        "semi_supervised_step_images_per_s": round(tensor_ips, 1),
        "dataloader_step_images_per_s": round(loader_ips, 1),
        "speedup_vs_dataloader": round(tensor_ips / loader_ips, 2),
        "seconds_per_60k_epoch": round(60000 / tensor_ips, 1),
    })


if __name__ == "__main__":
    main()
