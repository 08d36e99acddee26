"""Copies the vanilla batch norm's ``x.mean(axis=0)`` onto the 4-D input: statistics per
(C, H, W) position over N only, instead of per channel over N, H and W.
"""

TARGET = "batchnorm.py"
SECTION = "spatial_batchnorm"
CATCHES = "forward values against F.batch_norm (statistics must pool H and W too)"
ORACLE = "bn_forward_values"
FEEDBACK = ("statistics over N only",)
CODE = '''
def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    if mode not in ("train", "test"):
        raise ValueError(mode)
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    C = x.shape[1]
    if mode == "train":
        mean = x.mean(dim=0)
        var = x.var(dim=0, unbiased=False)
        rm = bn_param.get("running_mean", torch.zeros(C, dtype=x.dtype, device=x.device))
        rv = bn_param.get("running_var", torch.zeros(C, dtype=x.dtype, device=x.device))
        bn_param["running_mean"] = momentum * rm + (1 - momentum) * mean.mean(dim=(1, 2))
        bn_param["running_var"] = momentum * rv + (1 - momentum) * var.mean(dim=(1, 2))
    else:
        mean = bn_param["running_mean"].view(C, 1, 1)
        var = bn_param["running_var"].view(C, 1, 1)
    std = torch.sqrt(var + eps)
    xhat = (x - mean) / std
    return gamma.view(C, 1, 1) * xhat + beta.view(C, 1, 1), (xhat, std, gamma)


def spatial_batchnorm_backward(dout, cache):
    xhat, std, gamma = cache
    C = dout.shape[1]
    dbeta = dout.sum(dim=(0, 2, 3))
    dgamma = (dout * xhat).sum(dim=(0, 2, 3))
    g = dout * gamma.view(C, 1, 1)
    dx = (g - g.mean(0) - xhat * (g * xhat).mean(0)) / std
    return dx, dgamma, dbeta
'''
