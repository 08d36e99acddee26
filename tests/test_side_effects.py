"""Grading leaves no lasting trace on the instructor's checkout: as root (CI, Gradescope, a
container) the sandbox once left ``autograder/`` at mode 0750 for good. Now it changes no
mode at all (Landlock and a private mount namespace instead of chmod); this test keeps it so.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from autograder import build

REPO = Path(__file__).resolve().parents[1]


def modes(root: Path) -> dict[str, tuple[int, int, int]]:
    """(mode, uid, gid) of the repository, its top folders and everything of the grader."""
    seen = {".": root, **{p.name: p for p in root.iterdir() if p.name not in (".git", ".venv")}}
    for path in (root / "autograder").rglob("*"):
        if "__pycache__" not in path.parts:
            seen[str(path.relative_to(root))] = path
    out = {}
    for rel, path in seen.items():
        st = path.lstat()
        out[rel] = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
    return out


def test_grading_leaves_the_modes_of_the_checkout_unchanged(tmp_path):
    sub = tmp_path / "alice"
    build.solution(sub)
    before = modes(REPO)
    sub_before = {p: stat.S_IMODE(p.stat().st_mode) for p in [sub, *sub.rglob("*")]}
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(sub),
                           "--json", str(tmp_path / "out" / "g.json")],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert '"score": 42.5' in (tmp_path / "out" / "g.json").read_text()
    after = modes(REPO)
    changed = {k: (oct(before[k][0]), oct(after[k][0])) for k in before
               if k in after and before[k] != after[k]}
    assert not changed, f"grading (as uid {os.geteuid()}) changed: {changed}"
    assert stat.S_IMODE((REPO / "autograder").stat().st_mode) == before["autograder"][0]
    assert {p: stat.S_IMODE(p.stat().st_mode) for p in sub_before} == sub_before
