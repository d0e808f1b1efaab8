"""Training runs in the app: the registry and its queue (registry), how one run executes (jobs) in a
worker process (worker), what a run looks like from outside (status), the callback that feeds it (live) and
the run folders on disk (storage). Importing this package imports torch; a page that trains nothing does
not import it."""

from explorer.runs.jobs import TrainingJob
from explorer.runs.live import LiveCallback
from explorer.runs.registry import (
                                    MAX_QUEUED,
                                    MAX_RUNS_PER_USER,
                                    REGISTRY,
                                    JobBusyError,
                                    JobRegistry,
                                    QueueFullError,
                                    time_limit_note,
)
from explorer.runs.status import FINAL_STATES, JobState, JobStatus, Snapshot, StatusBoard, stopped_message
from explorer.runs.storage import evict_runs, folder_bytes, stored_runs
from explorer.runs.worker import WorkerJob

__all__ = ["FINAL_STATES", "MAX_QUEUED", "MAX_RUNS_PER_USER", "REGISTRY", "JobBusyError", "JobRegistry", "JobState",
           "JobStatus", "LiveCallback", "QueueFullError", "Snapshot", "StatusBoard", "TrainingJob", "WorkerJob",
           "evict_runs", "folder_bytes", "stopped_message", "stored_runs", "time_limit_note"]
