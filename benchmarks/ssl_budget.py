"""Semi-supervised AAE with 100 labels: test error against updates and wall time.

On CPU it reports the error reached after a fixed budget of updates; on a GPU it also reports the
time to reach the target error (default 3 %), stopping there. Writes results/ssl_budget_<device>.json.

    python -m benchmarks.ssl_budget --steps 3000            # CPU budget
    python -m benchmarks.ssl_budget --device cuda --steps 200000 --target 0.03
"""

from __future__ import annotations

import argparse
import time

import aae_core as A
from aae_core.metrics import classification_error
from benchmarks._common import write_result


class ErrorProbe(A.Callback):
    """Every `every` updates: the full test-set error; asks the trainer to stop at the target."""

    def __init__(self, test: A.ImageSet, every: int, max_steps: int, target: float) -> None:
        self.x, self.y = test.to_float(), test.labels
        self.every, self.max_steps, self.target = every, max_steps, target
        self.curve: list[dict] = []
        self.reached_at: dict | None = None
        self.t0 = time.perf_counter()

    def on_step_end(self, trainer: A.Trainer) -> None:
        step = trainer.state.step
        if step % self.every and step < self.max_steps:
            return
        err = classification_error(trainer.model, self.x.to(trainer.device), self.y.to(trainer.device))
        point = {"step": step, "seconds": round(time.perf_counter() - self.t0, 1), "test_error": round(err, 4)}
        self.curve.append(point)
        print(point, flush=True)
        if self.reached_at is None and err <= self.target:
            self.reached_at = point
            trainer.request_stop()
        if step >= self.max_steps:
            trainer.request_stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--device", default="auto")
    p.add_argument("--steps", type=int, default=3000, help="budget of updates (mini-batches)")
    p.add_argument("--every", type=int, default=500)
    p.add_argument("--target", type=float, default=0.03)
    p.add_argument("--hidden", type=int, default=1000)
    p.add_argument("--latent-dim", type=int, default=10)
    p.add_argument("--input-noise", type=float, default=0.3, help="the shipped recipe's encoder input noise")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=None)
    args = p.parse_args()

    model_config = A.ModelConfig(kind="semi_supervised", latent_dim=args.latent_dim, n_labels=100,
                                 hidden_dim=args.hidden, disc_hidden_dim=args.hidden)
    train_config = A.TrainConfig(epochs=10**6, seed=args.seed, eval_size=0, input_noise=args.input_noise)
    train, test = A.load_dataset("mnist", data_dir=args.data_dir)
    labelled = A.label_split(train.labels, 100, seed=args.seed)
    model = A.build_model(model_config, seed=args.seed)
    probe = ErrorProbe(test, args.every, args.steps, args.target)
    trainer = A.Trainer(model, train_config, train, labelled=labelled, device=args.device, callbacks=[probe])
    trainer.fit()
    write_result(f"ssl_budget_{trainer.device.type}", {
        "device": A.device_name(trainer.device), "labels": 100, "hidden": args.hidden,
        "latent_dim": args.latent_dim, "input_noise": args.input_noise, "budget_steps": args.steps,
        "target_error": args.target,
        "train_config": train_config.to_dict(), "curve": probe.curve,
        "final": probe.curve[-1] if probe.curve else None, "reached_target_at": probe.reached_at,
    })


if __name__ == "__main__":
    main()
