"""Run folders on disk: the ones the app made for one owner, their size, and evicting the oldest to keep
an owner within their caps. Only real folders whose config.json names the owner are ever touched."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from aae_core.checkpoint_meta import CONFIG_FILE
from explorer.settings import MB

log = logging.getLogger(__name__)


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under `folder` (links are not followed)."""
    total = 0
    for dirpath, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


def stored_runs(root: Path, owner: str) -> list[Path]:
    """The run folders the app made for `owner` directly under `root`, oldest first (by their config.json's
    last write). Only real folders (no links, no temporary .name folders) whose config.json is a JSON object
    with "app_user" == owner count: nothing else under root is ever touched."""
    found: list[tuple[float, str, Path]] = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return []
    for entry in entries:
        if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
            continue
        config = Path(entry.path) / CONFIG_FILE
        try:
            if config.is_symlink():
                continue
            meta = json.loads(config.read_text())
            mtime = config.stat().st_mtime
        except (OSError, ValueError):
            continue
        if isinstance(meta, dict) and meta.get("app_user") == owner:
            found.append((mtime, entry.name, Path(entry.path)))
    return [p for _, _, p in sorted(found)]


def evict_runs(root: Path, owner: str, *, keep: int, quota_bytes: int, protect: set[Path]) -> list[str]:
    """Delete `owner`'s oldest app-made run folders under root (never one in `protect`) until at most `keep`
    remain and they take at most `quota_bytes`. Returns the names removed, oldest first."""
    runs = stored_runs(root, owner)
    sizes = {p: folder_bytes(p) for p in runs}
    protected = {Path(p).resolve() for p in protect}
    removed: list[str] = []
    for p in list(runs):
        if len(runs) <= keep and sum(sizes[r] for r in runs) <= quota_bytes:
            break
        if p.resolve() in protected:
            continue
        try:
            shutil.rmtree(p)
        except OSError:
            log.exception("could not remove the old run %s", p)
            continue
        runs.remove(p)
        removed.append(p.name)
        log.info("removed %s's old run %s (at most %d runs, %.0f MB)", owner, p, keep, quota_bytes / MB)
    return removed
