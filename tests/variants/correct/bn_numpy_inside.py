"""Comfortable with numpy from an earlier course: converts to numpy arrays, computes there, and
converts the results back with ``torch.from_numpy(...).to(x.dtype)``. The cache holds numpy
arrays and numpy scalars.
"""

TARGET = "batchnorm.py"
CODE = '''
import numpy as np


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    if mode not in ("train", "test"):
        raise ValueError("bad mode")
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    C = x.shape[1]
    xn = x.detach().cpu().numpy()
    g = gamma.detach().cpu().numpy()[None, :, None, None]
    b = beta.detach().cpu().numpy()[None, :, None, None]
    if mode == "train":
        mu = xn.mean(axis=(0, 2, 3))
        var = xn.var(axis=(0, 2, 3))
        rm = bn_param.get("running_mean", torch.zeros(C, dtype=x.dtype, device=x.device))
        rv = bn_param.get("running_var", torch.zeros(C, dtype=x.dtype, device=x.device))
        bn_param["running_mean"] = momentum * rm + (1 - momentum) * torch.from_numpy(mu).to(rm)
        bn_param["running_var"] = momentum * rv + (1 - momentum) * torch.from_numpy(var).to(rv)
    else:
        mu = bn_param.get("running_mean", x.new_zeros(x.shape[1])).cpu().numpy()
        var = bn_param.get("running_var", x.new_zeros(x.shape[1])).cpu().numpy()
    std = np.sqrt(var + eps)[None, :, None, None]
    xhat = (xn - mu[None, :, None, None]) / std
    out = g * xhat + b
    m = np.int64(xn.shape[0] * xn.shape[2] * xn.shape[3])
    return torch.from_numpy(out).to(dtype=x.dtype, device=x.device), (xhat, g, std, m, x.dtype)


def spatial_batchnorm_backward(dout, cache):
    xhat, g, std, m, dtype = cache
    d = dout.detach().cpu().numpy()
    dbeta = d.sum(axis=(0, 2, 3))
    dgamma = (d * xhat).sum(axis=(0, 2, 3))
    dxhat = d * g
    dx = (m * dxhat - dxhat.sum(axis=(0, 2, 3), keepdims=True)
          - xhat * (dxhat * xhat).sum(axis=(0, 2, 3), keepdims=True)) / (m * std)
    back = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(dtype=dtype, device=dout.device)
    return back(dx), back(dgamma), back(dbeta)
'''
