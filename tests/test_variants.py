"""The library of student submissions in ``tests/variants`` is what it claims to be.

- every correct alternative behaves like the torch oracles on every property SPEC.md asks for;
- every bug really is wrong: the oracle check it names fails, and only checks of its section;
- the grader's verdict on each of them, the reference and the stubs is exactly the pinned one,
  test by test and flag by flag (``tests/variants/expected.json``, ``test_grader_on_variant``):
  full marks for the correct ones, points lost by each bug in its own section only.

The student code runs in this process here (it is ours, not a student's), loaded by path under
unique module names, so no module called ``source`` is ever imported.
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from autograder.grading import assignment
from autograder.points import SECTIONS, TESTS, section_auto_max
from tests.variants import Variant, all_variants, expect, make_sources

BUGS = all_variants("bugs")
CORRECT = all_variants("correct")
STEMS = {section: f"{module}.py" for module, section in assignment.SECTION_OF_MODULE.items()}
RTOL32, ATOL32 = 1e-4, 1e-5
RTOL64, ATOL64 = 1e-7, 1e-9
_counter = itertools.count()


# --- running student code while recording forbidden calls ---------------------------------

class Recorder:
    """Wraps library functions that students may not call; records the calls made by students.

    The oracles in this file call the same functions, so a call counts only while
    ``active`` (set by ``Student`` around each call into student code).
    """

    FORBIDDEN = (
        (torch, "conv1d"), (torch, "conv2d"), (torch, "conv3d"),
        (F, "conv1d"), (F, "conv2d"), (F, "conv3d"),
        (torch, "batch_norm"), (F, "batch_norm"),
        (torch.autograd, "grad"), (torch.autograd, "backward"), (torch.Tensor, "backward"),
    )

    def __init__(self) -> None:
        self.active = False
        self.calls: list[str] = []

    def _wrap(self, owner: Any, name: str, original: Callable) -> Callable:
        label = f"{getattr(owner, '__name__', owner)}.{name}"

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if self.active:
                self.calls.append(label)
            return original(*args, **kwargs)

        return wrapper

    @contextmanager
    def patched(self) -> Iterator[Recorder]:
        saved = [(owner, name, getattr(owner, name)) for owner, name in self.FORBIDDEN]
        try:
            for owner, name, original in saved:
                setattr(owner, name, self._wrap(owner, name, original))
            yield self
        finally:
            for owner, name, original in saved:
                setattr(owner, name, original)


class Student:
    """A loaded student module whose functions switch the recorder on while they run."""

    def __init__(self, module: ModuleType, recorder: Recorder) -> None:
        self._module, self._recorder = module, recorder

    def __getattr__(self, name: str) -> Callable:
        function = getattr(self._module, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self._recorder.active = True
            try:
                return function(*args, **kwargs)
            finally:
                self._recorder.active = False

        return call


def load_module(path: Path, recorder: Recorder) -> Student:
    name = f"_submission_{path.stem}_{next(_counter)}_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    recorder.active = True
    try:
        spec.loader.exec_module(module)
    finally:
        recorder.active = False
        sys.modules.pop(name, None)
    return Student(module, recorder)


# --- helpers for the checks -----------------------------------------------------------------

def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(*shape: int, seed: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.randn(*shape, generator=gen(seed), dtype=dtype)


def close(actual: Any, expected: torch.Tensor, what: str) -> None:
    """Same shape and values as expected, at the tolerance of expected's dtype."""
    assert isinstance(actual, torch.Tensor), f"{what}: expected a torch.Tensor, got {type(actual)}"
    assert actual.shape == expected.shape, (
        f"{what}: expected shape {tuple(expected.shape)}, got {tuple(actual.shape)}")
    rtol, atol = (RTOL64, ATOL64) if expected.dtype == torch.float64 else (RTOL32, ATOL32)
    if not expected.is_floating_point():
        rtol, atol = 0.0, 0.0
    torch.testing.assert_close(actual.double(), expected.double(), rtol=rtol, atol=atol,
                               msg=lambda m: f"{what}: {m}")


# --- cross-correlation oracle checks --------------------------------------------------------

def cc_oracle(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    if not X.is_floating_point():
        return cc_oracle(X.double(), K.double()).round().to(X.dtype)
    return F.conv2d(X[None, None], K.to(X.dtype)[None, None])[0, 0]


def cc_worked_example(cc: Student) -> None:
    X = torch.tensor([[0, 5, 8], [2, -1, 4], [4, 3, 7]])
    K = torch.tensor([[5, -1], [3, 1]])
    expected = torch.tensor([[0, 18], [26, 7]])
    for dtype in (torch.float32, torch.float64, torch.int64):
        close(cc.cross_corr_2d(X.to(dtype), K.to(dtype)), expected.to(dtype),
              f"worked example in {dtype}")


def cc_returns_tensor(cc: Student) -> None:
    Y = cc.cross_corr_2d(randn(5, 6, seed=1), randn(2, 3, seed=2))
    assert isinstance(Y, torch.Tensor), f"expected a torch.Tensor, got {type(Y)}"


def cc_output_shape(cc: Student) -> None:
    for (h, w), (kh, kw) in [((7, 11), (2, 4)), ((11, 7), (4, 2)), ((6, 6), (3, 3)),
                             ((5, 9), (5, 1))]:
        Y = cc.cross_corr_2d(randn(h, w, seed=h * w), randn(kh, kw, seed=kh + kw))
        assert tuple(Y.shape) == (h - kh + 1, w - kw + 1), (
            f"X {(h, w)}, K {(kh, kw)}: expected shape {(h - kh + 1, w - kw + 1)}, "
            f"got {tuple(Y.shape)}")


def cc_values_square(cc: Student) -> None:
    X, K = randn(8, 8, seed=3), randn(3, 3, seed=4)
    close(cc.cross_corr_2d(X, K), cc_oracle(X, K), "square X and K")


def cc_values_nonsquare(cc: Student) -> None:
    for (h, w), (kh, kw), seed in [((9, 13), (2, 5), 5), ((13, 9), (5, 2), 6),
                                   ((30, 40), (5, 3), 7)]:
        X, K = randn(h, w, seed=seed), randn(kh, kw, seed=seed + 100)
        close(cc.cross_corr_2d(X, K), cc_oracle(X, K), f"X {(h, w)}, K {(kh, kw)}")


def cc_dtype(cc: Student) -> None:
    for dtype in (torch.float32, torch.float64):
        X, K = randn(6, 9, seed=8, dtype=dtype), randn(2, 3, seed=9, dtype=dtype)
        Y = cc.cross_corr_2d(X, K)
        assert isinstance(Y, torch.Tensor), f"expected a torch.Tensor, got {type(Y)}"
        assert Y.dtype == dtype, f"X of dtype {dtype}: expected Y of dtype {dtype}, got {Y.dtype}"
        assert Y.device == X.device, f"expected Y on {X.device}, got {Y.device}"
        close(Y, cc_oracle(X, K), f"values in {dtype}")


def cc_inputs_unmodified(cc: Student) -> None:
    X, K = randn(7, 10, seed=10), randn(3, 4, seed=11)
    X0, K0 = X.clone(), K.clone()
    cc.cross_corr_2d(X, K)
    assert torch.equal(X, X0), "X was modified"
    assert torch.equal(K, K0), "K was modified"


def cc_edge_cases(cc: Student) -> None:
    X = randn(4, 6, seed=12)
    close(cc.cross_corr_2d(X, X.clone()), cc_oracle(X, X), "kernel as large as X")
    K = randn(1, 1, seed=13)
    close(cc.cross_corr_2d(X, K), cc_oracle(X, K), "1x1 kernel")
    row, k = randn(1, 9, seed=14), randn(1, 3, seed=15)
    close(cc.cross_corr_2d(row, k), cc_oracle(row, k), "single-row X")
    col, k = randn(9, 1, seed=16), randn(4, 1, seed=17)
    close(cc.cross_corr_2d(col, k), cc_oracle(col, k), "single-column X")


def cc_random_shapes(cc: Student) -> None:
    g = gen(18)
    for trial in range(6):
        h, w = (int(v) for v in torch.randint(1, 16, (2,), generator=g))
        kh = int(torch.randint(1, h + 1, (1,), generator=g))
        kw = int(torch.randint(1, w + 1, (1,), generator=g))
        X, K = randn(h, w, seed=100 + trial), randn(kh, kw, seed=200 + trial)
        close(cc.cross_corr_2d(X, K), cc_oracle(X, K), f"X {(h, w)}, K {(kh, kw)}")


def cc_noncontiguous_inputs(cc: Student) -> None:
    X, K = randn(12, 9, seed=19).T, randn(4, 2, seed=20).T
    close(cc.cross_corr_2d(X, K), cc_oracle(X, K), "transposed (non-contiguous) inputs")


# --- spatial batch norm oracle checks -------------------------------------------------------

def bn_inputs(n: int = 3, c: int = 4, h: int = 5, w: int = 6, seed: int = 0,
              dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, ...]:
    """x with a different mean and scale per channel; random gamma, beta and dout."""
    x = randn(n, c, h, w, seed=seed, dtype=dtype) * randn(c, seed=seed + 1, dtype=dtype).abs(
    ).add(0.5).view(1, c, 1, 1) + randn(c, seed=seed + 2, dtype=dtype).view(1, c, 1, 1) * 3
    gamma = randn(c, seed=seed + 3, dtype=dtype)
    beta = randn(c, seed=seed + 4, dtype=dtype)
    dout = randn(n, c, h, w, seed=seed + 5, dtype=dtype)
    return x, gamma, beta, dout


def bn_oracle(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float = 1e-5
              ) -> torch.Tensor:
    return F.batch_norm(x, None, None, gamma, beta, training=True, eps=eps)


def batch_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    var, mean = torch.var_mean(x, dim=(0, 2, 3), correction=0)
    return mean, var


def bn_forward_values(bn: Student) -> None:
    x, gamma, beta, _ = bn_inputs(seed=30)
    out, _ = bn.spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"})
    close(out, bn_oracle(x, gamma, beta), "train-mode output (float64)")
    x, gamma, beta, _ = bn_inputs(2, 3, 4, 7, seed=31, dtype=torch.float32)
    out, _ = bn.spatial_batchnorm_forward(x, gamma, beta, {"mode": "train", "eps": 1e-5})
    close(out, bn_oracle(x, gamma, beta), "train-mode output (float32)")


def bn_forward_eps(bn: Student) -> None:
    x, gamma, beta, _ = bn_inputs(seed=32)
    x = x * 0.1
    out, _ = bn.spatial_batchnorm_forward(x, gamma, beta, {"mode": "train", "eps": 0.5})
    close(out, bn_oracle(x, gamma, beta, eps=0.5), "train-mode output with eps=0.5")


def bn_forward_shape_dtype(bn: Student) -> None:
    for dtype in (torch.float32, torch.float64):
        x, gamma, beta, _ = bn_inputs(2, 3, 4, 5, seed=33, dtype=dtype)
        for mode in ("train", "test"):
            out, _ = bn.spatial_batchnorm_forward(x, gamma, beta, {"mode": mode})
            assert isinstance(out, torch.Tensor), f"expected a torch.Tensor, got {type(out)}"
            assert out.shape == x.shape, f"expected shape {tuple(x.shape)}, got {tuple(out.shape)}"
            assert out.dtype == dtype, f"{mode} mode: expected dtype {dtype}, got {out.dtype}"


def bn_running_stats_one_step(bn: Student) -> None:
    x, gamma, beta, _ = bn_inputs(seed=34)
    param: dict = {"mode": "train"}
    bn.spatial_batchnorm_forward(x, gamma, beta, param)
    mean, var = batch_stats(x)
    for key, stat in (("running_mean", mean), ("running_var", var)):
        assert key in param, f"bn_param has no {key!r} after a train step"
        close(param[key], 0.1 * stat, f"{key} after one step from zeros, momentum 0.9")


def bn_running_stats_two_steps(bn: Student) -> None:
    c = 4
    running = {"running_mean": randn(c, seed=35), "running_var": randn(c, seed=36).abs()}
    param: dict = {"mode": "train", "momentum": 0.7, **{k: v.clone() for k, v in running.items()}}
    for step in range(2):
        x, gamma, beta, _ = bn_inputs(c=c, seed=37 + 10 * step)
        bn.spatial_batchnorm_forward(x, gamma, beta, param)
        mean, var = batch_stats(x)
        running["running_mean"] = 0.7 * running["running_mean"] + 0.3 * mean
        running["running_var"] = 0.7 * running["running_var"] + 0.3 * var
    for key, value in running.items():
        close(param.get(key), value, f"{key} after two steps, momentum 0.7")


def bn_test_mode(bn: Student) -> None:
    x, gamma, beta, _ = bn_inputs(seed=38)
    x = x * 2 + 5  # a shifted distribution: test mode must ignore it
    rm, rv = randn(4, seed=39), randn(4, seed=40).abs() + 0.5
    param = {"mode": "test", "eps": 1e-3, "running_mean": rm.clone(), "running_var": rv.clone()}
    out, _ = bn.spatial_batchnorm_forward(x, gamma, beta, param)
    expected = F.batch_norm(x, rm, rv, gamma, beta, training=False, eps=1e-3)
    close(out, expected, "test-mode output with given running statistics")
    close(param["running_mean"], rm, "running_mean after a test step (must not change)")
    close(param["running_var"], rv, "running_var after a test step (must not change)")
    one, _ = bn.spatial_batchnorm_forward(x[:1], gamma, beta, dict(param))
    close(one, expected[:1], "test-mode output of one sample alone")


def bn_invalid_mode(bn: Student) -> None:
    x, gamma, beta, _ = bn_inputs(seed=41)
    for mode in ("eval", "Train", "training"):
        try:
            bn.spatial_batchnorm_forward(x, gamma, beta, {"mode": mode})
        except ValueError:
            continue
        raise AssertionError(f"mode {mode!r} was accepted; expected a ValueError")


def bn_batch_size_one(bn: Student) -> None:
    x, gamma, beta, dout = bn_inputs(1, 3, 4, 5, seed=42)
    out, cache = bn.spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"})
    close(out, bn_oracle(x, gamma, beta), "train-mode output with N = 1")
    dx, _, _ = bn.spatial_batchnorm_backward(dout, cache)
    close(dx, autograd_grads(x, gamma, beta, dout)[0], "dx with N = 1")


def autograd_grads(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, dout: torch.Tensor,
                   eps: float = 1e-5) -> tuple[torch.Tensor, ...]:
    leaves = [t.detach().clone().requires_grad_(True) for t in (x, gamma, beta)]
    with torch.enable_grad():
        out = bn_oracle(*leaves, eps=eps)
        return torch.autograd.grad(out, leaves, dout)


def bn_backward_dx(bn: Student) -> None:
    for shape, seed, eps in (((3, 4, 5, 6), 43, 1e-5), ((2, 3, 6, 4), 44, 0.3)):
        x, gamma, beta, dout = bn_inputs(*shape, seed=seed)
        _, cache = bn.spatial_batchnorm_forward(x, gamma, beta, {"mode": "train", "eps": eps})
        dx, _, _ = bn.spatial_batchnorm_backward(dout, cache)
        close(dx, autograd_grads(x, gamma, beta, dout, eps)[0], f"dx, shape {shape}, eps {eps}")


def bn_backward_dgamma_dbeta(bn: Student) -> None:
    x, gamma, beta, dout = bn_inputs(3, 4, 5, 6, seed=45)
    _, cache = bn.spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"})
    _, dgamma, dbeta = bn.spatial_batchnorm_backward(dout, cache)
    _, g_gamma, g_beta = autograd_grads(x, gamma, beta, dout)
    close(dgamma, g_gamma, "dgamma")
    close(dbeta, g_beta, "dbeta")


def bn_backward_shape_dtype(bn: Student) -> None:
    for dtype in (torch.float32, torch.float64):
        x, gamma, beta, dout = bn_inputs(2, 3, 4, 5, seed=46, dtype=dtype)
        _, cache = bn.spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"})
        grads = bn.spatial_batchnorm_backward(dout, cache)
        assert len(grads) == 3, f"expected (dx, dgamma, dbeta), got {len(grads)} values"
        for name, grad, shape in zip(("dx", "dgamma", "dbeta"), grads, (x.shape, (3,), (3,))):
            assert isinstance(grad, torch.Tensor), f"{name}: expected a torch.Tensor"
            assert tuple(grad.shape) == tuple(shape), (
                f"{name}: expected shape {tuple(shape)}, got {tuple(grad.shape)}")
            assert grad.dtype == dtype, f"{name}: expected dtype {dtype}, got {grad.dtype}"
    x32, gamma32, beta32, dout32 = bn_inputs(2, 3, 4, 5, seed=47, dtype=torch.float32)
    _, cache = bn.spatial_batchnorm_forward(x32, gamma32, beta32, {"mode": "train"})
    dx, _, _ = bn.spatial_batchnorm_backward(dout32, cache)
    close(dx, autograd_grads(x32, gamma32, beta32, dout32)[0], "dx in float32")


def bn_inputs_unmodified(bn: Student) -> None:
    x, gamma, beta, dout = bn_inputs(seed=48)
    saved = [t.clone() for t in (x, gamma, beta, dout)]
    for mode in ("train", "test"):
        _, cache = bn.spatial_batchnorm_forward(x, gamma, beta, {"mode": mode})
        if mode == "train":
            bn.spatial_batchnorm_backward(dout, cache)
        for name, now, before in zip(("x", "gamma", "beta", "dout"), (x, gamma, beta, dout),
                                     saved):
            assert torch.equal(now, before), f"{name} was modified ({mode} mode)"


CC_CHECKS = [cc_worked_example, cc_returns_tensor, cc_output_shape, cc_values_square,
             cc_values_nonsquare, cc_dtype, cc_inputs_unmodified, cc_edge_cases,
             cc_random_shapes, cc_noncontiguous_inputs]
BN_CHECKS = [bn_forward_values, bn_forward_eps, bn_forward_shape_dtype,
             bn_running_stats_one_step, bn_running_stats_two_steps, bn_test_mode,
             bn_invalid_mode, bn_batch_size_one, bn_backward_dx, bn_backward_dgamma_dbeta,
             bn_backward_shape_dtype, bn_inputs_unmodified]
CHECKS = {"cross_correlation": CC_CHECKS, "spatial_batchnorm": BN_CHECKS}
ORACLES = {check.__name__ for checks in CHECKS.values() for check in checks}
ORACLES |= {f"{section}_forbidden" for section in CHECKS}


def battery(root: Path) -> dict[str, dict[str, str]]:
    """Run every oracle check on the submission at root: section -> {failed check: why}."""
    recorder = Recorder()
    failures: dict[str, dict[str, str]] = {}
    with recorder.patched():
        for section, checks in CHECKS.items():
            failed: dict[str, str] = {}
            recorder.calls.clear()
            try:
                student = load_module(root / "source" / STEMS[section], recorder)
            except Exception as error:  # noqa: BLE001 - any failure to import is a finding
                failures[section] = {"import": f"{type(error).__name__}: {error}"}
                continue
            for check in checks:
                try:
                    check(student)
                except Exception as error:  # noqa: BLE001 - the bug may raise anything
                    failed[check.__name__] = f"{type(error).__name__}: {error}"[:400]
            if recorder.calls:
                failed[f"{section}_forbidden"] = f"forbidden calls: {sorted(set(recorder.calls))}"
            failures[section] = failed
    return failures


# --- the library itself --------------------------------------------------------------------

def test_library_size_and_names() -> None:
    assert len(BUGS) >= 40
    assert len(CORRECT) >= 40
    names = [v.name for v in BUGS + CORRECT]
    assert len(names) == len(set(names)), "variant names must be unique across kinds"
    for section in CHECKS:
        assert any(v.section == section for v in BUGS), f"no bug for {section}"
        assert any(v.section == section for v in CORRECT), f"no correct variant for {section}"
    for bug in BUGS:
        assert bug.oracle in ORACLES, f"{bug.name}: unknown ORACLE {bug.oracle!r}"
        assert set(bug.forbidden_tests) <= set(TESTS), f"{bug.name}: unknown FORBIDDEN_TESTS"
        assert all(TESTS[t][0] == bug.section for t in bug.forbidden_tests), bug.name


def test_reference_passes_every_oracle(tmp_path: Path) -> None:
    failures = battery(make_sources(tmp_path, None))
    assert failures == {"cross_correlation": {}, "spatial_batchnorm": {}}


@pytest.mark.parametrize("variant", CORRECT, ids=lambda v: v.name)
def test_correct_variant_matches_oracles(variant: Variant, tmp_path: Path) -> None:
    failures = battery(make_sources(tmp_path, variant))
    assert failures == {"cross_correlation": {}, "spatial_batchnorm": {}}, variant.doc


@pytest.mark.parametrize("variant", BUGS, ids=lambda v: v.name)
def test_bug_variant_is_really_wrong(variant: Variant, tmp_path: Path) -> None:
    failures = battery(make_sources(tmp_path, variant))
    mine = failures[variant.section]
    assert variant.oracle in mine, (
        f"{variant.name} should fail the oracle check {variant.oracle!r} "
        f"({variant.catches}); it failed only {sorted(mine)}")
    others = {s: f for s, f in failures.items() if s != variant.section}
    assert all(not f for f in others.values()), f"{variant.name} also breaks {others}"


# --- the grader on the library: pinned verdicts ------------------------------------------

PINNED = expect.load()
PINNED_SEED = expect.seed()
SUBMISSIONS = expect.submissions()
# With CUDA, cc_dtype_device has a third case (float32 on the GPU): its fractions differ from
# the pinned ones, which are graded on the CPU.
UNPINNED = {"cc_dtype_device"} if torch.cuda.is_available() else set()
# Bugs that the grader does not catch yet: pinned as they are (full marks), so that the fix
# shows up as a diff, and listed here so that nobody mistakes them for correct code.
#: Bugs the grader does not catch yet (pinned at full marks, so that a fix shows as a diff).
KNOWN_MISSED: set[str] = set()


@pytest.fixture(scope="module")
def grading_sandbox() -> Iterator[Any]:
    from autograder.grading.sandbox import Sandbox

    with Sandbox(slot=31) as box:
        yield box


def test_pinned_verdicts_cover_every_submission_and_test() -> None:
    assert [expect.key(s) for s in SUBMISSIONS] == list(PINNED), (
        "tests/variants/expected.json is not the library: "
        "run python -m tests.variants.expect --write and review the diff")
    for name, pinned in PINNED.items():
        assert list(pinned["tests"]) == list(TESTS), name


def _lost(name: str) -> dict[str, set[str]]:
    """section -> tests that the pinned verdict of name does not give full marks."""
    lost: dict[str, set[str]] = {}
    for test, score in PINNED[name]["tests"].items():
        if score != TESTS[test][1]:
            lost.setdefault(TESTS[test][0], set()).add(test)
    return lost


def test_pinned_verdicts_are_sane() -> None:
    """What review of expected.json checks, so that a careless --write cannot pin nonsense:
    the reference and correct variants keep every point with no flag, the stubs score
    nothing, each bug loses points in its own section only, a forbidden call zeroes its
    tests and is flagged."""
    assert not _lost("reference") and PINNED["reference"]["flags"] == []
    assert all(score == 0 for score in PINNED["stubs"]["tests"].values())
    for variant in CORRECT:
        name = expect.key(variant)
        assert not _lost(name), f"{name} loses points: {_lost(name)}"
        assert PINNED[name]["flags"] == [], name
    for variant in BUGS:
        name = expect.key(variant)
        lost = _lost(name)
        assert set(lost) <= {variant.section}, f"{name} loses points elsewhere: {lost}"
        assert bool(lost) is (variant.name not in KNOWN_MISSED), f"{name}: {lost}"
        if variant.forbidden_tests:
            assert all(PINNED[name]["tests"][t] == 0 for t in variant.forbidden_tests), name
            assert any("forbidden" in f for f in PINNED[name]["flags"]), name
        else:
            assert not any("forbidden" in f for f in PINNED[name]["flags"]), name


@pytest.mark.parametrize("variant", SUBMISSIONS, ids=expect.key)
def test_grader_on_variant(variant: Variant | None | str, tmp_path: Path,
                           grading_sandbox: Any) -> None:
    from autograder.grading import grade

    name = expect.key(variant)
    submission = expect.make(tmp_path / "sub", variant)
    result = grade.grade_submission(submission, seed=PINNED_SEED, sandbox=grading_sandbox)
    actual, pinned = expect.verdict(result), PINNED.get(name)
    if UNPINNED and pinned is not None:
        actual["tests"] = {t: s for t, s in actual["tests"].items() if t not in UNPINNED}
        pinned = dict(pinned, tests={t: s for t, s in pinned["tests"].items()
                                     if t not in UNPINNED})
    changes = expect.diff(name, pinned, actual)
    assert not changes, ("the verdict changed; if that is intended, run python -m "
                         "tests.variants.expect --write and review the diff:\n"
                         + "\n".join(changes))
    sections = result["sections"]
    scores = {s.key: sections[s.key]["score"] for s in SECTIONS}
    if variant == "stubs":
        assert result["score"] == 0.0, scores
        return
    broken = variant.section if variant is not None and variant.kind == "bugs" else None
    for section in (s.key for s in SECTIONS):
        full = section_auto_max(section)
        if section == broken and variant.name not in KNOWN_MISSED:
            assert scores[section] < full - 1e-9, (
                f"{name} ({variant.catches}) got full marks in {section}: {result['tests']}")
        else:
            assert scores[section] == pytest.approx(full), (
                f"{name} lost points in {section}: {scores}; tests {result['tests']}")
    if variant is not None and variant.feedback and variant.name not in KNOWN_MISSED:
        said = " ".join(t["output"] for t in result["tests"]
                        if t["section"] == variant.section and t["status"] == "failed")
        for words in variant.feedback:
            assert words in said, f"{name}: the feedback should say {words!r}: {said}"
    if variant is not None and variant.kind == "correct":
        assert not any(t.get("grader_error") for t in result["tests"]), result["tests"]
    if variant is not None and variant.forbidden_tests:
        assert any("forbidden" in flag.lower() for flag in result["flags"]), result["flags"]
        by_name = {t["name"]: t for t in result["tests"]}
        for test in variant.forbidden_tests:
            assert by_name[test]["score"] == 0, (
                f"{name} uses a forbidden call but scored in {test}: {by_name[test]}")
