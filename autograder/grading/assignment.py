"""The one description of the assignment: graded files, their sections, functions and bans.

Everything else is derived from here: the static rules (``static.py``), the run-time guard's
operator lists (sent to the child in the zygote's config, see ``guard_config``), the grader's
module-to-section map (``grade.py``), nbgrader's ``exclude_overwriting`` and the test
fixtures. Nothing here is secret: the bans are what SPEC.md tells the students.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class GradedFile:
    module: str  # source/<module>.py
    section: str  # points.SECTIONS key
    functions: dict[str, tuple[str, ...]]  # graded function -> parameter names
    bans: tuple[str, ...]  # families banned anywhere in this module, every graded call


@dataclass(frozen=True)
class Family:
    name: str
    label: str  # for messages: "<label> is not allowed in <function>"
    aten: tuple[str, ...]  # aten operators (overload names stripped)
    other_namespaces: str  # regex on "namespace::name" of non-aten operators
    python: tuple[str, ...]  # dotted Python entry points the guard wraps
    static: str  # regex on identifiers, attribute names and looked-up strings


CONVOLUTION = Family(
    "convolution", "convolution",
    aten=("_conv_depthwise2d", "_convolution", "_convolution_double_backward",
          "_convolution_mode", "_mps_convolution", "_mps_convolution_transpose",
          "_nnpack_spatial_convolution", "_slow_conv2d_backward", "_slow_conv2d_forward",
          "conv1d", "conv2d", "conv3d", "conv_depthwise3d", "conv_tbc", "conv_tbc_backward",
          "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "convolution",
          "convolution_backward", "convolution_backward_overrideable",
          "convolution_overrideable", "cudnn_convolution", "cudnn_convolution_add_relu",
          "cudnn_convolution_relu", "cudnn_convolution_transpose", "miopen_convolution",
          "miopen_convolution_add_relu", "miopen_convolution_relu",
          "miopen_convolution_transpose", "miopen_depthwise_convolution",
          "mkldnn_convolution", "mps_convolution_backward",
          "mps_convolution_transpose_backward", "slow_conv3d", "slow_conv3d_forward",
          "slow_conv_dilated2d", "slow_conv_dilated3d", "slow_conv_transpose2d",
          "slow_conv_transpose3d", "thnn_conv2d"),
    other_namespaces=r"^(_?quantized|mkldnn|mkldnn_prepacked|onednn)::\w*conv",
    # numpy's own copies too: np.polymul and np.poly1d reach numeric.convolve, which calls
    # the C multiarray.correlate, never the top-level names.
    python=("numpy.convolve", "numpy.correlate", "numpy._core.numeric.convolve",
            "numpy._core.numeric.correlate", "numpy._core.multiarray.correlate",
            "numpy._core.multiarray.correlate2", "numpy._core._multiarray_umath.correlate",
            "numpy._core._multiarray_umath.correlate2", "torch.nn.grad.conv1d_input",
            "torch.nn.grad.conv1d_weight", "torch.nn.grad.conv2d_input",
            "torch.nn.grad.conv2d_weight", "torch.nn.grad.conv3d_input",
            "torch.nn.grad.conv3d_weight"),
    static=r"^(conv\d?d|conv_transpose\d?d|conv_tbc\w*|_?convolution\w*|\w*convolve\w*|"
           r"polymul|poly1d|polydiv|polynomial|"
           r"\w*correlate\w*|mkldnn_convolution|(Lazy)?Conv(Transpose)?\d?d|conv\d?d_(input|weight)|"
           r"_conv_depthwise2d|_?slow_conv\w*|thnn_conv\w*|conv_depthwise3d)$",
)

NORMALIZATION = Family(
    "normalization", "library normalization (batch, group, layer or instance norm)",
    aten=("_batch_norm_impl_index", "_batch_norm_impl_index_backward",
          "_batch_norm_no_update", "_batch_norm_with_update",
          "_batch_norm_with_update_functional", "_fused_rms_norm", "_fused_rms_norm_backward",
          "_native_batch_norm_legit", "_native_batch_norm_legit_functional",
          "_native_batch_norm_legit_no_training", "batch_norm", "batch_norm_backward",
          "batch_norm_backward_elemt", "batch_norm_backward_reduce", "batch_norm_elemt",
          "batch_norm_gather_stats", "batch_norm_gather_stats_with_counts",
          "batch_norm_stats", "batch_norm_update_stats", "cudnn_batch_norm",
          "cudnn_batch_norm_backward", "group_norm", "instance_norm", "layer_norm",
          "miopen_batch_norm", "miopen_batch_norm_backward", "native_batch_norm",
          "native_batch_norm_backward", "native_group_norm", "native_group_norm_backward",
          "native_layer_norm", "native_layer_norm_backward", "quantized_batch_norm",
          "rms_norm"),
    other_namespaces=r"^(_?quantized|onednn|static_runtime)::\w*_norm",
    python=(),
    static=r"^(batch_norm\w*|group_norm|layer_norm|instance_norm|rms_norm|\w*BatchNorm\w*|"
           r"\w*GroupNorm\w*|\w*LayerNorm\w*|\w*InstanceNorm\w*|\w*RMSNorm\w*|"
           r"LocalResponseNorm|native_\w*_norm\w*|_native_batch_norm\w*|_batch_norm\w*|"
           r"functional_batch_norm|_fused_rms_norm\w*)$",
)

AUTOGRAD = Family(
    "autograd", "autograd",
    aten=(),  # autograd is no operator: the guard sees the engine and graphs being built
    other_namespaces=r"^$",
    python=("torch.autograd.backward", "torch.autograd.grad", "torch.Tensor.backward",
            "torch.autograd.functional.vjp", "torch.autograd.functional.jvp",
            "torch.autograd.functional.jacobian", "torch.autograd.functional.hessian",
            "torch.autograd.functional.vhp", "torch.autograd.functional.hvp",
            "torch.autograd.forward_ad.make_dual", "torch.autograd.forward_ad.dual_level",
            "torch.func.vjp", "torch.func.jvp", "torch.func.grad", "torch.func.grad_and_value",
            "torch.func.jacrev", "torch.func.jacfwd", "torch.func.hessian",
            "torch.func.linearize", "torch.func.vmap", "torch.vmap",
            "torch.Tensor.requires_grad_"),
    static=r"^(autograd|backward|requires_grad_|vjp|jvp|jacobian|hessian|jacrev|jacfwd|vjp_fn|"
           r"grad_and_value|linearize|vmap|_ImperativeEngine|_execution_engine|run_backward|"
           r"torch\.func(\.\w+)*|functorch(\.\w+)*)$",
)

FAMILIES = {f.name: f for f in (CONVOLUTION, NORMALIZATION, AUTOGRAD)}

# Graded files. Scope (SPEC.md): convolution anywhere in the cross-correlation module;
# normalization and autograd anywhere in the batch-norm module, forward and backward.
FILES = (
    GradedFile("cross_correlation", "cross_correlation",
               {"cross_corr_2d": ("X", "K")}, bans=("convolution",)),
    GradedFile("batchnorm", "spatial_batchnorm",
               {"spatial_batchnorm_forward": ("x", "gamma", "beta", "bn_param"),
                "spatial_batchnorm_backward": ("dout", "cache")},
               bans=("normalization", "autograd")),
)
#: What every file under source/ may import (SPEC.md: "only what the assignment allows",
#: listed here once). The notebook's rules and README_student.md state exactly this list (a
#: test compares them); the review flags any other import, and the package's own modules
#: (relative imports, ``source.*``) are always allowed. A submodule is allowed only where it
#: is listed itself: ``numpy`` allows ``from numpy import ...``, not ``import numpy.ctypeslib``.
ALLOWED_IMPORTS = ("torch", "torch.nn", "torch.nn.functional", "torch.linalg", "torch.fft",
                   "numpy", "numpy.linalg", "numpy.lib.stride_tricks", "math", "typing",
                   "functools", "itertools", "operator", "dataclasses", "collections",
                   "collections.abc", "__future__")
#: The students' own package: ``from . import helpers`` or ``import source.helpers``.
OWN_PACKAGE = "source"


def import_allowed(module: str) -> bool:
    """Whether `import module` (or `from module import ...`) is on the assignment's list.
    The package's own modules count by their bare names too (``from gradcheck import ...``
    in a file run as a script from ``source/``)."""
    return module in ALLOWED_IMPORTS or module == OWN_PACKAGE \
        or module.startswith(OWN_PACKAGE + ".") or module in OWN_MODULES


#: Files the package ships besides the graded ones (students' copies are kept by nbgrader).
SHIPPED = ("__init__", "gradcheck")
#: The package's own modules, by bare name.
OWN_MODULES = frozenset({*(f.module for f in FILES), *SHIPPED[1:]})
TAMPERING = "tampering"

MODULES = {f.module: f for f in FILES}
SECTION_OF_MODULE = {f.module: f.section for f in FILES}
SIGNATURES = {f.module: dict(f.functions) for f in FILES}
# What a test of a module is zeroed for: its bans, and tampering with the checks.
FORBIDDEN_FAMILIES = {f.module: {*f.bans, TAMPERING} for f in FILES}


def exclude_overwriting() -> list[str]:
    """The students' own files that nbgrader must not replace with the master copies."""
    return [f"source/{m}.py" for m in (SHIPPED[0], *MODULES, *SHIPPED[1:])]


def static_pattern(family: str) -> re.Pattern:
    return re.compile(FAMILIES[family].static)


def guard_config() -> dict:
    """The public ban lists the child's guard needs (JSON for the zygote's config)."""
    return {name: {"label": f.label, "aten": list(f.aten),
                   "other_namespaces": f.other_namespaces, "python": list(f.python)}
            for name, f in FAMILIES.items()}


def rules_for(module: str) -> list[str]:
    return list(MODULES[module].bans)
