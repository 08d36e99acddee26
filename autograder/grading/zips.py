"""Unpacking a student's zip, where the student controls every byte of it.

The same bounds as ``files.walk`` (entries, depth) plus a size limit, and the same rule
about links: only regular files come out, nothing lands outside the destination (no
absolute or ``..`` paths), and a zip that breaks a limit is noted, never fatal. Used by
``grade`` (a zipped submission is graded like its folder) and by Gradescope's upload.
"""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path, PurePosixPath

from . import files

MAX_UNZIPPED = 256 << 20
MAX_ZIP_ENTRIES = files.MAX_ENTRIES
#: macOS and editor litter that is never part of a submission
IGNORED_PARTS = frozenset({"__MACOSX", ".ipynb_checkpoints", "__pycache__", ".git"})


def ignored(rel: str) -> bool:
    parts = PurePosixPath(rel).parts
    return any(p in IGNORED_PARTS or p.startswith("._") for p in parts)


def unzip(archive: Path, dest: Path, label: str, notes: list[str]) -> bool:
    """Extract ``archive`` into ``dest``: regular files only, bounded. Returns whether the
    archive could be opened at all; what was left out is appended to ``notes``."""
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_ZIP_ENTRIES:
                notes.append(f"{label} holds more than {MAX_ZIP_ENTRIES} entries; not opened")
                return True
            total = 0
            for info in infos:
                name = PurePosixPath(info.filename.replace("\\", "/"))
                kind = stat.S_IFMT(info.external_attr >> 16)  # 0: no type recorded
                if info.is_dir() or kind not in (0, stat.S_IFREG):
                    continue  # folders are made as needed; links and devices never
                if (name.is_absolute() or ".." in name.parts or ignored(str(name))
                        or not name.parts):
                    continue
                if len(name.parts) > files.MAX_DEPTH + 1:
                    notes.append(f"{label}: {files.shown(str(name))} is more than "
                                 f"{files.MAX_DEPTH} folders deep; ignored")
                    continue
                total += info.file_size
                if total > MAX_UNZIPPED:
                    notes.append(f"{label} unpacks to more than {MAX_UNZIPPED >> 20} MiB; "
                                 "the rest was ignored")
                    return True
                target = dest.joinpath(*name.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    # Bounded by what the header claimed: a lying header cannot fill the disk.
                    copied = _copy_bounded(src, out, info.file_size)
                if copied > info.file_size:
                    notes.append(f"{label}: {files.shown(str(name))} is larger than its "
                                 "zip header says; cut")
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, ValueError,
            EOFError) as exc:
        notes.append(f"{label} could not be opened as a zip ({exc})")
        return False
    return True


def _copy_bounded(src, out, limit: int) -> int:
    copied = 0
    while copied <= limit:
        chunk = src.read(min(1 << 20, limit + 1 - copied))
        if not chunk:
            break
        out.write(chunk[: max(0, limit - copied)])
        copied += len(chunk)
    return copied


def submission_root(folder: Path) -> Path:
    """Where the submission starts in an unpacked zip: a zip of the folder itself holds
    one top folder (``alice/assignment.ipynb``), a zip of its files does not."""
    while not (folder / "assignment.ipynb").exists() and not (folder / "source").exists():
        entries = [e for e in folder.iterdir() if not ignored(e.name)]
        if len(entries) != 1 or not entries[0].is_dir() or entries[0].is_symlink():
            break
        folder = entries[0]
    return folder


def is_zip(path: Path) -> bool:
    return path.suffix.lower() == ".zip" and path.is_file() and not path.is_symlink() \
        and zipfile.is_zipfile(path)
