"""Run folders on disk: the ones the app made (for one owner, or for anyone), their size, and evicting the
oldest to keep an owner, or the whole server, within its caps. Only real folders whose config.json names an
app owner are ever touched."""

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


def stored_runs(root: Path, owner: str | None) -> list[Path]:
    """The run folders the app made for `owner` (None: for any owner) directly under `root`, oldest first (by
    their config.json's last write). Only real folders (no links, no temporary .name folders) whose
    config.json is a JSON object with "app_user" == owner (None: any non-empty text) count: nothing else under
    root is ever touched (a run from the command line has no app_user)."""
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
        user = meta.get("app_user") if isinstance(meta, dict) else None
        if (user == owner) if owner is not None else (isinstance(user, str) and user != ""):
            found.append((mtime, entry.name, Path(entry.path)))
    return [p for _, _, p in sorted(found)]


def evict_runs(root: Path, owner: str | None, *, keep: int, quota_bytes: int, protect: set[Path]) -> list[str]:
    """Delete `owner`'s (None: any owner's) oldest app-made run folders under root (never one in `protect`)
    until at most `keep` remain and they take at most `quota_bytes`. Returns the names removed, oldest first."""
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
        log.info("removed %s old run %s (at most %d runs, %.0f MB)", f"{owner}'s" if owner else "the server's", p,
                 keep, quota_bytes / MB)
    return removed
