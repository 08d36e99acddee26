"""Self-check for homework 1: the visible checks, in one list.

This file is the one list of visible checks. The notebook's check cells run groups of them
(``run_checks("cc_float64", ...)``), and the command

    python selfcheck.py

run from a terminal in the homework folder, or the last cell of the notebook
(``%run selfcheck.py``), runs all of them. Each check prints PASS, FAIL or NOT IMPLEMENTED
with a message that says what is wrong and where to look. The exit status is 0 only when
every visible check passes. The last check reads your answer to warm-up question (e) from
the *saved* notebook, the way the grader reads it, and prints what will be graded: save the
notebook first.

These are not the hidden tests that grade your submission: those use other inputs and
look at more properties. Passing here is a good sign, not a guarantee.

The checks may use torch's own convolution and autograd as a reference: this file is not
graded code. Your code in source/ may not (the notebook says what it may use).
"""

from __future__ import annotations

import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    # Import the source/ package next to this file, wherever the command is run from.
    sys.path.insert(0, str(HERE))

import torch  # noqa: E402

SECONDS_PER_CHECK = 20
#: Largest relative error that the gradient checks accept. With the step h = 1e-5 of
#: source/gradcheck.py a correct backward stays near 1e-8 here, so this leaves more than a
#: tenfold margin for other correct ways of writing it.
GRADIENT_TOLERANCE = 1e-6


class CheckFailed(AssertionError):
    """A visible check found a wrong result; the message says what was expected."""


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def expect_tensor(name: str, got: object, shape: tuple[int, ...], dtype: torch.dtype,
                  context: str) -> torch.Tensor:
    """got is a tensor of this shape and dtype; checked before any value is compared."""
    if not isinstance(got, torch.Tensor):
        raise CheckFailed(f"{name} should be a torch.Tensor of shape {shape} ({context}), "
                          f"but it is {type(got).__name__}")
    expect(tuple(got.shape) == shape,
           f"{name} should have shape {shape} ({context}), got {tuple(got.shape)}")
    expect(got.dtype == dtype,
           f"{name} should have dtype {dtype}, the dtype of the input, got {got.dtype}"
           + _DTYPE_HINT.get(got.dtype, ""))
    return got


_DTYPE_HINT = {
    torch.float32: (" (torch.zeros, torch.empty and torch.tensor without dtype= make float32: "
                    "pass dtype=X.dtype, or use zeros_like / new_zeros)"),
    torch.float64: (" (numpy arrays are float64 by default: convert back with "
                    ".to(X.dtype))"),
}


def _differs(got: torch.Tensor, want: torch.Tensor, rtol: float, atol: float) -> str:
    """'' when close, else where the largest difference is."""
    a, e = got.detach().double(), want.detach().double()
    if torch.allclose(a, e, rtol=rtol, atol=atol):
        return ""
    err = torch.nan_to_num((a - e).abs(), nan=float("inf"))
    where = tuple(int(i) for i in torch.nonzero(err == err.max())[0])
    return (f"largest difference {err.max():.3g} at index {where}: expected "
            f"{e[where]:.6g}, got {a[where]:.6g}")


def _rounded(t: torch.Tensor) -> list:
    return [round(v, 5) for v in t.double().tolist()]


def _cc_reference(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """torch's conv2d computes a cross-correlation: the checker's reference, in float64."""
    return torch.nn.functional.conv2d(X.double()[None, None], K.double()[None, None])[0, 0]


# --- cross-correlation -------------------------------------------------------------------

def check_cc_worked_example() -> None:
    from source.cross_correlation import cross_corr_2d

    X = torch.tensor([[0.0, 5.0, 8.0], [2.0, -1.0, 4.0], [4.0, 3.0, 7.0]])
    K = torch.tensor([[5.0, -1.0], [3.0, 1.0]])
    want = torch.tensor([[0.0, 18.0], [26.0, 7.0]])
    Y = expect_tensor("cross_corr_2d(X, K)", cross_corr_2d(X, K), (2, 2), X.dtype,
                      "3x3 input, 2x2 kernel")
    expect(torch.allclose(Y.double(), want.double()),
           f"expected {want.tolist()}, got {Y.tolist()}")


def check_cc_non_square() -> None:
    from source.cross_correlation import cross_corr_2d

    X = torch.arange(24.0).reshape(4, 6)  # the output (3, 4) is not square either
    K = torch.zeros(2, 3)
    K[1, 2] = 1.0  # one tap at row 1, column 2: the output is X shifted by (1, 2)
    Y = expect_tensor("cross_corr_2d(X, K)", cross_corr_2d(X, K), (3, 4), X.dtype,
                      "(4, 6) input and (2, 3) kernel: (H - kh + 1, W - kw + 1)")
    want = X[1:, 2:]
    if not torch.equal(Y, want):
        hint = ""
        if torch.equal(Y, X[:-1, :-2]):
            hint = " (the kernel looks flipped: that is a convolution, not a cross-correlation)"
        raise CheckFailed(f"a kernel with a single 1 at row 1, column 2 should copy X shifted "
                          f"by (1, 2): expected {want.tolist()}, got {Y.tolist()}{hint}")


def check_cc_float64() -> None:
    from source.cross_correlation import cross_corr_2d

    gen = torch.Generator().manual_seed(2)
    X = torch.randn(5, 7, generator=gen, dtype=torch.float64)
    K = torch.randn(3, 2, generator=gen, dtype=torch.float64)
    X_before, K_before = X.clone(), K.clone()
    Y = expect_tensor("cross_corr_2d(X, K)", cross_corr_2d(X, K), (3, 6), torch.float64,
                      "float64 (5, 7) input and (3, 2) kernel; float64 in, float64 out")
    expect(torch.equal(X, X_before) and torch.equal(K, K_before),
           "X or K was modified: work on new tensors, not in place on the inputs or on "
           "views of them")
    far = _differs(Y, _cc_reference(X, K), rtol=1e-10, atol=1e-12)
    expect(not far, f"float64 values are off ({far}); an error near 1e-7 means the "
                    "computation went through float32 somewhere")


def check_cc_non_contiguous() -> None:
    from source.cross_correlation import cross_corr_2d

    gen = torch.Generator().manual_seed(3)
    # Transposed views, X with a storage offset too: valid tensors whose rows are not next
    # to each other in memory.
    X = torch.randn(8, 6, generator=gen, dtype=torch.float64)[1:].T  # shape (6, 7)
    K = torch.randn(2, 3, generator=gen, dtype=torch.float64).T      # shape (3, 2)
    Y = expect_tensor("cross_corr_2d(X, K)", cross_corr_2d(X, K), (4, 6), torch.float64,
                      "X of shape (6, 7) and K of shape (3, 2), both transposed views")
    far = _differs(Y, _cc_reference(X, K), rtol=1e-10, atol=1e-12)
    if far:
        hint = ""
        # What code that assumes row-major strides reads: the raw memory, not the view.
        rowmajor = X.as_strided(X.shape, (X.shape[1], 1))
        if not _differs(Y, _cc_reference(rowmajor, K), rtol=1e-10, atol=1e-12):
            hint = (": your result is that of X read as if it were stored row by row. "
                    "Inputs may be non-contiguous views: take strides from X.stride() and "
                    "X.storage_offset(), or call .contiguous() first")
        raise CheckFailed(f"wrong values for non-contiguous inputs (X[1:].T, K.T): {far}"
                          + (hint or "; compare with the same inputs after .contiguous()"))


# --- batch normalization ------------------------------------------------------------------

def _batch(dtype: torch.dtype = torch.float64, shift: float = 7.0
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    x = 3 * torch.randn(4, 3, 5, 6, generator=gen, dtype=torch.float64) + shift
    gamma = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    beta = torch.tensor([0.0, -1.0, 4.0], dtype=torch.float64)
    return x.to(dtype), gamma.to(dtype), beta.to(dtype)


def _forward(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, bn_param: dict,
             what: str = "spatial_batchnorm_forward") -> torch.Tensor:
    """out of the student's forward, after checking that it returned (out, cache)."""
    from source.batchnorm import batchnorm_forward, spatial_batchnorm_forward

    forward = spatial_batchnorm_forward if what == "spatial_batchnorm_forward" else \
        batchnorm_forward
    result = forward(x, gamma, beta, bn_param)
    expect(isinstance(result, tuple) and len(result) == 2,
           f"{what} should return a tuple (out, cache), got {type(result).__name__}")
    return expect_tensor("out", result[0], tuple(x.shape), x.dtype, "the shape of x")


def check_bn_train_statistics() -> None:
    x, gamma, beta = _batch()
    out = _forward(x, gamma, beta, {"mode": "train"})
    means = out.mean(dim=(0, 2, 3))
    stds = out.std(dim=(0, 2, 3), correction=0)
    expect(torch.allclose(means, beta, atol=1e-6),
           f"in train mode channel c should have mean beta[c] = {beta.tolist()}, got "
           f"{_rounded(means)}; the statistics are per channel, over N, H and W")
    expect(torch.allclose(stds, gamma, atol=1e-3),
           f"in train mode channel c should have standard deviation gamma[c] = "
           f"{gamma.tolist()}, got {_rounded(stds)}")


def check_bn_running_one_step() -> None:
    x, gamma, beta = _batch()
    mean, var = x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), correction=0)
    zeros = torch.zeros(3, dtype=torch.float64)
    given_mean = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    given_var = torch.tensor([2.0, 0.5, 3.0], dtype=torch.float64)
    cases = (("from absent running statistics (zeros) with the default momentum 0.9",
              {"mode": "train"}, zeros, zeros, 0.9),
             ("from given running statistics with momentum 0.7",
              {"mode": "train", "momentum": 0.7, "running_mean": given_mean.clone(),
               "running_var": given_var.clone()}, given_mean, given_var, 0.7))
    for when, bn_param, old_mean, old_var, m in cases:
        _forward(x, gamma, beta, bn_param)
        for key, old, stat, what in (("running_mean", old_mean, mean, "mean"),
                                     ("running_var", old_var, var, "biased variance")):
            expect(key in bn_param, f"after a train step bn_param should hold {key!r} "
                                    f"(written back into the dict); it has {sorted(bn_param)}")
            got = expect_tensor(f"bn_param[{key!r}]", bn_param[key], (3,), x.dtype,
                                "one value per channel")
            want = m * old + (1 - m) * stat
            if _differs(got, want, rtol=1e-9, atol=1e-12):
                hint = ""
                if not _differs(got, (1 - m) * old + m * stat, rtol=1e-9, atol=1e-12):
                    hint = (" Yours is (1 - momentum) * old + momentum * batch: the weights "
                            "are swapped (momentum is the weight of the old value).")
                elif key == "running_var" and not _differs(
                        got, m * old + (1 - m) * x.var(dim=(0, 2, 3)), rtol=1e-9, atol=1e-12):
                    hint = " Yours uses the unbiased variance; the spec asks for the biased one."
                raise CheckFailed(
                    f"after one train step {when}, {key} should be momentum * old + "
                    f"(1 - momentum) * batch {what} = {_rounded(want)}, got {_rounded(got)}."
                    + hint)


def check_bn_test_mode() -> None:
    # A float32 batch from a distribution far from the running statistics: test mode must
    # use bn_param's running_mean and running_var, whatever the batch looks like.
    x, gamma, beta = _batch(torch.float32, shift=12.0)
    running_mean = torch.tensor([7.0, 6.0, 8.0])
    running_var = torch.tensor([9.0, 4.0, 16.0])
    bn_param = {"mode": "test", "running_mean": running_mean.clone(),
                "running_var": running_var.clone()}
    out = _forward(x, gamma, beta, bn_param)
    shape = (1, -1, 1, 1)
    xd = x.double()
    want = (gamma.double().view(shape) * (xd - running_mean.double().view(shape))
            / torch.sqrt(running_var.double().view(shape) + 1e-5) + beta.double().view(shape))
    far = _differs(out, want, rtol=1e-4, atol=1e-4)
    if far:
        mean = xd.mean(dim=(0, 2, 3), keepdim=True)
        var = xd.var(dim=(0, 2, 3), correction=0, keepdim=True)
        own = gamma.double().view(shape) * (xd - mean) / torch.sqrt(var + 1e-5) \
            + beta.double().view(shape)
        hint = ""
        if not _differs(out, own, rtol=1e-4, atol=1e-4):
            hint = (": your output is normalized with the batch's own statistics. In test "
                    "mode use bn_param['running_mean'] and bn_param['running_var']")
        raise CheckFailed(f"test-mode output on a batch with mean about 12 and running "
                          f"statistics {running_mean.tolist()} / {running_var.tolist()}: "
                          f"{far}{hint}")
    for key, before in (("running_mean", running_mean), ("running_var", running_var)):
        expect(torch.equal(bn_param.get(key), before),
               f"test mode changed bn_param[{key!r}]: only train mode updates the running "
               "statistics")


def check_bn_invalid_mode() -> None:
    x, gamma, beta = _batch()
    from source.batchnorm import spatial_batchnorm_forward

    try:
        spatial_batchnorm_forward(x, gamma, beta, {"mode": "eval"})
    except ValueError:
        return
    raise CheckFailed("bn_param['mode'] = 'eval' was accepted: only 'train' and 'test' are "
                      "valid, anything else must raise ValueError")


def _gradient_check(forward: Callable, backward: Callable, shape: tuple[int, ...],
                    seed: int) -> str:
    """Analytic gradients of a batch-norm pair against central differences, in float64."""
    from source.gradcheck import eval_numerical_gradient_array, rel_error

    gen = torch.Generator().manual_seed(seed)
    channels = shape[1]
    # Random gamma and dout: gamma = 1 and dout = ones hide some mistakes.
    x = 2 * torch.randn(*shape, generator=gen, dtype=torch.float64) + 1
    gamma = torch.randn(channels, generator=gen, dtype=torch.float64)
    beta = torch.randn(channels, generator=gen, dtype=torch.float64)
    dout = torch.randn(*shape, generator=gen, dtype=torch.float64)

    def out(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        return forward(x, gamma, beta, {"mode": "train"})[0]

    result = forward(x, gamma, beta, {"mode": "train"})
    expect(isinstance(result, tuple) and len(result) == 2,
           f"{forward.__name__} should return a tuple (out, cache)")
    grads = backward(dout, result[1])
    expect(isinstance(grads, tuple) and len(grads) == 3,
           f"{backward.__name__} should return a tuple (dx, dgamma, dbeta)")
    numeric = {
        "dx": eval_numerical_gradient_array(lambda v: out(v, gamma, beta), x, dout),
        "dgamma": eval_numerical_gradient_array(lambda v: out(x, v, beta), gamma, dout),
        "dbeta": eval_numerical_gradient_array(lambda v: out(x, gamma, v), beta, dout),
    }
    errors = []
    for (name, num), got in zip(numeric.items(), grads):
        expect_tensor(name, got, tuple(num.shape), torch.float64,
                      f"the shape of {name[1:]}; float64 in, float64 out")
        error = rel_error(got, num)
        expect(error < GRADIENT_TOLERANCE,
               f"{name} differs from the numerical gradient: relative error {error:.2e}, "
               f"above {GRADIENT_TOLERANCE:.0e} (a correct backward gives about 1e-8 or "
               "less). check_graph_gradients in the notebook finds the first wrong step")
        errors.append(f"{name} {error:.1e}")
    return "relative errors: " + ", ".join(errors)


def check_bn_vanilla_gradients() -> str:
    from source.batchnorm import batchnorm_backward, batchnorm_forward

    return _gradient_check(batchnorm_forward, batchnorm_backward, (6, 4), seed=4)


def check_bn_spatial_gradients() -> str:
    from source.batchnorm import spatial_batchnorm_backward, spatial_batchnorm_forward

    return _gradient_check(spatial_batchnorm_forward, spatial_batchnorm_backward,
                           (2, 3, 3, 2), seed=1)


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


@dataclass(frozen=True)
class Check:
    """One visible check: a name to run it by, a title to print, and the check itself."""

    name: str
    title: str
    run: Callable[[], str | None]


CHECKS: list[Check] = [
    Check("cc_worked_example", "cross_corr_2d: worked example of the notebook",
          check_cc_worked_example),
    Check("cc_non_square", "cross_corr_2d: non-square input and kernel, kernel not flipped",
          check_cc_non_square),
    Check("cc_float64", "cross_corr_2d: float64 in, float64 out, inputs unchanged",
          check_cc_float64),
    Check("cc_non_contiguous", "cross_corr_2d: non-contiguous inputs (transposed views)",
          check_cc_non_contiguous),
    Check("bn_train_statistics",
          "spatial_batchnorm_forward: per-channel mean and std in train mode",
          check_bn_train_statistics),
    Check("bn_running_one_step",
          "spatial_batchnorm_forward: running statistics after one momentum step",
          check_bn_running_one_step),
    Check("bn_test_mode",
          "spatial_batchnorm_forward: test mode on a shifted batch uses the running statistics",
          check_bn_test_mode),
    Check("bn_invalid_mode", "spatial_batchnorm_forward: an unknown mode is a ValueError",
          check_bn_invalid_mode),
    Check("bn_vanilla_gradients",
          "batchnorm_backward: (N, D) float64 numerical gradient check",
          check_bn_vanilla_gradients),
    Check("bn_spatial_gradients",
          "spatial_batchnorm_backward: float64 numerical gradient check",
          check_bn_spatial_gradients),
    Check("answer_e", "warm-up (e): the saved answer, read as the grader reads it",
          check_answer_e),
]
BY_NAME = {check.name: check for check in CHECKS}


# --- the backward, one node of the graph at a time (used by the notebook) -----------------

#: The nodes of the (N, D) batch-norm forward, from the output back to x: for each, the
#: nodes that use it (its gradient adds up what comes back from each of them) and the step
#: of the forward where its gradient comes from.
GRAPH: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("beta", ("out",), "out = gamma * xhat + beta"),
    ("gamma", ("out",), "out = gamma * xhat + beta"),
    ("xhat", ("out",), "out = gamma * xhat + beta"),
    ("s", ("xhat",), "xhat = xc * s"),
    ("var", ("s",), "s = (var + eps) ** -0.5"),
    ("xc", ("xhat", "var"), "xhat = xc * s and var = mean over the batch of xc ** 2 "
                            "(two paths: add them)"),
    ("mu", ("xc",), "xc = x - mu"),
    ("x", ("xc", "mu"), "xc = x - mu and mu = mean over the batch of x (two paths: add them)"),
)


def graph_nodes(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor,
                eps: float = 1e-5) -> dict[str, torch.Tensor | float]:
    """Every value of the (N, D) train-mode forward, by its name in the graph."""
    nodes: dict = {"x": x, "gamma": gamma, "beta": beta, "eps": eps}
    nodes["mu"] = x.sum(dim=0) / x.shape[0]
    nodes["xc"] = x - nodes["mu"]
    nodes["var"] = (nodes["xc"] ** 2).sum(dim=0) / x.shape[0]
    nodes["s"] = (nodes["var"] + eps) ** -0.5
    nodes["xhat"] = nodes["xc"] * nodes["s"]
    nodes["out"] = gamma * nodes["xhat"] + beta
    return nodes


def graph_case() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A small float64 case, (N, D) = (5, 3), with random gamma and dout."""
    gen = torch.Generator().manual_seed(5)
    x = 2 * torch.randn(5, 3, generator=gen, dtype=torch.float64) + 1
    gamma = torch.randn(3, generator=gen, dtype=torch.float64)
    beta = torch.randn(3, generator=gen, dtype=torch.float64)
    dout = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    return x, gamma, beta, dout


def _graph_autograd(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor,
                    dout: torch.Tensor, eps: float) -> dict[str, torch.Tensor]:
    """The gradient of sum(out * dout) at every node, by torch's autograd (the oracle)."""
    leaves = {k: t.detach().clone().requires_grad_() for k, t in
              (("x", x), ("gamma", gamma), ("beta", beta))}
    nodes = graph_nodes(leaves["x"], leaves["gamma"], leaves["beta"], eps)
    inner = [nodes[name] for name, _, _ in GRAPH if name not in leaves]
    for node in inner:
        node.retain_grad()
    nodes["out"].backward(dout)
    return {name: nodes[name].grad.detach() for name, _, _ in GRAPH}


def check_graph_gradients(staged_backward: Callable) -> None:
    """Compare the gradient at every node of your staged backward with torch's autograd.

    ``staged_backward(dout, nodes)`` gets the upstream gradient and the dict of
    ``graph_nodes`` and returns a dict: the gradient of the loss with respect to each node,
    under the node's name ("beta", "gamma", "xhat", "s", "var", "xc", "mu", "x"), each of
    the node's shape; None for one not written yet. Prints one line per node and raises at
    the first wrong one, naming the step of the forward to look at.
    """
    __tracebackhide__ = True  # IPython: show the message, not this function's frames
    x, gamma, beta, dout = graph_case()
    eps = 1e-5
    grads = staged_backward(dout, graph_nodes(x, gamma, beta, eps))
    expect(isinstance(grads, dict), "staged_backward should return a dict of gradients, "
                                    f"got {type(grads).__name__}")
    want = _graph_autograd(x, gamma, beta, dout, eps)
    right, first_wrong = {"out"}, ""
    for name, users, step in GRAPH:
        got = grads.get(name)
        if got is None:
            print(f"d{name:<5} not written yet")
            continue
        problem = ""
        if not isinstance(got, torch.Tensor):
            problem = f"should be a tensor, got {type(got).__name__}"
        elif tuple(got.shape) != tuple(want[name].shape):
            problem = (f"should have the shape of {name}, {tuple(want[name].shape)}, got "
                       f"{tuple(got.shape)}")
            if got.dim() > want[name].dim():
                problem += (f" ({name} is one value per feature, used by every row of the "
                            "batch: its gradient adds up what comes back from all rows)")
        else:
            far = _differs(got, want[name], rtol=1e-7, atol=1e-9)
            if far:
                problem = f"differs from autograd ({far})"
        if not problem:
            right.add(name)
            print(f"d{name:<5} OK")
            continue
        print(f"d{name:<5} WRONG: {problem}")
        if not first_wrong:
            unchecked = [u for u in users if u not in right]
            where = (f"d{', d'.join(unchecked)} is not right yet: fix that first" if unchecked
                     else f"what comes back to it is right, so look at the step {step}")
            first_wrong = f"d{name} {problem}; {where}"
    if first_wrong:
        raise CheckFailed(first_wrong)
    if right >= {name for name, _, _ in GRAPH}:
        print("every node's gradient matches autograd: now derive the compact dx and write "
              "batchnorm_backward")


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


def _report(checks: list[Check]) -> list[tuple[Check, str, str]]:
    """Run checks in order, printing one status line each (and its message under it)."""
    results = []
    for check in checks:
        status, message = run_check(check.run)
        results.append((check, status, message))
        print(f"{status:<16} {check.title}")
        if message:
            print(f"{'':<16}   {message}")
    return results


def run_checks(*names: str) -> None:
    """Run the named visible checks (the notebook's check cells call this).

    Prints a line for each and raises when one does not pass: NotImplementedError when a
    function is not written yet, CheckFailed (an AssertionError) with the check's message
    otherwise, so that *Run All* stops at the first part that needs work.
    """
    __tracebackhide__ = True  # IPython: show the message, not this function's frames
    unknown = [name for name in names if name not in BY_NAME]
    if unknown:
        raise KeyError(f"no visible check named {unknown}; the names are {sorted(BY_NAME)}")
    results = _report([BY_NAME[name] for name in names])
    failed = [(check, message) for check, status, message in results if status == "FAIL"]
    missing = [message for _, status, message in results if status == "NOT IMPLEMENTED"]
    if failed:
        check, message = failed[0]
        raise CheckFailed(f"{check.title}: {message}")
    if missing:
        raise NotImplementedError(missing[0])
    print(f"{len(results)} of {len(results)} visible checks passed")


def main() -> bool:
    """Run every visible check and print one line each; True when all pass."""
    print("Homework 1 self-check (visible checks only; the hidden tests go further)")
    start = time.perf_counter()
    results = _report(CHECKS)
    passed = sum(status == "PASS" for _, status, _ in results)
    seconds = time.perf_counter() - start
    print(f"{passed} of {len(CHECKS)} visible checks passed ({seconds:.2f} s); the hidden "
          "tests use other inputs")
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
