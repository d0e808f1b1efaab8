"""Recipe sweeps on Optuna: many short runs around a recipe, chosen on the validation split.

    python -m aae_core.sweep --name c16 --recipe clustering_16 --epochs 6 --trials 30 \\
        --field class_code_noise=0.1:0.6 --field class_code_noise.shape=constant,linear,cosine \\
        --field class_code_noise.final=0:0.2 --field lr_generator=1e-4:2e-3:log --metric eval_error
    python -m aae_core.sweep --name c16                 # resume (the saved settings; more workers may join)
    python -m aae_core.sweep --name c16 --best          # the winner as a change to paste into recipes.py

Fields: NAME=LOW:HIGH (uniform), NAME=LOW:HIGH:log (log scale, for rates), NAME=A,B,C (choices); NAME is any
ModelConfig / TrainConfig field, or FIELD.shape / FIELD.final for a schedule of a noise or learning rate.
--set NAME=VALUE fixes a field for every trial. The first trial is the recipe itself (Optuna enqueue_trial);
then the TPE sampler proposes, and a median pruner stops trials whose per-epoch validation metric trails, from
epoch --prune-after + 1 on (default 2; measured: at 8 epochs a clustering_30 sweep rewarded the noise that forms
clusters soonest, which then ended worse: where a late finish matters, let trials run longer before pruning).
Each trial is a run folder DIR/NAME/trial_NNNN (config.json records the sweep and trial; never overwritten;
`python -m aae_core.train --resume --out FOLDER` continues one).

Storage. Default: an Optuna journal file DIR/NAME/journal.log, no server. --workers N starts N processes on
it. More machines: run the same command on each with DIR on a shared network disk (they share the journal and
its lock file). Or --storage postgresql://user:pass@host/db (any SQLAlchemy URL; `pip install psycopg2-binary`
for PostgreSQL): its heartbeat marks a dead worker's trial failed after 3 minutes, wherever it ran. On the
journal, a worker that finds a RUNNING trial whose process (on this machine) is gone marks it FAIL, so a
worker killed mid-trial leaves one failed trial and the others go on.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
import torch
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.trial import TrialState

from .config import SCHEDULABLE, ModelConfig, TrainConfig
from .errors import AAEError, TrainingDivergedError
from .recipes import MODEL_FIELDS, RECIPES, resolve
from .run_setup import prepare_run
from .sweep_space import available_metrics, changes_of, fixed_changes, parse_field, recipe_params
from .training import Callback, Trainer

PROG = "python -m aae_core.sweep"
LOWER_IS_BETTER = ("error", "mse", "mmd", "loss")
SETTINGS = ("recipe", "fields", "set", "epochs", "trials", "metric", "direction", "prune_after")
PRUNE_AFTER = 2          # epochs a trial runs before the pruner may stop it, unless the sweep says otherwise
DONE = (TrialState.COMPLETE, TrialState.PRUNED)
# --- workers ---------------------------------------------------------------------------------------
def _started(pid: int) -> str | None:
    """A process's start time (field 22 of /proc/PID/stat), to tell it from a later process with its pid."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{_started(os.getpid())}"


def fail_dead_trials(study: optuna.Study, log=print) -> None:
    """Mark FAIL the RUNNING trials whose worker ran on this machine and is gone (killed, crashed)."""
    host = socket.gethostname()
    storage = study._storage   # noqa: SLF001  (Optuna has no public setter of another process's trial state)
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        who = str(t.user_attrs.get("worker", "")).split(":")
        if len(who) == 3 and who[0] == host and _started(int(who[1])) != who[2]:
            storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)   # noqa: SLF001
            log(f"trial {t.number}: its worker (pid {who[1]}) is gone; marked failed")


@contextmanager
def _lock(path: Path | None):
    if path is None:
        yield
        return
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class _Report(Callback):
    """Reports each epoch's validation metric to Optuna and stops the run when the pruner says so."""

    def __init__(self, trial: optuna.Trial, metric: str, heart: Any) -> None:
        self.trial, self.metric, self.pruned, self.last = trial, metric, False, None
        # A database's heartbeat (ask/tell does not start Optuna's heartbeat thread): a beat every 20 s at most.
        self.heart = heart if isinstance(heart, BaseHeartbeat) and heart.get_heartbeat_interval() else None
        self.beat = 0.0

    def on_step_end(self, trainer: Trainer) -> None:
        if self.heart is not None and time.monotonic() - self.beat > 20:
            self.heart.record_heartbeat(self.trial._trial_id)   # noqa: SLF001
            self.beat = time.monotonic()

    def on_epoch_end(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        self.last = float(metrics[self.metric])
        self.trial.report(self.last, int(metrics["epoch"]))
        if self.trial.should_prune():
            self.pruned = True
            trainer.request_stop()


def run_trial(study: optuna.Study, trial: optuna.Trial, settings: dict, folder: Path, *, data_dir, device,
              heart: Any = None, log=print) -> None:
    fields = [parse_field(f) for f in settings["fields"]]
    fixed = fixed_changes(settings["set"])
    start = resolve(settings["recipe"], **fixed)
    params: dict[str, Any] = {}
    for f in sorted(fields, key=lambda f: not f.name.endswith(".shape")):   # a schedule's shape decides first
        base, _, part = f.name.partition(".")
        if part == "final" and params.get(f"{base}.shape", "linear") == "constant":
            continue                                                           # no final value to choose
        params[f.name] = f.suggest(trial)
    changes = {**fixed, **changes_of(params, start)}
    out = folder / f"trial_{trial.number:04d}"
    trial.set_user_attr("run", str(out))
    try:
        run = resolve(settings["recipe"], epochs=settings["epochs"], **changes)
        report = _Report(trial, settings["metric"], heart)
        trainer = prepare_run(run.model, run.train, out=out, data_dir=data_dir, device=device, callbacks=[report],
                              extra={"recipe": settings["recipe"], "sweep": study.study_name, "trial": trial.number,
                                     "command": f"{PROG} --name {study.study_name} (trial {trial.number})"})
        log(f"trial {trial.number}: {json.dumps(params)} -> {out}")
        trainer.fit()
    except (ValueError, AAEError, TrainingDivergedError) as exc:
        log(f"trial {trial.number} failed: {exc}")
        study.tell(trial, state=TrialState.FAIL)
        return
    if report.pruned:
        log(f"trial {trial.number} pruned at epoch {trainer.state.epoch}: {settings['metric']} {report.last:.4g}")
        study.tell(trial, state=TrialState.PRUNED)
    else:
        log(f"trial {trial.number} done: {settings['metric']} {report.last:.4g}")
        study.tell(trial, report.last)


def work(study: optuna.Study, settings: dict, folder: Path, lock: Path | None, *, data_dir, device,
         heart: Any = None, log=print) -> None:
    """Run trials until the sweep holds `trials` finished (complete or pruned) or running ones."""
    while True:
        with _lock(lock):
            if lock is None:
                optuna.storages.fail_stale_trials(study)   # a database's heartbeat
            fail_dead_trials(study, log)
            busy = study.get_trials(deepcopy=False, states=(*DONE, TrialState.RUNNING))
            if len(busy) >= settings["trials"]:
                return
            trial = study.ask()
            trial.set_user_attr("worker", _worker_id())
        run_trial(study, trial, settings, folder, data_dir=data_dir, device=device, heart=heart, log=log)


# --- the command line --------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--name", required=True, help="the sweep (an Optuna study; its folder is DIR/NAME)")
    p.add_argument("--recipe", choices=list(RECIPES), help="the recipe whose neighbourhood is explored")
    p.add_argument("--field", action="append", metavar="NAME=RANGE", help="a field to search (repeat)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="a field fixed for every trial (repeat)")
    p.add_argument("--epochs", type=int, help="epochs per trial")
    p.add_argument("--trials", type=int, help="finished trials the sweep aims at (resuming may raise it)")
    p.add_argument("--metric", help="per-epoch validation metric: eval_mse, or the family's (eval_error, ...)")
    p.add_argument("--direction", choices=("minimize", "maximize"),
                   help="default: minimize for errors, MSE and MMD; others must say")
    p.add_argument("--prune-after", type=int, metavar="EPOCHS",
                   help=f"epochs every trial runs before the pruner may stop it (default {PRUNE_AFTER}; "
                        "--epochs or more: no pruning)")
    p.add_argument("--workers", type=int, default=1, help="worker processes on this machine (default 1)")
    p.add_argument("--dir", default="runs/sweeps", help="where sweeps keep their folder (default runs/sweeps)")
    p.add_argument("--storage", help="an RDB URL (postgresql://..., sqlite:///...) instead of the journal file")
    p.add_argument("--best", action="store_true", help="print the best trial as a change to the recipe and exit")
    p.add_argument("--data-dir", default=None, help="dataset folder (default $AAE_DATA_DIR or ~/.cache/...)")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=1, help="torch threads per worker (default 1)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)   # one of --workers N's processes
    return p


def open_study(args: argparse.Namespace) -> tuple[optuna.Study, Path, Path | None, Any]:
    folder = Path(args.dir) / args.name
    if not args.storage and not (folder / "journal.log").exists():   # a new sweep: check it before writing
        if args.best:
            raise ValueError(f"there is no sweep {args.name!r} in {folder}")
        settings_from(args, {})
    if args.storage:
        storage: Any = optuna.storages.RDBStorage(args.storage, heartbeat_interval=60, grace_period=180)
        lock = None
    else:
        folder.mkdir(parents=True, exist_ok=True)
        journal = folder / "journal.log"
        storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
        lock = folder / "journal.lock"
    try:
        study = optuna.load_study(study_name=args.name, storage=storage)
    except KeyError:
        study = None
    if study is None:
        if args.best:
            raise ValueError(f"there is no sweep {args.name!r} in {args.storage or folder}")
        settings = settings_from(args, {})
        study = optuna.create_study(study_name=args.name, storage=storage, direction=settings["direction"],
                                    sampler=optuna.samplers.TPESampler(),
                                    pruner=pruner(settings),
                                    load_if_exists=True)
        for k, v in settings.items():
            study.set_user_attr(k, v)
        start = resolve(settings["recipe"], **fixed_changes(settings["set"]))
        study.enqueue_trial(recipe_params([parse_field(f) for f in settings["fields"]], start),
                            user_attrs={"recipe_values": True})
    else:
        study.sampler = optuna.samplers.TPESampler()   # unseeded: workers started together must not agree
        study.pruner = pruner(study.user_attrs)
    return study, folder, lock, storage


def pruner(settings: dict) -> optuna.pruners.BasePruner:
    """The median pruner: after 4 finished trials, a trial whose metric trails the median at the same epoch stops,
    once it has run `prune_after` epochs (sweeps saved before that setting existed: 2)."""
    return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=settings.get("prune_after", PRUNE_AFTER))


def settings_from(args: argparse.Namespace, saved: dict) -> dict:
    """The sweep's settings: those saved with it, with what the command line gives (only --trials may change)."""
    given = {"recipe": args.recipe, "fields": args.field, "set": args.set or None, "epochs": args.epochs,
             "trials": args.trials, "metric": args.metric, "direction": args.direction, "prune_after": args.prune_after}
    if saved:
        saved = {"prune_after": PRUNE_AFTER, **saved}       # sweeps saved before the setting existed
        differ = [k for k, v in given.items() if v is not None and k != "trials" and v != saved[k]]
        if differ:
            raise ValueError(f"sweep {args.name!r} was started with other {', '.join(differ)}; drop them to resume "
                             "it, or start a new --name")
        return {**saved, **({"trials": args.trials} if args.trials else {})}
    missing = [f"--{k}" for k in ("recipe", "field", "epochs", "trials", "metric") if not given[k.replace(
        "field", "fields")]]
    if missing:
        raise ValueError(f"a new sweep needs {', '.join(missing)}")
    if args.epochs < 1 or args.trials < 1:
        raise ValueError("--epochs and --trials must be >= 1")
    if args.prune_after is not None and args.prune_after < 0:
        raise ValueError(f"--prune-after must be >= 0 epochs; got {args.prune_after}")
    fields = [parse_field(f) for f in args.field]
    fixed = fixed_changes(args.set or [])
    start = resolve(args.recipe, **fixed)
    probe = {f.name: (f.choices[0] if f.choices else f.low) for f in fields}
    resolve(args.recipe, **fixed, **changes_of(probe, start))  # a trial's values can be built
    metrics = available_metrics(start)
    if args.metric not in metrics:
        raise ValueError(f"unknown metric {args.metric!r} for a {start.model.kind} model; it reports "
                         f"{', '.join(metrics)}")
    direction = args.direction
    if direction is None:
        if not any(word in args.metric for word in LOWER_IS_BETTER):
            raise ValueError(f"say --direction minimize or maximize for metric {args.metric!r}")
        direction = "minimize"
    return {**given, "set": args.set or [], "direction": direction,
            "prune_after": PRUNE_AFTER if args.prune_after is None else args.prune_after}


def best_text(study: optuna.Study) -> str:
    """The best finished trial as resolve() changes against its recipe, in recipes.py's spelling."""
    settings = study.user_attrs
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not done:
        return f"sweep {study.study_name}: no finished trial yet"
    best = study.best_trial
    fixed = fixed_changes(settings["set"])
    start = resolve(settings["recipe"], **fixed)
    changes = {**fixed, **changes_of(best.params, start)}
    base = {**start.recipe.model, **start.recipe.train}
    lines = [f"# sweep {study.study_name}: best of {len(done)} finished trials ({len(study.trials)} in all): "
             f"trial {best.number}, validation {settings['metric']} {best.value:.4g} after {settings['epochs']} "
             f"epochs ({best.user_attrs.get('run')})",
             f"# changes to recipe {settings['recipe']}:"]
    for k, v in changes.items():
        if k == "schedules":
            text = ", ".join(f'"{f}": Schedule("{s["shape"]}", {s["final"]:.3g})' for f, s in v.items()
                             if s["shape"] != "constant")
            if text:
                lines.append(f"schedules={{{text}}},")
            continue
        if k in fixed:
            recipe_value = base.get(k, getattr(ModelConfig if k in MODEL_FIELDS else TrainConfig, k, None))
        elif k in MODEL_FIELDS:
            recipe_value = getattr(start.model, k)
        else:
            recipe_value = start.train.start_value(k) if k in SCHEDULABLE else getattr(start.train, k)
        if recipe_value != v:
            lines.append(f"{k}={v:.3g}," if isinstance(v, float) else f"{k}={v!r},")
    if len(lines) == 2:
        lines.append("# none: the recipe's own values won")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        if args.workers < 1 or args.threads < 1:
            raise ValueError("--workers and --threads must be >= 1")
        study, folder, lock, storage = open_study(args)
        if args.best:
            print(best_text(study))
            return 0
        settings = settings_from(args, {k: study.user_attrs[k] for k in SETTINGS if k in study.user_attrs})
        if settings["trials"] != study.user_attrs["trials"]:
            study.set_user_attr("trials", settings["trials"])
    except (ValueError, AAEError) as exc:
        parser.exit(2, f"{PROG}: error: {exc}\n")
    if args.workers > 1:
        base = sys.argv[1:] if argv is None else list(argv)
        cmd = [sys.executable, "-m", "aae_core.sweep", *base, "--workers", "1", "--child"]
        procs = [subprocess.Popen(cmd) for _ in range(args.workers)]
        signal.signal(signal.SIGTERM, lambda *_: [p.terminate() for p in procs])
        codes = [p.wait() for p in procs]
        print(f"{PROG}: {args.workers} workers ended (exit codes {codes})", file=sys.stderr)
    else:
        torch.set_num_threads(args.threads)
        work(study, settings, folder, lock, data_dir=args.data_dir, device=args.device, heart=storage,
             log=lambda s: print(f"[{os.getpid()}] {s}", file=sys.stderr, flush=True))
    if not args.child:
        print(best_text(study))
    return 0


if __name__ == "__main__":
    sys.exit(main())
