"""Honest batch norm full of words an old blocklist review misread: running statistics made
with ``torch.zeros(C, requires_grad=False)``, the work done under ``torch.no_grad()``, inputs
``.detach()``-ed, locals called ``backward`` and ``grad``, a cache class whose
``__init__`` calls ``super().__init__()`` and a ``@dataclass`` with ``__post_init__``, a
docstring that names F.batch_norm and autograd.

None of it may be flagged or cost a point: autograd is denied when it runs, not when it is
named, and ``requires_grad=False`` builds no graph.
"""

TARGET = "batchnorm.py"
CODE = '''
import math
from dataclasses import dataclass


class _Base:
    def __init__(self, count):
        super().__init__()
        self.count = count


class _Cache(_Base):
    def __init__(self, x_hat, inv_std, gamma, count):
        super().__init__(count)
        self.x_hat, self.inv_std, self.gamma = x_hat, inv_std, gamma


@dataclass
class _Stats:
    mean: torch.Tensor
    var: torch.Tensor

    def __post_init__(self):
        self.var = self.var.clamp(min=0)


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    """Like F.batch_norm in training, but by hand; the backward needs no autograd."""
    mode = bn_param["mode"]
    if mode not in ("train", "test"):
        raise ValueError(f"unknown mode {mode!r}")
    eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    C = x.shape[1]
    with torch.no_grad():
        x = x.detach()
        zeros = torch.zeros(C, dtype=x.dtype, device=x.device, requires_grad=False)
        rm = bn_param.get("running_mean", zeros)
        rv = bn_param.get("running_var", zeros.clone())
        if mode == "train":
            stats = _Stats(x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), correction=0))
            bn_param["running_mean"] = momentum * rm + (1 - momentum) * stats.mean
            bn_param["running_var"] = momentum * rv + (1 - momentum) * stats.var
        else:
            stats = _Stats(rm, rv)
        inv_std = 1 / torch.sqrt(stats.var + eps).view(1, C, 1, 1)
        x_hat = (x - stats.mean.view(1, C, 1, 1)) * inv_std
        out = gamma.view(1, C, 1, 1) * x_hat + beta.view(1, C, 1, 1)
    return out, _Cache(x_hat, inv_std, gamma, math.prod(x.shape) // C)


def spatial_batchnorm_backward(dout, cache):
    """The analytic backward pass (no autograd), as in the notebook's derivation."""
    dims = (0, 2, 3)
    backward = dout.detach()
    dbeta = backward.sum(dim=dims)
    dgamma = (backward * cache.x_hat).sum(dim=dims)
    grad = backward * cache.gamma.view(1, -1, 1, 1)
    dx = (cache.count * grad - grad.sum(dim=dims, keepdim=True)
          - cache.x_hat * (grad * cache.x_hat).sum(dim=dims, keepdim=True))
    return dx * cache.inv_std / cache.count, dgamma, dbeta
'''
