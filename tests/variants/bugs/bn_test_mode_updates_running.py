"""Runs the running-average update in test mode as well (the update sits after the if/else
instead of inside the train branch), so a test step changes bn_param's statistics.
"""

TARGET = "batchnorm.py"
SECTION = "spatial_batchnorm"
CATCHES = "running statistics unchanged after a test-mode step"
ORACLE = "bn_test_mode"
CODE = '''
def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    C = x.shape[1]
    rm = bn_param.get("running_mean", torch.zeros(C, dtype=x.dtype, device=x.device))
    rv = bn_param.get("running_var", torch.zeros(C, dtype=x.dtype, device=x.device))
    mean = x.mean(dim=(0, 2, 3))
    var = x.var(dim=(0, 2, 3), unbiased=False)
    if mode == "train":
        use_mean, use_var = mean, var
    elif mode == "test":
        use_mean, use_var = rm, rv
    else:
        raise ValueError(mode)
    bn_param["running_mean"] = momentum * rm + (1 - momentum) * mean
    bn_param["running_var"] = momentum * rv + (1 - momentum) * var
    std = torch.sqrt(use_var + eps).view(1, C, 1, 1)
    xhat = (x - use_mean.view(1, C, 1, 1)) / std
    return gamma.view(1, C, 1, 1) * xhat + beta.view(1, C, 1, 1), (xhat, std, gamma)


def spatial_batchnorm_backward(dout, cache):
    xhat, std, gamma = cache
    C = dout.shape[1]
    dbeta = dout.sum(dim=(0, 2, 3))
    dgamma = (dout * xhat).sum(dim=(0, 2, 3))
    g = dout * gamma.view(1, C, 1, 1)
    dx = (g - g.mean(dim=(0, 2, 3), keepdim=True)
          - xhat * (g * xhat).mean(dim=(0, 2, 3), keepdim=True)) / std
    return dx, dgamma, dbeta
'''
