"""Worried about precision, does all the arithmetic in float64 and casts the results back to
x's dtype at the end; the cache holds the float64 intermediates and the original dtype.
"""

TARGET = "batchnorm.py"
CODE = '''
def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    if mode not in ("train", "test"):
        raise ValueError(mode)
    eps = bn_param.get("eps", 1e-5)
    mom = bn_param.get("momentum", 0.9)
    C = x.shape[1]
    xd, gd, bd = x.double(), gamma.double(), beta.double()
    if mode == "train":
        mean = xd.mean(dim=(0, 2, 3))
        var = xd.var(dim=(0, 2, 3), unbiased=False)
        rm = bn_param.get("running_mean", torch.zeros(C, dtype=x.dtype, device=x.device))
        rv = bn_param.get("running_var", torch.zeros(C, dtype=x.dtype, device=x.device))
        bn_param["running_mean"] = (mom * rm.double() + (1 - mom) * mean).to(x.dtype)
        bn_param["running_var"] = (mom * rv.double() + (1 - mom) * var).to(x.dtype)
    else:
        mean = bn_param.get("running_mean", x.new_zeros(x.shape[1])).double()
        var = bn_param.get("running_var", x.new_zeros(x.shape[1])).double()
    inv = (var + eps).rsqrt()[None, :, None, None]
    xhat = (xd - mean[None, :, None, None]) * inv
    out = gd[None, :, None, None] * xhat + bd[None, :, None, None]
    return out.to(x.dtype), (xhat, inv, gd, x.dtype)


def spatial_batchnorm_backward(dout, cache):
    xhat, inv, g, dtype = cache
    d = dout.double()
    dbeta = d.sum(dim=(0, 2, 3))
    dgamma = (d * xhat).sum(dim=(0, 2, 3))
    dxhat = d * g[None, :, None, None]
    m = d.numel() // d.shape[1]
    dx = inv / m * (m * dxhat - dxhat.sum(dim=(0, 2, 3), keepdim=True)
                    - xhat * (dxhat * xhat).sum(dim=(0, 2, 3), keepdim=True))
    return dx.to(dtype), dgamma.to(dtype), dbeta.to(dtype)
'''
