"""The scoring rules of the hidden tests, pinned: tolerances, partial credit, and a crash
or timeout that ends its test.

The pinned verdicts (tests/variants/expected.json) catch a change in these rules only where
some variant happens to sit near a boundary; these tests sit on the boundaries themselves.
"""

from __future__ import annotations

import pytest
import torch

from autograder import points
from autograder.grading import grade, hidden_tests
from autograder.grading.hidden_tests import Fail, close
from autograder.grading.sandbox import CallResult

# DESIGN.md: float32 comparisons with rtol 1e-4, atol 1e-5; float64 far tighter.
TOLERANCES = {torch.float32: (1e-4, 1e-5), torch.float64: (1e-7, 1e-9)}


def test_tolerances_are_the_documented_ones() -> None:
    for dtype, pair in TOLERANCES.items():
        assert hidden_tests.tolerances(dtype) == pair, dtype


@pytest.mark.parametrize("dtype", list(TOLERANCES), ids=str)
def test_close_accepts_within_and_rejects_beyond_the_tolerance(dtype: torch.dtype) -> None:
    """Relative errors of a third of rtol pass; three times rtol fail, and so does an
    absolute error of three times atol on a zero (values of magnitude about 1 to 4, so
    that atol does not hide the relative error)."""
    rtol, atol = TOLERANCES[dtype]
    expected = torch.linspace(1.0, 4.0, 12, dtype=torch.float64).reshape(3, 4)
    close((expected * (1 + rtol / 3)).to(dtype), expected, "within")
    with pytest.raises(Fail, match="values differ"):
        close((expected * (1 + 3 * rtol)).to(dtype), expected, "beyond rtol")
    zeros = torch.zeros(3, 4, dtype=torch.float64)
    close(torch.full((3, 4), atol / 3, dtype=dtype), zeros, "within atol")
    with pytest.raises(Fail, match="values differ"):
        close(torch.full((3, 4), 3 * atol, dtype=dtype), zeros, "beyond atol")


def test_close_rejects_a_wrong_shape_before_comparing() -> None:
    with pytest.raises(Fail, match=r"expected shape \(3, 4\), got \(4, 3\)"):
        close(torch.zeros(4, 3), torch.zeros(3, 4, dtype=torch.float64), "Y")


@pytest.mark.parametrize("name", list(hidden_tests.TESTS))
def test_partial_credit_is_the_fraction_of_cases_passed(name: str) -> None:
    test = hidden_tests.TESTS[name]
    n = len(test.cases)
    assert [test.fraction(k) for k in range(n + 1)] == [k / n for k in range(n + 1)]
    assert points.TESTS[name][1] > 0


def test_unchanged_sees_any_modification() -> None:
    before = torch.arange(6.0).reshape(2, 3)
    hidden_tests.unchanged(before, before.clone(), "X")
    after = before.clone()
    after[1, 2] += 1.0
    with pytest.raises(Fail, match="X was modified"):
        hidden_tests.unchanged(before, after, "X")
    with pytest.raises(Fail, match="X was modified"):
        hidden_tests.unchanged(before, before.reshape(3, 2).clone(), "X")


class FakeSession:
    """Stands in for ``grade.Session``: answers each call of cross_corr_2d with zeros of the
    right shape, except on the calls numbered in ``answers`` (1-based), which get that
    ``CallResult`` instead; every call made is recorded, so a case that ran is seen."""

    def __init__(self, answers: dict[int, CallResult]):
        self.answers, self.calls = answers, []

    def caller(self, module: str, budget: float):
        def call(fn: str, args: list, no_autograd: bool = False, keep=()) -> CallResult:
            self.calls.append(tuple(tuple(a.shape) for a in args))
            X, K = args
            shape = (X.shape[0] - K.shape[0] + 1, X.shape[1] - K.shape[1] + 1)
            return self.answers.get(len(self.calls), CallResult(True, value=torch.zeros(shape)))
        return call


OUTPUT_SHAPE = hidden_tests.TESTS["cc_output_shape"]
SHAPES = [tuple(case) for case in OUTPUT_SHAPE.cases]


@pytest.mark.parametrize("how", ["crashed", "timed_out"])
def test_a_crash_or_timeout_ends_its_test(how: str) -> None:
    """The student's process died (or hung) on the second of four cases: the test scores the
    one case passed before, and its later cases are never run (a fresh process would pass
    them, which is how a submission that crashes on a hard input would earn them)."""
    assert len(SHAPES) == 4
    session = FakeSession({2: CallResult(False, **{how: True})})
    outcome = grade.run_hidden_test(OUTPUT_SHAPE, session, 7, 10.0, {})
    assert session.calls == SHAPES[:2]
    assert outcome.fraction == 0.25
    assert outcome.timed_out is (how == "timed_out")
    assert outcome.message.startswith("1 of 4 checks passed")


def test_a_failed_case_does_not_end_its_test() -> None:
    """The control: a wrong answer on the second case costs that case only."""
    session = FakeSession({2: CallResult(True, value=torch.zeros(1, 1))})
    outcome = grade.run_hidden_test(OUTPUT_SHAPE, session, 7, 10.0, {})
    assert session.calls == SHAPES
    assert outcome.fraction == 0.75 and not outcome.timed_out
    assert outcome.message.startswith("3 of 4 checks passed")
    assert "expected shape (4, 4), got (1, 1)" in outcome.message
