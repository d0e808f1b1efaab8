"""The app's settings read from the environment: how many runs train at once, with how many threads,
and how much disk one user's runs may take. Each is read when asked, so a server started with a new
value (or a test setting one) sees it."""

from __future__ import annotations

import os

MAX_TRAININGS_ENV, QUOTA_ENV = "AAE_MAX_TRAININGS", "AAE_RUNS_QUOTA_MB"
DEFAULT_QUOTA_MB = 500         # disk for one owner's run folders (a 1000-unit run with optimizer state: ~70 MB)
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


def runs_quota_bytes() -> int:
    """Disk allowed for one owner's run folders: $AAE_RUNS_QUOTA_MB (may be fractional), else 500 MB."""
    raw = os.environ.get(QUOTA_ENV)
    if raw is None or raw.strip() == "":
        return DEFAULT_QUOTA_MB * MB
    try:
        mb = float(raw)
    except ValueError:
        mb = -1.0
    if not mb > 0:
        raise ValueError(f"${QUOTA_ENV} must be a positive number of MB; got {raw!r}")
    return int(mb * MB)
