"""Long computations other than training (a UMAP fit), each in a daemon thread that makes no UI calls,
keyed by what they compute so that two pages (or users) asking for the same thing share one."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Generic, Literal, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


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
    """fn(progress) run once in a daemon thread; progress(fraction, message) updates its status."""

    def __init__(self, name: str, fn: Callable[[Callable[[float, str], None]], T], message: str = "starting") -> None:
        self._lock = threading.Lock()
        self._status: TaskStatus[T] = TaskStatus(state="running", message=message)
        self._fn = fn
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

    def _run(self) -> None:
        try:
            result = self._fn(self._progress)
            with self._lock:
                self._status.state, self._status.result, self._status.fraction = "done", result, 1.0
        except Exception as exc:  # reported to the page, which stays usable
            log.exception("background task failed")
            with self._lock:
                self._status.state, self._status.error = "failed", f"{type(exc).__name__}: {exc}"


class TaskRegistry:
    """Background tasks keyed by what they compute, so two pages (or users) asking for the same thing
    share one computation."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tasks: dict[str, BackgroundTask] = {}

    def get_or_start(self, key: str, fn: Callable[[Callable[[float, str], None]], T],
                     message: str = "starting") -> BackgroundTask[T]:
        """The task for key: the running, finished or failed one, else a new one (discard a failed one to
        retry it)."""
        with self._lock:
            task = self._tasks.get(key)
            if task is None:
                task = BackgroundTask(f"aae-task-{key[:24]}", fn, message)
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
