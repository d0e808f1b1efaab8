"""The app's settings read from the environment: how many runs train at once, with how many threads,
and how much disk one user's runs may take. Each is read when asked, so a server started with a new
value (or a test setting one) sees it."""

from __future__ import annotations

import os

MAX_TRAININGS_ENV, QUOTA_ENV = "AAE_MAX_TRAININGS", "AAE_RUNS_QUOTA_MB"
TIME_LIMIT_ENV = "AAE_RUN_TIME_LIMIT_MIN"
SERVER_RUNS_ENV, SERVER_QUOTA_ENV = "AAE_SERVER_MAX_RUNS", "AAE_SERVER_QUOTA_MB"
DEFAULT_QUOTA_MB = 500         # disk for one owner's run folders (a 1000-unit run with optimizer state: ~70 MB)
DEFAULT_TIME_LIMIT_MIN = 60    # one run's training time, so that one run cannot hold a trainer for hours
DEFAULT_SERVER_RUNS, DEFAULT_SERVER_QUOTA_MB = 100, 5000   # all owners' app-made runs together
MB = 1_000_000


def _positive_int_env(name: str) -> int | None:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"${name} must be a positive whole number; got {raw!r}")
    return value


def max_trainings() -> int:
    """How many runs the server trains at once: $AAE_MAX_TRAININGS, else half the cores (at least one).
    The other half is left to the server itself (every click decodes) and the browsers."""
    return _positive_int_env(MAX_TRAININGS_ENV) or max(1, (os.cpu_count() or 1) // 2)


def training_threads(max_running: int | None = None) -> int:
    """torch threads for one CPU run: the cores the server leaves free (all but half), shared by the
    `max_running` runs that may train at once. 1 on a 2-core machine, where two threads on shared cores
    ran 7x slower than one (docs: ENVIRONMENT.md)."""
    cores = os.cpu_count() or 1
    return max(1, (cores - cores // 2) // (max_running or max_trainings()))


def _number_env(name: str, default: float, what: str, *, zero_ok: bool = False) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not (value > 0 or (zero_ok and value == 0)):
        raise ValueError(f"${name} must be {what}; got {raw!r}")
    return value


def runs_quota_bytes() -> int:
    """Disk allowed for one owner's run folders: $AAE_RUNS_QUOTA_MB (may be fractional), else 500 MB."""
    return int(_number_env(QUOTA_ENV, DEFAULT_QUOTA_MB, "a positive number of MB") * MB)


def run_time_limit_s() -> float | None:
    """One run's training time on this server: $AAE_RUN_TIME_LIMIT_MIN minutes (0: no limit), else 60 min.
    Past it the run saves and ends as if stopped, so the runs waiting behind it get their turn."""
    minutes = _number_env(TIME_LIMIT_ENV, DEFAULT_TIME_LIMIT_MIN, "a positive number of minutes, or 0 for no "
                          "limit", zero_ok=True)
    return minutes * 60 if minutes else None


def server_max_runs() -> int:
    """App-made run folders the server keeps, all owners together: $AAE_SERVER_MAX_RUNS, else 100."""
    return _positive_int_env(SERVER_RUNS_ENV) or DEFAULT_SERVER_RUNS


def server_quota_bytes() -> int:
    """Disk for all owners' app-made run folders together: $AAE_SERVER_QUOTA_MB, else 5000 MB."""
    return int(_number_env(SERVER_QUOTA_ENV, DEFAULT_SERVER_QUOTA_MB, "a positive number of MB") * MB)
