"""Computes dgamma from the centered input ``x - mean`` instead of the normalized ``x_hat``
(forgets to divide by the standard deviation).
"""

TARGET = "batchnorm.py"
SECTION = "spatial_batchnorm"
CATCHES = "dgamma against autograd of F.batch_norm"
ORACLE = "bn_backward_dgamma_dbeta"
CODE = '''
def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    if mode not in ("train", "test"):
        raise ValueError(mode)
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    C = x.shape[1]
    if mode == "train":
        mean = x.mean(dim=(0, 2, 3))
        var = x.var(dim=(0, 2, 3), unbiased=False)
        rm = bn_param.get("running_mean", torch.zeros(C, dtype=x.dtype, device=x.device))
        rv = bn_param.get("running_var", torch.zeros(C, dtype=x.dtype, device=x.device))
        bn_param["running_mean"] = momentum * rm + (1 - momentum) * mean
        bn_param["running_var"] = momentum * rv + (1 - momentum) * var
    else:
        mean, var = bn_param["running_mean"], bn_param["running_var"]
    xc = x - mean.view(1, C, 1, 1)
    std = torch.sqrt(var + eps).view(1, C, 1, 1)
    return gamma.view(1, C, 1, 1) * xc / std + beta.view(1, C, 1, 1), (xc, std, gamma)


def spatial_batchnorm_backward(dout, cache):
    xc, std, gamma = cache
    C = dout.shape[1]
    xhat = xc / std
    dbeta = dout.sum(dim=(0, 2, 3))
    dgamma = (dout * xc).sum(dim=(0, 2, 3))
    g = dout * gamma.view(1, C, 1, 1)
    dx = (g - g.mean(dim=(0, 2, 3), keepdim=True)
          - xhat * (g * xhat).mean(dim=(0, 2, 3), keepdim=True)) / std
    return dx, dgamma, dbeta
'''
