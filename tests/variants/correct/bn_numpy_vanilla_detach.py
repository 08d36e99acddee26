"""Does the vanilla (N, D) batch norm in numpy, float64, with ``x.detach().cpu()`` conversions
and ``torch.from_numpy(...).to(dtype=x.dtype, device=x.device)`` on the way back; the cache
holds numpy arrays, and the spatial functions reuse the vanilla ones via permute/reshape.
"""

TARGET = "batchnorm.py"
CODE = '''
import numpy as np


def _np(t):
    return t.detach().cpu().to(torch.float64).numpy()


def _back(a, like):
    return torch.from_numpy(np.ascontiguousarray(a)).to(dtype=like.dtype, device=like.device)


def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param.get("mode")
    if mode not in ("train", "test"):
        raise ValueError("mode must be 'train' or 'test'")
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    D = x.shape[1]
    rm_t = bn_param.get("running_mean", torch.zeros(D, dtype=x.dtype, device=x.device))
    rv_t = bn_param.get("running_var", torch.zeros(D, dtype=x.dtype, device=x.device))
    xs, g, b = _np(x), _np(gamma), _np(beta)
    if mode == "train":
        mu = xs.mean(axis=0)
        var = xs.var(axis=0)  # numpy's default ddof=0 is the biased variance
        bn_param["running_mean"] = _back(momentum * _np(rm_t) + (1 - momentum) * mu, x)
        bn_param["running_var"] = _back(momentum * _np(rv_t) + (1 - momentum) * var, x)
    else:
        mu, var = _np(rm_t), _np(rv_t)
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = (xs - mu) * inv_std
    return _back(g * x_hat + b, x), (x_hat, g, inv_std, mode)


def batchnorm_backward(dout, cache):
    x_hat, g, inv_std, mode = cache
    d = _np(dout)
    n = d.shape[0]
    dbeta = d.sum(axis=0)
    dgamma = (d * x_hat).sum(axis=0)
    if mode == "test":
        dx = d * g * inv_std
    else:
        dx = g * inv_std / n * (n * d - dbeta - x_hat * dgamma)
    return _back(dx, dout), _back(dgamma, dout), _back(dbeta, dout)


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    N, C, H, W = x.shape
    out, cache = batchnorm_forward(x.permute(0, 2, 3, 1).reshape(-1, C), gamma, beta, bn_param)
    return out.reshape(N, H, W, C).permute(0, 3, 1, 2), (cache, x.shape)


def spatial_batchnorm_backward(dout, cache):
    inner, (N, C, H, W) = cache
    dx, dgamma, dbeta = batchnorm_backward(dout.permute(0, 2, 3, 1).reshape(-1, C), inner)
    return dx.reshape(N, H, W, C).permute(0, 3, 1, 2), dgamma, dbeta
'''
