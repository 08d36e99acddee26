"""Banned calls, issue #10: every way around a ban either fails or leaves a flag, and honest
code with the allowed tools is never flagged.

Each bypass is planted in the reference submission (its values are right, so only the
checks can take the points). The tests marked "without the protection" grade a cheat with
one protection switched off in the judge, to show that protection is the one at work.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import torch

from autograder import points
from autograder.grading import assignment, grade, hidden_tests, review, static
from autograder.grading import sandbox as sandbox_mod
from autograder.grading.child import wire
from autograder.grading.sandbox import Sandbox
from tests.variants import make_submission

REPO = Path(__file__).resolve().parent.parent
TIMEOUT = 5.0
CC = "cross_correlation"
BN = "batchnorm"


@pytest.fixture(scope="module")
def sb():
    with Sandbox(slot=31) as box:
        yield box


@pytest.fixture(scope="module")
def ref(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("ref")
    return make_submission(base / "ref", None)


def plant(ref: Path, tmp_path: Path, module: str | None = None, code: str = "",
          files: dict[str, str] | None = None) -> Path:
    """The reference with code appended to source/<module>.py and extra files written."""
    dest = tmp_path / "sub"
    shutil.copytree(ref, dest, symlinks=True)
    if module:
        with open(dest / "source" / f"{module}.py", "a", encoding="utf-8") as fh:
            fh.write("\n\n" + code + "\n")
    for rel, text in (files or {}).items():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        mode = "a" if target.exists() and rel.endswith("__init__.py") else "w"
        with open(target, mode, encoding="utf-8") as fh:
            fh.write(text)
    return dest


def by_test(result: dict) -> dict[str, dict]:
    return {t["name"]: t for t in result["tests"]}


def affected(module: str, function: str | None) -> list[str]:
    return [n for n, t in hidden_tests.TESTS.items()
            if t.module == module and (function is None or function in t.functions)]


# ------------------------------------------------------------------ the one description

def test_every_view_is_derived_from_the_description():
    assert grade.SECTION_OF_MODULE == {f.module: f.section for f in assignment.FILES}
    assert static.SIGNATURES == {f.module: f.functions for f in assignment.FILES}
    assert set(static.RULES) == set(assignment.MODULES)
    sections = {s.key for s in points.SECTIONS}
    assert set(assignment.SECTION_OF_MODULE.values()) <= sections
    assert {t.module for t in hidden_tests.TESTS.values()} == set(assignment.MODULES)
    for test in hidden_tests.TESTS.values():
        assert set(test.functions) <= set(assignment.SIGNATURES[test.module])
    config = (REPO / "autograder" / "nbgrader_config.py").read_text()
    assert "assignment.exclude_overwriting()" in config
    for rel in assignment.exclude_overwriting():
        assert (REPO / rel).is_file(), rel
    # The guard's lists travel in the zygote's config: JSON, public.
    assert set(assignment.guard_config()) == set(assignment.FAMILIES)


def _op_names() -> set[str]:
    return {n.split(".")[0] for n in torch._C._dispatch_get_all_op_names()}


# Names that match a family's pattern but are not in it (each with why).
NOT_IN_FAMILY = {
    "aten::_convert_indices_from_coo_to_csr",  # sparse index conversion
    "aten::_convert_indices_from_csr_to_coo",
    "aten::_convert_weight_to_int4pack",  # quantized weight packing
    "aten::_convert_weight_to_int4pack_for_cpu",
    "aten::mkldnn_reorder_conv2d_weight",  # weight layout reorder, computes no convolution
    "aten::mkldnn_reorder_conv3d_weight",
    "aten::_weight_norm", "aten::_weight_norm_interface",  # weight reparametrisation
    "aten::_weight_norm_interface_backward", "aten::_weight_norm_differentiable_backward",
    "aten::norm_except_dim",
    "aten::_foreach_norm", "aten::norm", "aten::native_norm", "aten::frobenius_norm",
    "aten::nuclear_norm", "aten::linalg_norm", "aten::linalg_vector_norm",  # vector norms
    "aten::linalg_matrix_norm", "aten::renorm", "aten::renorm_", "aten::embedding_renorm",
    "aten::embedding_renorm_",
    "aten::normal", "aten::normal_", "aten::normal_functional", "aten::log_normal",
    "aten::log_normal_", "aten::_philox_normal", "aten::_philox_normal_",  # random numbers
}
_CONV_NAME = re.compile(r"conv")
_NORM_NAME = re.compile(r"norm")


def test_every_aten_operator_of_a_banned_family_is_covered():
    """Fails when a torch version brings a convolution or normalization operator that the
    description does not list (add it to the family, or to NOT_IN_FAMILY with a reason)."""
    conv, norm = assignment.CONVOLUTION, assignment.NORMALIZATION
    missing = []
    for name in sorted(_op_names()):
        namespace, _, bare = name.partition("::")
        for family, pattern in ((conv, _CONV_NAME), (norm, _NORM_NAME)):
            if not pattern.search(bare) or name in NOT_IN_FAMILY:
                continue
            if namespace == "aten":
                if bare not in family.aten:
                    missing.append(f"{name} ({family.name})")
            elif namespace in ("quantized", "_quantized", "mkldnn", "mkldnn_prepacked",
                               "onednn", "static_runtime"):
                if not re.search(family.other_namespaces, name) \
                        and "prepack" not in bare and "unpack" not in bare \
                        and "reorder" not in bare and "convert" not in bare:
                    missing.append(f"{name} ({family.name})")
    assert not missing, missing
    # And every listed operator exists in this torch (a stale name would hide a typo).
    aten = {n.partition("::")[2] for n in _op_names() if n.startswith("aten::")}
    stale = [op for f in (conv, norm) for op in f.aten if op not in aten]
    assert not stale, stale


# ------------------------------------------------------------------ static review

@pytest.mark.parametrize("code, expect", [
    ("import sys\nsys.modules['x'] = None\n", "sys.modules"),
    ("import __main__\n", "__main__"),
    ("import builtins\n", "builtins"),
    ("import gc\n", "gc"),
    ("import ctypes\n", "ctypes"),
    ("import inspect\nf = inspect.currentframe().f_back\n", "frames"),
    ("import importlib\n", "importlib"),
    ("exec('x = 1')\n", "exec"),
    ("y = eval('1')\n", "eval"),
    ("c = compile('1', 'f', 'eval')\n", "compile"),
    ("import torch\nf = torch._C._nn\n", "torch._C"),
    ("import torch\nf = torch.ops.aten.add\n", "torch.ops"),
    ("import torch.library\n", "torch.library"),
    ("import torch\nn = 'conv'\nf = getattr(torch, n)\n", "computed name"),
    ("v = vars()\n", "vars"),
    ("import subprocess\n", "subprocess"),
    ("import os\nos.system('true')\n", "os.system"),
    # Issue 18.2: the allowlist sees what the old blocklist missed.
    ("import sys as s\nm = s.modules['torch']\n", "imports sys"),
    ("import sys as s\nm = s.modules['torch']\n", "sys.modules[...]"),
    ("import torch\nf = torch.nn.functional.__dict__['con' + 'v2d']\n", "__dict__"),
    ("import torch\nn = 'x'\nf = torch.nn.functional.__getattr__(n)\n", "__getattr__"),
    ("def peek(wrapper):\n    return wrapper.__closure__[0].cell_contents\n", "__closure__"),
    ("def peek(f):\n    return f.__globals__\n", "__globals__"),
    ("x = ().__class__.__base__.__subclasses__()\n", "__subclasses__"),
    ("x = object.__getattribute__(len, '__self__')\n", "__getattribute__"),
    ("g = getattr(len, '__self__')\n", "__self__"),
    ("import torch\nm = torch.sys.modules\n", "reaches the module sys"),
    ("from numpy import ctypeslib\n", "ctypeslib"),
    ("import numpy.ctypeslib\n", "imports numpy.ctypeslib"),
    ("import threading\n", "imports threading"),
    ("import multiprocessing as mp\n", "imports multiprocessing"),
    ("from os import path\n", "imports from os"),
    ("import scipy.signal\n", "imports scipy.signal"),
    ("import torch\nc = getattr(torch, '_C')\n", "torch._C"),
    ("from torch import _C\n", "torch._C"),
    ("from torch.utils._python_dispatch import _disable_current_modes\n", "torch.utils"),
    ("import torch\nsetattr(torch, 'einsum', None)\n", "changes torch.einsum"),
    ("import torch.nn.functional as F\nF.pad = None\n", "changes torch.nn.functional.pad"),
    ("g = getattr\n", "passes getattr around"),
    ("m = globals()['torch']\n", "globals()[...]"),
    ("from .. import elsewhere\n", "outside the package"),
    # Red team pass 5: torch reached through a call, so no module path is known.
    ("T = (lambda: torch)()\nwith T.utils._mode_utils.no_dispatch():\n    pass\n",
     "reaches _mode_utils"),
    ("import operator\nget = operator.attrgetter(''.join(['con', 'v2d']))\n",
     "computed name (attrgetter)"),
    ("from operator import methodcaller\ncall = methodcaller('__reduce__')\n", "__reduce__"),
    ("class T:\n    @classmethod\n    def __torch_function__(cls, f, t, a=(), k=None):\n"
     "        return f(*a)\n", "__torch_function__"),
])
def test_review_flags_with_file_and_line(code, expect, tmp_path):
    (tmp_path / "helper.py").write_text("# a helper\n" + code, encoding="utf-8")
    notes = review.review(tmp_path).notes
    assert any(n.startswith("for review: source/helper.py:") and expect in n for n in notes), notes


def test_encoding_cookie_other_than_utf8_is_rejected(tmp_path):
    (tmp_path / "helper.py").write_bytes(b"# -*- coding: utf-7 -*-\nx = 1\n")
    problems = review.review(tmp_path).problems
    assert problems and "utf-7" in problems[0] and "UTF-8" in problems[0], problems
    (tmp_path / "helper.py").write_bytes(b"# -*- coding: utf-8 -*-\nx = 1\n")
    assert review.review(tmp_path).problems == []


def test_shipped_files_and_correct_variants_are_not_flagged(tmp_path):
    from tests.variants import all_variants

    assert review.review(REPO / "source").notes == []
    for variant in all_variants("correct"):
        dest = make_submission(tmp_path / variant.name, variant)
        assert review.review(dest / "source") == review.Review(), variant.name


# ------------------------------------------------------------------ bypasses

BN_HONEST = '''
_honest_forward = spatial_batchnorm_forward
_honest_backward = spatial_batchnorm_backward


def _f(x, g, b, eps):
    m = x.mean(dim=(0, 2, 3), keepdim=True)
    v = ((x - m) ** 2).mean(dim=(0, 2, 3), keepdim=True)
    return (x - m) / torch.sqrt(v + eps) * g.view(1, -1, 1, 1) + b.view(1, -1, 1, 1)
'''

CONV_F = "torch.nn.functional.conv2d(X[None, None], K[None, None].to(X.dtype))[0, 0]"
# The same call with a name the static check cannot read: only the run-time guard sees it.
CONV_HIDDEN = ('getattr(torch.nn.functional, "d2vnoc"[::-1])(X[None, None], '
               'K[None, None].to(X.dtype))[0, 0]')
# Forward cheats that use the banned call in train mode only.
TRAIN_ONLY = {"native_group_norm", "func_vjp_in_forward", "jacobian_in_forward"}

BYPASSES = {
    # name: (module, cheating function, code appended, extra files, expected flag)
    "nn_grad_conv2d_weight": (CC, "cross_corr_2d", '''
import torch.nn.grad


def cross_corr_2d(X, K):
    size = (1, 1, X.shape[0] - K.shape[0] + 1, X.shape[1] - K.shape[1] + 1)
    return torch.nn.grad.conv2d_weight(X[None, None], size, K[None, None].to(X.dtype))[0, 0]
''', None, "forbidden"),
    "aten_convolution_backward": (CC, "cross_corr_2d", '''
def cross_corr_2d(X, K):
    oh, ow = X.shape[0] - K.shape[0] + 1, X.shape[1] - K.shape[1] + 1
    weight = X.new_zeros(1, 1, oh, ow)
    op = getattr(torch.ops.aten, "noitulovnoc"[::-1] + "_backward")
    return op(K[None, None].to(X.dtype), X[None, None], weight, None, [1, 1], [0, 0], [1, 1],
              False, [0, 0], 1, [False, True, False])[1][0, 0]
''', None, "forbidden"),
    "nn_Conv2d_module": (CC, "cross_corr_2d", '''
def cross_corr_2d(X, K):
    layer = torch.nn.Conv2d(1, 1, tuple(K.shape), bias=False).to(X.dtype)
    with torch.no_grad():
        layer.weight.copy_(K[None, None])
        return layer(X[None, None])[0, 0]
''', None, "forbidden"),
    "native_group_norm": (BN, "spatial_batchnorm_forward", BN_HONEST + '''

def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    out, cache = _honest_forward(x, gamma, beta, bn_param)
    if bn_param["mode"] == "train":
        n, c, h, w = x.shape
        flat = x.permute(1, 0, 2, 3).reshape(1, c, n * h * w)
        norm = getattr(torch.ops.aten, "native_group" + "_norm")
        y = norm(flat, gamma, beta, 1, c, n * h * w, c, bn_param.get("eps", 1e-5))[0]
        out = y.reshape(c, n, h, w).permute(1, 0, 2, 3)
    return out, cache
''', None, "forbidden"),
    "native_group_norm_backward": (BN, "spatial_batchnorm_backward", BN_HONEST + '''

def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    out, cache = _honest_forward(x, gamma, beta, bn_param)
    return out, (x.clone(), gamma.clone(), bn_param.get("eps", 1e-5))


def spatial_batchnorm_backward(dout, cache):
    x, gamma, eps = cache
    n, c, h, w = x.shape
    flat = x.permute(1, 0, 2, 3).reshape(1, c, n * h * w)
    mean = flat.mean(dim=2)
    rstd = 1 / torch.sqrt(flat.var(dim=2, unbiased=False) + eps)
    d = dout.permute(1, 0, 2, 3).reshape(1, c, n * h * w)
    back = getattr(torch.ops.aten, "mron_puorg_evitan"[::-1] + "_backward")
    dx, dgamma, dbeta = back(d, flat, mean, rstd, gamma, 1, c, n * h * w, c,
                             [True, True, True])
    return dx.reshape(c, n, h, w).permute(1, 0, 2, 3), dgamma, dbeta
''', None, "forbidden"),
    "func_vjp_in_forward": (BN, "spatial_batchnorm_forward", BN_HONEST + '''
from torch import func as _tf


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    out, cache = _honest_forward(x, gamma, beta, bn_param)
    if bn_param["mode"] != "train":
        return out, cache
    eps = bn_param.get("eps", 1e-5)
    out, pullback = _tf.vjp(lambda a, b, c: _f(a, b, c, eps), x, gamma, beta)
    return out, pullback


def spatial_batchnorm_backward(dout, cache):
    return cache(dout)
''', None, "forbidden"),
    "jacobian_in_forward": (BN, "spatial_batchnorm_forward", BN_HONEST + '''
import torch.autograd.functional as _agf


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    out, cache = _honest_forward(x, gamma, beta, bn_param)
    if bn_param["mode"] != "train":
        return out, cache
    eps = bn_param.get("eps", 1e-5)
    jac = _agf.jacobian(lambda a, b, c: _f(a, b, c, eps), (x, gamma, beta))
    return out, jac


def spatial_batchnorm_backward(dout, cache):
    return tuple(torch.tensordot(dout, j, dims=dout.dim()) for j in cache)
''', None, "forbidden"),
    "engine_run_backward": (BN, "spatial_batchnorm_backward", BN_HONEST + '''

def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    out, cache = _honest_forward(x, gamma, beta, bn_param)
    return out, (x.clone(), gamma.clone(), beta.clone(), bn_param.get("eps", 1e-5))


def spatial_batchnorm_backward(dout, cache):
    x, gamma, beta, eps = (t.detach().clone() if hasattr(t, "detach") else t for t in cache)
    for t in (x, gamma, beta):
        t.requires_grad = True
    out = _f(x, gamma, beta, eps)
    engine = getattr(torch._C, "_Imperative" + "Engine")()
    return engine.run_backward((out,), (dout,), False, False, (x, gamma, beta), False, False)
''', None, "forbidden"),
    # The same, with every name the static check knows computed: only the guard's watch on
    # the autograd engine sees it.
    "engine_by_computed_names": (BN, "spatial_batchnorm_backward", BN_HONEST + '''

def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    out, cache = _honest_forward(x, gamma, beta, bn_param)
    return out, (x.clone(), gamma.clone(), beta.clone(), bn_param.get("eps", 1e-5))


def spatial_batchnorm_backward(dout, cache):
    x, gamma, beta, eps = (t.detach().clone() if hasattr(t, "detach") else t for t in cache)
    for t in (x, gamma, beta):
        t.requires_grad = True
    out = _f(x, gamma, beta, eps)
    engine = getattr(torch._C, "enignEevitarepmI_"[::-1])()
    run = getattr(engine, "drawkcab_nur"[::-1])
    return run((out,), (dout,), False, False, (x, gamma, beta), False, False)
''', None, "forbidden"),
    "helper_file": (CC, "cross_corr_2d", '''
from . import _helpers


def cross_corr_2d(X, K):
    return _helpers.corr(X, K)
''', {"source/_helpers.py": f'''import torch


def corr(X, K):
    return {CONV_F}
'''}, "source/_helpers.py:5"),
    "shadowing_package": (None, "cross_corr_2d", "", {
        "source/cross_correlation/__init__.py": f'''import torch


def cross_corr_2d(X, K):
    return {CONV_F}
'''}, "shadows the graded module"),
    "code_in_init": (CC, "cross_corr_2d", '''
from . import _c


def cross_corr_2d(X, K):
    return _c(X[None, None], K[None, None].to(X.dtype))[0, 0]
''', {"source/__init__.py": '''
import torch.nn.functional as _F

_c = _F.conv2d
'''}, "source/__init__.py"),
    "utf7_cookie_helper": (CC, "cross_corr_2d", '''
from . import _hidden


def cross_corr_2d(X, K):
    return _hidden.corr(X, K)
''', {"source/_hidden.py": "# -*- coding: utf-7 -*-\nimport torch\n\n\ndef corr(X, K):\n"
      "    return torch.nn.functional.conv2d(X[None, None], K[None, None].to(X.dtype))[0, 0]"
      "\n"}, "utf-7"),
    "record_erased": (CC, "cross_corr_2d", f'''
import __main__


def cross_corr_2d(X, K):
    try:
        return {CONV_HIDDEN}
    finally:
        __main__.WATCH.found.clear()
''', None, "forbidden"),
    "guard_replaced": (CC, "cross_corr_2d", f'''
import __main__

__main__.WATCH.deny = lambda family, what: None
__main__.WATCH.seen = lambda: []


def cross_corr_2d(X, K):
    return {CONV_HIDDEN}
''', None, grade.GUARD_DISABLED),
    "dispatch_patched": (CC, "cross_corr_2d", f'''
import sys

_w = getattr(sys.modules["__main__"], "WA" + "TCH")
_w.mode_class.__torch_dispatch__ = lambda self, f, t, a=(), k=None: f(*a, **(k or {{}}))
setattr(type(_w), "pro" + "be", lambda self: None)


def cross_corr_2d(X, K):
    return {CONV_HIDDEN}
''', None, grade.GUARD_DISABLED),
    "guard_switched_off": (CC, "cross_corr_2d", f'''
import __main__


def cross_corr_2d(X, K):
    __main__.WATCH.active = False
    return {CONV_HIDDEN}
''', None, "tampering: the guard was switched off"),
    "guard_rules_emptied": (CC, "cross_corr_2d", f'''
import __main__


def cross_corr_2d(X, K):
    __main__.WATCH.rules = frozenset()
    return {CONV_HIDDEN}
''', None, "tampering: the guard was switched off"),
    "numpy_correlate_by_name": (CC, "cross_corr_2d", '''
import numpy


def cross_corr_2d(X, K):
    corr = getattr(numpy, "etalerroc"[::-1])
    x, k = X.detach().cpu().numpy(), K.detach().cpu().numpy()
    rows = [sum(corr(x[i + a], k[a], "valid") for a in range(k.shape[0]))
            for i in range(x.shape[0] - k.shape[0] + 1)]
    return torch.from_numpy(numpy.stack(rows)).to(X.dtype)
''', None, "forbidden operation at run time: convolution: numpy.correlate"),
    "inputs_zeroed_and_restored": (CC, None, '''
_honest = cross_corr_2d


def cross_corr_2d(X, K):
    Y = _honest(X, K)
    keep = X.clone()
    X.zero_()
    X.set_(keep)  # the process now reports the original values back
    return Y
''', None, None),
}


# Red team, second pass: a helper past the review's size limit was imported but never read
# (so `sys.modules["__main__"].WATCH` in it went unflagged), and the guard switched off and
# on again around the banned call was not seen by its end-of-call check.
BYPASSES["oversized_helper_unread"] = (CC, "cross_corr_2d", '''
from . import _big


def cross_corr_2d(X, K):
    return _big.corr(X, K)
''', {"source/_big.py": "import sys\nimport torch\n" + "# padding\n" * 120_000
      + "\n\ndef corr(X, K):\n    w = sys.modules['__main__'].WATCH\n    w.active = False\n"
      "    try:\n        return torch.nn.functional.conv2d(X[None, None], "
      "K[None, None].to(X.dtype))[0, 0]\n    finally:\n        w.active = True\n"},
    "byte limit for a Python file")
BYPASSES["guard_toggled_off_and_on"] = (CC, "cross_corr_2d", '''
import __main__


def cross_corr_2d(X, K):
    w = __main__.WATCH
    w.active = False
    try:
        return torch.nn.functional.conv2d(X[None, None], K[None, None].to(X.dtype))[0, 0]
    finally:
        w.active = True
''', None, "tampering: the guard was switched off during the call")
# The operator watch popped off torch's mode stack: the call's result stands, but leaving
# the guard finds the stack empty, and that is tampering (issue 22).
BYPASSES["dispatch_mode_popped"] = (CC, "cross_corr_2d", '''
from torch.utils._python_dispatch import _pop_mode


def cross_corr_2d(X, K):
    _pop_mode()
    return torch.ops.aten.convolution(X[None, None], K[None, None].to(X.dtype), None, [1, 1],
                                      [0, 0], [1, 1], False, [0, 0], 1)[0, 0]
''', None, "tampering: the operator watch was removed")
#: Bypasses that stop all code grading (a file the checks cannot read), not one section.
STOPS_ALL = {"utf7_cookie_helper", "oversized_helper_unread"}


@pytest.mark.parametrize("name", sorted(BYPASSES))
def test_bypass_fails_or_is_flagged(name, sb, ref, tmp_path):
    module, function, code, files, flag = BYPASSES[name]
    result = grade.grade_submission(plant(ref, tmp_path, module, code, files), sandbox=sb,
                                    timeout=TIMEOUT)
    tests = by_test(result)
    if name == "inputs_zeroed_and_restored":
        assert tests["cc_inputs_unmodified"]["score"] == 0, tests["cc_inputs_unmodified"]
        assert "X" in tests["cc_inputs_unmodified"]["output"]
        return
    module = module or CC
    lost = affected(module, function)
    if name in TRAIN_ONLY:
        lost = [n for n in lost if n not in ("bn_test_mode", "bn_invalid_mode")]
    for test_name in lost:
        assert tests[test_name]["score"] == 0, (test_name, tests[test_name])
    assert any(flag in f for f in result["flags"]), result["flags"]
    other = "spatial_batchnorm" if module == CC else "cross_correlation"
    if name not in STOPS_ALL:  # a file that cannot be read stops all code grading
        assert result["sections"][other]["score"] == points.section_max(other)


def test_denied_operator_names_the_rule(sb, ref, tmp_path):
    code = BYPASSES["record_erased"][2]
    result = grade.grade_submission(plant(ref, tmp_path, CC, code), sandbox=sb, timeout=TIMEOUT)
    out = by_test(result)["cc_worked_example"]["output"]
    assert "convolution is not allowed in cross_corr_2d" in out, out


# ------------------------------------------------------------------ without the protection

@pytest.fixture
def unguarded(monkeypatch):
    """A slot whose guard has no ban lists and whose probe answer is not checked."""
    monkeypatch.setattr(assignment, "guard_config",
                        lambda: {n: {"label": n, "aten": [], "other_namespaces": "^$",
                                     "python": []} for n in assignment.FAMILIES})
    monkeypatch.setattr(sandbox_mod, "_guard_problem", lambda reply, msg: None)
    with Sandbox(slot=32) as box:
        yield box


@pytest.mark.parametrize("name", ["aten_convolution_backward", "native_group_norm_backward"])
def test_without_the_guard_the_bypass_scores(name, unguarded, ref, tmp_path):
    module, function, code, files, _ = BYPASSES[name]
    path = plant(ref, tmp_path, module, code, files)
    assert not static.analyse(path / "source" / f"{module}.py", module).forbidden
    result = grade.grade_submission(path, sandbox=unguarded, timeout=TIMEOUT)
    tests = by_test(result)
    assert all(tests[n]["score"] == points.TESTS[n][1] for n in affected(module, function)), \
        result["tests"]


def test_without_shared_memory_the_lie_about_inputs_scores(sb, ref, tmp_path, monkeypatch):
    monkeypatch.setattr(wire, "shareable", lambda torch_, value: False)
    code = BYPASSES["inputs_zeroed_and_restored"][2]
    result = grade.grade_submission(plant(ref, tmp_path, CC, code), sandbox=sb, timeout=TIMEOUT)
    assert by_test(result)["cc_inputs_unmodified"]["score"] == 2.0


# ------------------------------------------------------------------ fairness

FAIR = {
    "matmul_on_unfold": (CC, '''
def cross_corr_2d(X, K):
    kh, kw = K.shape
    cols = X.unfold(0, kh, 1).unfold(1, kw, 1)
    oh, ow = cols.shape[:2]
    return (cols.reshape(oh * ow, kh * kw) @ K.reshape(-1).to(X.dtype)).reshape(oh, ow)
'''),
    "as_strided_einsum_loops_helpers": (CC, '''
class _Windows:
    def __init__(self, X, K):
        self.X, self.K = X, K

    def backward(self):  # a method of the student's own called backward
        kh, kw = self.K.shape
        oh, ow = self.X.shape[0] - kh + 1, self.X.shape[1] - kw + 1
        s0, s1 = self.X.stride()
        return self.X.as_strided((oh, ow, kh, kw), (s0, s1, s0, s1))


def _combine(w, K):
    out = torch.zeros(w.shape[:2], dtype=w.dtype)
    for a in range(K.shape[0]):
        out += torch.einsum("ijb,b->ij", w[:, :, a, :], K[a].to(w.dtype))
    return out


def cross_corr_2d(X, K):
    return _combine(_Windows(X.contiguous(), K).backward(), K)
'''),
    "var_mean_class_with_backward": (BN, '''
class _Cache:
    def __init__(self, xhat, inv_std, gamma):
        self.xhat, self.inv_std, self.gamma = xhat, inv_std, gamma

    def backward(self, dout):
        dims = (0, 2, 3)
        m = dout.numel() / dout.shape[1]
        g = self.gamma.view(1, -1, 1, 1)
        dbeta = dout.sum(dim=dims)
        dgamma = (dout * self.xhat).sum(dim=dims)
        dxhat = dout * g
        dx = (m * dxhat - dxhat.sum(dim=dims, keepdim=True)
              - self.xhat * (dxhat * self.xhat).sum(dim=dims, keepdim=True))
        return dx * self.inv_std / m, dgamma, dbeta


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    if mode not in ("train", "test"):
        raise ValueError(mode)
    eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    c = x.shape[1]
    rm = bn_param.get("running_mean", torch.zeros(c, dtype=x.dtype, device=x.device))
    rv = bn_param.get("running_var", torch.zeros(c, dtype=x.dtype, device=x.device))
    if mode == "train":
        var, mean = torch.var_mean(x, dim=(0, 2, 3), correction=0)
        bn_param["running_mean"] = momentum * rm + (1 - momentum) * mean
        bn_param["running_var"] = momentum * rv + (1 - momentum) * var
    else:
        mean, var = rm, rv
        bn_param["running_mean"], bn_param["running_var"] = rm, rv
    inv_std = 1 / torch.sqrt(var + eps).view(1, -1, 1, 1)
    xhat = (x - mean.view(1, -1, 1, 1)) * inv_std
    out = gamma.view(1, -1, 1, 1) * xhat + beta.view(1, -1, 1, 1)
    return out, _Cache(xhat, inv_std, gamma)


def spatial_batchnorm_backward(dout, cache):
    return cache.backward(dout)
'''),
}


@pytest.mark.parametrize("name", sorted(FAIR))
def test_allowed_tools_keep_full_marks_and_no_flag(name, sb, ref, tmp_path):
    module, code = FAIR[name]
    files = {"source/_own_helpers.py": "import torch\n\n\ndef twice(t):\n    return t * 2\n"}
    result = grade.grade_submission(plant(ref, tmp_path, module, code, files), sandbox=sb,
                                    timeout=TIMEOUT)
    key = assignment.SECTION_OF_MODULE[module]
    assert result["sections"][key]["score"] == points.section_max(key), result["tests"]
    assert result["flags"] == [], result["flags"]


GUARD_SCRIPT = r'''
import functools, json, sys
import numpy, torch
sys.path.insert(0, sys.argv[1])
from guard import ForbiddenOperation, Watch

w = Watch(torch, numpy, json.loads(sys.argv[2]))
leaf = torch.randn(3, requires_grad=True)
f = lambda t: (t * t).sum()
routes = {
    "Tensor.backward": lambda: (leaf * 2).sum().backward(),
    "autograd.grad": lambda: torch.autograd.grad(f(leaf), leaf),
    "functional.jacobian": lambda: torch.autograd.functional.jacobian(f, torch.ones(3)),
    "func.vjp": lambda: torch.func.vjp(f, torch.ones(3)),
    "func.jvp": lambda: torch.func.jvp(f, (torch.ones(3),), (torch.ones(3),)),
    "func.grad": lambda: torch.func.grad(f)(torch.ones(3)),
    "engine": lambda: torch._C._ImperativeEngine().run_backward(
        (f(leaf),), (torch.ones(()),), False, False, (leaf,), False, False),
    "requires_grad_": lambda: torch.ones(3).requires_grad_(),
    # A leaf made before the guard (at import time, say): recording a graph on it is denied
    # at the operator, alone or inside a list argument (issue 22).
    "graph_on_a_kept_leaf": lambda: leaf * 2,
    "kept_leaf_in_a_list": lambda: torch.cat([leaf, leaf]),
}
out = {}
for name, route in routes.items():
    try:
        with w.scope(["autograd"], "spatial_batchnorm_backward"):
            route()
        out[name] = "ran"
    except ForbiddenOperation as exc:
        out[name] = str(exc)
# Built before the guard: a graph or a pullback kept in a cache is seen afterwards.
_, pullback = torch.func.vjp(f, torch.ones(3))
out["cache_graph"] = w.autograd_left([None, [(leaf * 2,)]])
out["cache_pullback"] = w.autograd_left([None, [{"p": pullback}]])
# Each way an autograd object can hide is read on its own (issue 22): a closure cell, a
# partial's arguments, an autograd function by its module, six containers deep.
def _keeper(t):
    return lambda: t
out["cache_closure"] = w.autograd_left([None, [{"k": _keeper(leaf * 2)}]])
out["cache_partial"] = w.autograd_left([None, [functools.partial(print, leaf * 2)]])
out["cache_autograd_function"] = w.autograd_left([None, [torch.autograd.grad]])
out["deep_graph"] = w.autograd_left([[[[[[leaf * 2]]]]]])
out["honest"] = w.autograd_left([torch.ones(2), [{"k": torch.zeros(1)}, 1.0, "x"]])
with w.scope(["autograd"], "spatial_batchnorm_backward"):
    class Mine:
        def backward(self, d):
            return d * 2
    out["own_backward"] = float(Mine().backward(torch.ones(1)))
    out["var_mean"] = [float(v) for v in torch.var_mean(torch.arange(4.0), correction=0)]
out["probe"] = w.probe()
print(json.dumps(out))
'''


def test_guard_sees_autograd_on_every_route(tmp_path):
    import json
    import subprocess
    import sys

    child = Path(wire.__file__).parent
    proc = subprocess.run([sys.executable, "-c", GUARD_SCRIPT, str(child),
                           json.dumps(assignment.guard_config())],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for route in ("Tensor.backward", "autograd.grad", "functional.jacobian", "func.vjp",
                  "func.jvp", "func.grad", "engine", "requires_grad_",
                  "graph_on_a_kept_leaf", "kept_leaf_in_a_list"):
        assert out[route].startswith("autograd is not allowed in spatial_batchnorm_backward"), \
            (route, out[route])
    assert out["cache_graph"] and out["cache_pullback"], out
    for kept in ("cache_closure", "cache_partial", "cache_autograd_function", "deep_graph"):
        assert out[kept], (kept, out)
    assert out["honest"] == []
    assert out["own_backward"] == 2.0 and out["var_mean"] == [1.25, 1.5]
    assert out["probe"] is None


def test_encoding_cookie_in_a_graded_module_costs_its_section_only(sb, ref, tmp_path):
    path = plant(ref, tmp_path)
    target = path / "source" / "cross_correlation.py"
    target.write_bytes(b"# -*- coding: utf-7 -*-\n" + target.read_bytes())
    result = grade.grade_submission(path, sandbox=sb, timeout=TIMEOUT)
    assert result["sections"]["cross_correlation"]["score"] == 0
    assert result["sections"]["spatial_batchnorm"]["score"] == 25
    assert any("utf-7" in f and "UTF-8" in f for f in result["flags"]), result["flags"]


# ------------------------------------------------------------------ non-aten operators

# A convolution outside aten (issue 22b): oneDNN's fused kernel, present in this CPU build,
# reached by a computed name (the static check sees no banned name). Only the guard's rule
# on other namespaces (assignment.CONVOLUTION.other_namespaces) can deny it.
BYPASSES["mkldnn_convolution_pointwise"] = (CC, "cross_corr_2d", '''
def cross_corr_2d(X, K):
    op = getattr(torch.ops.mkldnn, "esiwtniop_noitulovnoc_"[::-1])
    y = op(X[None, None].float().contiguous(), K[None, None].float().contiguous(), None,
           [0, 0], [1, 1], [1, 1], 1, "none", [], "")
    return y[0, 0].to(X.dtype)
''', None, "forbidden operation at run time: convolution: mkldnn::_convolution_pointwise")


def test_the_non_aten_convolution_exists_and_computes_one():
    """The bypass above is real in this torch: the operator exists and gives conv2d's
    values (else the test of it would pass for the wrong reason)."""
    x, k = torch.randn(1, 1, 5, 4), torch.randn(1, 1, 2, 3)
    y = torch.ops.mkldnn._convolution_pointwise(x, k, None, [0, 0], [1, 1], [1, 1], 1,
                                                "none", [], "")
    torch.testing.assert_close(y, torch.nn.functional.conv2d(x, k))
    assert re.search(assignment.CONVOLUTION.other_namespaces,
                     "mkldnn::_convolution_pointwise")


def test_non_aten_operator_is_denied(sb, ref, tmp_path):
    """The bypass graded like every other one (it is added to BYPASSES after that test's
    parameters were drawn, so it runs here)."""
    test_bypass_fails_or_is_flagged("mkldnn_convolution_pointwise", sb, ref, tmp_path)


def test_without_the_guard_the_non_aten_bypass_scores(unguarded, ref, tmp_path):
    module, function, code, files, _ = BYPASSES["mkldnn_convolution_pointwise"]
    path = plant(ref, tmp_path, module, code, files)
    assert not static.analyse(path / "source" / f"{module}.py", module).forbidden
    result = grade.grade_submission(path, sandbox=unguarded, timeout=TIMEOUT)
    tests = by_test(result)
    # oneDNN computes in float32 (float64 cases miss their tolerance): the float32 tests
    # are what it steals.
    for name in ("cc_worked_example", "cc_output_shape", "cc_inputs_unmodified"):
        assert tests[name]["score"] == points.TESTS[name][1], tests[name]
