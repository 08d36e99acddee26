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
    close((expected * (1 + rtol / 3)).to(dtype), expected, "within", dtype=dtype)
    with pytest.raises(Fail, match="values differ"):
        close((expected * (1 + 3 * rtol)).to(dtype), expected, "beyond rtol", dtype=dtype)
    zeros = torch.zeros(3, 4, dtype=torch.float64)
    close(torch.full((3, 4), atol / 3, dtype=dtype), zeros, "within atol", dtype=dtype)
    with pytest.raises(Fail, match="values differ"):
        close(torch.full((3, 4), 3 * atol, dtype=dtype), zeros, "beyond atol", dtype=dtype)


def test_the_tolerance_is_the_inputs_dtype_not_the_answers() -> None:
    """Issue 18.4: a float32 answer to float64 inputs is held to float64's tolerance."""
    expected = torch.linspace(1.0, 4.0, 12, dtype=torch.float64).reshape(3, 4)
    answer = (expected * (1 + 3e-5)).to(torch.float32)
    close(answer, expected, "float32 inputs", dtype=torch.float32)
    with pytest.raises(Fail, match="values differ"):
        close(answer, expected, "float64 inputs", dtype=torch.float64)


def test_close_rejects_a_wrong_shape_before_comparing() -> None:
    with pytest.raises(Fail, match=r"expected shape \(3, 4\), got \(4, 3\)"):
        close(torch.zeros(4, 3), torch.zeros(3, 4, dtype=torch.float64), "Y",
              dtype=torch.float32)


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


# ------------------------------------------------------------------ tolerance by section
# Issue 18.4, end to end: each section's value cases answered by a fake student process
# that computes the right result and returns it (a) as it should, (b) off by a relative
# 3e-5 and cast to float32 whatever the inputs were. (b) passes float32 value cases and must
# fail every float64 one: the wrong dtype buys no slack.


class _Answers:
    """The student's side of a session: the reference, optionally spoiled."""

    def __init__(self, spoil: bool) -> None:
        self.spoil = spoil
        self.dtypes: set[torch.dtype] = set()

    def _out(self, value: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        self.dtypes.add(like.dtype)
        if not self.spoil:
            return value.to(like.dtype)
        return (value.double() * (1 + 3e-5)).to(torch.float32)

    def caller(self, module: str, budget: float):
        def call(fn, args, no_autograd=False, keep=()):
            if fn == hidden_tests.CC:
                X, K = args
                return CallResult(True, value=self._out(hidden_tests.ref_cc(X, K), X),
                                  args_after=list(args))
            x, gamma, beta, param = args
            eps = param.get("eps", 1e-5)
            if param["mode"] == "train":
                mean, var = hidden_tests.batch_stats(x)
            else:
                mean, var = param["running_mean"], param["running_var"]
            out = hidden_tests.ref_bn(x, gamma, beta, mean, var, eps)
            return CallResult(True, value=(self._out(out, x), None), args_after=list(args))
        return call


# section -> (test, the dtype of each of its cases)
VALUE_TESTS = {
    "cross_correlation": ("cc_values_square", [torch.float32, torch.float32, torch.float64]),
    "spatial_batchnorm": ("bn_forward_values", [torch.float32, torch.float64, torch.float32]),
}


@pytest.mark.parametrize("section", sorted(VALUE_TESTS))
@pytest.mark.parametrize("spoil", [False, True], ids=["correct", "float32_with_3e-5_error"])
def test_value_cases_use_the_tolerance_of_the_inputs(section: str, spoil: bool) -> None:
    name, dtypes = VALUE_TESTS[section]
    test = hidden_tests.TESTS[name]
    assert [case[-1] for case in test.cases] == dtypes  # the cases this test is about
    session = _Answers(spoil)
    outcome = grade.run_hidden_test(test, session, 1, 5.0)
    assert session.dtypes == {torch.float32, torch.float64}
    if not spoil:  # correct, in the inputs' dtype: float32 and float64 cases pass
        assert outcome.fraction == 1.0, outcome.message
    else:  # float32 cases pass at float32 tolerance; float64 cases fail at float64's
        passing = sum(d == torch.float32 for d in dtypes)
        assert outcome.fraction == passing / len(dtypes), outcome.message
        assert "values differ" in outcome.message


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
    outcome = grade.run_hidden_test(OUTPUT_SHAPE, session, 7, 10.0)
    assert session.calls == SHAPES[:2]
    assert outcome.fraction == 0.25
    assert outcome.timed_out is (how == "timed_out")
    assert outcome.message.startswith("1 of 4 checks passed")


def test_a_failed_case_does_not_end_its_test() -> None:
    """The control: a wrong answer on the second case costs that case only."""
    session = FakeSession({2: CallResult(True, value=torch.zeros(1, 1))})
    outcome = grade.run_hidden_test(OUTPUT_SHAPE, session, 7, 10.0)
    assert session.calls == SHAPES
    assert outcome.fraction == 0.75 and not outcome.timed_out
    assert outcome.message.startswith("3 of 4 checks passed")
    assert "expected shape (4, 4), got (1, 1)" in outcome.message


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_nan_or_inf_answer_is_a_failed_case_not_a_grader_error(bad: float) -> None:
    """Red team: an all-NaN answer (an honest 0/0 bug) made the judge raise IndexError, so
    the whole submission became a grader error on every regrade."""
    expected = torch.ones(2, 3, dtype=torch.float64)
    with pytest.raises(hidden_tests.Fail, match=r"largest error inf at index \(0, 0\)"):
        hidden_tests.close(torch.full((2, 3), bad), expected, "Y", dtype=torch.float32)
