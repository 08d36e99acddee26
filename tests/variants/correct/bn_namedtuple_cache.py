"""Keeps its intermediate values in a ``collections.namedtuple`` (with the input's
``torch.Size`` among the fields), and normalizes the channels-last flattened input directly.
"""

TARGET = "batchnorm.py"
CODE = '''
from collections import namedtuple

BNCache = namedtuple("BNCache", ["x_hat", "gamma", "inv_std", "shape"])


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    N, C, H, W = x.shape
    xf = x.permute(0, 2, 3, 1).reshape(-1, C)
    rm = bn_param.get("running_mean", torch.zeros(C, dtype=x.dtype, device=x.device))
    rv = bn_param.get("running_var", torch.zeros(C, dtype=x.dtype, device=x.device))
    if mode == "train":
        mu = xf.mean(0)
        var = xf.var(0, unbiased=False)
        bn_param["running_mean"] = momentum * rm + (1 - momentum) * mu
        bn_param["running_var"] = momentum * rv + (1 - momentum) * var
    elif mode == "test":
        mu, var = rm, rv
    else:
        raise ValueError("unknown mode " + str(mode))
    inv_std = 1.0 / torch.sqrt(var + eps)
    x_hat = (xf - mu) * inv_std
    out = (gamma * x_hat + beta).reshape(N, H, W, C).permute(0, 3, 1, 2).contiguous()
    return out, BNCache(x_hat, gamma, inv_std, x.shape)


def spatial_batchnorm_backward(dout, cache):
    N, C, H, W = cache.shape
    m = N * H * W
    d = dout.permute(0, 2, 3, 1).reshape(-1, C)
    dbeta = d.sum(0)
    dgamma = (d * cache.x_hat).sum(0)
    dxh = d * cache.gamma
    dx = cache.inv_std / m * (m * dxh - dxh.sum(0) - cache.x_hat * (dxh * cache.x_hat).sum(0))
    return dx.reshape(N, H, W, C).permute(0, 3, 1, 2).contiguous(), dgamma, dbeta
'''
