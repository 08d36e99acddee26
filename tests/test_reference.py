"""The two reference batch norms, the readable one and the fast one, against torch in float64.

The readable reference (``autograder/master/hw1/source/batchnorm.py``) is what
``autograder solution`` writes and what TAs read: vanilla batch norm on (N, D) rows, and the
spatial version built on it by a layout change. The fast one
(``autograder/reference_fast.py``) is the benchmarks' yardstick and never reaches students.
Both must agree with ``F.batch_norm`` and its autograd gradients on every shape below,
including inputs that are non-contiguous views.
"""

from __future__ import annotations

import ast
import importlib.util
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import torch
import torch.nn.functional as F

from autograder import build, reference_fast

MASTER_BN = build.MASTER / "source" / "batchnorm.py"


@pytest.fixture(scope="module")
def readable(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """The master batchnorm.py with its solution markers removed, imported under a new name."""
    path = tmp_path_factory.mktemp("reference") / "batchnorm.py"
    path.write_text(build.unmark_python(MASTER_BN.read_text(encoding="utf-8"),
                                        "source/batchnorm.py"), encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"_ref_bn_{uuid.uuid4().hex}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def implementations(readable: ModuleType) -> dict[str, tuple[Callable, Callable]]:
    return {"readable": (readable.spatial_batchnorm_forward, readable.spatial_batchnorm_backward),
            "fast": (reference_fast.spatial_batchnorm_forward_fast,
                     reference_fast.spatial_batchnorm_backward_fast)}


def noncontiguous(t: torch.Tensor, how: str) -> torch.Tensor:
    """The same values as t, as a view with other strides (what a student may be handed)."""
    if how == "contiguous":
        return t
    if how == "channels_last":
        view = t.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)
    elif how == "transposed_hw":
        view = t.transpose(2, 3).contiguous().transpose(2, 3)
    else:  # "strided": every other column of a wider tensor
        wide = torch.zeros(*t.shape[:3], 2 * t.shape[3], dtype=t.dtype)
        wide[..., ::2] = t
        view = wide[..., ::2]
    assert torch.equal(view, t)
    return view


def inputs(shape: tuple, seed: int) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    c = shape[1]
    # Random gamma and dout: gamma = 1 and dout = ones hide wrong gradients.
    x = 3 * torch.randn(shape, generator=gen, dtype=torch.float64) + 2
    gamma = torch.randn(c, generator=gen, dtype=torch.float64)
    beta = torch.randn(c, generator=gen, dtype=torch.float64)
    dout = torch.randn(shape, generator=gen, dtype=torch.float64)
    return x, gamma, beta, dout


SHAPES = [(2, 3, 4, 5), (1, 4, 3, 2), (5, 2, 1, 3), (3, 1, 2, 2), (4, 6, 5, 1)]
LAYOUTS = ["contiguous", "channels_last", "transposed_hw", "strided"]


def test_the_layouts_are_views_with_other_strides() -> None:
    x = inputs((2, 3, 4, 5), seed=0)[0]
    assert [noncontiguous(x, how).is_contiguous() for how in LAYOUTS] == [True] + [False] * 3


@pytest.mark.parametrize("which", ["readable", "fast"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("mode", ["train", "test"])
def test_spatial_reference_matches_torch(readable: ModuleType, which: str, shape: tuple,
                                         layout: str, mode: str) -> None:
    forward, backward = implementations(readable)[which]
    x, gamma, beta, dout = inputs(shape, seed=sum(shape))
    x, dout = noncontiguous(x, layout), noncontiguous(dout, layout)
    c = shape[1]
    running = {"running_mean": torch.linspace(-1, 1, c, dtype=torch.float64),
               "running_var": torch.linspace(0.5, 2, c, dtype=torch.float64)}
    param = {"mode": mode, "eps": 1e-3, "momentum": 0.8, **{k: v.clone()
                                                            for k, v in running.items()}}
    originals = [t.clone() for t in (x, gamma, beta, dout)]

    out, cache = forward(x, gamma, beta, param)
    dx, dgamma, dbeta = backward(dout, cache)

    xg, gg, bg = (t.clone().requires_grad_() for t in (x, gamma, beta))
    rm, rv = (running[k].clone() for k in ("running_mean", "running_var"))
    # torch weighs the new batch by its momentum and keeps the unbiased variance, so the
    # running statistics are checked apart, below; here torch's are only scratch.
    expected = F.batch_norm(xg, rm, rv, gg, bg, training=mode == "train", momentum=0.2,
                            eps=1e-3)
    expected.backward(dout)
    for name, ours, oracle in (("out", out, expected.detach()), ("dx", dx, xg.grad),
                               ("dgamma", dgamma, gg.grad), ("dbeta", dbeta, bg.grad)):
        assert ours.shape == oracle.shape and ours.dtype == torch.float64, name
        torch.testing.assert_close(ours, oracle, rtol=1e-10, atol=1e-12, msg=name)

    if mode == "train":
        dims = (0, 2, 3)
        for key, stat in (("running_mean", x.mean(dims)), ("running_var", x.var(dims,
                                                                              correction=0))):
            torch.testing.assert_close(param[key], 0.8 * running[key] + 0.2 * stat)
    else:
        for key, value in running.items():
            assert torch.equal(param[key], value), f"test mode changed {key}"
    for before, after in zip(originals, (x, gamma, beta, dout)):
        assert torch.equal(before, after), "an input was modified"


@pytest.mark.parametrize("which", ["readable", "fast"])
def test_missing_running_statistics_start_at_zero(readable: ModuleType, which: str) -> None:
    forward, _ = implementations(readable)[which]
    x, gamma, beta, _ = inputs((3, 2, 2, 2), seed=7)
    param: dict = {"mode": "train"}
    forward(x, gamma, beta, param)  # defaults: momentum 0.9, running stats from zeros
    torch.testing.assert_close(param["running_mean"], 0.1 * x.mean((0, 2, 3)))
    torch.testing.assert_close(param["running_var"], 0.1 * x.var((0, 2, 3), correction=0))
    out, _ = forward(x, gamma, beta, {"mode": "test"})  # zeros mean, zeros variance
    torch.testing.assert_close(out, gamma.view(1, -1, 1, 1) * x / (1e-5) ** 0.5
                               + beta.view(1, -1, 1, 1))


@pytest.mark.parametrize("which", ["readable", "fast"])
@pytest.mark.parametrize("mode", ["training", "eval", None])
def test_unknown_mode_is_a_value_error(readable: ModuleType, which: str, mode: object) -> None:
    forward, _ = implementations(readable)[which]
    x, gamma, beta, _ = inputs((2, 3, 2, 2), seed=0)
    with pytest.raises(ValueError, match="mode"):
        forward(x, gamma, beta, {"mode": mode})


@pytest.mark.parametrize("mode", ["train", "test"])
@pytest.mark.parametrize("transposed", [False, True])
def test_vanilla_reference_is_the_n_d_batch_norm(readable: ModuleType, mode: str,
                                                 transposed: bool) -> None:
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(7, 5, generator=gen, dtype=torch.float64) * 2 - 1
    if transposed:  # the same (7, 5) values as a non-contiguous view
        x = x.t().contiguous().t()
    gamma, beta = (torch.randn(5, generator=gen, dtype=torch.float64) for _ in range(2))
    dout = torch.randn(7, 5, generator=gen, dtype=torch.float64)
    running = {"running_mean": torch.randn(5, generator=gen, dtype=torch.float64),
               "running_var": torch.rand(5, generator=gen, dtype=torch.float64) + 0.5}
    out, cache = readable.batchnorm_forward(x, gamma, beta, {"mode": mode, **running})
    dx, dgamma, dbeta = readable.batchnorm_backward(dout, cache)
    xg, gg, bg = (t.clone().requires_grad_() for t in (x, gamma, beta))
    expected = F.batch_norm(xg, running["running_mean"].clone(), running["running_var"].clone(),
                            gg, bg, training=mode == "train")
    expected.backward(dout)
    for name, ours, oracle in (("out", out, expected.detach()), ("dx", dx, xg.grad),
                               ("dgamma", dgamma, gg.grad), ("dbeta", dbeta, bg.grad)):
        torch.testing.assert_close(ours, oracle, rtol=1e-10, atol=1e-12, msg=name)


def _calls(function: ast.FunctionDef) -> set[str]:
    return {node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
            for node in ast.walk(function) if isinstance(node, ast.Call)
            and isinstance(node.func, (ast.Attribute, ast.Name))}


def test_readable_spatial_reference_is_built_on_the_vanilla_one() -> None:
    """What the hint tells students is what the reference does: permute to (N*H*W, C),
    call the vanilla function, and bring the result back; the vanilla functions work on
    dim 0 of (N, D) data only, as their docstrings say."""
    tree = ast.parse(build.unmark_python(MASTER_BN.read_text(encoding="utf-8"), "bn.py"))
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    for spatial, vanilla in (("spatial_batchnorm_forward", "batchnorm_forward"),
                             ("spatial_batchnorm_backward", "batchnorm_backward")):
        calls = _calls(functions[spatial])
        assert {vanilla, "permute", "reshape"} <= calls, (spatial, calls)
    for vanilla in ("batchnorm_forward", "batchnorm_backward"):
        dims = [kw.value for node in ast.walk(functions[vanilla]) if isinstance(node, ast.Call)
                for kw in node.keywords if kw.arg == "dim"]
        assert dims and all(isinstance(d, ast.Constant) and d.value == 0 for d in dims), vanilla
        # Plain operators only: the tricks belong to the fast module.
        assert not {"addcmul", "addcmul_", "vector_norm", "rsqrt"} & _calls(functions[vanilla])


def test_fast_reference_never_reaches_a_bundle(tmp_path: Path) -> None:
    written = build.release(tmp_path / "bundle")
    assert not [rel for rel in written if "fast" in rel]
    solution = build.solution(tmp_path / "solution")
    assert not [rel for rel in solution if "fast" in rel]
    # And if it ever were copied in, the leak check would refuse the bundle.
    planted = tmp_path / "planted"
    planted.mkdir()
    (planted / "helper.py").write_bytes(build.FAST_REFERENCE.read_bytes())
    found = build.leaks(planted)
    assert any("addcmul" in line for line in found), found
