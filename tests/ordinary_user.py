"""Run a command as an ordinary user, from a test that runs as root (as CI does).

The ordinary user must be able to read the environment the command runs with. Where a
folder on the way to it is closed to others (a Python under /root), the command runs in a
private mount namespace where that folder is covered and only the environment is bound
back: the same mechanism the sandbox uses (``confine.expose``), so nothing on the machine
changes.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from pathlib import Path

from autograder.grading.child import confine

REPO = Path(__file__).resolve().parent.parent
USER = "nobody"


def user_ids() -> tuple[int, int]:
    entry = pwd.getpwnam(USER)
    return entry.pw_uid, entry.pw_gid


def needed_paths() -> list[str]:
    """What the grader reads: the interpreter, its library, the packages, the checkout."""
    paths = {sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable)),
             str(REPO)}
    paths.update(p for p in sys.path if p and os.path.isdir(p))
    return sorted(os.path.realpath(p) for p in paths)


def run_as_user(cmd: list[str], cwd: Path, timeout: float = 600, env: dict | None = None,
                folders: tuple[Path, ...] = ()) -> subprocess.CompletedProcess:
    """Run cmd as the ordinary user and return the completed process (text output);
    `folders` (submissions, outputs) are made reachable too."""
    uid, gid = user_ids()
    needed = needed_paths() + [str(cwd)] + [os.path.realpath(f) for f in folders]
    blocked = confine.blocked_for(uid, needed)

    def become_user() -> None:
        confine.expose(blocked, needed)
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)

    environment = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(cwd),
                   "TMPDIR": str(cwd), **(env or {})}
    return subprocess.run(cmd, cwd=cwd, env=environment, preexec_fn=become_user,
                          capture_output=True, text=True, timeout=timeout)


def user_folder(path: Path) -> Path:
    """A folder the ordinary user owns (for submissions and outputs)."""
    uid, gid = user_ids()
    path.mkdir(parents=True, exist_ok=True)
    stack = [str(path)]
    while stack:  # iterative: submissions may be thousands of folders deep
        folder = stack.pop()
        os.lchown(folder, uid, gid)
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    os.lchown(entry.path, uid, gid)
    return path
