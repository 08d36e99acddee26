"""Hidden tests. They run in the judge, which never imports student code.

Each test is a list of *cases*; a case calls the student's functions through the sandbox
and compares with reference values computed here, at grading time, by torch's own
operators in float64. A test scores (cases passed) / (cases) of its points. A failed
case explains what was expected and what came back, never how the test is written.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy
import torch
import torch.nn.functional as F

from .sandbox import CallResult, Handle


class Fail(Exception):
    """A case failed; the message is for the student."""


class Stop(Exception):
    """The student's process timed out or died: end this test, keep the failure.

    ``timed_out`` says which, as a field: never read it back from the message, which may
    quote the student's own output."""

    def __init__(self, message: str, timed_out: bool = False):
        super().__init__(message)
        self.timed_out = timed_out


class GraderError(Exception):
    """The student's process answered, but the judge could not read the answer back.

    The grader's failure, not the student's: the test is held for review, not scored."""


@dataclass(frozen=True)
class HiddenTest:
    name: str
    module: str
    functions: tuple[str, ...]
    cases: tuple
    run: Callable

    def fraction(self, passed: int) -> float:
        """The scoring rule: a test scores (cases passed) / (cases) of its points."""
        return passed / len(self.cases) if self.cases else 0.0


class Context:
    """What a case sees: the student's functions (by call) and a seeded generator."""

    def __init__(self, caller: Callable[..., CallResult], seed: int, name: str):
        self._caller = caller
        self.gen = torch.Generator().manual_seed((seed ^ zlib.crc32(name.encode())) & 0xFFFFFFFF)
        self.forbidden: list[str] = []

    def randn(self, *shape: int, dtype=torch.float32, mean=0.0, std=1.0) -> torch.Tensor:
        return (torch.randn(*shape, generator=self.gen, dtype=torch.float64) * std + mean).to(dtype)

    def raw(self, fn: str, *args, no_autograd: bool = False, keep=()) -> CallResult:
        result = self._caller(fn, list(args), no_autograd=no_autograd, keep=keep)
        self.forbidden += result.forbidden
        if result.grader_error:
            raise GraderError(f"{fn}: {result.grader_error}")
        if result.timed_out or result.crashed:
            raise Stop(f"{fn} {result.describe()}", timed_out=result.timed_out)
        return result

    def call(self, fn: str, *args, no_autograd: bool = False, keep=()) -> CallResult:
        result = self.raw(fn, *args, no_autograd=no_autograd, keep=keep)
        if not result.ok:
            raise Fail(f"{fn} {result.describe()}")
        return result


# ----------------------------------------------------------------- checks

def _fmt(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + (",)" if len(shape) == 1 else ")")


def _not_a_tensor(value) -> str:
    """What came back instead of a tensor, in the student's own terms, and how to fix it."""
    if isinstance(value, Handle):
        return (f"an object of type {value.type_name}; return a torch.Tensor of the input's "
                "dtype and device")
    if isinstance(value, numpy.ndarray):
        return ("a numpy array; SPEC allows numpy inside the function, but the result must "
                "be a torch tensor: convert it back with torch.from_numpy(...).to(x.dtype)")
    if isinstance(value, (list, tuple)):
        return (f"a Python {type(value).__name__}; build a torch.Tensor instead (for "
                "example with torch.tensor(..., dtype=X.dtype) or torch.stack)")
    if isinstance(value, (bool, int, float, complex)):
        return (f"a Python number ({type(value).__name__}); return a torch.Tensor (a .item() "
                "or float(...) turned it into a plain number?)")
    if value is None:
        return "None (is a return statement missing?)"
    return f"{type(value).__name__}; return a torch.Tensor"


def as_tensor(value, what: str, shape: tuple | None = None, dtype=None) -> torch.Tensor:
    if isinstance(value, Handle) or not isinstance(value, torch.Tensor):
        raise Fail(f"{what}: expected a torch.Tensor, got {_not_a_tensor(value)}")
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise Fail(f"{what}: expected shape {_fmt(shape)}, got {_fmt(value.shape)}")
    if dtype is not None and value.dtype != dtype:
        raise Fail(f"{what}: expected dtype {dtype}, got {value.dtype}")
    return value


def tolerances(dtype) -> tuple[float, float]:
    return (1e-4, 1e-5) if dtype in (torch.float32, torch.float16) else (1e-7, 1e-9)


def close(actual, expected: torch.Tensor, what: str, *, dtype: torch.dtype,
          rtol: float | None = None, atol: float | None = None,
          hints: dict[str, torch.Tensor] | None = None) -> None:
    """Compare against a float64 reference; on failure say how far off, and guess why.

    `dtype` is the dtype the inputs call for (the answer should have it), and it alone sets
    the tolerance: a float32 answer to float64 inputs is held to float64's, so a wrong dtype
    costs the dtype checks and buys no slack in the value checks."""
    actual = as_tensor(actual, what, tuple(expected.shape))
    d_rtol, d_atol = tolerances(dtype)
    rtol = d_rtol if rtol is None else rtol
    atol = d_atol if atol is None else atol
    a = actual.detach().to("cpu", torch.float64)
    e = expected.detach().to("cpu", torch.float64)
    if torch.allclose(a, e, rtol=rtol, atol=atol, equal_nan=False):
        return
    # NaN and inf in the answer count as the largest error (NaN never equals a maximum).
    err = torch.nan_to_num((a - e).abs(), nan=float("inf"), posinf=float("inf"))
    where = tuple(int(i) for i in torch.nonzero(err == err.max())[0]) if err.numel() else ()
    msg = (f"{what}: values differ from the expected result (largest error {err.max():.3g} "
           f"at index {where}: expected {e[where]:.6g}, got {a[where]:.6g})")
    for hint, alt in (hints or {}).items():
        if alt.shape == a.shape and torch.allclose(a, alt.to(torch.float64), rtol=rtol, atol=atol):
            msg += f". Your result matches {hint}"
            break
    raise Fail(msg)


def unchanged(before: torch.Tensor, after, what: str) -> None:
    after = as_tensor(after, what)
    if after.shape != before.shape or not torch.equal(after.to(before.dtype), before):
        raise Fail(f"{what} was modified by your function; inputs must be left as they were "
                   "(work on new tensors instead of in-place operations)")


# ----------------------------------------------------------------- references

def ref_cc(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    return F.conv2d(X.double()[None, None], K.double()[None, None])[0, 0]


def ref_bn(x, gamma, beta, mean, var, eps):
    shape = (1, -1, 1, 1)
    x, gamma, beta = x.double(), gamma.double(), beta.double()
    return gamma.view(shape) * (x - mean.double().view(shape)) / torch.sqrt(
        var.double().view(shape) + eps) + beta.view(shape)


def batch_stats(x: torch.Tensor, unbiased: bool = False):
    x = x.double()
    return x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), correction=1 if unbiased else 0)


def ref_bn_train(x, gamma, beta, eps):
    mean, var = batch_stats(x)
    return ref_bn(x, gamma, beta, mean, var, eps)


def ref_bn_grads(x, gamma, beta, dout, eps):
    """dx, dgamma, dbeta of train-mode batch norm in float64, from the closed form.

    Not by autograd: ``torch.autograd.grad`` with a given output gradient imports sympy
    on its first call (0.5-1 s in the judge, on every ``grade``'s critical path). The
    closed form agrees with autograd to ~1e-13 (tests/test_reference.py), far inside the
    float64 tolerance of ``close``."""
    shape, dims = (1, -1, 1, 1), (0, 2, 3)
    x, dout = x.double(), dout.double()
    mean, var = batch_stats(x)
    inv = 1 / torch.sqrt(var + eps).view(shape)
    x_hat = (x - mean.view(shape)) * inv
    dbeta = dout.sum(dim=dims)
    dgamma = (dout * x_hat).sum(dim=dims)
    m = x.numel() // x.shape[1]
    dx = (gamma.double().view(shape) * inv / m
          * (m * dout - dbeta.view(shape) - x_hat * dgamma.view(shape)))
    return dx, dgamma, dbeta


# ----------------------------------------------------------------- cross-correlation

CC = "cross_corr_2d"


def _cc_values(t: Context, case) -> None:
    (h, w), (kh, kw), dtype = case
    X, K = t.randn(h, w, dtype=dtype), t.randn(kh, kw, dtype=dtype)
    Y = t.call(CC, X, K).value
    expected = ref_cc(X, K)
    hints = {"a convolution (the kernel was flipped; cross-correlation does not flip it)":
             ref_cc(X, K.flip(0, 1))}
    if kh == kw:
        hints["the result for the transposed kernel K.T"] = ref_cc(X, K.T)
    close(Y, expected, f"cross_corr_2d(X of shape {_fmt(X.shape)}, K of shape {_fmt(K.shape)})",
          dtype=dtype, hints=hints)


def _cc_worked_example(t: Context, case) -> None:
    X = torch.tensor([[0, 5, 8], [2, -1, 4], [4, 3, 7]], dtype=torch.float32)
    K = torch.tensor([[5, -1], [3, 1]], dtype=torch.float32)
    Y = t.call(CC, X, K).value
    close(Y, torch.tensor([[0.0, 18.0], [26.0, 7.0]], dtype=torch.float64),
          "the worked example of the notebook", dtype=X.dtype)


def _cc_shape(t: Context, case) -> None:
    (h, w), (kh, kw) = case
    X, K = t.randn(h, w), t.randn(kh, kw)
    Y = t.call(CC, X, K).value
    as_tensor(Y, f"cross_corr_2d(X of shape {_fmt((h, w))}, K of shape {_fmt((kh, kw))})",
              shape=(h - kh + 1, w - kw + 1))


def _cc_dtype(t: Context, case) -> None:
    dtype, device = case
    X = t.randn(6, 9, dtype=dtype).to(device)
    K = t.randn(3, 2, dtype=dtype).to(device)
    Y = as_tensor(t.call(CC, X, K).value, f"cross_corr_2d on {dtype} inputs", dtype=dtype)
    if str(Y.device) != str(X.device):
        raise Fail(f"the result is on {Y.device}, but X is on {X.device}")


def _cc_unmodified(t: Context, case) -> None:
    X, K = t.randn(7, 5, dtype=case), t.randn(3, 2, dtype=case)
    result = t.call(CC, X.clone(), K.clone())
    unchanged(X, result.args_after[0], "X")
    unchanged(K, result.args_after[1], "K")


def _cc_edge(t: Context, case) -> None:
    (h, w), (kh, kw), *layout = case
    if layout == ["views"]:
        # Transposed views with a storage offset: valid tensors that are not contiguous.
        X = t.randn(w + 1, h, dtype=torch.float64)[1:].T
        K = t.randn(kw, kh, dtype=torch.float64).T
        how = " (X and K given as transposed, non-contiguous views: do not assume "
        how += "row-major strides)"
    else:
        X = t.randn(h, w, dtype=torch.float64)
        K = t.randn(kh, kw, dtype=torch.float64)
        how = ""
    Y = t.call(CC, X, K).value
    close(Y, ref_cc(X, K), f"cross_corr_2d(X of shape {_fmt(X.shape)}, "
          f"K of shape {_fmt(K.shape)}){how}", dtype=X.dtype)


def _cc_random(t: Context, case) -> None:
    g = t.gen
    h, w = (int(torch.randint(1, 21, (1,), generator=g)) for _ in range(2))
    kh = int(torch.randint(1, h + 1, (1,), generator=g))
    kw = int(torch.randint(1, w + 1, (1,), generator=g))
    _cc_edge(t, ((h, w), (kh, kw)))


def _cc_devices() -> tuple:
    devices = [(torch.float64, "cpu"), (torch.float32, "cpu")]
    if torch.cuda.is_available():
        devices.append((torch.float32, "cuda"))
    return tuple(devices)


# ----------------------------------------------------------------- batch norm

FWD, BWD = "spatial_batchnorm_forward", "spatial_batchnorm_backward"


def _bn_inputs(t: Context, shape, dtype=torch.float32):
    n, c, h, w = shape
    # Channels with different means and spreads: a mix-up of axes cannot hide.
    mean = t.randn(c, dtype=torch.float64) * 3
    std = t.randn(c, dtype=torch.float64).abs() + 0.5
    x = (t.randn(n, c, h, w, dtype=torch.float64) * std.view(1, -1, 1, 1)
         + mean.view(1, -1, 1, 1)).to(dtype)
    gamma = (t.randn(c, dtype=torch.float64) + 1.5).to(dtype)
    beta = t.randn(c, dtype=dtype)
    return x, gamma, beta


def _forward(t: Context, x, gamma, beta, bn_param) -> tuple[torch.Tensor, object, dict]:
    result = t.call(FWD, x, gamma, beta, bn_param, keep=(1,))
    pair = _out_cache(result.value)
    if pair is None:
        raise Fail(f"{FWD} must return a tuple (out, cache), got "
                   f"{type(result.value).__name__}")
    after = result.args_after[3] if isinstance(result.args_after, list) else None
    if not isinstance(after, dict):
        raise Fail(f"{FWD}: bn_param is not a dict after the call")
    return pair[0], pair[1], after


def _out_cache(value) -> tuple | list | None:
    """The forward's (out, cache), a tuple or a list of two alike; None for anything else."""
    return value if isinstance(value, (tuple, list)) and len(value) == 2 else None


def _unbiased_hint(x, gamma, beta, eps) -> dict:
    mean, var = batch_stats(x, unbiased=True)
    mean_b, var_b = batch_stats(x)
    std = torch.sqrt(var_b).view(1, -1, 1, 1)
    eps_outside = (gamma.double().view(1, -1, 1, 1) * (x.double() - mean_b.view(1, -1, 1, 1))
                   / (std + eps) + beta.double().view(1, -1, 1, 1))
    return {"the unbiased variance (divide by N*H*W, not N*H*W - 1)":
            ref_bn(x, gamma, beta, mean, var, eps),
            "eps added outside the square root (use sqrt(var + eps))": eps_outside,
            **_layout_hints(x, gamma, beta, eps)}


def _layout_hints(x, gamma, beta, eps) -> dict:
    """Statistics over the wrong values because of a reshape that ignores the channel axis."""
    n, c, h, w = x.shape
    xd, g, b = x.double(), gamma.double(), beta.double()

    def norm(t, dim):
        mean, var = t.mean(dim=dim, keepdim=True), t.var(dim=dim, correction=0, keepdim=True)
        return (t - mean) / torch.sqrt(var + eps)

    columns = (norm(xd.reshape(-1, c), 0) * g + b).reshape(n, c, h, w)
    rows = (norm(xd.reshape(c, -1), 1) * g.view(c, 1) + b.view(c, 1)).reshape(n, c, h, w)
    per_position = norm(xd, 0) * g.view(1, c, 1, 1) + b.view(1, c, 1, 1)
    return {"x.reshape(-1, C) without moving the channels last first: in (N, C, H, W) "
            "memory a row of that reshape mixes channels; permute(0, 2, 3, 1) before "
            "reshaping, and permute back after": columns,
            "x.reshape(C, -1) without moving the channels first: in (N, C, H, W) memory a "
            "row of that reshape mixes channels and images; transpose(0, 1) first": rows,
            "statistics over N only: each channel's statistics must pool N, H and W":
            per_position}


def _bn_values(t: Context, case) -> None:
    shape, dtype = case
    x, gamma, beta = _bn_inputs(t, shape, dtype)
    out, _, _ = _forward(t, x, gamma, beta, {"mode": "train"})
    close(out, ref_bn_train(x, gamma, beta, 1e-5), f"train-mode output for x of shape "
          f"{_fmt(shape)}", dtype=dtype, hints=_unbiased_hint(x, gamma, beta, 1e-5))


def _bn_eps(t: Context, case) -> None:
    eps, std = case
    x, gamma, beta = _bn_inputs(t, (4, 3, 3, 5), torch.float64)
    x = x * std
    param = {"mode": "train"} if eps is None else {"mode": "train", "eps": eps}
    out, _, _ = _forward(t, x, gamma, beta, param)
    what = "train-mode output with " + (f"bn_param['eps'] = {eps}" if eps is not None
                                         else "the default eps (1e-5) on a small-variance batch")
    close(out, ref_bn_train(x, gamma, beta, eps or 1e-5), what, dtype=x.dtype,
          hints=_unbiased_hint(x, gamma, beta, eps or 1e-5))


def _bn_shape_dtype(t: Context, case) -> None:
    x, gamma, beta = _bn_inputs(t, (3, 4, 2, 5), case)
    out, _, _ = _forward(t, x, gamma, beta, {"mode": "train"})
    as_tensor(out, f"out for {case} input", shape=tuple(x.shape), dtype=case)


def _check_running(after: dict, mean: torch.Tensor, var: torch.Tensor, c: int, when: str):
    for key, expected in (("running_mean", mean), ("running_var", var)):
        if key not in after:
            raise Fail(f"bn_param has no '{key}' {when}: train mode must write the updated "
                       "running statistics back into bn_param")
        # Every running-statistics check feeds float64 inputs; its tolerance is its own.
        close(after[key], expected, f"bn_param['{key}'] {when}", dtype=torch.float64,
              rtol=1e-4, atol=1e-6)


def _bn_running_one(t: Context, case) -> None:
    c = 3
    x, gamma, beta = _bn_inputs(t, (2, c, 3, 4), torch.float64)
    if case == "defaults":
        param = {"mode": "train"}
        rm0, rv0, m = torch.zeros(c, dtype=torch.float64), torch.zeros(c, dtype=torch.float64), 0.9
        when = ("after one train step from absent running statistics (they start at zeros, "
                "momentum 0.9)")
    else:
        rm0, rv0, m = t.randn(c, dtype=torch.float64), t.randn(c, dtype=torch.float64).abs(), 0.7
        param = {"mode": "train", "momentum": m, "running_mean": rm0.clone(),
                 "running_var": rv0.clone()}
        when = "after one train step with momentum 0.7 and given running statistics"
    _, _, after = _forward(t, x, gamma, beta, param)
    mean, var = batch_stats(x)
    _check_running(after, m * rm0 + (1 - m) * mean, m * rv0 + (1 - m) * var, c, when)


def _bn_running_two(t: Context, case) -> None:
    c, m = 4, case
    param: dict = {"mode": "train"} if m is None else {"mode": "train", "momentum": m}
    m = 0.9 if m is None else m
    rm, rv = torch.zeros(c, dtype=torch.float64), torch.zeros(c, dtype=torch.float64)
    for _ in range(2):
        x, gamma, beta = _bn_inputs(t, (3, c, 2, 3), torch.float64)
        _, _, param = _forward(t, x, gamma, beta, param)
        mean, var = batch_stats(x)
        rm, rv = m * rm + (1 - m) * mean, m * rv + (1 - m) * var
    _check_running(param, rm, rv, c, f"after two train steps (momentum {m})")


def _bn_test_mode(t: Context, case) -> None:
    c = 3
    x, gamma, beta = _bn_inputs(t, (5, c, 3, 3), case)
    x = x + 4.0  # a batch whose statistics are far from the running ones
    rm = t.randn(c, dtype=case)
    rv = (t.randn(c, dtype=torch.float64).abs() + 0.5).to(case)
    param = {"mode": "test", "running_mean": rm.clone(), "running_var": rv.clone(), "eps": 1e-3}
    out, _, after = _forward(t, x, gamma, beta, param)
    close(out, ref_bn(x, gamma, beta, rm, rv, 1e-3),
          "test-mode output (normalized with bn_param's running statistics)", dtype=case,
          hints={"normalizing with the batch's own statistics; test mode must use the "
                 "running statistics": ref_bn_train(x, gamma, beta, 1e-3)})
    for key, before in (("running_mean", rm), ("running_var", rv)):
        if key in after:
            unchanged(before, after[key], f"bn_param['{key}'] in test mode")


def _bn_invalid_mode(t: Context, case) -> None:
    x, gamma, beta = _bn_inputs(t, (2, 2, 2, 2))
    result = t.raw(FWD, x, gamma, beta, {"mode": case})
    if result.ok:
        raise Fail(f"bn_param['mode'] = {case!r} was accepted; only 'train' and 'test' are "
                   "valid, anything else must raise ValueError")
    if (result.error or {}).get("type") != "ValueError":
        raise Fail(f"bn_param['mode'] = {case!r} {result.describe()}; expected a ValueError")


def _bn_batch_one(t: Context, case) -> None:
    x, gamma, beta = _bn_inputs(t, (1, 3, 4, 5), torch.float64)
    out, cache, _ = _forward(t, x, gamma, beta, {"mode": "train"})
    close(out, ref_bn_train(x, gamma, beta, 1e-5), "train-mode output for a batch of one image",
          dtype=x.dtype)
    if case == "backward":
        dout = t.randn(*x.shape, dtype=torch.float64)
        grads = _backward(t, dout, cache, x.shape)
        for name, got, want in zip(("dx", "dgamma", "dbeta"), grads,
                                   ref_bn_grads(x, gamma, beta, dout, 1e-5)):
            close(got, want, f"{name} for a batch of one image", dtype=x.dtype)


def _backward(t: Context, dout, cache, shape) -> tuple:
    value = t.call(BWD, dout, cache, no_autograd=True).value
    if not isinstance(value, (tuple, list)) or len(value) != 3:
        raise Fail(f"{BWD} must return a tuple (dx, dgamma, dbeta), got "
                   f"{type(value).__name__}")
    return tuple(value)


def _bn_grads(t: Context, case) -> tuple:
    shape = case
    x, gamma, beta = _bn_inputs(t, shape, torch.float64)
    dout = t.randn(*shape, dtype=torch.float64)
    _, cache, _ = _forward(t, x, gamma, beta, {"mode": "train", "eps": 1e-5})
    got = _backward(t, dout, cache, shape)
    return got, ref_bn_grads(x, gamma, beta, dout, 1e-5), x, gamma, dout


def _bn_dx(t: Context, case) -> None:
    (dx, _, _), (want, _, _), x, gamma, dout = _bn_grads(t, case)
    shape4 = (1, -1, 1, 1)
    mean, var = batch_stats(x)
    inv = 1 / torch.sqrt(var + 1e-5).view(shape4)
    hints = {"dout * gamma / std: the gradient through the batch mean and variance is missing":
             dout * gamma.view(shape4) * inv,
             "the gradient without gamma (dx must include gamma)": want / gamma.view(shape4)}
    close(dx, want, f"dx for x of shape {_fmt(case)} (random gamma and dout)", dtype=x.dtype,
          hints=hints)


def _bn_dgamma_dbeta(t: Context, case) -> None:
    (_, dgamma, dbeta), (_, want_g, want_b), x, _, _ = _bn_grads(t, case)
    close(dgamma, want_g, f"dgamma for x of shape {_fmt(case)} (one value per channel)",
          dtype=x.dtype)
    close(dbeta, want_b, f"dbeta for x of shape {_fmt(case)} (one value per channel)",
          dtype=x.dtype)


def _bn_bwd_shape(t: Context, case) -> None:
    n, c, h, w = 2, 3, 4, 3
    x, gamma, beta = _bn_inputs(t, (n, c, h, w), case)
    _, cache, _ = _forward(t, x, gamma, beta, {"mode": "train"})
    dx, dgamma, dbeta = _backward(t, t.randn(n, c, h, w, dtype=case), cache, x.shape)
    as_tensor(dx, "dx", shape=(n, c, h, w), dtype=case)
    as_tensor(dgamma, "dgamma", shape=(c,), dtype=case)
    as_tensor(dbeta, "dbeta", shape=(c,), dtype=case)


def _bn_unmodified(t: Context, case) -> None:
    x, gamma, beta = _bn_inputs(t, (3, 2, 3, 3), torch.float64)
    result = t.call(FWD, x.clone(), gamma.clone(), beta.clone(), {"mode": "train"}, keep=(1,))
    for name, before, after in zip(("x", "gamma", "beta"), (x, gamma, beta),
                                   result.args_after[:3]):
        unchanged(before, after, name)
    pair = _out_cache(result.value)
    cache = pair[1] if pair is not None else None
    dout = t.randn(*x.shape, dtype=torch.float64)
    back = t.call(BWD, dout.clone(), cache, no_autograd=True)
    unchanged(dout, back.args_after[0], "dout")


def _make_tests() -> dict[str, HiddenTest]:
    cc, bn = ("cross_correlation", (CC,)), ("batchnorm", (FWD,))
    both = ("batchnorm", (FWD, BWD))
    f32, f64 = torch.float32, torch.float64
    table = {
        "cc_worked_example": (cc, (None,), _cc_worked_example),
        "cc_output_shape": (cc, (((5, 7), (2, 3)), ((6, 4), (3, 1)), ((4, 4), (4, 4)),
                                 ((8, 3), (1, 3))), _cc_shape),
        "cc_values_square": (cc, (((6, 6), (3, 3), f32), ((10, 10), (2, 2), f32),
                                  ((8, 8), (5, 5), f64)), _cc_values),
        "cc_values_nonsquare": (cc, (((7, 11), (2, 4), f32), ((12, 5), (3, 2), f32),
                                     ((9, 13), (4, 3), f64)), _cc_values),
        "cc_dtype_device": (cc, _cc_devices(), _cc_dtype),
        "cc_inputs_unmodified": (cc, (f32, f64), _cc_unmodified),
        "cc_edge_cases": (cc, (((5, 4), (1, 1)), ((4, 6), (4, 6)), ((1, 9), (1, 3)),
                               ((9, 7), (3, 2), "views")), _cc_edge),
        "cc_random_shapes": (cc, tuple(range(6)), _cc_random),
        "bn_forward_values": (bn, (((4, 3, 5, 6), f32), ((2, 5, 3, 7), f64),
                                   ((6, 2, 4, 4), f32)), _bn_values),
        "bn_forward_eps": (bn, ((5.0, 1.0), (None, 0.01)), _bn_eps),
        "bn_forward_shape_dtype": (bn, (f32, f64), _bn_shape_dtype),
        "bn_running_stats_one_step": (bn, ("defaults", "given"), _bn_running_one),
        "bn_running_stats_two_steps": (bn, (None, 0.5), _bn_running_two),
        "bn_test_mode": (bn, (f32, f64), _bn_test_mode),
        "bn_invalid_mode": (bn, ("eval", "Train"), _bn_invalid_mode),
        "bn_batch_size_one": (both, ("forward", "backward"), _bn_batch_one),
        "bn_backward_dx": (both, ((3, 4, 5, 2), (2, 3, 3, 3), (5, 2, 1, 4)), _bn_dx),
        "bn_backward_dgamma_dbeta": (both, ((3, 4, 5, 2), (4, 3, 2, 3)), _bn_dgamma_dbeta),
        "bn_backward_shape_dtype": (both, (f32, f64), _bn_bwd_shape),
        "bn_inputs_unmodified": (both, (None,), _bn_unmodified),
    }
    return {name: HiddenTest(name, module, functions, cases, run)
            for name, ((module, functions), cases, run) in table.items()}


TESTS = _make_tests()


#: The rule each hidden test checks, as the student text states it: a phrase of the released
#: notebook's markdown, the student README or a docstring of the released source/ (compared
#: with runs of whitespace made single spaces). tests/test_rules.py fails when a hidden test
#: has no entry here or a phrase is not in what students receive: a test may check only
#: what the students were told.
RULES: dict[str, tuple[str, ...]] = {
    "cc_worked_example": ("the whole result is",),
    "cc_output_shape": ("Y: tensor of shape (H - kh + 1, W - kw + 1)",),
    "cc_values_square": ("Y[i, j] = sum over a, b of X[i + a, j + b] * K[a, b]",
                         "The kernel is slid over X without flipping it"),
    "cc_values_nonsquare": ("X and K need not be square",),
    "cc_dtype_device": ("with the dtype and device of X (float64 in, float64 out)",),
    "cc_inputs_unmodified": ("X and K must not be modified",),
    "cc_edge_cases": ("the kernel may be a single value or as large as `X`",
                      "may be non-contiguous views (a transposed tensor, a slice of a larger "
                      "one): do not assume row-major strides"),
    "cc_random_shapes": ("K: tensor of shape (kh, kw), with kh <= H and kw <= W",),
    "bn_forward_values": ("taken over the batch and over every spatial position",
                          "(divide by the number of values, not that number minus one)"),
    "bn_forward_eps": ("added to the variance inside the square root (default 1e-5)",),
    "bn_forward_shape_dtype": ("out: shape (N, C, H, W), same dtype and device as x",),
    "bn_running_stats_one_step": ("running = momentum * running + (1 - momentum) * batch_stat",
                                  "when absent they start as zeros with the dtype and device "
                                  "of x"),
    "bn_running_stats_two_steps": ("After every training step, for both the mean and the "
                                   "variance",),
    "bn_test_mode": ("In test mode the running statistics normalize x and are left alone",),
    "bn_invalid_mode": ("any other value is a ValueError",),
    "bn_batch_size_one": ("The batch may hold a single example or image (N = 1)",),
    "bn_backward_dx": ("dx: gradient with respect to x, shape (N, C, H, W)",),
    "bn_backward_dgamma_dbeta": ("dgamma: gradient with respect to gamma, shape (C,)",
                                 "dbeta: gradient with respect to beta, shape (C,)"),
    "bn_backward_shape_dtype": ("Outputs have the dtype and device of x (float64 in, float64 "
                                "out)",),
    "bn_inputs_unmodified": ("x, gamma, beta and dout are never modified",),
}

#: Rules that hold in every hidden test, enforced around the student's code rather than by a
#: test of its own: the sandbox kills a child that starts a thread or a process, and that
#: test scores 0 (README, threat model). tests/test_rules.py requires each phrase in both the
#: released notebook and the student README.
RULES_OF_EVERY_TEST: tuple[str, ...] = (
    "Your code runs in **one thread and one process**",
    "starting a thread or a process (or running another program) ends the call",
)
