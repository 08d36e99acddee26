# Generated from autograder/master/hw1/selfcheck.py
# by `python -m autograder build`; do not edit.
"""Self-check for homework 1: the visible checks, in one command.

Run it from a terminal in the homework folder,

    python selfcheck.py

or from the last cell of the notebook (``%run selfcheck.py``). Each check prints PASS, FAIL
or NOT IMPLEMENTED with a message. The exit status is 0 only when every check passes.
The last check reads your answer to warm-up question (e) from the *saved* notebook, the
way the grader reads it, and prints what will be graded: save the notebook first.

These are not the hidden tests that grade your submission: those use other inputs and
look at more properties. Passing here is a good sign, not a guarantee.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    # Import the source/ package next to this file, wherever the command is run from.
    sys.path.insert(0, str(HERE))

import torch  # noqa: E402

SECONDS_PER_CHECK = 20
#: Largest relative error that the gradient check accepts. With the step h = 1e-5 of
#: source/gradcheck.py a correct backward stays near 1e-8 here, so this leaves more than a
#: tenfold margin for other correct ways of writing it.
GRADIENT_TOLERANCE = 1e-6


class CheckFailed(AssertionError):
    """A visible check found a wrong result; the message says what was expected."""


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def expect_shape(name: str, got: object, want: tuple[int, ...], context: str) -> None:
    if not isinstance(got, torch.Tensor):
        raise CheckFailed(f"{name} should be a torch.Tensor of shape {want} ({context}), "
                          f"but it is {type(got).__name__}")
    expect(tuple(got.shape) == want,
           f"{name} should have shape {want} ({context}), got {tuple(got.shape)}")


# --- the checks --------------------------------------------------------------------------

def check_worked_example() -> None:
    from source.cross_correlation import cross_corr_2d

    X = torch.tensor([[0.0, 5.0, 8.0], [2.0, -1.0, 4.0], [4.0, 3.0, 7.0]])
    K = torch.tensor([[5.0, -1.0], [3.0, 1.0]])
    want = torch.tensor([[0.0, 18.0], [26.0, 7.0]])
    Y = cross_corr_2d(X, K)
    expect_shape("cross_corr_2d(X, K)", Y, (2, 2), "3x3 input, 2x2 kernel")
    expect(torch.allclose(Y.double(), want.double()),
           f"expected {want.tolist()}, got {Y.tolist()}")


def check_non_square_shape() -> None:
    from source.cross_correlation import cross_corr_2d

    X = torch.arange(24.0).reshape(4, 6)  # the output (3, 4) is not square either
    K = torch.zeros(2, 3)
    K[1, 2] = 1.0  # one tap at row 1, column 2: the output is X shifted by (1, 2)
    Y = cross_corr_2d(X, K)
    expect_shape("cross_corr_2d(X, K)", Y, (3, 4),
                 "(4, 6) input and (2, 3) kernel: (H - kh + 1, W - kw + 1)")
    expect(Y.dtype == X.dtype, f"expected dtype {X.dtype} (the dtype of X), got {Y.dtype}")
    want = X[1:, 2:]
    if not torch.equal(Y, want):
        hint = ""
        if torch.equal(Y, X[:-1, :-2]):
            hint = " (the kernel looks flipped: that is a convolution, not a cross-correlation)"
        raise CheckFailed(f"a kernel with a single 1 at row 1, column 2 should copy X shifted "
                          f"by (1, 2): expected {want.tolist()}, got {Y.tolist()}{hint}")


def _batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    x = 3 * torch.randn(4, 3, 5, 6, generator=gen, dtype=torch.float64) + 7
    gamma = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    beta = torch.tensor([0.0, -1.0, 4.0], dtype=torch.float64)
    return x, gamma, beta


def check_train_statistics() -> None:
    from source.batchnorm import spatial_batchnorm_forward

    x, gamma, beta = _batch()
    result = spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"})
    expect(isinstance(result, tuple) and len(result) == 2,
           f"spatial_batchnorm_forward should return (out, cache), got {type(result).__name__}")
    out = result[0]
    expect_shape("out", out, tuple(x.shape), "the shape of x, (N, C, H, W)")
    means = out.mean(dim=(0, 2, 3))
    stds = out.std(dim=(0, 2, 3), correction=0)
    expect(torch.allclose(means, beta, atol=1e-6),
           f"in train mode channel c should have mean beta[c] = {beta.tolist()}, "
           f"got {[round(v, 6) for v in means.tolist()]}")
    expect(torch.allclose(stds, gamma, atol=1e-3),
           f"in train mode channel c should have standard deviation gamma[c] = "
           f"{gamma.tolist()}, got {[round(v, 6) for v in stds.tolist()]}")


def check_running_statistics() -> None:
    from source.batchnorm import spatial_batchnorm_forward

    x, gamma, beta = _batch()
    momentum = 0.8
    bn_param: dict = {"mode": "train", "momentum": momentum}
    spatial_batchnorm_forward(x, gamma, beta, bn_param)
    for key in ("running_mean", "running_var"):
        expect(key in bn_param, f"after one train step bn_param should hold {key!r}; "
                                f"it has the keys {sorted(bn_param)}")
        expect_shape(f"bn_param[{key!r}]", bn_param[key], (3,), "one value per channel")
    # Both start at zero, so after one step they hold (1 - momentum) * the batch statistic.
    batch_mean = x.mean(dim=(0, 2, 3))
    batch_var = x.var(dim=(0, 2, 3), correction=0)
    for key, stat, what in (("running_mean", batch_mean, "mean"),
                            ("running_var", batch_var, "biased variance")):
        want, got = (1 - momentum) * stat, bn_param[key].double()
        expect(torch.allclose(got, want, rtol=1e-5, atol=1e-8),
               f"after one step from zero with momentum {momentum}, {key} should be "
               f"(1 - momentum) * batch {what} = {[round(v, 5) for v in want.tolist()]}, "
               f"got {[round(v, 5) for v in got.tolist()]}")


def check_gradients() -> None:
    from source.batchnorm import spatial_batchnorm_backward, spatial_batchnorm_forward
    from source.gradcheck import eval_numerical_gradient_array, rel_error

    gen = torch.Generator().manual_seed(1)
    x = 2 * torch.randn(2, 2, 3, 3, generator=gen, dtype=torch.float64) + 1
    gamma = torch.randn(2, generator=gen, dtype=torch.float64)
    beta = torch.randn(2, generator=gen, dtype=torch.float64)
    dout = torch.randn(2, 2, 3, 3, generator=gen, dtype=torch.float64)

    def forward(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        return spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"})[0]

    _, cache = spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"})
    grads = spatial_batchnorm_backward(dout, cache)
    expect(isinstance(grads, tuple) and len(grads) == 3,
           "spatial_batchnorm_backward should return (dx, dgamma, dbeta)")
    numeric = {
        "dx": eval_numerical_gradient_array(lambda v: forward(v, gamma, beta), x, dout),
        "dgamma": eval_numerical_gradient_array(lambda v: forward(x, v, beta), gamma, dout),
        "dbeta": eval_numerical_gradient_array(lambda v: forward(x, gamma, v), beta, dout),
    }
    for (name, num), got in zip(numeric.items(), grads):
        expect_shape(name, got, tuple(num.shape), f"the shape of {name[1:]}")
        error = rel_error(got, num)
        expect(error < GRADIENT_TOLERANCE,
               f"{name} differs from the numerical gradient: relative error {error:.2e}, "
               f"above {GRADIENT_TOLERANCE:.0e} (a correct backward gives about 1e-8 or less)")


def check_answer_e() -> str:
    from read_answer_e import read_answer

    reading = read_answer(HERE / "assignment.ipynb")
    graded = f"what will be graded: {reading.summary()}"
    problems = reading.problems()
    if problems:
        raise CheckFailed(f"{graded}; to fix: " + "; ".join(problems))
    if reading.missing:
        raise NotImplementedError(f"question (e) is not answered yet ({graded}); fill in "
                                  "answer_e and save the notebook")
    return f"{graded} (right or wrong is only known after grading)"


CHECKS: list[tuple[str, Callable[[], str | None]]] = [
    ("cross_corr_2d: worked example of the notebook", check_worked_example),
    ("cross_corr_2d: non-square input and kernel", check_non_square_shape),
    ("spatial_batchnorm_forward: per-channel mean and std in train mode", check_train_statistics),
    ("spatial_batchnorm_forward: running statistics after one step", check_running_statistics),
    ("spatial_batchnorm_backward: float64 numerical gradient check", check_gradients),
    ("warm-up (e): the saved answer, read as the grader reads it", check_answer_e),
]


# --- running them ------------------------------------------------------------------------

class _TooSlow(Exception):
    pass


def _on_alarm(signum: int, frame: object) -> None:
    raise _TooSlow


def _where(err: BaseException) -> str:
    """'file:line' of the deepest frame of the student's source/ package, if any."""
    frames = [f for f in traceback.extract_tb(err.__traceback__)
              if Path(f.filename).parent.name == "source"]
    if not frames:
        return ""
    last = frames[-1]
    return f" (at source/{Path(last.filename).name}:{last.lineno})"


def run_check(check: Callable[[], str | None]) -> tuple[str, str]:
    """(status, message) of one check: PASS, FAIL or NOT IMPLEMENTED."""
    # A time limit needs SIGALRM (not on Windows) and the main thread.
    alarm = hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()
    if alarm:
        previous = signal.signal(signal.SIGALRM, _on_alarm)
        signal.alarm(SECONDS_PER_CHECK)
    try:
        note = check()
    except NotImplementedError as err:
        return "NOT IMPLEMENTED", str(err)
    except CheckFailed as err:
        return "FAIL", str(err)
    except _TooSlow:
        return "FAIL", (f"still running after {SECONDS_PER_CHECK} s on a tiny input: "
                        "look for an endless loop")
    except Exception as err:  # the student's code raised: report it, do not crash
        return "FAIL", f"raised {type(err).__name__}: {err}{_where(err)}"
    finally:
        if alarm:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
    return "PASS", note or ""


def main() -> bool:
    """Run every check and print one line each; True when all pass."""
    print("Homework 1 self-check (visible checks only; the hidden tests go further)")
    start = time.perf_counter()
    passed = 0
    for title, check in CHECKS:
        status, message = run_check(check)
        passed += status == "PASS"
        print(f"{status:<16} {title}")
        if message:
            print(f"{'':<16}   {message}")
    seconds = time.perf_counter() - start
    print(f"{passed} of {len(CHECKS)} checks pass ({seconds:.2f} s)")
    return passed == len(CHECKS)


def _in_ipython() -> bool:
    """True under `%run` in a notebook, where exiting would show a SystemExit error."""
    if "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    return get_ipython() is not None


if __name__ == "__main__":
    all_pass = main()
    if not _in_ipython():
        sys.exit(0 if all_pass else 1)
