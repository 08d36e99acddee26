"""The run-time guard: records forbidden operators while student code runs."""

from __future__ import annotations

# aten operators (and Python callables) that the assignment forbids, by family.
FORBIDDEN_OPS = {
    "convolution": ("convolution", "_convolution", "conv1d", "conv2d", "conv3d", "conv_tbc",
                    "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
                    "mkldnn_convolution", "_slow_conv2d_forward", "slow_conv3d_forward",
                    "thnn_conv2d", "cudnn_convolution", "_nnpack_spatial_convolution",
                    "slow_conv_dilated2d", "conv_depthwise3d", "_conv_depthwise2d"),
    "batch_norm": ("batch_norm", "native_batch_norm", "_native_batch_norm_legit",
                   "_native_batch_norm_legit_no_training", "_batch_norm_impl_index",
                   "cudnn_batch_norm", "miopen_batch_norm", "_batch_norm_with_update",
                   "_batch_norm_no_update", "native_batch_norm_backward",
                   "batch_norm_backward", "instance_norm"),
}


class Watch:
    """Records forbidden operators used while student code runs.

    A TorchDispatchMode sees every aten operator, however the student reached it
    (aliases, getattr, torch.ops); Python wrappers see autograd and numpy's convolve.
    The student's code runs in this process and could tamper with it, so the judge
    also reads the source statically: this is the second of two independent checks.
    """

    def __init__(self, torch, numpy):
        from torch.utils._python_dispatch import TorchDispatchMode

        self.torch = torch
        self.found: set[str] = set()
        self.autograd_forbidden = False
        op_family = {name: family for family, names in FORBIDDEN_OPS.items() for name in names}
        found = self.found

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                name = func._schema.name.split("::")[-1]
                if name in op_family:
                    found.add(f"{op_family[name]}: aten::{name}")
                return func(*args, **(kwargs or {}))

        self.mode_class = Mode
        watch = self

        def wrap(owner, attr, label):
            original = getattr(owner, attr)

            def wrapper(*args, **kwargs):
                if watch.active and (label.startswith("convolution") or watch.autograd_forbidden):
                    found.add(label)
                return original(*args, **kwargs)

            setattr(owner, attr, wrapper)

        self.active = False
        wrap(torch.autograd, "backward", "autograd: torch.autograd.backward")
        wrap(torch.autograd, "grad", "autograd: torch.autograd.grad")
        wrap(numpy, "convolve", "convolution: numpy.convolve")
        wrap(numpy, "correlate", "convolution: numpy.correlate")

    def __enter__(self):
        self.found.clear()
        self.active = True
        self.mode = self.mode_class()
        self.mode.__enter__()
        return self

    def __exit__(self, *exc):
        self.active = False
        try:
            self.mode.__exit__(*exc)
        except Exception:  # the student may have popped the mode already
            self.found.add("tampering: the operator watch was removed")
        return False

    def seen(self) -> list[str]:
        return sorted(self.found)
