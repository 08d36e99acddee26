"""Loops over the channels, normalizing each ``x[:, c]`` slice on its own, and keeps one
tuple per channel in a list as the cache; gradients are written into ``torch.empty_like``
buffers channel by channel.
"""

TARGET = "batchnorm.py"
CODE = '''
def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    if mode not in ("train", "test"):
        raise ValueError(mode)
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    C = x.shape[1]
    rm = bn_param.get("running_mean", torch.zeros(C, dtype=x.dtype, device=x.device)).clone()
    rv = bn_param.get("running_var", torch.zeros(C, dtype=x.dtype, device=x.device)).clone()
    out = torch.empty_like(x)
    cache = []
    for c in range(C):
        xc = x[:, c, :, :]
        if mode == "train":
            mu = xc.mean()
            var = ((xc - mu) ** 2).mean()
            rm[c] = momentum * rm[c] + (1 - momentum) * mu
            rv[c] = momentum * rv[c] + (1 - momentum) * var
        else:
            mu, var = rm[c], rv[c]
        std = torch.sqrt(var + eps)
        xhat = (xc - mu) / std
        out[:, c, :, :] = gamma[c] * xhat + beta[c]
        cache.append((xhat, std, gamma[c]))
    bn_param["running_mean"], bn_param["running_var"] = rm, rv
    return out, cache


def spatial_batchnorm_backward(dout, cache):
    C = dout.shape[1]
    dx = torch.empty_like(dout)
    dgamma = torch.empty(C, dtype=dout.dtype, device=dout.device)
    dbeta = torch.empty(C, dtype=dout.dtype, device=dout.device)
    for c in range(C):
        xhat, std, g = cache[c]
        d = dout[:, c, :, :]
        dbeta[c] = d.sum()
        dgamma[c] = (d * xhat).sum()
        dxh = d * g
        dx[:, c, :, :] = (dxh - dxh.mean() - xhat * (dxh * xhat).mean()) / std
    return dx, dgamma, dbeta
'''
