"""Long computations other than training (a UMAP map: the thread encodes, a worker process fits, see
explorer.umap_worker), each in a daemon thread that makes no UI calls, keyed by what they compute so that two
pages (or users) asking for the same thing share one. At most
`max_running` run at once (the others wait their turn); a finished task lets go of what its function held
(a model, a test set), and only the last `keep_done` finished tasks are kept."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Generic, Literal, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class TaskError(RuntimeError):
    """A failure already said in words for the page: its status's error is the message alone."""


@dataclass
class TaskStatus(Generic[T]):
    state: Literal["running", "done", "failed"]
    fraction: float = 0.0
    message: str = ""
    started: float = field(default_factory=time.time)
    result: T | None = None
    error: str | None = None

    @property
    def elapsed(self) -> float:
        return time.time() - self.started


class BackgroundTask(Generic[T]):
    """fn(progress) run once in a daemon thread; progress(fraction, message) updates its status. With
    `slots`, it waits for one first (saying so) and gives it back at the end."""

    def __init__(self, name: str, fn: Callable[[Callable[[float, str], None]], T], message: str = "starting",
                 slots: threading.Semaphore | None = None) -> None:
        self._lock = threading.Lock()
        self._status: TaskStatus[T] = TaskStatus(state="running", message=message)
        self._fn: Callable[[Callable[[float, str], None]], T] | None = fn
        self._slots, self._message = slots, message
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> BackgroundTask[T]:
        self._thread.start()
        return self

    def status(self) -> TaskStatus[T]:
        with self._lock:
            return replace(self._status)

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _progress(self, fraction: float, message: str) -> None:
        with self._lock:
            self._status.fraction, self._status.message = float(fraction), message

    @property
    def finished(self) -> bool:
        return self.status().state != "running"

    def _run(self) -> None:
        if self._slots is not None and not self._slots.acquire(blocking=False):
            self._progress(0.0, "waiting: this server runs a few of these at once, and the others are busy")
            self._slots.acquire()
            self._progress(0.0, self._message)
        try:
            fn, self._fn = self._fn, None              # what it holds goes with the call
            result = fn(self._progress)
            with self._lock:
                self._status.state, self._status.result, self._status.fraction = "done", result, 1.0
        except Exception as exc:  # reported to the page, which stays usable
            log.exception("background task failed")
            with self._lock:
                self._status.state = "failed"
                self._status.error = str(exc) if isinstance(exc, TaskError) else f"{type(exc).__name__}: {exc}"
        finally:
            if self._slots is not None:
                self._slots.release()


class TaskRegistry:
    """Background tasks keyed by what they compute, so two pages (or users) asking for the same thing
    share one computation; at most `max_running` at once, the last `keep_done` finished ones kept."""

    def __init__(self, *, max_running: int = 1, keep_done: int = 8) -> None:
        self._lock = threading.Lock()
        self._tasks: dict[str, BackgroundTask] = {}
        self._slots = threading.Semaphore(max_running)
        self._keep_done = keep_done

    def get_or_start(self, key: str, fn: Callable[[Callable[[float, str], None]], T],
                     message: str = "starting") -> BackgroundTask[T]:
        """The task for key: the running, finished or failed one, else a new one (discard a failed one to
        retry it)."""
        with self._lock:
            task = self._tasks.get(key)
            if task is None:
                finished = [k for k, t in self._tasks.items() if t.finished]   # oldest first
                for old in finished[: max(0, len(finished) - self._keep_done)]:
                    del self._tasks[old]
                task = BackgroundTask(f"aae-task-{key[:24]}", fn, message, slots=self._slots)
                self._tasks[key] = task
                task.start()
            return task

    def get(self, key: str) -> BackgroundTask | None:
        with self._lock:
            return self._tasks.get(key)

    def discard(self, key: str) -> None:
        with self._lock:
            self._tasks.pop(key, None)


TASKS = TaskRegistry()
