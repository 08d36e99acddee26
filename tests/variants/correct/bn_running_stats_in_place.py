"""Updates the running statistics in place (``mul_``/``add_``) when bn_param already holds
them, creating fresh zeros otherwise, and keeps the cache as a tuple with numpy scalars
(``np.float64`` eps, ``np.int64`` count).
"""

TARGET = "batchnorm.py"
CODE = '''
import numpy as np


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    if mode not in ("train", "test"):
        raise ValueError(mode)
    eps = np.float64(bn_param.get("eps", 1e-5))
    momentum = bn_param.get("momentum", 0.9)
    C = x.shape[1]
    if "running_mean" not in bn_param:
        bn_param["running_mean"] = torch.zeros(C, dtype=x.dtype, device=x.device)
    if "running_var" not in bn_param:
        bn_param["running_var"] = torch.zeros(C, dtype=x.dtype, device=x.device)
    if mode == "train":
        mean = x.mean(dim=(0, 2, 3))
        var = x.var(dim=(0, 2, 3), unbiased=False)
        bn_param["running_mean"].mul_(momentum).add_((1 - momentum) * mean)
        bn_param["running_var"].mul_(momentum).add_((1 - momentum) * var)
    else:
        mean, var = bn_param["running_mean"], bn_param["running_var"]
    std = torch.sqrt(var + float(eps))
    xhat = (x - mean[:, None, None]) / std[:, None, None]
    out = gamma[:, None, None] * xhat + beta[:, None, None]
    count = np.int64(x.shape[0] * x.shape[2] * x.shape[3])
    return out, (xhat, std, gamma, eps, count)


def spatial_batchnorm_backward(dout, cache):
    xhat, std, gamma, eps, count = cache
    dbeta = dout.sum(dim=(0, 2, 3))
    dgamma = (dout * xhat).sum(dim=(0, 2, 3))
    dxhat = dout * gamma[:, None, None]
    m = float(count)
    dx = (m * dxhat - dxhat.sum(dim=(0, 2, 3), keepdim=True)
          - xhat * (dxhat * xhat).sum(dim=(0, 2, 3), keepdim=True)) / (m * std[:, None, None])
    return dx, dgamma, dbeta
'''
