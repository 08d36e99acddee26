"""The hidden tests run inside the notebook's kernel, as stock nbgrader grades them.

The benchmark's stock-nbgrader baseline (``benchmarks/stock_nbgrader.py``) gives every
hidden test of ``autograder/grading/hidden_tests.py`` its own test cell, which calls
``hidden_test(name, globals())`` below. It runs the very same cases and partial credit as
the isolated grader (``grade.run_hidden_test``), but calls the student's ``source/``
modules directly in the kernel, the way an nbgrader assert cell does: no sandbox, no
static or run-time checks for forbidden calls, no time limit but nbgrader's own.

The cell's grade follows nbgrader's ``determine_grade``: an error is 0 points, an
``execute_result`` that is a number is partial credit, so a test that passes none of its
cases raises ``AssertionError`` and any other returns its points.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import sys
import tempfile
import warnings
from pathlib import Path

from autograder import points, warmup
from autograder.grading import grade
from autograder.grading.sandbox import CallResult, copy_submission_source


class LocalSession:
    """What ``grade.run_hidden_test`` needs of a session, with the student's functions
    called in this process instead of a sandboxed child."""

    def caller(self, module: str, budget: float):
        def call(fn: str, args: list, no_autograd: bool = False, keep=()) -> CallResult:
            try:
                student = importlib.import_module(f"source.{module}")
            except Exception as exc:  # noqa: BLE001 -- a broken module fails the test
                return CallResult(False, error=_error(exc), stage="import")
            args = copy.deepcopy(args)  # the test keeps its own copies to compare with
            try:
                value = getattr(student, fn)(*args)
            except Exception as exc:  # noqa: BLE001 -- student code may raise anything
                return CallResult(False, error=_error(exc), stage="call")
            return CallResult(True, value=value, args_after=args, stage="call")
        return call


_SEEDS: dict[str, int] = {}


def submission_seed(folder: Path) -> int:
    """The seed ``grade`` uses for this submission's inputs: ``grade.derive_seed`` over the
    same copy of source/ the sandbox grades (compiled files and oversized files left out,
    so the kernel's own __pycache__ does not change it). Taken once per kernel."""
    key = str(Path(folder).resolve())
    if key not in _SEEDS:
        with tempfile.TemporaryDirectory(prefix="stock-seed-") as tmp:
            copy_submission_source(Path(folder), Path(tmp))
            _SEEDS[key] = grade.derive_seed(grade.DEFAULT_SEED, Path(tmp))
    return _SEEDS[key]


def _error(exc: BaseException) -> dict:
    return {"type": type(exc).__name__, "message": str(exc)[:300]}


def _warmup_e(namespace: dict) -> tuple[float, str]:
    """(e) from the kernel's ``answer_e``, with the same key and label rules as the grader."""
    answer = namespace.get(warmup.ANSWER_NAME)
    if not isinstance(answer, dict):
        return 0.0, "answer_e is not a dict"
    given = {warmup.reader.panel_key(k): v for k, v in answer.items()}
    right = sum(warmup.reader.normalize_label(given.get(p)) == warmup.PANEL_LABELS[p]
                for p in warmup.PANELS)
    return right / len(warmup.PANELS), f"{right} of {len(warmup.PANELS)} panels right"


def hidden_test(name: str, namespace: dict) -> float:
    """Run hidden test `name` in this kernel; its points, or AssertionError for none."""
    max_points = points.TESTS[name][1]
    # Anything on stderr (a warning included) would make nbgrader give the cell 0 points.
    with warnings.catch_warnings(), contextlib.redirect_stderr(sys.stdout):
        warnings.simplefilter("ignore")
        if name == "warmup_e_learning_rates":
            fraction, message = _warmup_e(namespace)
        else:
            test = grade.hidden_tests.TESTS[name]
            fraction, message, _, _ = grade.run_hidden_test(
                test, LocalSession(), submission_seed(Path.cwd()),
                grade.DEFAULT_TEST_TIMEOUT)
    if fraction <= 0:
        raise AssertionError(f"{name}: {message}")
    print(f"{name}: {message}")
    return round(fraction * max_points, 4)
