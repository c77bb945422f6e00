"""The data dir holds password hashes, the audit log, the master secret and backup archives:
only its owner may read it (directories 0700, files 0600), however it was created."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("taichu")

DIR_MODE = 0o700
FILE_MODE = 0o600
# Subdirectories the platform writes into (local archives, restore spool files).
SUBDIRS = ("backups", "tmp")


def private_dir(path: Path) -> Path:
    """Creates `path` (and missing parents) owner-only; an existing one is left as it is."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        # mkdir's mode is masked by the umask; chmod makes it exact.
        directory.mkdir(mode=DIR_MODE, exist_ok=True)
        os.chmod(directory, DIR_MODE)
    return path


def private_file(path: Path) -> None:
    """Creates an empty owner-only file unless it exists (SQLite then opens it, and gives
    its -wal and -shm files the same mode)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)


def sqlite_path(url: str) -> Path | None:
    """The file of a `sqlite+aiosqlite:///path` URL (None for memory or other backends)."""
    if not url.startswith("sqlite"):
        return None
    _, _, rest = url.partition(":///")
    rest = rest.split("?", 1)[0]
    if not rest or rest == ":memory:":
        return None
    return Path(rest)


def tighten(root: Path) -> int:
    """Removes group and other permissions from `root` and everything in it that this
    user owns; returns how many paths were changed."""
    changed = 0
    uid = os.getuid()
    for path in [root, *root.rglob("*")]:
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue  # removed while we walked (a finished upload, a spool file)
        if stat.S_ISLNK(info.st_mode) or info.st_uid != uid:
            continue
        mode = stat.S_IMODE(info.st_mode)
        want = DIR_MODE if stat.S_ISDIR(info.st_mode) else mode & FILE_MODE
        if mode != want:
            os.chmod(path, want)
            changed += 1
    return changed


def prepare(root: Path, extra: tuple[Path, ...] = ()) -> None:
    """At start: the data dir and its subdirectories exist owner-only, and an older data
    dir created with looser modes is tightened (said in the log, once)."""
    existed = root.exists()
    private_dir(root)
    for name in SUBDIRS:
        private_dir(root / name)
    for directory in extra:
        private_dir(directory)
    if existed:
        changed = tighten(root) + sum(tighten(d) for d in extra if root not in d.parents)
        if changed:
            log.warning(
                "data dir %s: removed group/other access from %d path(s) (it holds "
                "password hashes, the audit log and the secret key; now 0700/0600)",
                root,
                changed,
            )
