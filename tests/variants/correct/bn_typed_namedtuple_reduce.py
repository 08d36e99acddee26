"""Keeps the cache in a ``typing.NamedTuple`` class, counts the values per channel with
``functools.reduce`` over (N, H, W), and creates missing running statistics with
``x.new_zeros``; statistics are taken on the 4-D tensor with ``keepdim=True``.
"""

TARGET = "batchnorm.py"
CODE = '''
import functools
import operator
from typing import NamedTuple


class BNCache(NamedTuple):
    x_hat: torch.Tensor
    gamma: torch.Tensor
    inv_std: torch.Tensor
    count: int
    train: bool


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param.get("mode")
    if mode not in ("train", "test"):
        raise ValueError("bn_param['mode'] should be 'train' or 'test'")
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    N, C, H, W = x.shape
    count = functools.reduce(operator.mul, (N, H, W), 1)
    if mode == "train":
        mean = x.sum(dim=(0, 2, 3), keepdim=True) / count
        var = ((x - mean) ** 2).sum(dim=(0, 2, 3), keepdim=True) / count
        rm = bn_param.get("running_mean", x.new_zeros(C))
        rv = bn_param.get("running_var", x.new_zeros(C))
        bn_param["running_mean"] = momentum * rm + (1 - momentum) * mean.reshape(C)
        bn_param["running_var"] = momentum * rv + (1 - momentum) * var.reshape(C)
    else:
        mean = bn_param.get("running_mean", x.new_zeros(C)).reshape(1, C, 1, 1)
        var = bn_param.get("running_var", x.new_zeros(C)).reshape(1, C, 1, 1)
    inv_std = (var + eps) ** -0.5
    x_hat = (x - mean) * inv_std
    out = x_hat * gamma.reshape(1, C, 1, 1) + beta.reshape(1, C, 1, 1)
    return out, BNCache(x_hat, gamma, inv_std, count, mode == "train")


def spatial_batchnorm_backward(dout, cache):
    C = dout.shape[1]
    dbeta = dout.sum(dim=(0, 2, 3))
    dgamma = (dout * cache.x_hat).sum(dim=(0, 2, 3))
    k = cache.gamma.reshape(1, C, 1, 1) * cache.inv_std
    if not cache.train:
        return k * dout, dgamma, dbeta
    dx = k / cache.count * (cache.count * dout - dbeta.reshape(1, C, 1, 1)
                            - cache.x_hat * dgamma.reshape(1, C, 1, 1))
    return dx, dgamma, dbeta
'''
