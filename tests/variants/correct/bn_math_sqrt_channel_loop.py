"""One channel at a time: per-channel statistics as Python floats (``.item()`` of a float64
reduction), ``math.sqrt`` for the standard deviation, results written into
``torch.empty_like`` buffers; the backward loops over the channels too.
"""

TARGET = "batchnorm.py"
CODE = '''
import math


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param.get("mode")
    if mode not in ("train", "test"):
        raise ValueError(f"unknown mode {mode!r}: use 'train' or 'test'")
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    N, C, H, W = x.shape
    running_mean = bn_param.get("running_mean", torch.zeros(C, dtype=x.dtype, device=x.device))
    running_var = bn_param.get("running_var", torch.zeros(C, dtype=x.dtype, device=x.device))
    out = torch.empty_like(x)
    x_hat = torch.empty_like(x)
    means, variances, inv_stds = [], [], []
    for c in range(C):
        xc = x[:, c]
        if mode == "train":
            xd = xc.double()
            mu = xd.mean().item()
            var = ((xd - mu) ** 2).mean().item()
        else:
            mu = running_mean[c].item()
            var = running_var[c].item()
        inv_std = 1.0 / math.sqrt(var + eps)
        means.append(mu)
        variances.append(var)
        inv_stds.append(inv_std)
        x_hat[:, c] = (xc - mu) * inv_std
        out[:, c] = gamma[c] * x_hat[:, c] + beta[c]
    if mode == "train":
        batch_mean = torch.tensor(means, dtype=x.dtype, device=x.device)
        batch_var = torch.tensor(variances, dtype=x.dtype, device=x.device)
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * batch_mean
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * batch_var
    return out, (x_hat, gamma, inv_stds, mode)


def spatial_batchnorm_backward(dout, cache):
    x_hat, gamma, inv_stds, mode = cache
    N, C, H, W = dout.shape
    m = N * H * W
    dx = torch.empty_like(dout)
    dgamma = torch.empty(C, dtype=dout.dtype, device=dout.device)
    dbeta = torch.empty(C, dtype=dout.dtype, device=dout.device)
    for c in range(C):
        d = dout[:, c]
        xh = x_hat[:, c]
        dbeta[c] = d.sum()
        dgamma[c] = (d * xh).sum()
        k = gamma[c] * inv_stds[c]
        if mode == "train":
            dx[:, c] = k * (d - d.sum() / m - xh * (d * xh).sum() / m)
        else:
            dx[:, c] = k * d
    return dx, dgamma, dbeta
'''
