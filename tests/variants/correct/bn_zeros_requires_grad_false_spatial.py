"""Directly on the 4-D tensor, with default running statistics from
``torch.zeros(C, dtype=x.dtype, device=x.device, requires_grad=False)`` in the spatial forward
itself (no vanilla helper); the biased variance is ``x.var(dim=(0, 2, 3), unbiased=False)``.
"""

TARGET = "batchnorm.py"
CODE = '''
def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param.get("mode")
    if mode not in ("train", "test"):
        raise ValueError("bn_param['mode'] must be 'train' or 'test'")
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    C = x.shape[1]
    if "running_mean" not in bn_param:
        bn_param["running_mean"] = torch.zeros(C, dtype=x.dtype, device=x.device,
                                               requires_grad=False)
    if "running_var" not in bn_param:
        bn_param["running_var"] = torch.zeros(C, dtype=x.dtype, device=x.device,
                                              requires_grad=False)
    if mode == "train":
        mean = x.mean(dim=(0, 2, 3))
        var = x.var(dim=(0, 2, 3), unbiased=False)
        bn_param["running_mean"] = momentum * bn_param["running_mean"] + (1 - momentum) * mean
        bn_param["running_var"] = momentum * bn_param["running_var"] + (1 - momentum) * var
    else:
        mean, var = bn_param["running_mean"], bn_param["running_var"]
    std = (var + eps).sqrt().view(1, C, 1, 1)
    x_hat = (x - mean.view(1, C, 1, 1)) / std
    return gamma.view(1, C, 1, 1) * x_hat + beta.view(1, C, 1, 1), (x_hat, gamma, std, mode)


def spatial_batchnorm_backward(dout, cache):
    x_hat, gamma, std, mode = cache
    C = dout.shape[1]
    dbeta = dout.sum(dim=(0, 2, 3))
    dgamma = (dout * x_hat).sum(dim=(0, 2, 3))
    k = gamma.view(1, C, 1, 1) / std
    if mode == "test":
        return k * dout, dgamma, dbeta
    m = dout.numel() // C
    dx = k / m * (m * dout - dbeta.view(1, C, 1, 1) - x_hat * dgamma.view(1, C, 1, 1))
    return dx, dgamma, dbeta
'''
