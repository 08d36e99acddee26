"""The judge's file handling where students control what is on disk.

A submission folder may hold anything: trees thousands of folders deep, symlink loops,
100,000 files, names that are not UTF-8. Everything here is iterative (no recursion limit
to hit), bounded, and never follows a symbolic link, so each problem costs only the
submission that has it.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

MAX_DEPTH = 12
MAX_ENTRIES = 5000


@dataclass
class Listing:
    """The regular files of a folder (relative paths, walk order) and what was left out."""

    files: list[tuple[str, os.stat_result]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def shown(rel: str) -> str:
    """A path as it may be printed: odd characters escaped."""
    return ascii(rel)[1:-1] if not rel.isprintable() or not rel.isascii() else rel


def walk(root: Path, label: str, max_depth: int = MAX_DEPTH,
         max_entries: int = MAX_ENTRIES) -> Listing:
    """Regular files beneath root, sorted per folder; symlinks, devices, folders deeper
    than max_depth and entries past max_entries are skipped with a note."""
    listing = Listing()
    stack: list[tuple[str, int]] = [("", 0)]
    seen = 0
    too_deep = False
    while stack:
        rel, depth = stack.pop()
        try:
            with os.scandir(os.path.join(root, rel) if rel else root) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            listing.notes.append(f"{label}/{shown(rel)} could not be read ({exc.strerror})")
            continue
        subdirs = []
        for entry in entries:
            seen += 1
            if seen > max_entries:
                listing.notes.append(f"{label}/ holds more than {max_entries} entries; "
                                     "the rest was ignored")
                return listing
            path = os.path.join(rel, entry.name) if rel else entry.name
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISLNK(st.st_mode):
                listing.notes.append(f"symlink {label}/{shown(path)} was ignored")
            elif stat.S_ISDIR(st.st_mode):
                if entry.name == "__pycache__":
                    continue
                if depth + 1 > max_depth:
                    too_deep = True
                    continue
                subdirs.append((path, depth + 1))
            elif stat.S_ISREG(st.st_mode):
                listing.files.append((path, st))
        stack.extend(reversed(subdirs))
    if too_deep:
        listing.notes.append(f"{label}/ has folders more than {max_depth} levels deep; "
                             "they were ignored")
    return listing


def remove_tree(root: Path) -> None:
    """Remove root and everything in it, however deep, without following links; folders
    whose permissions a student's code removed are opened up first. Never raises."""
    try:
        st = os.lstat(root)
    except OSError:
        return
    if not stat.S_ISDIR(st.st_mode):
        try:
            os.unlink(root)
        except OSError:
            pass
        return
    folders: list[str] = []
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        folders.append(folder)
        try:
            os.chmod(folder, 0o700, follow_symlinks=False)
        except (OSError, NotImplementedError):
            pass
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    os.unlink(entry.path)
            except OSError:
                pass
    for folder in reversed(folders):
        try:
            os.rmdir(folder)
        except OSError:
            pass


def open_private_append(path: Path) -> int:
    """An fd for appending to path, created 0600 if missing. Refuses (OSError) a symlink,
    anything but a regular file, and a file owned by another user."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
        os.close(fd)
        raise PermissionError(f"{path} is not a regular file of this user")
    return fd


def read_private(path: Path) -> str | None:
    """The text of path if it is a regular file of this user (never through a link)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    with open(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
            return None
        return fh.read().decode("utf-8", "replace")


def check_output_folder(folder: Path) -> str | None:
    """Why the judge should not write into folder, or None. A folder that other users
    may write without the sticky bit lets them swap files under the judge."""
    try:
        st = os.stat(folder)
    except OSError:
        return None
    if st.st_mode & (stat.S_IWOTH | stat.S_IWGRP) and not st.st_mode & stat.S_ISVTX:
        return (f"{folder} can be written by other users, who could swap the grader's files "
                "there (a journal, a feedback file); choose a folder only you can write")
    return None


def read_regular(path: Path, limit: int) -> tuple[bytes, str | None]:
    """(bytes, None) for a regular file of at most `limit` bytes, read through one
    descriptor opened without following links; else (b"", why)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return b"", "is missing from the submission"
    except OSError as exc:
        if exc.errno == 40:  # ELOOP: a symbolic link
            return b"", "is a symbolic link, not a file"
        return b"", f"could not be read ({exc.strerror})"
    with open(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            return b"", "is not a regular file"
        if st.st_size > limit:
            return b"", f"is larger than {limit} bytes"
        data = fh.read(limit + 1)
    if len(data) > limit:
        return b"", f"is larger than {limit} bytes"
    return data, None
