"""A fast spatial batch norm, for instructors only: the yardstick of the benchmarks.

The reference solution that students and TAs read is ``master/hw1/source/batchnorm.py``:
vanilla batch norm on (N, D) rows, and the spatial version as permute, reshape, vanilla,
reshape and permute back. This module computes the same thing with fewer passes over
memory, and ``benchmarks`` times it against torch's native batch norm (BENCHMARKS.md,
section 3). It lives outside ``master/`` on purpose: ``build``, ``release`` and nbgrader's
``generate_assignment`` copy files from ``master/hw1/`` only, so this never reaches a
student, and ``build.leaks`` checks bundles for its lines as well.

Same conventions as the reference (see the docstring at the top of that file): ``bn_param``
with ``mode``, ``eps``, ``momentum``, ``running_mean``, ``running_var``; the biased batch
variance; ``running = momentum * running + (1 - momentum) * batch_stat``. The cache is this
module's own: pass it only to ``spatial_batchnorm_backward_fast``.
"""

from __future__ import annotations

import torch

#: (N, C, H, W): statistics per channel (dim 1), over every other dim.
_DIMS = (0, 2, 3)
_SHAPE = (1, -1, 1, 1)


def spatial_batchnorm_forward_fast(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor,
                                   bn_param: dict) -> tuple[torch.Tensor, tuple]:
    """Spatial batch norm forward on x of shape (N, C, H, W); returns (out, cache).

    Works on x as it is laid out (no channels-last copy): the reductions run over dims
    0, 2 and 3 directly, and the per-channel vectors broadcast as (1, C, 1, 1).
    """
    mode = bn_param.get("mode")
    if mode not in ("train", "test"):
        raise ValueError(f"bn_param['mode'] must be 'train' or 'test', got {mode!r}")
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    zeros = torch.zeros(x.shape[1], dtype=x.dtype, device=x.device)
    running_mean = bn_param.get("running_mean", zeros)
    running_var = bn_param.get("running_var", zeros)

    if mode == "train":
        mean = x.mean(dim=_DIMS)
        # Centre once and reuse: the variance, the output and the backward all need x - mean.
        # (torch.var_mean over dims other than the last is several times slower.)
        xc = x - mean.view(_SHAPE)
        count = x.numel() // x.shape[1]
        var = torch.linalg.vector_norm(xc, dim=_DIMS).square() / count  # biased variance
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
    else:
        mean, var = running_mean, running_var
        xc = x - mean.view(_SHAPE)
    inv_std = torch.rsqrt(var + eps)
    # out = gamma * x_hat + beta with x_hat = xc * inv_std, as one multiply-add per element.
    out = torch.addcmul(beta.view(_SHAPE), xc, (gamma * inv_std).view(_SHAPE))
    return out, (xc, inv_std, gamma, mode)


def spatial_batchnorm_backward_fast(dout: torch.Tensor, cache: tuple
                                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Backward of ``spatial_batchnorm_forward_fast``; returns (dx, dgamma, dbeta)."""
    xc, inv_std, gamma, mode = cache
    count = xc.numel() // xc.shape[1]
    dbeta = dout.sum(dim=_DIMS)
    dout_xc = (dout * xc).sum(dim=_DIMS)  # sum of dout * (x - mean), per channel
    dgamma = dout_xc * inv_std
    k_dout = gamma * inv_std
    if mode == "test":
        # The running statistics are constants, so only the affine map remains.
        return dout * k_dout.view(_SHAPE), dgamma, dbeta
    # Train mode: dx = k_dout * (dout - mean(dout) - x_hat * mean(dout * x_hat)), the
    # reference's formula, regrouped as one per-channel affine function of dout and xc so
    # that dx is written by two multiply-adds.
    k_xc = -k_dout * inv_std * inv_std * dout_xc / count
    k_0 = -k_dout * dbeta / count
    dx = torch.addcmul(k_0.view(_SHAPE), xc, k_xc.view(_SHAPE)).addcmul_(dout, k_dout.view(_SHAPE))
    return dx, dgamma, dbeta
