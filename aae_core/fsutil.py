"""The one atomic write and the folder-safety kit every writer of this package uses.

A file is written to a hidden temporary sibling and renamed into place (atomic_write), so readers see
the old file or the new one, never half of one. A folder is built as a temporary sibling and swapped in
(replace_folder); only a folder this package made (is_ours), or an empty one, is ever replaced, and
only the temporary folders named as sibling_path names them are ever cleaned up.
"""

from __future__ import annotations

import ctypes
import fcntl
import fnmatch
import json
import os
import re
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

from .checkpoint_meta import CHECKPOINT_FILE_PATTERNS, CONFIG_FILE
from .errors import OutputPathError


def atomic_write(path: str | Path, write: Callable[[Path], None], *, mode: int | None = None) -> None:
    """Create `path` by write(tmp) on a temporary sibling, then one rename; on any failure the temporary
    file is removed and whatever was at `path` stays. mode: permission bits for the new file (mkstemp
    makes it private)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str, *, mode: int | None = None) -> None:
    """Write text to path through a temporary file and a rename."""
    atomic_write(path, lambda tmp: tmp.write_text(text), mode=mode)


_RENAME_EXCHANGE = 2  # linux/fs.h


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    if sys.platform != "linux":
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    rc = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), ctypes.c_uint(_RENAME_EXCHANGE))
    return rc == 0


def others_in(folder: Path, patterns: tuple[str, ...]) -> list[str] | None:
    """The sorted names of the entries of `folder` that are not plain files matching one of `patterns`
    (None when the folder cannot be read)."""
    try:
        entries = list(folder.iterdir())
    except OSError:
        return None
    return sorted(e.name for e in entries
                  if not (e.is_file() and not e.is_symlink() and any(fnmatch.fnmatchcase(e.name, p) for p in patterns)))


def holds_only(folder: Path, patterns: tuple[str, ...]) -> bool:
    """True when every entry of `folder` is a plain file whose name matches one of `patterns`."""
    return others_in(folder, patterns) == []


def is_checkpoint_folder(path: str | Path) -> bool:
    """True when `path` is a folder (not a link) holding a checkpoint's config.json and nothing but
    the files a checkpoint folder has (CHECKPOINT_FILE_PATTERNS)."""
    path = Path(path)
    if path.is_symlink() or not path.is_dir() or not holds_only(path, CHECKPOINT_FILE_PATTERNS):
        return False
    try:
        meta = json.loads((path / CONFIG_FILE).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(meta, dict) and "format_version" in meta and "model" in meta


def check_replaceable(path: str | Path, *, is_ours: Callable[[Path], bool] = is_checkpoint_folder,
                      what: str = "checkpoint") -> None:
    """Raise OutputPathError unless `path` is absent, an empty folder, or a `what` folder (is_ours):
    saving never replaces, hides or deletes anything else."""
    path = Path(path)
    if not os.path.lexists(path):
        return
    if path.is_symlink():
        raise OutputPathError(f"{path} is a symbolic link, not a {what} folder, and is never replaced; "
                              "give the folder's real path or a new one")
    if not path.is_dir():
        raise OutputPathError(f"{path} is a file, not a {what} folder, and is never replaced; "
                              "choose a new or empty folder")
    try:
        names = sorted(p.name for p in path.iterdir())
    except OSError as exc:
        raise OutputPathError(f"cannot read {path} ({exc.strerror or exc}); choose a new or empty folder") from None
    if names and not is_ours(path):
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        raise OutputPathError(f"{path} is not a {what} folder (it holds {shown}) and is never replaced or "
                              "deleted; choose a new or empty folder")


def check_writable(path: str | Path) -> None:
    """Raise OutputPathError unless a folder can be created at `path`: its nearest existing parent must
    accept a new file. Asked of the system and then tried with a probe file, since os.access says yes
    to root even on a read-only mount."""
    path = Path(path).absolute()
    parent = path.parent
    while not os.path.lexists(parent) and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputPathError(f"cannot write {path}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputPathError(f"cannot write {path}: no permission to create files in {parent}")
    try:
        fd, probe = tempfile.mkstemp(dir=str(parent), prefix=f".{path.name}.probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputPathError(f"cannot write {path}: {parent} does not accept new files "
                              f"({exc.strerror or exc})") from None


def _leftover_pattern(path: Path) -> re.Pattern[str]:
    """Names of the sibling folders save() and replace_folder() make for `path` (see sibling_path)."""
    return re.compile(rf"\.{re.escape(path.name)}\.(tmp|old)-[0-9a-f]{{8}}")


def sibling_path(path: Path, role: str) -> Path:
    """A fresh hidden name next to `path` for a temporary ('tmp') or displaced ('old') folder."""
    return path.parent / f".{path.name}.{role}-{uuid.uuid4().hex[:8]}"


# safetensors (0.8) writes each file through a hidden temporary sibling (".tmp" and 6 characters, Rust's
# tempfile crate) renamed into place: a save killed inside a weights write leaves one in its temporary folder.
SAFETENSORS_TEMP_PATTERN = ".tmp??????"


def remove_leftovers(path: str | Path,
                     patterns: tuple[str, ...] = (*CHECKPOINT_FILE_PATTERNS, SAFETENSORS_TEMP_PATTERN)) -> None:
    """Delete the temporary folders a killed save of `path` left next to it: only folders named exactly
    as this module names them for `path`, holding nothing but files matching `patterns`."""
    path = Path(path)
    pattern = _leftover_pattern(path)
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return
    for entry in entries:
        if pattern.fullmatch(entry.name) and entry.is_dir() and not entry.is_symlink() \
                and holds_only(entry, patterns):
            shutil.rmtree(entry, ignore_errors=True)


def replace_folder(new: Path, path: Path, *, is_ours: Callable[[Path], bool] = is_checkpoint_folder,
                   what: str = "checkpoint") -> None:
    """Put the finished folder `new` at `path`, replacing what is there: nothing, an empty folder or a
    `what` folder (is_ours); anything else raises OutputPathError and both are left as they are.

    Where the system can swap two paths atomically (Linux), readers see the old folder or the new one,
    never none; elsewhere the old folder is moved aside first, so for an instant `path` is absent
    (it is never half-written either way)."""
    check_replaceable(path, is_ours=is_ours, what=what)
    if path.exists() and _exchange(new, path):
        shutil.rmtree(new, ignore_errors=True)  # `new` now holds the old folder
        return
    old = None
    if path.exists():
        old = sibling_path(path, "old")
        os.replace(path, old)
    os.replace(new, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def lock_folder(path: str | Path) -> Callable[[], None]:
    """Hold the folder `path` for this process, so that two runs never write one folder: an exclusive
    flock on the hidden file `.<name>.lock` beside it (inside, it would be swapped away with the folder at
    each save). Raises OutputPathError at once when another live process holds it; a killed process's
    lock dies with it (the file it leaves blocks nothing). Returns the function that releases it (and
    removes the file); exiting releases it too."""
    target = Path(os.path.abspath(path))
    file = target.parent / f".{target.name}.lock"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(file, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                raise OutputPathError(f"{path} is in use by another training run (process {holder}); wait for "
                                      "it to end, or choose another folder") from None
            try:   # the holder before us may have removed the file after we opened it: lock the one there now
                if os.stat(file).st_ino == os.fstat(fd).st_ino:
                    break
            except FileNotFoundError:
                pass
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
    except OSError as exc:
        raise OutputPathError(f"cannot write {path}: {exc.strerror or exc}") from None

    def release() -> None:
        try:
            if os.stat(file).st_ino == os.fstat(fd).st_ino:
                os.unlink(file)
        except OSError:
            pass
        os.close(fd)
    return release
