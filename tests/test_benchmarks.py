"""The benchmark code runs and returns well-formed results (on tiny sizes).

No timing is asserted here: speed targets live in BENCHMARKS.md, not in unit tests.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from autograder.grading.sandbox import Limits, Sandbox
from benchmarks import run

TINY = dataclasses.replace(run.QUICK, class_size=3, stock_subset=1, marginal_n=2,
                           cc_sizes=(8,), cc_kernels=(1, 3), dtypes=(torch.float64,),
                           bn_shapes=((2, 3, 2, 2),), min_run_time=0.001)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and value >= 0


def test_cc_rows() -> None:
    rows = run.bench_cc(TINY)
    assert [(r["size"], r["k"]) for r in rows] == [(8, 1), (8, 3)]
    for row in rows:
        assert row["dtype"] == "float64"
        assert all(_number(row[k]) for k in ("ours_us", "conv2d_us", "ratio"))
        assert row["max_abs_err"] < 1e-9  # the reference agrees with conv2d


def test_bn_rows() -> None:
    (row,) = run.bench_bn(TINY)
    assert row["shape"] == [2, 3, 2, 2]
    assert all(_number(row[k]) for k in ("ours_ms", "native_ms", "ratio", "input_mb"))
    # The probe ran in its own process and reported a number for each side.
    assert _number(row["ours_peak_mb"]) and _number(row["native_peak_mb"])


@pytest.fixture(scope="module")
def sandbox():
    box = Sandbox(limits=Limits())
    box.start()
    yield box
    box.close()


def test_marginal_and_profile(sandbox: Sandbox, tmp_path: Path) -> None:
    result = run.bench_marginal(TINY, tmp_path, sandbox=sandbox)
    assert len(result["times_s"]) == 2 and _number(result["marginal_s"])
    assert result["scores"] == [42.5]  # the reference: everything but the hand-graded 22.5
    assert {g["what"] for g in result["profile"]} == {g[0] for g in run.PROFILE_GROUPS}


def test_slow_variants_per_test(sandbox: Sandbox, tmp_path: Path) -> None:
    rows = run.bench_slow(TINY, tmp_path, sandbox=sandbox, variants=("cc_double_loop",))
    names = [r["test"] for r in rows]
    assert names and all(n.startswith("cc_") for n in names)
    assert all(r["status"] == "passed" and r["limit_s"] > 0 and _number(r["headroom"])
               for r in rows)
    # The timing wrapper is removed afterwards.
    from autograder.grading import grade
    assert grade.run_hidden_test.__name__ == "run_hidden_test"


def test_make_class_mixes_kinds(tmp_path: Path) -> None:
    paths = run.make_class(tmp_path, 4)
    assert [p.name.split("-", 1)[1] for p in paths[:2]] == ["reference", "stubs"]
    assert all((p / "assignment.ipynb").is_file() and (p / "source").is_dir() for p in paths)


def test_class_grade_cli(tmp_path: Path) -> None:
    paths = run.make_class(tmp_path / "class", 2)
    result = run.grade_cli(paths, tmp_path / "out", jobs=1)
    assert result["rc"] == 0 and result["graded"] == 2 and _number(result["seconds"])


def test_stock_nbgrader_config(tmp_path: Path) -> None:
    root = run.course_root(tmp_path, stock=True)
    text = (root / "nbgrader_config.py").read_text()
    assert "execute.Execute" in text and "ClearMetadataPreprocessor" in text
    assert not (root / "submitted").exists() and (root / "master" / "hw1").is_dir()


def test_render_has_every_section() -> None:
    results = {
        "machine": {**run.machine(), "loadavg_end": None}, "git": "abc", "date": "now",
        "threads": 1,
        "class": {"size": 3, "jobs": 2,
                  "grade": {"seconds": 10.0, "rc": 0, "graded": 3, "n": 3,
                            "per_submission_s": 3.3, "error": None},
                  "nbgrader_kit": {"label": "kit", "n": 3, "seconds": None, "rc": 1,
                                   "graded": 0, "error": "boom"},
                  "nbgrader_stock": {"label": "stock", "n": 1, "seconds": 20.0, "rc": 0,
                                     "graded": 1, "error": None, "per_submission_s": 20.0,
                                     "extrapolated_class_s": 60.0},
                  "speedup_vs_stock": 6.0},
        "notebook": {"seconds": 12.0, "error": None, "code_cells": 5, "slowest_cells": []},
        "cc": [{"dtype": "float32", "size": 8, "k": 3, "ours_us": 2.0, "conv2d_us": 1.0,
                "ratio": 2.0, "max_abs_err": 0.0}],
        "bn": [{"shape": [2, 3, 2, 2], "dtype": "float32", "ours_ms": 1.0, "native_ms": 1.0,
                "ratio": 1.0, "input_mb": 0.1, "ours_peak_mb": None, "native_peak_mb": 0.2}],
    }
    text = run.render(results, "cmd")
    for heading in ("## Summary", "## 1. Grading a class", "## 2.", "## 3.", "## 4."):
        assert heading in text
    assert "`cmd`" in text and "**missed**" in text and "6.0×" in text
