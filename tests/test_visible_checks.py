"""The visible checks (selfcheck.py, the one list the notebook's check cells also run), run as
a student runs them on a copy of a submission: the reference passes all of them, the stubs
are reported unfinished without a traceback, and realistic bugs each fail the check written
for them. The summary line never claims more than was checked."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import build
from tests.variants import all_variants, make_submission

N_CHECKS = 11
STATUS = re.compile(r"^(PASS|FAIL|NOT IMPLEMENTED) +(.+)$", re.M)

#: Each bug variant and the title (its start) of the visible check that must catch it.
BUG_CHECKS = {
    "bn_test_mode_uses_batch_stats": "spatial_batchnorm_forward: test mode on a shifted batch",
    "bn_momentum_swapped": "spatial_batchnorm_forward: running statistics after one momentum",
    "cc_default_dtype_output": "cross_corr_2d: float64 in, float64 out",
    "cc_as_strided_assumes_contiguous": "cross_corr_2d: non-contiguous inputs",
}
VARIANTS = {v.name: v for v in all_variants("bugs")}


def run_selfcheck(folder: Path) -> subprocess.CompletedProcess:
    """`python selfcheck.py` in the submission folder, as a student runs it."""
    return subprocess.run([sys.executable, "selfcheck.py"], cwd=folder, capture_output=True,
                          text=True, timeout=180)


def statuses(stdout: str) -> dict[str, str]:
    found = STATUS.findall(stdout)
    assert len(found) == N_CHECKS, stdout
    return {title.strip(): status for status, title in found}


def summary(stdout: str) -> str:
    [line] = [s for s in stdout.splitlines() if "visible checks passed" in s]
    # Never "all checks pass": the hidden tests use other inputs.
    assert "all" not in line.lower().split("(")[0], line
    assert "hidden tests use other inputs" in line, line
    return line


def test_reference_passes_every_visible_check(tmp_path: Path) -> None:
    sub = make_submission(tmp_path / "hw1", None)
    done = run_selfcheck(sub)
    assert done.returncode == 0, done.stdout + done.stderr
    assert set(statuses(done.stdout).values()) == {"PASS"}
    assert summary(done.stdout).startswith(f"{N_CHECKS} of {N_CHECKS} visible checks passed")
    assert "Traceback" not in done.stdout + done.stderr


def test_stubs_are_not_implemented_without_a_traceback(tmp_path: Path) -> None:
    dest = tmp_path / "hw1"
    build.release(dest)
    done = run_selfcheck(dest)
    assert done.returncode == 1, done.stdout + done.stderr
    assert set(statuses(done.stdout).values()) == {"NOT IMPLEMENTED"}
    assert summary(done.stdout).startswith(f"0 of {N_CHECKS} visible checks passed")
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize("name", sorted(BUG_CHECKS))
def test_bug_fails_its_named_check(tmp_path: Path, name: str) -> None:
    sub = make_submission(tmp_path / "hw1", VARIANTS[name])
    done = run_selfcheck(sub)
    assert done.returncode == 1, done.stdout + done.stderr
    found = statuses(done.stdout)
    [title] = [t for t in found if t.startswith(BUG_CHECKS[name])]
    assert found[title] == "FAIL", done.stdout
    passed = sum(status == "PASS" for status in found.values())
    assert passed < N_CHECKS
    assert summary(done.stdout).startswith(f"{passed} of {N_CHECKS} visible checks passed")
    assert "Traceback" not in done.stdout + done.stderr
