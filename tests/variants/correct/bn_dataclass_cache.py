"""A tidy student: the cache is a ``@dataclass`` with typed fields, including Python ints for
the sizes and a Python float for eps; statistics are taken with ``keepdim=True`` on the 4-D x.
"""

TARGET = "batchnorm.py"
CODE = '''
from dataclasses import dataclass


@dataclass
class SpatialCache:
    x_centered: torch.Tensor
    std: torch.Tensor
    gamma: torch.Tensor
    count: int
    eps: float


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    if mode not in ("train", "test"):
        raise ValueError(f"mode must be train or test, got {mode}")
    eps = float(bn_param.get("eps", 1e-5))
    momentum = bn_param.get("momentum", 0.9)
    N, C, H, W = x.shape
    if mode == "train":
        mean = x.mean(dim=(0, 2, 3), keepdim=True)
        var = ((x - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
        for key, stat in (("running_mean", mean), ("running_var", var)):
            old = bn_param.get(key, torch.zeros(C, dtype=x.dtype, device=x.device))
            bn_param[key] = momentum * old + (1 - momentum) * stat.view(C)
    else:
        mean = bn_param.get("running_mean", x.new_zeros(x.shape[1])).view(1, C, 1, 1)
        var = bn_param.get("running_var", x.new_zeros(x.shape[1])).view(1, C, 1, 1)
    xc = x - mean
    std = (var + eps).sqrt()
    out = gamma.view(1, C, 1, 1) * xc / std + beta.view(1, C, 1, 1)
    return out, SpatialCache(xc, std, gamma, N * H * W, eps)


def spatial_batchnorm_backward(dout, cache):
    C = dout.shape[1]
    x_hat = cache.x_centered / cache.std
    dbeta = dout.sum(dim=(0, 2, 3))
    dgamma = (dout * x_hat).sum(dim=(0, 2, 3))
    dxh = dout * cache.gamma.view(1, C, 1, 1)
    dx = (dxh - dxh.mean(dim=(0, 2, 3), keepdim=True)
          - x_hat * (dxh * x_hat).mean(dim=(0, 2, 3), keepdim=True)) / cache.std
    return dx, dgamma, dbeta
'''
